"""`make bench`: the webhook and the hooks against the CPython floor, in one bounded run.

    .venv/bin/python -m benchmarks [--no-server]

Measures, in this order (a few minutes; traffic on 127.0.0.1 only, fixed durations and rates):

1. memory: bytes a compiled mapping of 10,000 maplets keeps (tracemalloc), first, while the
   process's compile cache is empty;
2. the floor: `json.loads` of a 4.4 KB AdmissionReview with three containers, its JSONPatch,
   `json.dumps` of the response; and the project's admission handler on the same review;
3. the sync hooks, from request bytes to response bytes, for namespaces of 1, 100 and 1,000
   ImageMaps x 10 maplets;
4. the handler under mappings of 10, 10,000 and 100,000 maplets; ClusterImageMaps
   (`benchmarks.bench_cluster`): the cluster layer's memory for 100 and 10,000 namespaces, and
   the handler with both layers against the floor;
5. `image-mapper verify` of 1,000 relocated references against a real registry on loopback
   (distribution's, built by tests/registry/build.sh);
6. the webhook server (`serve-webhook`) over TLS with keep-alive: requests/s at saturation
   (wrk) and its CPU per request, p50/p99 latency and failures at 200, 500, 1,000 and 2,000
   requests/s (vegeta; 1,000 also over at most 8 connections); a certificate rotation under
   steady load;
7. the serving stacks of `benchmarks.candidates` side by side on the same app: saturation,
   CPU per request, failures and p99 at 1,000 and 2,000 requests/s;
8. decision latency with the real Metacontroller at its default client settings, on the local
   control plane (`benchmarks.bench_decision`): apply -> decision recorded and apply -> Ready,
   p50 and p99, one ImageMap beside two in force; and 100 namespaces x 1 ImageMap in one
   apply, until all decided (what a pod applied with its ImageMap waits for).

Prints a table, the stacks' table, then one line `BENCH {json}`. Asserts nothing: goals are
shown beside the numbers, and the test suite does not run this. Compare figures as ratios from
the same run: the machine may be shared.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks import bench_admission, bench_cluster, bench_decision, bench_server, bench_verify
from benchmarks.bench_hooks import (
    BODIES,
    composite_sync,
    edit,
    encoded,
    imagemap,
    namespace_sync,
    served,
    timed,
)
from benchmarks.candidates import STACKS

CANDIDATE_SECONDS = 5.0
SATURATION_CONNECTIONS = 8
SATURATION_SECONDS = 10.0
FIXED_RATE_SECONDS = 10.0


@dataclass
class Table:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    bench: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    candidates: list[tuple[str, ...]] = field(default_factory=list)
    """The serving stacks' table: a header, then one row each."""

    def section(self, title: str) -> None:
        self.rows.append((title, "", "", ""))
        print(f"  ... {title}", file=sys.stderr, flush=True)

    def row(self, label: str, value: str, goal: str = "", ok: bool | None = None) -> None:
        verdict = "" if ok is None else ("met" if ok else "NOT MET")
        self.rows.append((f"  {label}", value, goal, verdict))

    def print(self) -> None:
        widths = [max(len(row[i]) for row in self.rows) for i in range(4)]
        header = ("measurement", "value", "goal", "")
        widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        print(line.format(*header).rstrip())
        print("  ".join("-" * w for w in widths))
        for row in self.rows:
            print(line.format(*row).rstrip())
        if self.candidates:
            print()
            widths = [max(len(row[i]) for row in self.candidates)
                      for i in range(len(self.candidates[0]))]
            for index, row in enumerate(self.candidates):
                print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
                if index == 0:
                    print("-+-".join("-" * w for w in widths))
        for note in self.notes:
            print(f"note: {note}")


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for text in cpuinfo:
                if text.startswith("model name"):
                    model = text.partition(":")[2].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} cores, {model}, Python {platform.python_version()} "
        f"({platform.python_implementation()}), load average {load:.2f} at start"
    )


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f} ms"


def mib(count: float) -> str:
    return f"{count / 2**20:,.2f} MiB"


# --- sections ---------------------------------------------------------------------------------


