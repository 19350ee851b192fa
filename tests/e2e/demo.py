"""`make demo`: the original prototype's walk-through on this design, on a local control plane.

Starts etcd, kube-apiserver and kube-controller-manager, installs the project's manifests,
runs the hooks, the webhook and the real Metacontroller (built from its pinned source on first
use), applies the sample
ImageMap, runs the bootcamp pod with `kubectl run`, prints what it runs, and tears it all down.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from tests.controlplane.cluster import ControlPlane
from tests.e2e.stack import ORIGINAL_IMAGES, SAMPLE, running_stack, wait_for

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"


def step(text: str) -> None:
    print(f"==> {text}", file=sys.stderr, flush=True)


def main() -> int:
    started = time.monotonic()
    step("starting etcd, kube-apiserver and kube-controller-manager")
    with ControlPlane() as cp, tempfile.TemporaryDirectory(prefix="image-mapper-demo-") as tmp:
        step(
            "installing the manifests (kubectl apply -k metacontroller/), starting the hooks, "
            "the webhook and Metacontroller"
        )
        with running_stack(cp, Path(tmp)) as stack:
            step(f"kubectl apply -f {SAMPLE.relative_to(SAMPLE.parents[1])}")
            cp.kubectl("apply", "-f", str(SAMPLE))
            cp.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "imagemap/bootcamp-sample")
            print(cp.kubectl("get", "imagemaps").stdout, file=sys.stderr)
            wait_for("the namespace label", lambda: stack.namespace_active("default"))
            stack.webhook_has_mapping(
                "default", BOOTCAMP, "registry.example.com/kubernetes-bootcamp:v1"
            )
            step(f"kubectl run kubernetes-bootcamp --image={BOOTCAMP}")
            cp.kubectl("run", "kubernetes-bootcamp", f"--image={BOOTCAMP}")
            pod = cp.kubectl_json("get", "pod", "kubernetes-bootcamp")
            image = pod["spec"]["containers"][0]["image"]  # type: ignore[index]
            original = json.loads(pod["metadata"]["annotations"][ORIGINAL_IMAGES])  # type: ignore[index]
            step(f"the pod's {ORIGINAL_IMAGES} annotation: {json.dumps(original)}")
            print(f"{BOOTCAMP} -> {image}", flush=True)
            step("tearing down")
    step(f"done in {time.monotonic() - started:.0f}s")
    return 0 if image != BOOTCAMP else 1


if __name__ == "__main__":
    sys.exit(main())
