"""Decision latency with the real Metacontroller at its default client settings (5 requests/s,
burst 10), on the local control plane: how long a pod applied together with its ImageMap waits
in the webhook (design.md#no-escape).

    .venv/bin/python -m benchmarks.bench_decision [--trials 20] [--namespaces 100]

1. `--trials` times, one ImageMap created (one POST) in a namespace that has two ImageMaps in
   force: milliseconds from the request to the Namespace's decision record judging it (what
   the webhook waits for), and to its Ready condition; p50 and p99;
2. `--namespaces` namespaces, each with one ImageMap, in one `kubectl apply`: seconds from the
   apply until every record judges its ImageMap (a GitOps bootstrap).

Both are seen through watches of the API server, as the webhook sees them. Prints each figure
and one line `BENCH_DECISION {json}`; `benchmarks/__main__.py` adds the figures to `make
bench`'s BENCH line. Asserts nothing; traffic on 127.0.0.1 only; bounded in time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.controlplane.cluster import ControlPlane
from tests.e2e.stack import Stack, running_stack
from tests.support.waiting import wait_for

GROUP = "mapper.imagerelocation.pivotal.io"
IMAGEMAPS = f"/apis/{GROUP}/v1alpha1"
DECISION = f"{GROUP}/decision"


class Watch:
    """A cluster-wide watch of one resource, calling `seen(at, type, object)` for each event."""

    def __init__(self, cp: ControlPlane, path: str,
                 seen: Callable[[float, str, dict[str, Any]], None]) -> None:
        self.cp = cp
        self.path = path
        self.seen = seen
        self._stop = threading.Event()
        self._started = threading.Event()
        self._socket: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        if not self._started.wait(10):
            raise TimeoutError(f"the watch of {self.path} did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        self._thread.join(10)

    def _run(self) -> None:
        request = urllib.request.Request(  # noqa: S310 - the control plane's https URL
            f"{self.cp.server}{self.path}?watch=1&allowWatchBookmarks=false&timeoutSeconds=600")
        request.add_header("Authorization", f"Bearer {self.cp.admin_token}")
        context = ssl.create_default_context(cafile=str(self.cp.ca_file))
        with urllib.request.urlopen(  # noqa: S310 - the control plane's https URL
                request, timeout=610, context=context) as response:
            self._socket = response.fp.raw._sock
            self._started.set()
            try:
                for line in response:
                    event = json.loads(line)
                    self.seen(time.monotonic(), event["type"], event["object"])
            except (OSError, ValueError, AttributeError):
                if not self._stop.is_set():
                    raise


class Decisions:
    """When each ImageMap (by uid) was first judged by its namespace's record, and first
    Ready at its generation, as the watches delivered them."""

    def __init__(self) -> None:
        self.judged: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self._lock = threading.Lock()

    def namespace(self, at: float, _: str, obj: dict[str, Any]) -> None:
        text = (obj["metadata"].get("annotations") or {}).get(DECISION)
        if not text:
            return
        record = json.loads(text)
        with self._lock:
            for row in [*record.get("inForce", []), *record.get("rejected", [])]:
                self.judged.setdefault(row[1], at)

    def imagemap(self, at: float, change: str, obj: dict[str, Any]) -> None:
        if change == "DELETED":
            return
        generation = obj["metadata"]["generation"]
        for condition in (obj.get("status") or {}).get("conditions") or []:
            if (condition.get("type") == "Ready" and condition.get("status") == "True"
                    and condition.get("observedGeneration") == generation):
                with self._lock:
                    self.ready.setdefault(obj["metadata"]["uid"], at)

    @contextlib.contextmanager
    def watching(self, cp: ControlPlane) -> Iterator[Decisions]:
        with Watch(cp, "/api/v1/namespaces", self.namespace), \
                Watch(cp, f"{IMAGEMAPS}/imagemaps", self.imagemap):
            yield self


def imagemap(name: str, namespace: str, number: int) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1alpha1", "kind": "ImageMap",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"map": [{"from": f"gcr.io/team/app{number}:v1",
                              "to": f"registry.example.com/app{number}:v1"}]}}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def latency(stack: Stack, trials: int) -> dict[str, Any]:
    """Apply -> decision recorded and apply -> Ready, one ImageMap at a time beside two."""
    cp = stack.cp
    namespace = "decision-latency"
    cp.kubectl("create", "namespace", namespace)
    for number in (1, 2):
        cp.kubectl("apply", "-f", "-", input=json.dumps(imagemap(f"kept{number}", namespace,
                                                                   number)))
        stack.wait_ready(namespace, f"kept{number}")
    decided_ms: list[float] = []
    ready_ms: list[float] = []
    with Decisions().watching(cp) as decisions:
        for trial in range(trials):
            began = time.monotonic()
            status, body = cp.request("POST", f"{IMAGEMAPS}/namespaces/{namespace}/imagemaps",
                                      body=imagemap(f"new{trial}", namespace, 100 + trial))
            assert status == 201, body[:200]
            uid = json.loads(body)["metadata"]["uid"]
            wait_for("the decision", lambda: uid in decisions.judged, timeout=120,  # noqa: B023
                     interval=0.02)
            wait_for("Ready", lambda: uid in decisions.ready, timeout=120,  # noqa: B023
                     interval=0.02)
            decided_ms.append((decisions.judged[uid] - began) * 1000)
            ready_ms.append((decisions.ready[uid] - began) * 1000)
            cp.kubectl("delete", "imagemap", f"new{trial}", "-n", namespace)
            time.sleep(1.5)  # the deletion decided, Metacontroller's queues empty again
    return {
        "trials": trials,
        "decision_ms_p50": round(statistics.median(decided_ms)),
        "decision_ms_p99": round(percentile(decided_ms, 0.99)),
        "ready_ms_p50": round(statistics.median(ready_ms)),
        "ready_ms_p99": round(percentile(ready_ms, 0.99)),
    }


WRITES = re.compile(r'apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)')


def writes(cp: ControlPlane) -> dict[str, int]:
    """The API server's write requests so far, by verb, resource and subresource."""
    status, body = cp.request("GET", "/metrics")
    assert status == 200, body[:200]
    counts: dict[str, int] = {}
    for match in WRITES.finditer(body.decode()):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        if labels.get("verb") not in ("POST", "PUT", "PATCH", "DELETE"):
            continue
        key = "/".join(filter(None, (labels["verb"], labels.get("resource"),
                                     labels.get("subresource"))))
        counts[key] = counts.get(key, 0) + int(float(match["value"]))
    return counts