def memory(table: Table) -> None:
    table.section("memory of a compiled mapping (tracemalloc, before anything else is cached)")
    result = bench_admission.bench_memory(10_000)
    per_10k = result.total_bytes * 10_000 / result.maplets
    table.row(
        f"retained by compile_recorded of {result.maplets:,} maplets, per 10k",
        mib(per_10k),
        "<= 4 MiB",
        per_10k <= 4 * 2**20,
    )
    table.row(
        "  of which freed with the Mapping (the rest: compile cache)",
        mib(result.mapping_bytes * 10_000 / result.maplets),
    )
    table.bench["mib_per_10k_maplets"] = round(per_10k / 2**20, 2)


def floor(table: Table) -> None:
    table.section("admission in-process, one 4.4 KB review of a pod with three containers")
    result = bench_admission.bench_floor()
    ratio = result.handler_s / result.floor_s
    table.row(
        f"floor: json.loads + JSONPatch + warnings + json.dumps ({result.body_bytes:,} B)",
        us(result.floor_s),
    )
    table.row("handler: AdmissionEndpoint (parse, admit, serialize, metrics)", us(result.handler_s))
    table.row("handler / floor", f"{ratio:.2f}x", "<= 3x", ratio <= 3)
    table.row(
        "whole Flask app via its test client / floor (for reference)",
        f"{result.flask_s / result.floor_s:.2f}x",
    )
    table.bench["floor_us"] = round(result.floor_s * 1e6, 1)
    table.bench["handler_ratio_to_floor"] = round(ratio, 2)


def cluster_layer(table: Table) -> None:
    table.section("ClusterImageMaps: the cluster layer's memory, the handler with both layers")
    results = [bench_cluster.bench_memory(n) for n in (100, 10_000)]
    for result in results:
        table.row(f"cluster layer (3 x 1,000 maplets) kept for {result.namespaces:,} namespaces "
                  f"({result.selections} distinct selections)", mib(result.cluster_bytes))
    small, large = results
    per_namespace = (large.cluster_bytes - small.cluster_bytes) / (large.namespaces
                                                                   - small.namespaces)
    table.row("  of which each namespace (its reference to a shared selection)",
              f"{per_namespace:,.0f} B")
    layered = bench_cluster.bench_layered()
    ratio = layered.handler_s / layered.floor_s
    table.row("handler with both layers / floor (same patch as the floor: "
              f"{'yes' if layered.patched_alike else 'NO'})", f"{ratio:.2f}x", "<= 3x",
              ratio <= 3 and layered.patched_alike)
    table.bench["cluster_layer_mib_10k_namespaces"] = round(large.cluster_bytes / 2**20, 2)
    table.bench["cluster_layer_mib_100_namespaces"] = round(small.cluster_bytes / 2**20, 2)
    table.bench["handler_ratio_to_floor_layered"] = round(ratio, 2)


def sizes(table: Table) -> None:
    table.section("handler under mappings of 10, 10k, 100k maplets (compile_recorded)")
    results = bench_admission.bench_sizes()
    for result in results:
        table.row(
            f"{result.maplets:>7,} maplets: handler (build {result.build_s:.2f} s)",
            us(result.handler_s),
        )
    ratio = results[-1].handler_s / results[0].handler_s
    table.row("handler time, 100k / 10 maplets", f"{ratio:.2f}x", "<= 1.1x", ratio <= 1.1)
    table.bench["lookup_ratio_100k_vs_10"] = round(ratio, 2)


def sync(table: Table, counts: tuple[int, ...] = (1, 100, 1000), per_map: int = 10) -> None:
    table.section(f"the hooks, request bytes to response bytes, ImageMaps x {per_map} maplets")
    for offset, count in enumerate(counts):
        sync_namespace(table, count, per_map, first_index=10_000 * (offset + 1))


