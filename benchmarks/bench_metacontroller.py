"""The product with the real Metacontroller, on the local control plane: how fast ImageMaps
settle, and what a restart or an outage costs.

    .venv/bin/python -m benchmarks.bench_metacontroller [--maps 50]

1. `--maps` non-conflicting ImageMaps in one `kubectl apply`, in a fresh namespace: seconds from
   the apply to all Ready, and status writes per ImageMap; at Metacontroller's default client
   throttling (5 requests/s, burst 10) and raised (`--client-go-qps 50 --client-go-burst 100`);
2. Metacontroller restarted with those ImageMaps settled: status writes and decision-record
   changes in the 15 s after (a flapping product would rewrite them);
3. the hooks server killed for 10 s while an ImageMap is created: seconds from the hooks being
   back to that ImageMap Ready (Metacontroller retries failed hook calls with backoff).

Prints each figure and one line `BENCH_METACONTROLLER {json}`. Asserts nothing (the tests in
tests/e2e hold the guarantees); traffic on 127.0.0.1 only; bounded in time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.metacontroller import Metacontroller
from tests.e2e.stack import Stack, running_stack
from tests.e2e.watching import StatusWatch
from tests.support.resources import imagemap_list
from tests.support.waiting import wait_for

GROUP_PATH = "/apis/mapper.imagerelocation.pivotal.io/v1alpha1"
DECISION = "mapper.imagerelocation.pivotal.io/decision"
RAISED = {"client_qps": 50.0, "client_burst": 100}


def imagemaps(count: int, prefix: str = "m") -> str:
    return imagemap_list({f"{prefix}{i:03}": [(f"gcr.io/team/app{i}:v1",
                                               f"registry.example.com/app{i}:v1")]
                          for i in range(count)})


def ready_count(cp: ControlPlane, namespace: str) -> int:
    status, body = cp.request("GET", f"{GROUP_PATH}/namespaces/{namespace}/imagemaps")
    if status != 200:
        return 0
    ready = 0
    for item in json.loads(body)["items"]:
        for condition in (item.get("status") or {}).get("conditions") or []:
            if (condition.get("type") == "Ready" and condition.get("status") == "True"
                    and condition.get("observedGeneration") == item["metadata"]["generation"]):
                ready += 1
    return ready


def settle(stack: Stack, namespace: str, count: int) -> dict[str, Any]:
    stack.cp.kubectl("create", "namespace", namespace)
    with StatusWatch(stack.cp, namespace) as watch:
        started = time.monotonic()
        stack.cp.kubectl("apply", "-n", namespace, "-f", "-", input=imagemaps(count))
        wait_for(f"{count} ImageMaps Ready", lambda: ready_count(stack.cp, namespace) == count,
                 timeout=300, interval=0.1)
        elapsed = time.monotonic() - started
        time.sleep(3)  # anything after this would be a flap
    writes = list(watch.writes.values())
    return {"seconds": round(elapsed, 2), "maxWrites": max(writes, default=0),
            "meanWrites": round(sum(writes) / max(len(writes), 1), 2)}


def restart(stack: Stack, namespace: str) -> dict[str, Any]:
    assert stack.metacontroller is not None
    before = stack.get("namespace", namespace)["metadata"]["annotations"][DECISION]
    with StatusWatch(stack.cp, namespace) as watch:
        stack.metacontroller.restart()
        time.sleep(15)
    after = stack.get("namespace", namespace)["metadata"]["annotations"][DECISION]
    return {"statusWrites": sum(watch.writes.values()), "recordChanged": before != after}


def outage(stack: Stack, namespace: str) -> dict[str, Any]:
    assert stack.hooks is not None
    stack.hooks.kill()
    stack.cp.kubectl("apply", "-n", namespace, "-f", "-", input=imagemaps(1, prefix="late"))
    time.sleep(10)
    stack.start_hooks()
    back = time.monotonic()
    wait_for("the ImageMap created during the outage", lambda: (
        c := stack.imagemap_ready(namespace, "late000")) and c["status"] == "True",
        timeout=600, interval=0.1)
    return {"recoverySeconds": round(time.monotonic() - back, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=50)
    args = parser.parse_args()
    figures: dict[str, Any] = {"maps": args.maps}
    with ControlPlane() as cp, tempfile.TemporaryDirectory() as tmp, \
            running_stack(cp, Path(tmp)) as stack:
        stack.cp.kubectl("create", "namespace", "warm-up")
        stack.cp.kubectl("apply", "-n", "warm-up", "-f", "-", input=imagemaps(1))
        stack.wait_ready("warm-up", "m000")
        figures["default"] = settle(stack, "default-qps", args.maps)
        print(f"{args.maps} ImageMaps, default client QPS: {figures['default']}", flush=True)
        figures["restart"] = restart(stack, "default-qps")
        print(f"Metacontroller restart: {figures['restart']}", flush=True)
        figures["outage"] = outage(stack, "default-qps")
        print(f"hooks outage of 10 s: {figures['outage']}", flush=True)
        assert stack.metacontroller is not None
        stack.metacontroller.stop()
        stack.metacontroller = Metacontroller(cp, Path(tmp) / "metacontroller-raised.log",
                                              **RAISED).start()  # type: ignore[arg-type]
        figures["raised"] = settle(stack, "raised-qps", args.maps)
        print(f"{args.maps} ImageMaps, --client-go-qps 50 --client-go-burst 100: "
              f"{figures['raised']}", flush=True)
    print("BENCH_METACONTROLLER " + json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
