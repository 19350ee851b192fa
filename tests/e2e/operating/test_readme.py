"""The operating sections of docs/install.md, docs/operations.md and the README run as written,
on a real API server with the real Metacontroller: Install (Metacontroller's own kustomization),
Verify and its walk-through (the README's too), what Ready means, Upgrade, and the Uninstall
order. The tests run in this order; the uninstall is last.
"""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest
import yaml

from tests.controlplane.cluster import KubectlError
from tests.controlplane.metacontroller import ensure_metacontroller
from tests.e2e.stack import ACTIVE_LABEL, SAMPLE, Stack
from tests.support.waiting import wait_for

from .readme import INSTALL, OPERATIONS, ROOT, Command, blocks, run

pytestmark = pytest.mark.e2e

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
RELOCATED = "registry.example.com/kubernetes-bootcamp:v1"
DECISION = "mapper.imagerelocation.pivotal.io/decision"
SUMMARY = "mapper.imagerelocation.pivotal.io/summary"
WEBHOOK_CONFIGURATION = ROOT / "metacontroller" / "webhook-mutatingwebhookconfiguration.yaml"


def test_metacontrollers_own_kustomization_applies(stack: Stack) -> None:
    """Install step 1, from the pinned source (docs/install.md's URL is this kustomization at the
    tag): it applies to this API server, and it is the version the page names."""
    install = blocks("## 1. Metacontroller", INSTALL)[0]
    assert install[0].line == ("kubectl apply -k 'https://github.com/metacontroller/"
                               "metacontroller/manifests/production?ref=v4.17.2'")
    production = ensure_metacontroller() / "production"  # kept by build-metacontroller.sh
    assert (production / "kustomization.yaml").is_file(), (
        f"{production} is missing: run tests/controlplane/build-metacontroller.sh once where "
        "third_party/metacontroller (or METACONTROLLER_SOURCE) holds Metacontroller's source")
    local = Command(f"kubectl apply -k {production}", None)
    run(local, stack.cp)
    statefulset = stack.get("statefulset", "metacontroller", "-n", "metacontroller")
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "ghcr.io/metacontroller/metacontroller:v4.17.2"


def test_verify_and_the_walkthrough_as_the_readme_writes_them(stack: Stack) -> None:
    checks, walkthrough, probe = blocks("## Verify", INSTALL)
    # The README's walk-through is this one, command for command, then two listings.
    readme_walkthrough, listings = blocks("## The walk-through on a cluster")
    assert readme_walkthrough == walkthrough
    for command in checks:
        if "needs kubelets" in command.line:  # rollout status: no kubelet runs pods here
            continue
        output = run(command, stack.cp)
        if "caBundle" in command.line:
            assert len(output.strip()) == 20, output  # bootstrapped by the webhook
    for command in walkthrough:
        output = run(command, stack.cp)
        if command.shows is not None:
            assert output.strip() == command.shows, command.line
    imagemaps, namespaces = listings
    assert re.search(r"^default\s+bootcamp-sample\s+True\s+Accepted\s+1\s",
                     run(imagemaps, stack.cp), re.MULTILINE)
    assert re.search(r"^default\s.*\strue$", run(namespaces, stack.cp), re.MULTILINE)
    # The dry run the page offers as the check that covers the webhook's view too.
    (dry_run,) = probe
    assert run(dry_run, stack.cp).strip() == RELOCATED


def test_ready_means_the_namespace_is_labelled_and_the_webhook_maps(stack: Stack) -> None:
    """At the moment `kubectl wait --for=condition=Ready` returns, in fresh namespaces: the
    namespace carries the active label and the record holds the ImageMap at its generation,
    and the first dry-run pod through the webhook is relocated."""
    relocated_at_once = 0
    for number in range(5):
        namespace = f"ready-{number}"
        stack.cp.kubectl("create", "namespace", namespace)
        stack.cp.kubectl("apply", "-n", namespace, "-f", str(SAMPLE))
        stack.cp.kubectl("wait", "-n", namespace, "--for=condition=Ready", "--timeout=60s",
                         "imagemap/bootcamp-sample")
        labelled = stack.get("namespace", namespace)["metadata"]
        dry_run = stack.dry_run_pod(namespace, BOOTCAMP)["spec"]["containers"][0]["image"]
        assert labelled.get("labels", {}).get(ACTIVE_LABEL) == "true", labelled
        record = json.loads(labelled["annotations"][DECISION])
        imagemap = stack.get("imagemap", "bootcamp-sample", "-n", namespace)["metadata"]
        assert json.dumps(record).count(imagemap["uid"]) == 1, record
        relocated_at_once += dry_run == RELOCATED
    assert relocated_at_once == 5


