"""The whole webhook against a real kube-apiserver: `serve-webhook --bootstrap-tls` as its
ServiceAccount, the API server calling it over TLS for pod CREATE, UPDATE and
`kubectl debug`, and the failure policy when it is gone.

The API server reaches the webhook by URL on localhost (there is no Service network here);
every other setting is the manifests' own.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from image_mapper.webhook.admission import ORIGINAL_IMAGES
from tests.controlplane import ControlPlane, KubectlError
from tests.support.ports import free_port
from tests.support.waiting import wait_for
from tests.webhook.server import Server

from .cluster import (
    NAMESPACE,
    apply,
    manifest,
    put_imagemap,
    service_account_kubeconfig,
)

pytestmark = pytest.mark.e2e

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
RELOCATED = "registry.example.com/kubernetes-bootcamp:v1"


@pytest.fixture
def webhook(cluster: ControlPlane, tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    configuration = manifest("MutatingWebhookConfiguration", "image-mapper")
    configuration["webhooks"][0]["clientConfig"] = {"url": f"https://localhost:{port}/mutate"}
    apply(cluster, configuration)
    kubeconfig = service_account_kubeconfig(cluster, tmp_path / "webhook.kubeconfig")
    log = tmp_path / "webhook.log"
    command = [sys.executable, "-m", "image_mapper", "serve-webhook", "--host", "127.0.0.1",
               "--port", str(port),
               "--kubeconfig", str(kubeconfig), "--bootstrap-tls", "--namespace", NAMESPACE,
               "--tls-dns-name", "localhost", "--cert-file", str(tmp_path / "tls" / "tls.crt"),
               "--key-file", str(tmp_path / "tls" / "tls.key"), "--shutdown-delay", "0.5"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    server = Server(process, port, log, unverified)
    try:
        server.wait_ready(timeout=60)
        yield server
    finally:
        server.stop()
        cluster.kubectl("delete", "mutatingwebhookconfiguration", "image-mapper",
                        "--ignore-not-found")


def _get(cp: ControlPlane, *args: str) -> Any:
    return cp.kubectl_json("get", *args)


def _pod(cp: ControlPlane, namespace: str, name: str) -> Any:
    return _get(cp, "pod", name, "-n", namespace)


def _namespace(cp: ControlPlane, name: str, **labels: str) -> None:
    cp.kubectl("create", "namespace", name)
    if labels:
        cp.kubectl("label", "namespace", name, *(f"{k}={v}" for k, v in labels.items()))


RESTRICTED = json.dumps({"spec": {"securityContext": {
    "runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [{"name": "NAME", "image": BOOTCAMP, "securityContext": {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}})
"""`kubectl run --overrides` for the project's namespace, which enforces Pod Security
`restricted`."""


def _run(cp: ControlPlane, ns: str, name: str) -> None:
    overrides = ([f"--overrides={RESTRICTED.replace('NAME', name)}"] if ns == NAMESPACE
                 else [])
    cp.kubectl("run", name, "-n", ns, f"--image={BOOTCAMP}", *overrides)


def test_bootstrap_publishes_the_ca_the_webhook_is_served_with(
    cluster: ControlPlane, webhook: Server
) -> None:
    secret = _get(cluster, "secret", "image-mapper-webhook-tls", "-n", NAMESPACE)
    assert secret["type"] == "kubernetes.io/tls"
    data: dict[str, str] = secret["data"]
    assert set(data) == {"ca.crt", "ca.key", "tls.crt", "tls.key"}
    configuration = _get(cluster, "mutatingwebhookconfiguration", "image-mapper")
    (hook,) = configuration["webhooks"]
    assert hook["clientConfig"]["caBundle"] == data["ca.crt"]
    ca = Path(webhook.log.parent / "ca.pem")
    ca.write_bytes(base64.b64decode(data["ca.crt"]))
    verified = ssl.create_default_context(cafile=str(ca))
    checked = Server(webhook.process, webhook.port, webhook.log, verified)
    assert checked.get("/readyz")[0] == 200


def test_pods_are_relocated_through_the_api_server(cluster: ControlPlane, webhook: Server) -> None:
    cp = cluster
    ns = "bootcamp"
    _namespace(cp, ns, **{"mapper.imagerelocation.pivotal.io/active": "true"})
    put_imagemap(cp, ns, "bootcamp-sample", [(BOOTCAMP, RELOCATED),
                                             ("nginx", "registry.example.com/library/nginx"),
                                             ("quay.io/", "registry.example.com/quay/")])

    attempts = iter(range(1000))

    def relocated() -> bool:
        name = f"probe-{next(attempts)}"
        cp.kubectl("run", name, "-n", ns, f"--image={BOOTCAMP}", "--restart=Never")
        image: str = _pod(cp, ns, name)["spec"]["containers"][0]["image"]
        return image == RELOCATED

    wait_for("the webhook to see the ImageMap", lambda: relocated() or None, timeout=30)

    # CREATE: the README's example.
    cp.kubectl("run", "kubernetes-bootcamp", "-n", ns, f"--image={BOOTCAMP}")
    pod = _pod(cp, ns, "kubernetes-bootcamp")
    assert pod["spec"]["containers"][0]["image"] == RELOCATED
    assert json.loads(pod["metadata"]["annotations"][ORIGINAL_IMAGES]) == {
        "kubernetes-bootcamp": BOOTCAMP}

    # UPDATE: a changed image is mapped, keeping its tag.
    cp.kubectl("set", "image", "pod/kubernetes-bootcamp", "-n", ns,
               "kubernetes-bootcamp=nginx:1.27")
    pod = _pod(cp, ns, "kubernetes-bootcamp")
    assert pod["spec"]["containers"][0]["image"] == (
        "registry.example.com/library/nginx:1.27")
    assert json.loads(pod["metadata"]["annotations"][ORIGINAL_IMAGES]) == {
        "kubernetes-bootcamp": "nginx:1.27"}

    # An update that changes no image changes nothing else.
    cp.kubectl("label", "pod", "kubernetes-bootcamp", "-n", ns, "tier=web")
    assert _pod(cp, ns, "kubernetes-bootcamp")["spec"] == pod["spec"]

    # kubectl debug: the pods/ephemeralcontainers subresource.
    cp.kubectl("debug", "kubernetes-bootcamp", "-n", ns, "--image=quay.io/debug/tools:v2",
               "--container=debugger")
    pod = _pod(cp, ns, "kubernetes-bootcamp")
    (debugger,) = pod["spec"]["ephemeralContainers"]
    assert debugger["image"] == "registry.example.com/quay/debug/tools:v2"


def test_namespaces_out_of_scope_are_left_alone(cluster: ControlPlane, webhook: Server) -> None:
    """The webhook serves every namespace but the opted-out ones, its own and the control
    plane's: a namespace needs no `active` label to be served (a pod applied with its first
    ImageMap must be seen), while an excluded one keeps its images even with an ImageMap in
    force."""
    cp = cluster
    _namespace(cp, "unlabelled")
    put_imagemap(cp, "unlabelled", "bootcamp-sample", [(BOOTCAMP, RELOCATED)])
    cp.kubectl("run", "kubernetes-bootcamp", "-n", "unlabelled", f"--image={BOOTCAMP}")
    assert _pod(cp, "unlabelled", "kubernetes-bootcamp")["spec"]["containers"][0][
        "image"] == RELOCATED
    _namespace(cp, "opted-out", **{
        "image-mapper-webhook.image-relocation.pivotal.io/enabled": "false"})
    for ns in ("opted-out", NAMESPACE):
        put_imagemap(cp, ns, "bootcamp-sample", [(BOOTCAMP, RELOCATED)])
        _run(cp, ns, "kubernetes-bootcamp")
        assert _pod(cp, ns, "kubernetes-bootcamp")["spec"]["containers"][0][
            "image"] == BOOTCAMP


def test_failure_policy_fail_refuses_pods_while_the_webhook_is_down(
    cluster: ControlPlane, webhook: Server
) -> None:
    cp = cluster
    ns = "down"
    _namespace(cp, ns, **{"mapper.imagerelocation.pivotal.io/active": "true"})
    assert webhook.stop() == 0
    with pytest.raises(KubectlError, match="failed calling webhook"):
        cp.kubectl("run", "kubernetes-bootcamp", "-n", ns, f"--image={BOOTCAMP}")
    # Every served namespace calls it, with or without ImageMaps: refused there too ...
    with pytest.raises(KubectlError, match="failed calling webhook"):
        cp.kubectl("run", "unaffected", "-n", "default", f"--image={BOOTCAMP}")
    # ... while the control plane's namespace and the webhook's own never call it, so the
    # webhook's replicas (and DNS, the CNI) can still start.
    for ns in ("kube-system", NAMESPACE):
        _run(cp, ns, "still-created")