def sync_namespace(table: Table, count: int, per_map: int, *, first_index: int) -> None:
    """As Metacontroller drives it (see bench_hooks): the first call, then calls each after one
    ImageMap was edited (a new generation: it is judged again), then the same objects again.
    Each call is timed as the server runs it, from the request's bytes (made anew, untimed) to
    the response's: the body decoded by the server's `BodyDecoder`, the hook, the response
    encoded."""
    maps = [imagemap(first_index + i, per_map) for i in range(count)]
    parent = maps[min(7, count - 1)]
    edited = itertools.cycle(maps)

    def edit_one() -> None:
        edit(next(edited))

    def imagemap_sync() -> object:
        return composite_sync(parent, maps)

    def decorator_sync() -> object:
        return namespace_sync(maps)

    cold = served("/namespace/sync", decorator_sync, 1)[0]  # the decider walks them all
    runs = 15 if count >= 1000 else 50
    changed = served("/imagemap/sync", imagemap_sync, runs, edit_one)
    resync = served("/imagemap/sync", imagemap_sync, runs)
    decider = served("/namespace/sync", decorator_sync, runs, edit_one)
    median, decider_median = statistics.median(changed), statistics.median(decider)
    goal = "<= 20 ms" if count == 1000 else ""
    table.row(
        f"{count:>5,} ImageMaps, /imagemap/sync, one edited since the last call (median of "
        f"{runs}; max {max(changed) * 1e3:.1f} ms)",
        ms(median),
        goal,
        median <= 0.020 if goal else None,
    )
    table.row(
        f"{count:>5,} ImageMaps, /namespace/sync (the decider), one edited (median of {runs}; "
        f"max {max(decider) * 1e3:.1f} ms)",
        ms(decider_median),
        goal,
        decider_median <= 0.020 if goal else None,
    )
    table.row(
        f"{count:>5,} ImageMaps, /imagemap/sync resync (the same objects; median)",
        ms(statistics.median(resync)),
    )
    table.row(f"{count:>5,} ImageMaps, /namespace/sync, first call (every spec new)", ms(cold))
    if count == 1000:
        table.bench["sync_ms_1000_maps"] = round(median * 1e3, 2)
        table.bench["namespace_sync_ms_1000_maps"] = round(decider_median * 1e3, 2)
        body = encoded(composite_sync(parent, maps))
        loads = min(timed(lambda: json.loads(body), 5))
        decoded = min(timed(lambda: BODIES.decode(body), 5))
        table.row(
            f"  of which decoding the body ({len(body) / 2**20:.1f} MiB): BodyDecoder "
            f"(json.loads: {ms(loads)}, {loads / decoded:.1f}x)",
            ms(decoded),
        )
        table.bench["body_decode_ratio_json_loads"] = round(loads / decoded, 1)


def server(table: Table) -> None:
    table.section(
        "webhook server over TLS, keep-alive: serve-webhook (uvicorn + httptools + uvloop, "
        "1 process); the load generator runs on the same cores"
    )
    try:
        bench_server.vegeta()  # built now, if missing, rather than in the middle of a run
    except bench_server.Unavailable as error:
        table.notes.append(str(error))
    table.notes.append(f"load generators: {bench_server.versions()}")
    with bench_server.running_server() as running:
        saturated = bench_server.saturation(
            running, connections=SATURATION_CONNECTIONS, seconds=SATURATION_SECONDS
        )
        table.row(
            f"saturation: {saturated.tool}, {saturated.seconds:g} s, "
            f"{saturated.requests:,} requests, {saturated.errors} errors",
            f"{saturated.rps:,.0f} req/s",
            ">= 3,000 req/s",
            saturated.rps >= 3000,
        )
        table.row(
            "  server CPU per request (user + system)",
            f"{saturated.server_cpu_us:,.0f} µs",
            "<= 250 µs",
            saturated.server_cpu_us <= 250,
        )
        table.bench["rps_tls_keepalive"] = round(saturated.rps)
        table.bench["server_cpu_us_per_request"] = round(saturated.server_cpu_us)
        try:
            bench_server.attack(running, rate=200, seconds=1)  # warm up
            for rate in (200, 500, 1000, 2000):
                fixed_rate(table, running, rate)
            # The client above opens a connection whenever none is free, as Go's default
            # transport (and so the API server) does. The same rate over at most 8 kept-alive
            # connections, for reference:
            report = bench_server.attack(
                running, rate=1000, seconds=FIXED_RATE_SECONDS, max_connections=8
            )
            table.row(
                f"1,000 req/s over at most 8 connections ({report.requests:,} requests, "
                f"{report.failures} failed): p50 / p99",
                f"{report.p50_ms:.2f} / {report.p99_ms:.2f} ms",
            )
            table.bench["p99_ms_at_1000rps_8_connections"] = round(report.p99_ms, 2)
            waited = bench_server.quiesce(running)
            if waited > 1:
                table.notes.append(
                    f"the server took {waited:.1f} s to answer promptly again "
                    "before the rotation run"
                )
            rotation(table, running)
        except bench_server.Unavailable as error:
            table.notes.append(f"fixed-rate and rotation runs skipped: {error}")
            for key in ("p50_ms_at_200rps", "p99_ms_at_1000rps", "rotation_failures",
                        "failed_at_1000rps", "failed_at_2000rps", "p99_ms_at_2000rps"):
                table.bench.setdefault(key, None)


