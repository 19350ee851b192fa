"""The product's behaviours on a real control plane, one test each (issue: end to end)."""

from __future__ import annotations

import json
import time

import pytest

from tests.controlplane.cluster import KubectlError
from tests.e2e.stack import ACTIVE_LABEL, ORIGINAL_IMAGES, SAMPLE, Stack
from tests.support.resources import imagemap_json
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
RELOCATED = "registry.example.com/kubernetes-bootcamp:v1"
NGINX = ("nginx:1.25", "registry.example.com/nginx:1.25")
OPT_OUT = "image-mapper-webhook.image-relocation.pivotal.io/enabled"




def pod(stack: Stack, namespace: str, name: str) -> dict:  # type: ignore[type-arg]
    return stack.get("pod", name, "-n", namespace)


def run_pod(stack: Stack, namespace: str, name: str, image: str) -> dict:  # type: ignore[type-arg]
    stack.cp.kubectl("run", name, f"--image={image}", "-n", namespace, "--restart=Never")
    return pod(stack, namespace, name)


def test_seed_walkthrough(stack: Stack, namespace: str) -> None:
    """The original prototype's usage: the sample ImageMap, then `kubectl run` the bootcamp."""
    stack.cp.kubectl("apply", "-n", namespace, "-f", str(SAMPLE))
    stack.cp.kubectl(
        "wait",
        "-n",
        namespace,
        "--for=condition=Ready",
        "--timeout=60s",
        "imagemap/bootcamp-sample",
    )
    wait_for("the namespace label", lambda: stack.namespace_active(namespace))
    stack.webhook_has_mapping(namespace, BOOTCAMP, RELOCATED)
    created = run_pod(stack, namespace, "kubernetes-bootcamp", BOOTCAMP)
    assert created["spec"]["containers"][0]["image"] == RELOCATED
    annotations = created["metadata"]["annotations"]
    assert json.loads(annotations[ORIGINAL_IMAGES]) == {"kubernetes-bootcamp": BOOTCAMP}
    status = stack.get("imagemap", "bootcamp-sample", "-n", namespace)["status"]
    assert status["mappings"] == 1
    assert status["deployedMap"] == [{"from": BOOTCAMP, "to": RELOCATED}]
    printed = stack.cp.kubectl("get", "imagemap", "-n", namespace).stdout
    assert "Accepted" in printed
    assert "True" in printed


def test_conflict_rejected_then_redeployed_when_the_other_is_deleted(
    stack: Stack, namespace: str
) -> None:
    stack.apply(imagemap_json("first", (BOOTCAMP, RELOCATED)), namespace)
    stack.wait_ready(namespace, "first")
    stack.apply(imagemap_json("second", (BOOTCAMP, "other.example.com/bootcamp:v1")), namespace)
    condition = stack.wait_ready(namespace, "second", "False")
    assert condition["reason"] == "Conflict"
    assert "'first'" in condition["message"]
    status = stack.get("imagemap", "second", "-n", namespace)["status"]
    assert status["mappings"] == 0
    assert "deployedMap" not in status
    assert status["conflicts"][0]["imageMap"] == "first"
    # The first stays in force, so pods keep its mapping.
    assert run_pod(stack, namespace, "p1", BOOTCAMP)["spec"]["containers"][0]["image"] == RELOCATED

    stack.cp.kubectl("delete", "imagemap", "first", "-n", namespace)
    stack.wait_ready(namespace, "second", "True")
    stack.webhook_has_mapping(namespace, BOOTCAMP, "other.example.com/bootcamp:v1")


def test_conflict_fixed_by_changing_the_other(stack: Stack, namespace: str) -> None:
    stack.apply(imagemap_json("first", (BOOTCAMP, RELOCATED)), namespace)
    stack.wait_ready(namespace, "first")
    stack.apply(imagemap_json("second", (BOOTCAMP, "other.example.com/bootcamp:v1")), namespace)
    stack.wait_ready(namespace, "second", "False")
    stack.apply(imagemap_json("first", NGINX), namespace)
    stack.wait_ready(namespace, "second", "True")


def test_update_that_conflicts_undeploys(stack: Stack, namespace: str) -> None:
    stack.apply(imagemap_json("first", (BOOTCAMP, RELOCATED)), namespace)
    stack.wait_ready(namespace, "first")
    stack.apply(imagemap_json("second", NGINX), namespace)
    stack.wait_ready(namespace, "second")
    stack.webhook_has_mapping(namespace, "nginx:1.25", "registry.example.com/nginx:1.25")
    # `second` now claims the bootcamp image too, inconsistently with `first`, in force.
    stack.apply(
        imagemap_json(
            "second",
            ("nginx:1.25", "registry.example.com/nginx:1.25"),
            (BOOTCAMP, "other.example.com/bootcamp:v1"),
        ),
        namespace,
    )
    condition = stack.wait_ready(namespace, "second", "False")
    assert condition["reason"] == "Conflict"
    # Undeployed entirely: its unrelated nginx maplet is no longer in force either.
    stack.webhook_has_mapping(namespace, "nginx:1.25", "nginx:1.25")
    created = run_pod(stack, namespace, "p", "nginx:1.25")
    assert created["spec"]["containers"][0]["image"] == "nginx:1.25"


