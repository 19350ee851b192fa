"""`make demo`: the original prototype's walk-through on this design, on a local control plane.

Starts etcd, kube-apiserver and kube-controller-manager, installs the project's manifests,
runs the hooks, the webhook and the real Metacontroller (built from its pinned source on first
use), applies the sample
ImageMap, runs the bootcamp pod with `kubectl run`, prints what it runs; then the
private-registry steps (`private_registry`: a pull secret, the opt-out label, Audit mode), a
ClusterImageMap (`cluster_walkthrough`: a namespace with no ImageMap relocated by it, and a
namespace's ImageMap overriding it), and tears it all down.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.controlplane.cluster import ControlPlane
from tests.e2e.stack import ORIGINAL_IMAGES, SAMPLE, Stack, running_stack
from tests.support.waiting import wait_for

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
IGNORE = "mapper.imagerelocation.pivotal.io/ignore"


@dataclass(frozen=True)
class PrivateRegistry:
    """What docs/admission.md's private-registry steps show."""

    pull_secrets: Any
    """`spec.imagePullSecrets` of the pod run after the ImageMap listed `regcred`."""
    enforce_warnings: list[str]
    ignored_image: str
    """The image of the pod labelled ignore=true."""
    audit_warnings: list[str]
    audited_image: str
    """The image of the pod run while the ImageMap is in Audit mode."""


def private_registry(stack: Stack, namespace: str) -> PrivateRegistry:
    """docs/admission.md's private-registry steps after the bootcamp walk-through, command for
    command (in `namespace`, where
    the sample ImageMap is in force)."""
    cp = stack.cp

    def kubectl(*args: str) -> str:
        step("kubectl " + " ".join(args))
        return cp.kubectl(*args, "-n", namespace).stderr

    def warnings(stderr: str) -> list[str]:
        return [line for line in stderr.splitlines() if line.startswith("Warning: image-mapper")]

    kubectl("create", "secret", "docker-registry", "regcred",
            "--docker-server=registry.example.com", "--docker-username=robot",
            "--docker-password=not-a-real-password")
    kubectl("patch", "imagemap", "bootcamp-sample", "--type=merge",
            "-p", '{"spec":{"imagePullSecrets":[{"name":"regcred"}]}}')
    kubectl("wait", "--for=jsonpath={.status.deployedImagePullSecrets[0].name}=regcred",
            "--timeout=60s", "imagemap/bootcamp-sample")
    # The webhook follows the namespace's decision a moment after the status is written.
    wait_for("the webhook to add the pull secret", lambda: "regcred" in json.dumps(
        json.loads(cp.kubectl("run", "probe", f"--image={BOOTCAMP}", "-n", namespace,
                              "--dry-run=server", "-o", "json").stdout)["spec"]))
    enforced = kubectl("run", "bootcamp-private", f"--image={BOOTCAMP}")
    pod = cp.kubectl_json("get", "pod", "bootcamp-private", "-n", namespace)
    pull_secrets = pod["spec"].get("imagePullSecrets")  # type: ignore[attr-defined]

    kubectl("run", "bootcamp-original", f"--image={BOOTCAMP}", f"--labels={IGNORE}=true")
    ignored = cp.kubectl_json("get", "pod", "bootcamp-original", "-n", namespace)

    kubectl("patch", "imagemap", "bootcamp-sample", "--type=merge",
            "-p", '{"spec":{"mode":"Audit"}}')
    kubectl("wait", "--for=jsonpath={.status.deployedMode}=Audit", "--timeout=60s",
            "imagemap/bootcamp-sample")
    wait_for("the webhook to audit", lambda: "would map" in cp.kubectl(
        "run", "probe", f"--image={BOOTCAMP}", "-n", namespace, "--dry-run=server").stderr)
    audited = kubectl("run", "bootcamp-audit", f"--image={BOOTCAMP}")
    audit_pod = cp.kubectl_json("get", "pod", "bootcamp-audit", "-n", namespace)
    return PrivateRegistry(
        pull_secrets, warnings(enforced),
        ignored["spec"]["containers"][0]["image"],  # type: ignore[index]
        warnings(audited), audit_pod["spec"]["containers"][0]["image"])  # type: ignore[index]


CLUSTER_EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "clusterimagemaps"


@dataclass(frozen=True)
class ClusterWalkthrough:
    """What docs/clusterimagemaps.md shows: image -> what the pod runs, by namespace."""

    fresh_nginx: str
    """nginx:1.25 in a namespace created afterwards, with no ImageMap."""
    shop_nginx: str
    """nginx:1.25 in `shop`, whose ImageMap does not match it: the cluster's."""
    shop_redis: str
    """redis:7 in `shop`, pinned by its ImageMap: unchanged."""


def cluster_walkthrough(stack: Stack) -> ClusterWalkthrough:
    """A ClusterImageMap for every namespace, then a namespace without ImageMaps and one whose
    ImageMap pins an image against it (examples/clusterimagemaps)."""
    cp = stack.cp

    def run(namespace: str, name: str, image: str) -> str:
        step(f"kubectl run {name} --image={image} -n {namespace}")
        cp.kubectl("run", name, f"--image={image}", "-n", namespace, "--restart=Never")
        pod = cp.kubectl_json("get", "pod", name, "-n", namespace)
        ran: str = pod["spec"]["containers"][0]["image"]  # type: ignore[index]
        print(f"{namespace}: {image} -> {ran}", flush=True)
        return ran

    step("kubectl apply -f examples/clusterimagemaps/platform.yaml")
    cp.kubectl("apply", "-f", str(CLUSTER_EXAMPLES / "platform.yaml"))
    cp.kubectl("wait", "--for=condition=Ready", "--timeout=60s",
               "clusterimagemap/dockerhub-mirror")
    print(cp.kubectl("get", "clusterimagemaps").stdout, file=sys.stderr)
    step("kubectl create namespace fresh  (no ImageMap in it)")
    cp.kubectl("create", "namespace", "fresh")
    mirrored = "mirror.corp.example/dockerhub/library/nginx:1.25"
    stack.webhook_has_mapping("fresh", "nginx:1.25", mirrored)
    fresh = run("fresh", "web", "nginx:1.25")
    step("kubectl apply -f examples/clusterimagemaps/team.yaml  (namespace shop, ImageMap "
         "pin-redis)")
    cp.kubectl("apply", "-f", str(CLUSTER_EXAMPLES / "team.yaml"))
    cp.kubectl("wait", "-n", "shop", "--for=condition=Ready", "--timeout=60s",
               "imagemap/pin-redis")
    stack.webhook_has_mapping("shop", "redis:7", "redis:7")
    return ClusterWalkthrough(fresh, run("shop", "web", "nginx:1.25"),
                              run("shop", "cache", "redis:7"))


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
            shown = private_registry(stack, "default")
            step(f"bootcamp-private: imagePullSecrets {json.dumps(shown.pull_secrets)}")
            for warning in (*shown.enforce_warnings, *shown.audit_warnings):
                step(f"kubectl printed: {warning}")
            step(f"bootcamp-original (ignore=true) runs {shown.ignored_image}; "
                 f"bootcamp-audit (Audit) runs {shown.audited_image}")
            layers = cluster_walkthrough(stack)
            step(f"ClusterImageMap dockerhub-mirror: fresh runs {layers.fresh_nginx}; shop runs "
                 f"{layers.shop_nginx}, and {layers.shop_redis} (its ImageMap pins redis)")
            step("tearing down")
    step(f"done in {time.monotonic() - started:.0f}s")
    return 0 if image != BOOTCAMP else 1


if __name__ == "__main__":
    sys.exit(main())
