"""Upgrading from the install whose webhook served only namespaces labelled `active` (the
manifests of the commit before the wider scope): what changes, in what order
(docs/admission.md, "Upgrading ...")."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.stack import BOOTCAMP, MANIFESTS, RELOCATED, ROOT, Stack
from tests.support.waiting import wait_for

from .test_no_escape import _all_pods, _new_namespace, _one_file

pytestmark = pytest.mark.e2e

PREVIOUS = "89b82fa2db99194165cc939cc03bcedb3f6b44e3"
"""The last commit whose manifests had the webhook serve `active` namespaces only."""
ACTIVE = "mapper.imagerelocation.pivotal.io/active"
DECISION = "mapper.imagerelocation.pivotal.io/decision"


def _previous_manifests(folder: Path) -> Path:
    """`metacontroller/` (and the CRD it includes) as that commit had them."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", PREVIOUS, "metacontroller", "crds",
         "hooks/image_mapper/crds"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder / "metacontroller"


def _unpoint_webhook(stack: Stack) -> None:
    """The webhook configuration's clientConfig back to the installed Service (the stack
    points it at a URL: no kube-proxy here), so that `kubectl apply` can merge it."""
    installed = yaml.safe_load((MANIFESTS / "webhook-mutatingwebhookconfiguration.yaml")
                               .read_text())
    service = installed["webhooks"][0]["clientConfig"]["service"]
    stack.cp.kubectl("patch", "mutatingwebhookconfiguration", "image-mapper", "--type=json",
                     "-p", json.dumps([
                         {"op": "remove", "path": "/webhooks/0/clientConfig/url"},
                         {"op": "add", "path": "/webhooks/0/clientConfig/service",
                          "value": service}]))


def _install(stack: Stack, manifests: Path) -> None:
    """`kubectl apply -k` of `manifests`, then the webhook restarted, as the rollout of its
    Deployment does (the stack's re-pointing of the clientConfig drops the caBundle, which
    a starting replica sets again)."""
    _unpoint_webhook(stack)
    stack.manifests = manifests
    stack.install()
    if manifests != MANIFESTS:
        # The webhook run here is today's, over the old manifests: it watches ClusterImageMaps
        # too, so it needs their CRD and today's read access to start (a cluster upgrades the
        # manifests and the image together).
        stack.cp.kubectl("apply", "-f", str(ROOT / "crds" / "clusterimagemaps.yaml"))
        stack.cp.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                         "crd/clusterimagemaps.mapper.imagerelocation.pivotal.io")
        stack.cp.kubectl("apply", "-f", str(MANIFESTS / "webhook-clusterrole.yaml"))
    assert stack.webhook is not None
    stack.webhook.stop()
    stack.start_webhook()


def _selector_keys(stack: Stack) -> list[str]:
    (webhook,) = stack.get("mutatingwebhookconfiguration", "image-mapper")["webhooks"]
    return [e["key"] for e in webhook["namespaceSelector"]["matchExpressions"]]


def _webhook_args(stack: Stack) -> list[str]:
    deployment = stack.get("deployment", "image-mapper-webhook", "-n", stack.namespace)
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def _versions(stack: Stack) -> dict[str, str]:
    versions = {}
    for item in stack.get("imagemaps", "-A")["items"]:
        metadata = item["metadata"]
        versions[f"imagemap {metadata['namespace']}/{metadata['name']}"] = \
            metadata["resourceVersion"]
    for item in stack.get("namespaces")["items"]:
        namespace: dict[str, Any] = item["metadata"]
        if DECISION in (namespace.get("annotations") or {}):
            versions[f"namespace {namespace['name']}"] = namespace["resourceVersion"]
    return versions


def test_upgrade_from_the_install_that_served_active_namespaces_only(
        healthy_stack: Stack, tmp_path: Path) -> None:
    stack = healthy_stack
    try:
        _install(stack, _previous_manifests(tmp_path))
        assert ACTIVE in _selector_keys(stack)
        assert not any(a.startswith("--decision-wait") for a in _webhook_args(stack))
        # An install in use: a namespace with an ImageMap in force.
        settled = _new_namespace(stack, "maps-in-force")
        wait_for("the active label", lambda: stack.namespace_active(settled))
        before = _versions(stack)

        _install(stack, MANIFESTS)

        # 1. The webhook configuration: every namespace but the excluded ones, at once.
        assert ACTIVE not in _selector_keys(stack)
        # 2. The webhook Deployment's args (a rollout, one replica at a time, on a cluster).
        assert {"--decision-wait=3", "--undecided=refuse"} <= set(_webhook_args(stack))
        # Nothing the hooks or the webhook read was rewritten.
        assert _versions(stack) == before
        assert stack.dry_run_pod(settled, "gcr.io/google-samples/hello-app:1.0")[
            "spec"]["containers"][0]["image"] == "registry.example.com/hello-app:1.0"
        # And from now on a Deployment applied with its ImageMap has every pod relocated.
        fresh = _new_namespace(stack, "new-namespace")
        stack.cp.kubectl("apply", "-f", str(_one_file(tmp_path, fresh, with_namespace=True,
                                                      kind="Deployment")))
        images = [p["spec"]["containers"][0]["image"] for p in _all_pods(stack, fresh)]
        assert images == [RELOCATED] * len(images), images
        assert BOOTCAMP not in images
    finally:
        if stack.manifests != MANIFESTS:
            _install(stack, MANIFESTS)
