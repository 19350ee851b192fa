"""How long the Metacontroller hook handlers take: one ImageMap, and a namespace of 1,000
ImageMaps x 10 maplets (goals: 1 ms and 20 ms a call). Prints numbers; asserts nothing.

    .venv/bin/python -m benchmarks.bench_hooks [--quick]

Each handler is timed as the server runs it: from the request body's bytes (decoded by the
server's `BodyDecoder`) to the response's JSON; the body's bytes are made untimed, anew for every
call. `json.loads` of the same body is timed on its own for comparison. A namespace is timed
three ways, as Metacontroller drives it:

- cold: a new set of ImageMaps (every spec parsed, the walk done);
- one changed: one ImageMap edited since the last call (its spec parsed, the walk done);
- resync: the same objects again (Metacontroller syncs every ImageMap of a namespace with the
  same `related`, so the walk is shared).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import statistics
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

from image_mapper.controller.bodies import BodyDecoder
from image_mapper.controller.dispatch import run_hook
from image_mapper.controller.memo import Memo
from image_mapper.engine.record import ANNOTATION, Entry, Record

API = "mapper.imagerelocation.pivotal.io/v1alpha1"
GROUP_KEY = f"ImageMap.{API}"
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
_versions = itertools.count(10_000)
MEMO = Memo()
"""The hooks server's memo: one for all calls, as in the server."""
BODIES = BodyDecoder(readings=MEMO.readings)
"""And its body decoder."""


def hook(path: str, body: bytes) -> bytes:
    """The hook at `path` as the server runs it, with the server's memo and body decoder: the
    request's bytes in, the response's out."""
    answer = run_hook(path, BODIES.decode(body), now=NOW, memo=MEMO)
    return json.dumps(answer, separators=(",", ":")).encode()


def encoded(request: object) -> bytes:
    return json.dumps(request).encode()


def maplets(index: int, count: int) -> list[dict[str, str]]:
    """`count` consistent maplets of all three forms, distinct for each ImageMap."""
    entries = [{"from": f"src{index % 50}.example.com/team-{index}/",
                "to": f"mirror.example.com/src{index % 50}/team-{index}/"},
               {"from": f"docker.io/team{index}/base",
                "to": f"mirror.example.com/hub/team{index}/base"}]
    entries += [{"from": f"gcr.io/project-{index}/app-{j}:v{j}",
                 "to": f"mirror.example.com/gcr/project-{index}/app-{j}:v{j}"}
                for j in range(count - len(entries))]
    return entries


def imagemap(index: int, count: int, namespace: str = "bench") -> dict[str, Any]:
    entries = maplets(index, count)
    since = f"2025-06-01T{index // 3600 % 24:02}:{index // 60 % 60:02}:{index % 60:02}Z"
    return {
        "apiVersion": API, "kind": "ImageMap",
        "metadata": {"name": f"map-{index:04}", "namespace": namespace,
                     "uid": str(uuid.uuid4()), "generation": 1,
                     "resourceVersion": str(next(_versions)),
                     "creationTimestamp": "2025-06-01T00:00:00Z",
                     "labels": {"app.kubernetes.io/part-of": "bench"}},
        "spec": {"map": entries},
        "status": {"observedGeneration": 1, "mappings": len(entries), "deployedMap": entries,
                   "conditions": [{"type": "Ready", "status": "True", "reason": "Accepted",
                                   "message": f"{len(entries)} maplets in force",
                                   "lastTransitionTime": since, "observedGeneration": 1}]},
    }


def composite_sync(parent: dict[str, Any], related: list[dict[str, Any]]) -> dict[str, Any]:
    """As Metacontroller sends it (hook v2): the ImageMaps, and the Namespace whose decision
    record has them all in force, in this order (the parent at its current generation)."""
    return {"controller": {"kind": "CompositeController"}, "parent": parent, "children": {},
            "related": {GROUP_KEY: {f"bench/{m['metadata']['name']}": m for m in related},
                        "Namespace.v1": {"bench": recorded_namespace([parent, *related])}},
            "finalizing": False}


def recorded_namespace(imagemaps: list[dict[str, Any]]) -> dict[str, Any]:
    """The Namespace with a decision record that has `imagemaps` in force."""
    rows, seen = [], set()
    for obj in imagemaps:
        metadata = obj["metadata"]
        if metadata["name"] not in seen:
            seen.add(metadata["name"])
            rows.append(Entry(metadata["name"], metadata["uid"], metadata["generation"],
                              "2025-06-01T00:00:00Z"))
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "bench", "annotations": {ANNOTATION: Record(tuple(rows)).encode()}}}