def test_an_upgrade_rewrites_no_imagemap_and_no_namespace(stack: Stack) -> None:
    """The manifests applied again and every process restarted: nothing is written again,
    so statuses, records and labels stay exactly as they were, and pods are still mapped."""
    namespace = "upgrade"
    stack.cp.kubectl("create", "namespace", namespace)
    stack.cp.kubectl("apply", "-n", namespace, "-f", str(SAMPLE))
    stack.wait_ready(namespace, "bootcamp-sample")
    wait_for("the namespace label", lambda: stack.namespace_active(namespace))
    before = _versions(stack)
    _unpoint_webhook(stack)
    stack.install()  # `kubectl apply -k metacontroller/` again, as the install does
    assert stack.hooks is not None
    assert stack.webhook is not None
    assert stack.metacontroller is not None
    stack.hooks.stop()
    stack.start_hooks()
    stack.webhook.stop()
    stack.start_webhook()
    stack.metacontroller.restart()
    # Metacontroller resyncs every ImageMap and Namespace after its restart; give it the time
    # a settled namespace needs, then nothing may have been written.
    stack.webhook_has_mapping(namespace, BOOTCAMP, RELOCATED)
    time.sleep(5)
    assert _versions(stack) == before
    assert stack.dry_run_pod(namespace, BOOTCAMP)["spec"]["containers"][0]["image"] == RELOCATED


def _unpoint_webhook(stack: Stack) -> None:
    """The webhook configuration's clientConfig back to the installed Service, as on a
    cluster: this stack points it at a URL (no kube-proxy here), and `kubectl apply` would
    merge the Service into it beside the URL, which the API server refuses."""
    installed = yaml.safe_load(WEBHOOK_CONFIGURATION.read_text())
    service = installed["webhooks"][0]["clientConfig"]["service"]
    stack.cp.kubectl("patch", "mutatingwebhookconfiguration", "image-mapper", "--type=json",
                     "-p", json.dumps([
                         {"op": "remove", "path": "/webhooks/0/clientConfig/url"},
                         {"op": "add", "path": "/webhooks/0/clientConfig/service",
                          "value": service}]))


def _versions(stack: Stack) -> dict[str, str]:
    """resourceVersion of every ImageMap and of every Namespace with a decision record."""
    versions = {}
    for item in stack.get("imagemaps", "-A")["items"]:
        metadata = item["metadata"]
        versions[f"imagemap {metadata['namespace']}/{metadata['name']}"] = \
            metadata["resourceVersion"]
    for item in stack.get("namespaces")["items"]:
        metadata = item["metadata"]
        if DECISION in (metadata.get("annotations") or {}):
            versions[f"namespace {metadata['name']}"] = metadata["resourceVersion"]
    return versions


def test_the_uninstall_order_never_refuses_a_pod(stack: Stack) -> None:
    """The Uninstall block of docs/operations.md, command by command. With the webhook down and its
    configuration installed, a pod of a namespace with maps in force is refused; after the
    block's first command, the same pod is created, and the rest removes everything."""
    (uninstall,) = blocks("## Uninstall", OPERATIONS)
    assert uninstall[0].line == "kubectl delete mutatingwebhookconfiguration image-mapper"
    namespace = "uninstall"
    stack.cp.kubectl("create", "namespace", namespace)
    stack.cp.kubectl("apply", "-n", namespace, "-f", str(SAMPLE))
    stack.wait_ready(namespace, "bootcamp-sample")
    wait_for("the namespace label", lambda: stack.namespace_active(namespace))
    stack.webhook_has_mapping(namespace, BOOTCAMP, RELOCATED)
    assert stack.webhook is not None
    assert stack.webhook.stop() == 0

    # The other order: the webhook gone first, its configuration still there.
    with pytest.raises(KubectlError) as refused:
        _run_pod(stack, namespace, "refused")
    assert "failed calling webhook" in refused.value.stderr

    run(uninstall[0], stack.cp)
    pod = _run_pod(stack, namespace, "after-step-1")
    assert pod["spec"]["containers"][0]["image"] == BOOTCAMP  # not mapped, not refused
    for command in uninstall[1:]:
        run(command, stack.cp)

    assert not _exists(stack, "crd", "imagemaps.mapper.imagerelocation.pivotal.io")
    assert not _exists(stack, "compositecontroller", "image-mapper-imagemaps")
    assert not _exists(stack, "decoratorcontroller", "image-mapper-namespaces")
    assert not _exists(stack, "mutatingwebhookconfiguration", "image-mapper")
    assert stack.get("clusterroles", "-l", "app.kubernetes.io/name=image-mapper")["items"] == []
    for item in stack.get("namespaces")["items"]:
        metadata = item["metadata"]
        assert ACTIVE_LABEL not in (metadata.get("labels") or {}), metadata["name"]
        annotations = metadata.get("annotations") or {}
        assert DECISION not in annotations, metadata["name"]
        assert SUMMARY not in annotations, metadata["name"]
    wait_for("the image-mapper namespace to go",
             lambda: not _exists(stack, "namespace", "image-mapper"), timeout=120)
    # Pods keep being created as written.
    assert _run_pod(stack, namespace, "after")["spec"]["containers"][0]["image"] == BOOTCAMP


def _run_pod(stack: Stack, namespace: str, name: str) -> dict:  # type: ignore[type-arg]
    stack.cp.kubectl("run", name, f"--image={BOOTCAMP}", "-n", namespace, "--restart=Never")
    return stack.get("pod", name, "-n", namespace)


def _exists(stack: Stack, kind: str, name: str) -> bool:
    result = stack.cp.kubectl("get", kind, name, "--ignore-not-found", "-o", "name",
                              check=False)
    if result.returncode != 0 and "the server doesn't have a resource type" in result.stderr:
        return False
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, result.args, result.stdout,
                                            result.stderr)
    return bool(result.stdout.strip())
