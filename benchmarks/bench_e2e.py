"""Time from `kubectl apply` of an ImageMap to the first mapped pod, on the local control plane.

    .venv/bin/python -m benchmarks.bench_e2e [--trials 20]

Each trial: a fresh namespace; `kubectl apply` of an ImageMap; then pod creations (server-side
dry runs through the API server, so the real admission chain runs) every 20 ms until one comes
back rewritten, with the real Metacontroller at its defaults. The time includes the namespace
hook's decision and its write of the Namespace, the webhook's watch of the record, and the API
server calling the webhook (the ImageMap's own status write is not on this path). Prints
p50/p99 and a `BENCH_E2E {json}` line. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.controlplane.cluster import ControlPlane
from tests.e2e.stack import running_stack

SOURCE = "gcr.io/google-samples/kubernetes-bootcamp:v1"
TARGET = "registry.example.com/kubernetes-bootcamp:v1"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    with (
        ControlPlane() as cp,
        tempfile.TemporaryDirectory() as tmp,
        running_stack(cp, Path(tmp)),
    ):
        times = []
        for trial in range(args.trials):
            namespace = f"latency-{trial}"
            cp.kubectl("create", "namespace", namespace)
            manifest = json.dumps(
                {
                    "apiVersion": "mapper.imagerelocation.pivotal.io/v1alpha1",
                    "kind": "ImageMap",
                    "metadata": {"name": "m", "namespace": namespace},
                    "spec": {"map": [{"from": SOURCE, "to": TARGET}]},
                }
            )
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "probe"},
                "spec": {"containers": [{"name": "c", "image": SOURCE}]},
            }
            started = time.perf_counter()
            cp.kubectl("apply", "-f", "-", input=manifest)
            deadline = started + 60
            while time.perf_counter() < deadline:
                status, body = cp.request(
                    "POST", f"/api/v1/namespaces/{namespace}/pods?dryRun=All", body=pod
                )
                if status == 201 and json.loads(body)["spec"]["containers"][0]["image"] == TARGET:
                    break
                time.sleep(0.02)
            else:
                print(f"trial {trial}: no mapped pod within 60 s", file=sys.stderr)
                return 1
            elapsed = time.perf_counter() - started
            times.append(elapsed)
            print(f"trial {trial:2d}: {elapsed * 1000:7.0f} ms", file=sys.stderr)
    p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
    print(
        f"apply -> first mapped pod over {len(times)} trials: p50 {p50 * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, mean {statistics.mean(times) * 1000:.0f} ms"
    )
    print(
        "BENCH_E2E "
        + json.dumps(
            {"trials": len(times), "p50_ms": round(p50 * 1000), "p99_ms": round(p99 * 1000)}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
