"""After `helm install` (the chart's defaults), the original prototype's walk-through, as the
README gives it, relocates the pod; `helm uninstall` removes the product and leaves the CRD and
the ImageMaps (Helm never deletes what it installed from a chart's crds/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.stack import ORIGINAL_IMAGES, SAMPLE, Stack, wait_for
from tests.rendering import RELEASE, helm

pytestmark = pytest.mark.e2e

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
RELOCATED = "registry.example.com/kubernetes-bootcamp:v1"


def test_the_release_is_deployed(stack: Stack, helm_path: Path) -> None:
    status = json.loads(helm(helm_path, "status", RELEASE, "--namespace=default", "-o", "json",
                             f"--kubeconfig={stack.cp.kubeconfig}").stdout)
    assert status["info"]["status"] == "deployed"
    deployment = stack.get("deployment", "image-mapper-webhook", "-n", "image-mapper")
    assert deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert stack.get("crd", "imagemaps.mapper.imagerelocation.pivotal.io")


def test_the_walkthrough_relocates_the_pod(stack: Stack) -> None:
    stack.cp.kubectl("apply", "-f", str(SAMPLE))
    stack.cp.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "imagemap/bootcamp-sample")
    wait_for("the namespace label", lambda: stack.namespace_active("default"))
    stack.webhook_has_mapping("default", BOOTCAMP, RELOCATED)
    stack.cp.kubectl("run", "kubernetes-bootcamp", f"--image={BOOTCAMP}")
    pod = stack.get("pod", "kubernetes-bootcamp")
    assert pod["spec"]["containers"][0]["image"] == RELOCATED
    assert json.loads(pod["metadata"]["annotations"][ORIGINAL_IMAGES]) == {
        "kubernetes-bootcamp": BOOTCAMP}


def test_uninstall_keeps_the_crd_and_the_imagemaps(stack: Stack, helm_path: Path) -> None:
    helm(helm_path, "uninstall", RELEASE, "--namespace=default",
         f"--kubeconfig={stack.cp.kubeconfig}")
    gone = stack.cp.kubectl("get", "mutatingwebhookconfiguration", "image-mapper", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    assert stack.cp.kubectl("get", "compositecontroller", "-o", "name").stdout.strip() == ""
    assert stack.get("crd", "imagemaps.mapper.imagerelocation.pivotal.io")
    assert stack.get("imagemap", "bootcamp-sample", "-n", "default")