def fixed_rate(table: Table, running: bench_server.Running, rate: int) -> None:
    report = bench_server.attack(running, rate=rate, seconds=FIXED_RATE_SECONDS)
    label = (
        f"{rate:,} req/s for {report.seconds:g} s (vegeta, "
        f"{report.requests:,} requests)"
    )
    if rate >= 1000:
        table.row(f"{label}: failed", f"{report.failures}", "0", report.failures == 0)
        table.bench[f"failed_at_{rate}rps"] = report.failures
    elif report.failures:
        table.row(f"{label}: failed", f"{report.failures}")
    table.row(f"{label}: p50", f"{report.p50_ms:.2f} ms")
    table.row(
        f"{label}: p99",
        f"{report.p99_ms:.2f} ms",
        "<= 3 ms" if rate == 1000 else "",
        report.p99_ms <= 3 if rate == 1000 else None,
    )
    table.row(f"{label}: p90 / max", f"{report.p90_ms:.2f} / {report.max_ms:.1f} ms")
    if report.errors:
        table.notes.append(f"vegeta at {rate}/s: {report.errors}")
    table.bench[f"p50_ms_at_{rate}rps"] = round(report.p50_ms, 2)
    table.bench[f"p99_ms_at_{rate}rps"] = round(report.p99_ms, 2)
    bench_server.quiesce(running)


def rotation(table: Table, running: bench_server.Running) -> None:
    rotated = bench_server.rotation(running)
    failures = rotated.failures
    table.row(
        f"rotation: {rotated.rotations} rotations in "
        f"{rotated.kept_alive.seconds:g} s (swap, torn write, new CA), "
        f"{rotated.served} served; "
        f"{rotated.kept_alive.requests + rotated.new_connections.requests:,} "
        "requests (100/s kept-alive + 20/s new connections)",
        f"{failures} failed",
        "0",
        failures == 0 and rotated.served == rotated.rotations,
    )
    for report in (rotated.kept_alive, rotated.new_connections):
        if report.errors:
            table.notes.append(f"rotation: {report.errors}")
    table.bench["rotation_failures"] = failures


def candidates(table: Table) -> None:
    """Every serving stack of `benchmarks.candidates` on the same app, one after the other:
    saturation, and 1,000 and 2,000 req/s for CANDIDATE_SECONDS each."""
    table.section(
        f"serving stacks side by side (the same app; wrk -t1 -c{SATURATION_CONNECTIONS} "
        f"{CANDIDATE_SECONDS:g} s; vegeta {CANDIDATE_SECONDS:g} s per rate)"
    )
    header = ("stack", "processes", "watches", "req/s", "CPU/req", "1,000/s failed", "p99",
              "2,000/s failed", "p99")
    rows: list[tuple[str, ...]] = []
    for stack in STACKS:
        print(f"  ... {stack.name}", file=sys.stderr, flush=True)
        try:
            with bench_server.running_server(stack) as running:
                saturated = bench_server.saturation(
                    running, connections=SATURATION_CONNECTIONS, seconds=CANDIDATE_SECONDS
                )
                cells = [stack.name, stack.processes, str(stack.watches),
                         f"{saturated.rps:,.0f}", f"{saturated.server_cpu_us:,.0f} µs"]
                bench_server.quiesce(running)
                for rate in (1000, 2000):
                    report = bench_server.attack(running, rate=rate, seconds=CANDIDATE_SECONDS)
                    cells += [f"{report.failures:,}", f"{report.p99_ms:,.1f} ms"]
                    bench_server.quiesce(running)
        except (AssertionError, OSError, subprocess.CalledProcessError,
                bench_server.Unavailable) as error:
            cells = [stack.name, stack.processes, str(stack.watches),
                     f"did not run: {str(error).splitlines()[0][:80]}"]
            cells += [""] * (len(header) - len(cells))
        rows.append(tuple(cells))
    table.candidates = [header, *rows]