def namespace_sync(related: list[dict[str, Any]]) -> dict[str, Any]:
    """As Metacontroller sends it to the decider: the Namespace, with the record of a decision
    that had all of `related` in force, and its ImageMaps."""
    return {"controller": {"kind": "DecoratorController"}, "object": recorded_namespace(related),
            "attachments": {},
            "related": {GROUP_KEY: {f"bench/{m['metadata']['name']}": m for m in related}},
            "finalizing": False}


def edit(obj: dict[str, Any]) -> None:
    """What the API server returns after a user edits the ImageMap."""
    obj["spec"]["map"][-1]["to"] += "-edited"
    obj["metadata"]["generation"] += 1
    obj["metadata"]["resourceVersion"] = str(next(_versions))


def timed(call: Callable[[], object], runs: int, prepare: Callable[[], None] | None = None
          ) -> list[float]:
    seconds = []
    for _ in range(runs):
        if prepare is not None:
            prepare()
        started = perf_counter()
        call()
        seconds.append(perf_counter() - started)
    return seconds


def report(label: str, seconds: list[float], goal_ms: float | None = None) -> None:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    verdict = "" if goal_ms is None else ("  ok" if p95 <= goal_ms else f"  OVER {goal_ms:g} ms")
    print(f"  {label:<46} median {statistics.median(ms):8.3f} ms   p95 {p95:8.3f} ms   "
          f"max {ms[-1]:8.3f} ms   ({len(ms)} runs){verdict}")


def served(path: str, request: Callable[[], object], runs: int,
           prepare: Callable[[], None] | None = None) -> list[float]:
    """`runs` timed calls of the hook at `path`, each on the bytes of a new `request()` (made
    untimed, after `prepare`)."""
    data: list[bytes] = []

    def encode() -> None:
        if prepare is not None:
            prepare()
        data[:] = [encoded(request())]

    return timed(lambda: hook(path, data[0]), runs, encode)


def bench_one_imagemap(runs: int) -> None:
    print("one ImageMap (10 maplets), goal <= 1 ms")
    lone = imagemap(0, 10)
    report("/imagemap/sync, first call (cold)",
           served("/imagemap/sync", lambda: composite_sync(lone, [lone]), 1))

    def change() -> None:  # a new resourceVersion each call: nothing served from a cache
        lone["metadata"]["resourceVersion"] = str(next(_versions))

    report("/imagemap/sync", served("/imagemap/sync", lambda: composite_sync(lone, [lone]),
                                    runs, change), goal_ms=1)
    report("/namespace/sync", served("/namespace/sync", lambda: namespace_sync([lone]),
                                     runs, change), goal_ms=1)
    report("/imagemap/customize", served("/imagemap/customize", lambda: {"parent": lone},
                                         runs), goal_ms=1)
    body = encoded(composite_sync(lone, [lone]))
    report(f"json.loads of the request ({len(body) / 1024:.1f} KiB)",
           timed(lambda: json.loads(body), runs))


def bench_namespace(count: int, per_map: int, runs: int) -> None:
    print(f"a namespace of {count:,} ImageMaps x {per_map} maplets, goal <= 20 ms")
    slow_runs = max(3, runs // 10)  # the calls that walk the whole namespace

    batch: list[dict[str, Any]] = []

    def fresh() -> None:
        batch[:] = [imagemap(i, per_map) for i in range(count)]

    report("/namespace/sync, cold (every spec new)",
           served("/namespace/sync", lambda: namespace_sync(batch), slow_runs, fresh))

    fresh()
    maps = batch
    hook("/namespace/sync", encoded(namespace_sync(maps)))
    edited = itertools.cycle(maps)
    report("/namespace/sync, one ImageMap changed", served(
        "/namespace/sync", lambda: namespace_sync(maps), slow_runs,
        lambda: edit(next(edited))), goal_ms=20)
    report("/imagemap/sync, one ImageMap changed", served(
        "/imagemap/sync", lambda: composite_sync(maps[7], maps), slow_runs,
        lambda: edit(next(edited))), goal_ms=20)

    parents = itertools.cycle(maps)
    report("/imagemap/sync, resync of each ImageMap", served(
        "/imagemap/sync", lambda: composite_sync(next(parents), maps), slow_runs),
        goal_ms=20)
    report("/namespace/sync, resync", served(
        "/namespace/sync", lambda: namespace_sync(maps), slow_runs), goal_ms=20)

    body = encoded(composite_sync(maps[0], copy.deepcopy(maps)))
    report(f"json.loads of the request ({len(body) / 1024 / 1024:.1f} MiB)",
           timed(lambda: json.loads(body), slow_runs))
    report("BodyDecoder of the request, objects seen before",
           timed(lambda: BODIES.decode(body), slow_runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    args = parser.parse_args()
    runs = 30 if args.quick else 200
    bench_one_imagemap(runs * 5)
    bench_namespace(1000, 10, runs)


if __name__ == "__main__":
    main()
