"""End-to-end self-check of the local control plane (slow: needs the built binaries)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from tests.support.waiting import wait_for

from .cluster import ControlPlane
from .metacontroller import Metacontroller

pytestmark = pytest.mark.e2e

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: cp-selfcheck
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
"""


def _pods(cp: ControlPlane, namespace: str) -> list[dict[str, object]]:
    items = cp.kubectl_json("get", "pods", "-n", namespace)["items"]
    assert isinstance(items, list)
    return items


def test_control_plane_lifecycle(control_plane: ControlPlane) -> None:
    cp = control_plane
    ns = "cp-selfcheck"
    cp.kubectl("create", "namespace", ns)

    # Deployment -> ReplicaSet -> Pod (Pending: there is no scheduler or kubelet).
    cp.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    pods = wait_for("a Pod of the Deployment", lambda: _pods(cp, ns), timeout=60)
    pod = pods[0]
    assert isinstance(pod, dict)
    assert pod["spec"]["containers"][0]["image"] == "nginx"  # type: ignore[index]
    rs = cp.kubectl_json("get", "replicasets", "-n", ns)["items"]
    assert isinstance(rs, list)
    assert len(rs) == 1

    # ServiceAccount token through the TokenRequest API, and it authenticates.
    token = cp.service_account_token(ns, "robot", create=True)
    assert token.count(".") == 2  # a JWT
    status, body = cp.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        token=token,
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    assert status == 201, body
    assert json.loads(body)["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:robot"

    # Namespace deletion completes (namespace controller + garbage collector).
    cp.kubectl("delete", "namespace", ns, "--wait=false")
    wait_for(
        f"namespace {ns} to be gone",
        lambda: cp.kubectl("get", "namespace", ns, check=False).returncode != 0,
        timeout=90,
    )

    # The apiserver comes back on the same port.
    server = cp.server
    t = time.monotonic()
    cp.restart_apiserver()
    print(f"apiserver restart: {time.monotonic() - t:.1f}s")
    assert cp.server == server
    assert "default" in cp.kubectl("get", "ns").stdout

    # etcd restart: data survives.
    cp.kubectl("create", "configmap", "survivor", "-n", "default", "--from-literal=k=v")
    t = time.monotonic()
    cp.restart_etcd()
    print(f"etcd restart: {time.monotonic() - t:.1f}s")
    got = wait_for(
        "configmap after etcd restart",
        lambda: (
            cp.kubectl("get", "configmap", "survivor", "-n", "default", check=False).returncode == 0
        ),
        timeout=60,
    )
    assert got


def test_metacontroller_starts_again_when_its_port_was_taken(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """The port picked for it is bound by someone else before it binds it: it starts again
    on other ports instead of failing the package."""
    metacontroller = Metacontroller(control_plane, tmp_path / "metacontroller.log")
    taken = metacontroller.health_port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        try:
            metacontroller.start()
            assert metacontroller.running
            assert metacontroller.health_port != taken
            assert "address already in use" in (tmp_path / "metacontroller.log").read_text()
        finally:
            metacontroller.stop()
