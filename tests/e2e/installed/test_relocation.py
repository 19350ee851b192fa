"""Relocating to a private registry on a real control plane with the real Metacontroller: pull
secrets, the pod opt-out label, Audit mode and the warnings `kubectl` prints
(design.md#relocation-settings)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.demo import private_registry
from tests.e2e.operating.readme import ROOT, blocks
from tests.e2e.stack import ORIGINAL_IMAGES, SAMPLE, Stack
from tests.support.resources import imagemap_json
from tests.support.waiting import wait_for

ADMISSION = ROOT / "docs" / "admission.md"

pytestmark = pytest.mark.e2e

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
RELOCATED = "registry.example.com/kubernetes-bootcamp:v1"
IGNORE = "mapper.imagerelocation.pivotal.io/ignore"




def run(stack: Stack, namespace: str, name: str, image: str, *args: str
        ) -> tuple[dict[str, Any], str]:
    """`kubectl run`: the pod as stored, and what kubectl printed on stderr."""
    done = stack.cp.kubectl("run", name, f"--image={image}", "-n", namespace,
                            "--restart=Never", *args)
    return stack.get("pod", name, "-n", namespace), done.stderr


def dry_run_warnings(stack: Stack, namespace: str, image: str) -> str:
    return stack.cp.kubectl("run", "probe", f"--image={image}", "-n", namespace,
                            "--restart=Never", "--dry-run=server", "-o", "name").stderr


def test_a_pod_gets_the_pull_secrets_of_the_imagemap_that_rewrote_it(
    stack: Stack, namespace: str
) -> None:
    stack.cp.kubectl("create", "secret", "docker-registry", "regcred", "-n", namespace,
                     "--docker-server=registry.example.com", "--docker-username=robot",
                     "--docker-password=not-a-real-password")
    stack.apply(imagemap_json("private", (BOOTCAMP, RELOCATED), pull_secrets=("regcred",)),
                namespace)
    stack.wait_ready(namespace, "private")
    status = stack.get("imagemap", "private", "-n", namespace)["status"]
    assert status["deployedImagePullSecrets"] == [{"name": "regcred"}]
    assert status["deployedMode"] == "Enforce"
    assert stack.get("imagemap", "private", "-n", namespace)["spec"]["mode"] == "Enforce"
    stack.webhook_has_mapping(namespace, BOOTCAMP, RELOCATED)

    created, stderr = run(stack, namespace, "kubernetes-bootcamp", BOOTCAMP)
    assert created["spec"]["containers"][0]["image"] == RELOCATED
    assert created["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert (f"Warning: image-mapper: kubernetes-bootcamp: {BOOTCAMP} -> {RELOCATED} "
            "(ImageMap private)") in stderr
    # An image no maplet matches gets no pull secret.
    plain, stderr = run(stack, namespace, "plain", "busybox:1.36")
    assert "imagePullSecrets" not in plain["spec"]
    assert "image-mapper" not in stderr
    # The webhook logs the rewritten pod, once.
    assert stack.webhook is not None
    logged = wait_for("the webhook's log line", lambda: [
        line for line in stack.webhook.log_path.read_text(errors="replace").splitlines()
        if f"pod {namespace}/kubernetes-bootcamp: images 1 rewritten" in line])
    assert len(logged) == 1


def test_a_pod_labelled_ignore_is_left_untouched(stack: Stack, namespace: str) -> None:
    stack.apply(imagemap_json("m", (BOOTCAMP, RELOCATED), pull_secrets=("regcred",)), namespace)
    stack.wait_ready(namespace, "m")
    stack.webhook_has_mapping(namespace, BOOTCAMP, RELOCATED)

    ignored, stderr = run(stack, namespace, "ignored", BOOTCAMP, f"--labels={IGNORE}=true")
    assert ignored["spec"]["containers"][0]["image"] == BOOTCAMP
    assert ORIGINAL_IMAGES not in (ignored["metadata"].get("annotations") or {})
    assert "imagePullSecrets" not in ignored["spec"]
    assert "image-mapper" not in stderr
    # Any other value of the label, or none, is mapped.
    for name, labels in (("labelled-false", (f"--labels={IGNORE}=false",)), ("plain", ())):
        mapped, _ = run(stack, namespace, name, BOOTCAMP, *labels)
        assert mapped["spec"]["containers"][0]["image"] == RELOCATED, name


def test_kubectl_run_under_an_audit_map_warns_and_keeps_the_image(
    stack: Stack, namespace: str
) -> None:
    stack.apply(imagemap_json("trial", (BOOTCAMP, RELOCATED), mode="Audit",
                         pull_secrets=("regcred",)), namespace)
    condition = stack.wait_ready(namespace, "trial")
    assert condition["reason"] == "Accepted"
    assert stack.get("imagemap", "trial", "-n", namespace)["status"]["deployedMode"] == "Audit"
    warning = (f"Warning: image-mapper: kubernetes-bootcamp: {BOOTCAMP} would map {RELOCATED} "
               "(ImageMap trial)")
    wait_for("the webhook to audit the map",
             lambda: "would map" in dry_run_warnings(stack, namespace, BOOTCAMP))

    stored, stderr = run(stack, namespace, "kubernetes-bootcamp", BOOTCAMP)
    assert warning in stderr.splitlines()
    assert stored["spec"]["containers"][0]["image"] == BOOTCAMP
    assert ORIGINAL_IMAGES not in (stored["metadata"].get("annotations") or {})
    assert "imagePullSecrets" not in stored["spec"]


def test_switching_audit_to_enforce_changes_no_verdict_and_the_next_pod_is_rewritten(
    stack: Stack, namespace: str
) -> None:
    stack.apply(imagemap_json("trial", (BOOTCAMP, RELOCATED), mode="Audit",
                         pull_secrets=("regcred",)), namespace)
    accepted = stack.wait_ready(namespace, "trial")
    # A rival whose name sorts first: were the switch judged as a newcomer, a rival created in
    # the same second would win (tests/engine/test_settings.py holds that case for certain).
    stack.apply(imagemap_json("aaa-rival", (BOOTCAMP, "other.example.com/bootcamp:v1")), namespace)
    rejected = stack.wait_ready(namespace, "aaa-rival", "False")
    assert rejected["reason"] == "Conflict"
    assert "'trial'" in rejected["message"]
    wait_for("the webhook to audit the map",
             lambda: "would map" in dry_run_warnings(stack, namespace, BOOTCAMP))
    before, _ = run(stack, namespace, "before", BOOTCAMP)
    assert before["spec"]["containers"][0]["image"] == BOOTCAMP

    stack.cp.kubectl("patch", "imagemap", "trial", "-n", namespace, "--type=merge",
                     "-p", '{"spec": {"mode": "Enforce"}}')
    switched = wait_for("the switch to be judged", lambda: (
        (obj := stack.get("imagemap", "trial", "-n", namespace))["status"].get("deployedMode")
        == "Enforce" and obj))
    assert switched["metadata"]["generation"] == 2
    [condition] = switched["status"]["conditions"]
    # The same verdict, in force since the same moment: no flip.
    assert (condition["status"], condition["reason"]) == ("True", "Accepted")
    assert condition["lastTransitionTime"] == accepted["lastTransitionTime"]
    assert condition["observedGeneration"] == 2
    still = stack.wait_ready(namespace, "aaa-rival", "False")
    assert (still["reason"], still["lastTransitionTime"]) == (
        "Conflict", rejected["lastTransitionTime"])

    stack.webhook_has_mapping(namespace, BOOTCAMP, RELOCATED)
    after, stderr = run(stack, namespace, "after", BOOTCAMP)
    assert after["spec"]["containers"][0]["image"] == RELOCATED
    assert after["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert f"{BOOTCAMP} -> {RELOCATED} (ImageMap trial)" in stderr


def test_the_walkthrough_of_a_private_registry(stack: Stack, namespace: str) -> None:
    """docs/admission.md's steps after the bootcamp walk-through, as `make demo` runs them;
    what they print is what the page shows."""
    stack.cp.kubectl("apply", "-n", namespace, "-f", str(SAMPLE))
    stack.wait_ready(namespace, "bootcamp-sample")
    stack.webhook_has_mapping(namespace, BOOTCAMP, RELOCATED)
    shown = private_registry(stack, namespace)
    assert shown.pull_secrets == [{"name": "regcred"}]
    assert shown.enforce_warnings == [
        f"Warning: image-mapper: bootcamp-private: {BOOTCAMP} -> {RELOCATED} "
        "(ImageMap bootcamp-sample)"]
    assert shown.ignored_image == BOOTCAMP
    assert shown.audit_warnings == [
        f"Warning: image-mapper: bootcamp-audit: {BOOTCAMP} would map {RELOCATED} "
        "(ImageMap bootcamp-sample)"]
    assert shown.audited_image == BOOTCAMP
    (steps,) = blocks("## A private registry, step by step", ADMISSION)
    assert [c.shows for c in steps if c.shows is not None] == [
        *shown.enforce_warnings,
        json.dumps(shown.pull_secrets, separators=(",", ":")), shown.ignored_image,
        *shown.audit_warnings, shown.audited_image]
