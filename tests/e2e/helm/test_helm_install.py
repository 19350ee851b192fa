"""After `helm install` (the chart's defaults), the original prototype's walk-through, as the
docs/install.md gives it, relocates the pod; `helm uninstall` (after the webhook configuration)
removes the product and leaves the CRD and the ImageMaps (Helm never deletes what it installed
from a chart's crds/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.stack import BOOTCAMP, ORIGINAL_IMAGES, RELOCATED, SAMPLE, Stack
from tests.rendering import RELEASE, helm
from tests.support.waiting import wait_for

from .conftest import NAMESPACE

pytestmark = pytest.mark.e2e



def test_the_release_is_deployed(stack: Stack, helm_path: Path) -> None:
    status = json.loads(helm(helm_path, "status", RELEASE, "-n", NAMESPACE, "-o", "json",
                             f"--kubeconfig={stack.cp.kubeconfig}").stdout)
    assert status["info"]["status"] == "deployed"
    # The release record beside the objects, not in `default`.
    records = stack.cp.kubectl("get", "secrets", "-A", "-l", f"owner=helm,name={RELEASE}",
                               "-o", "jsonpath={.items[*].metadata.namespace}").stdout.split()
    assert records == [NAMESPACE]
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
    """In docs/install.md's order: the webhook configuration first (helm would delete it after the
    webhook's Deployment and Service, refusing pods in between), then the release."""
    stack.cp.kubectl("delete", "mutatingwebhookconfiguration", "image-mapper")
    stack.cp.kubectl("run", "after-the-webhook", f"--image={BOOTCAMP}")
    done = helm(helm_path, "uninstall", RELEASE, "-n", NAMESPACE,
                f"--kubeconfig={stack.cp.kubeconfig}")
    assert f'release "{RELEASE}" uninstalled' in done.stdout
    for kind in ("deployments", "services", "serviceaccounts"):
        assert stack.cp.kubectl("get", kind, "-n", "image-mapper", "-o", "name",
                                "-l", "app.kubernetes.io/managed-by=Helm").stdout.strip() == ""
    assert stack.cp.kubectl("get", "compositecontroller", "-o", "name").stdout.strip() == ""
    assert stack.get("crd", "imagemaps.mapper.imagerelocation.pivotal.io")
    assert stack.get("imagemap", "bootcamp-sample", "-n", "default")