def test_deleting_the_imagemap_stops_mapping_and_the_label_follows(
    stack: Stack, namespace: str
) -> None:
    assert not stack.namespace_active(namespace)
    stack.apply(imagemap_json("only", (BOOTCAMP, RELOCATED)), namespace)
    stack.wait_ready(namespace, "only")
    wait_for("the active label", lambda: stack.namespace_active(namespace))
    summary = stack.get("namespace", namespace)["metadata"]["annotations"][
        "mapper.imagerelocation.pivotal.io/summary"
    ]
    assert "1" in summary
    stack.webhook_has_mapping(namespace, BOOTCAMP, RELOCATED)
    stack.cp.kubectl("delete", "imagemap", "only", "-n", namespace)
    wait_for("the active label to go", lambda: not stack.namespace_active(namespace))
    created = run_pod(stack, namespace, "after", BOOTCAMP)
    assert created["spec"]["containers"][0]["image"] == BOOTCAMP
    assert ORIGINAL_IMAGES not in (created["metadata"].get("annotations") or {})


def test_opt_out_label(stack: Stack, namespace: str) -> None:
    stack.apply(imagemap_json("m", (BOOTCAMP, RELOCATED)), namespace)
    stack.wait_ready(namespace, "m")
    wait_for("the active label", lambda: stack.namespace_active(namespace))
    stack.webhook_has_mapping(namespace, BOOTCAMP, RELOCATED)
    stack.cp.kubectl("label", "namespace", namespace, f"{OPT_OUT}=false")
    # The namespaceSelector is evaluated by the API server on every request.
    created = wait_for(
        "the opt-out to apply",
        lambda: (
            (p := stack.dry_run_pod(namespace, BOOTCAMP))["spec"]["containers"][0]["image"]
            == BOOTCAMP
            and p
        ),
    )
    assert ORIGINAL_IMAGES not in (created["metadata"].get("annotations") or {})


def test_kube_system_untouched(stack: Stack) -> None:
    stack.apply(imagemap_json("system-map", (BOOTCAMP, RELOCATED)), "kube-system")
    try:
        stack.wait_ready("kube-system", "system-map")
        time.sleep(1)
        created = stack.dry_run_pod("kube-system", BOOTCAMP)
        assert created["spec"]["containers"][0]["image"] == BOOTCAMP
    finally:
        stack.cp.kubectl("delete", "imagemap", "system-map", "-n", "kube-system", check=False)


def test_deployment_pods_are_mapped(stack: Stack, namespace: str) -> None:
    stack.apply(imagemap_json("m", ("nginx", "registry.example.com/hub/nginx")), namespace)
    stack.wait_ready(namespace, "m")
    stack.webhook_has_mapping(namespace, "nginx:1.25", "registry.example.com/hub/nginx:1.25")
    stack.cp.kubectl(
        "create", "deployment", "web", "--image=nginx:1.25", "--replicas=2", "-n", namespace
    )
    pods = wait_for(
        "the Deployment's pods",
        lambda: (
            (items := stack.get("pods", "-n", namespace, "-l", "app=web")["items"])
            and len(items) == 2
            and items
        ),
    )
    for created in pods:
        assert created["spec"]["containers"][0]["image"] == "registry.example.com/hub/nginx:1.25"
    # The Deployment itself is unchanged: only pods are rewritten.
    deployment = stack.get("deployment", "web", "-n", namespace)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        pytest.param({"map": []}, "spec.map", id="empty-map"),
        pytest.param({"map": [{"from": "a:1"}]}, "to", id="missing-to"),
        pytest.param({"map": [{"from": 5, "to": "b:1"}]}, "from", id="from-not-a-string"),
        pytest.param({}, "map", id="no-map"),
    ],
)
def test_invalid_imagemap_refused_by_the_crd(
    stack: Stack,
    namespace: str,
    spec: dict,
    says: str,  # type: ignore[type-arg]
) -> None:
    manifest = json.dumps(
        {
            "apiVersion": "mapper.imagerelocation.pivotal.io/v1alpha1",
            "kind": "ImageMap",
            "metadata": {"name": "bad"},
            "spec": spec,
        }
    )
    with pytest.raises(KubectlError) as refused:
        stack.apply(manifest, namespace)
    message = refused.value.stderr
    assert "ImageMap" in message or "imagemap" in message.lower()
    assert says in message
    assert "Invalid value" in message or "Required value" in message


def test_webhook_keeps_mapping_across_an_apiserver_restart(stack: Stack, namespace: str) -> None:
    stack.apply(imagemap_json("m", (BOOTCAMP, RELOCATED)), namespace)
    stack.wait_ready(namespace, "m")
    stack.webhook_has_mapping(namespace, BOOTCAMP, RELOCATED)
    stack.cp.restart_apiserver()
    created = wait_for(
        "a pod after the restart",
        lambda: run_pod(stack, namespace, "after-restart", BOOTCAMP),
        timeout=60,
    )
    assert created["spec"]["containers"][0]["image"] == RELOCATED
    # And the view still follows changes made after the restart.
    stack.apply(imagemap_json("m2", ("nginx:1.25", "registry.example.com/nginx:1.25")), namespace)
    stack.wait_ready(namespace, "m2")
    stack.webhook_has_mapping(
        namespace, "nginx:1.25", "registry.example.com/nginx:1.25", timeout=60
    )


def test_active_label_is_never_set_on_an_empty_namespace(stack: Stack, namespace: str) -> None:
    stack.apply(imagemap_json("bad", ("a.io/x:1", "b.io/x:1"), ("b.io/x:1", "c.io/x:1")), namespace)
    condition = stack.wait_ready(namespace, "bad", "False")
    assert condition["reason"] == "InvalidSpec"
    assert ACTIVE_LABEL not in (stack.get("namespace", namespace)["metadata"].get("labels") or {})
