"""The shipped CRDs on a real API server: it takes them, and the ClusterImageMap's schema (its
label selector's CEL rule among it) refuses what the engine would call invalid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .cluster import ControlPlane, KubectlError

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "hooks" / "image_mapper" / "crds"


@pytest.fixture(scope="module")
def crds(control_plane: ControlPlane) -> ControlPlane:
    control_plane.kubectl("apply", "-k", str(ROOT / "crds"))
    control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                          "crd/imagemaps.mapper.imagerelocation.pivotal.io",
                          "crd/clusterimagemaps.mapper.imagerelocation.pivotal.io")
    return control_plane


def cluster_imagemap(**spec: Any) -> str:
    return json.dumps({
        "apiVersion": "mapper.imagerelocation.pivotal.io/v1alpha1", "kind": "ClusterImageMap",
        "metadata": {"name": "hub"},
        "spec": {"map": [{"from": "docker.io/", "to": "mirror.example.com/hub/"}], **spec}})


def test_a_clusterimagemap_is_cluster_scoped_with_its_short_name(crds: ControlPlane) -> None:
    crds.kubectl("apply", "-f", "-", input=cluster_imagemap(
        namespaceSelector={"matchLabels": {"team": "a"}}))
    try:
        listed = crds.kubectl("get", "cimap", "hub", "-o", "wide").stdout
        assert listed.split()[:4] == ["NAME", "READY", "REASON", "MAPPINGS"]
        obj = crds.kubectl_json("get", "clusterimagemap", "hub")
        assert "namespace" not in obj["metadata"]
        assert obj["spec"]["mode"] == "Enforce"  # the default, as for an ImageMap
        assert obj["spec"]["namespaceSelector"] == {"matchLabels": {"team": "a"}}
    finally:
        crds.kubectl("delete", "clusterimagemap", "hub")


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        pytest.param({"namespaceSelector": {"matchExpressions": [
            {"key": "team", "operator": "In"}]}}, "values must be non-empty", id="In-no-values"),
        pytest.param({"namespaceSelector": {"matchExpressions": [
            {"key": "team", "operator": "Exists", "values": ["a"]}]}}, "values must be",
            id="Exists-with-values"),
        pytest.param({"namespaceSelector": {"matchExpressions": [
            {"key": "team", "operator": "Equals", "values": ["a"]}]}}, "Unsupported value",
            id="operator"),
        pytest.param({"namespaceSelector": {"matchLabels": {"team": "a b"}}}, "Invalid value",
                     id="label-value"),
        pytest.param({"mode": "audit"}, "Unsupported value", id="mode"),
        pytest.param({"imagePullSecrets": [{"name": "Reg"}]}, "Invalid value", id="secret"),
    ],
)
def test_the_api_server_refuses_malformed_clusterimagemaps(crds: ControlPlane,
                                                           spec: dict[str, Any],
                                                           says: str) -> None:
    with pytest.raises(KubectlError) as refused:
        crds.kubectl("apply", "--dry-run=server", "-f", "-", input=cluster_imagemap(**spec))
    assert says in refused.value.stderr