def decision(table: Table) -> None:
    table.section("decision latency, real Metacontroller, default client (5 req/s, burst 10)")
    try:
        figures = bench_decision.measure(trials=20, namespaces=100)
    except (AssertionError, OSError, TimeoutError, subprocess.CalledProcessError) as error:
        table.row("did not run", str(error).splitlines()[0][:80])
        return
    p50, p99 = figures["decision_ms_p50"], figures["decision_ms_p99"]
    table.row("apply -> decision recorded, p50", f"{p50} ms")
    table.row("apply -> decision recorded, p99", f"{p99} ms", "<= 1,500 ms", p99 <= 1500)
    table.row("apply -> Ready, p50 / p99",
              f"{figures['ready_ms_p50']} / {figures['ready_ms_p99']} ms")
    bootstrap = figures["bootstrap"]
    table.row("100 namespaces x 1 ImageMap, one apply: all decided",
              f"{bootstrap['decide_all_s']} s (apply itself {bootstrap['apply_s']} s)",
              "<= 20 s", bootstrap["decide_all_s"] <= 20)
    table.bench["decision_ms_p50"] = p50
    table.bench["decision_ms_p99"] = p99
    table.bench["decide_100_namespaces_s"] = bootstrap["decide_all_s"]
    table.bench["decide_100_namespaces_writes"] = bootstrap["writes"]


KEYS = (
    "floor_us",
    "handler_ratio_to_floor",
    "handler_ratio_to_floor_layered",
    "cluster_layer_mib_10k_namespaces",
    "rps_tls_keepalive",
    "p50_ms_at_200rps",
    "p99_ms_at_1000rps",
    "lookup_ratio_100k_vs_10",
    "mib_per_10k_maplets",
    "sync_ms_1000_maps",
    "rotation_failures",
    "server_cpu_us_per_request",
    "failed_at_1000rps",
    "failed_at_2000rps",
    "p99_ms_at_2000rps",
    "verify_s_1000_refs",
    "decision_ms_p50",
    "decision_ms_p99",
    "decide_100_namespaces_s",
)


def verify(table: Table) -> None:
    """`image-mapper verify` of 1,000 references against a real registry on loopback."""
    table.section("verify: 1,000 relocated references, a local registry")
    seconds = bench_verify.measure()
    table.row("image-mapper verify, whole command", f"{seconds:.2f} s",
              f"<= {bench_verify.GOAL_SECONDS:g} s", seconds <= bench_verify.GOAL_SECONDS)
    table.bench["verify_s_1000_refs"] = round(seconds, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--no-server",
        action="store_true",
        help="skip the TLS server runs (no load generator needed)",
    )
    parser.add_argument(
        "--no-cluster",
        action="store_true",
        help="skip the decision latency on the local control plane",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    table = Table()
    print(f"machine: {machine()}", flush=True)
    memory(table)
    floor(table)
    cluster_layer(table)
    sync(table)  # before `sizes`, whose 100,000 maplets would stay in the compile cache
    sizes(table)
    verify(table)
    if not args.no_server:
        server(table)
        candidates(table)
    if not args.no_cluster:
        decision(table)
    table.print()
    bench = {key: table.bench.get(key) for key in KEYS}
    bench.update({k: v for k, v in table.bench.items() if k not in bench})
    bench["seconds"] = round(time.monotonic() - started)
    print("BENCH " + json.dumps(bench))
    return 0


if __name__ == "__main__":
    sys.exit(main())