def since(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before.get(key, 0) for key in sorted(after)
            if after[key] != before.get(key, 0)}


def bootstrap(stack: Stack, count: int, tmp: Path) -> dict[str, Any]:
    """`count` namespaces with one ImageMap each in one apply: seconds until all decided."""
    documents: list[dict[str, Any]] = []
    for number in range(count):
        namespace = f"team-{number:03}"
        documents += [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                      imagemap("relocate", namespace, number)]
    path = tmp / "bootstrap.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    before = writes(stack.cp)
    with Decisions().watching(stack.cp) as decisions:
        began = time.monotonic()
        stack.cp.kubectl("apply", "-f", str(path), timeout=300)
        applied = time.monotonic() - began
        uids = [item["metadata"]["uid"] for item in json.loads(stack.cp.request(
            "GET", f"{IMAGEMAPS}/imagemaps?labelSelector=")[1])["items"]
            if item["metadata"]["namespace"].startswith("team-")]
        wait_for(f"{count} namespaces decided",
                 lambda: all(uid in decisions.judged for uid in uids), timeout=600,
                 interval=0.1)
        seconds = sorted(decisions.judged[uid] - began for uid in uids)
        time.sleep(5)  # the statuses written after the decisions
    return {"namespaces": count, "decide_all_s": round(seconds[-1], 1),
            "decide_half_s": round(seconds[len(seconds) // 2], 1),
            "apply_s": round(applied, 1), "writes": since(before, writes(stack.cp))}


def measure(trials: int, namespaces: int, **metacontroller: Any) -> dict[str, Any]:
    """Both figures on a control plane of their own, Metacontroller at its defaults (or with
    `metacontroller`'s arguments: client_qps, client_burst)."""
    with ControlPlane() as cp, tempfile.TemporaryDirectory() as tmp, \
            running_stack(cp, Path(tmp), metacontroller_args=metacontroller) as stack:
        figures = latency(stack, trials)
        print(f"apply -> decision recorded / Ready: {figures}", flush=True)
        figures["bootstrap"] = bootstrap(stack, namespaces, Path(tmp))
        print(f"{namespaces} namespaces x 1 ImageMap in one apply: {figures['bootstrap']}",
              flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--client-go-qps", type=float, default=None,
                        help="Metacontroller's client QPS (default: its own, 5)")
    args = parser.parse_args()
    raised = ({"client_qps": args.client_go_qps, "client_burst": int(2 * args.client_go_qps)}
              if args.client_go_qps else {})
    figures = measure(args.trials, args.namespaces, **raised)
    print("BENCH_DECISION " + json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
