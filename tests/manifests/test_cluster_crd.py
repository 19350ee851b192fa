"""The ClusterImageMap CRD: made from the ImageMap CRD and shipped as made, so the two schemas
cannot drift; as strict as the ImageMap's on the spec they share, plus a namespaceSelector
validated as a label selector."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from image_mapper.cli.cluster_crd import cluster_crd, imagemap_crd, render
from tests.manifests.test_crd_and_hooks import BAD, GOOD, ROOT, re2_anchors, sample

PACKAGED = ROOT / "hooks" / "image_mapper" / "crds" / "clusterimagemaps.yaml"
SHIPPED = [PACKAGED, ROOT / "crds" / "clusterimagemaps.yaml",
           ROOT / "charts" / "image-mapper" / "crds" / "clusterimagemaps.yaml"]
CRD = yaml.safe_load(PACKAGED.read_text(encoding="utf-8"))
VERSION = CRD["spec"]["versions"][0]
SCHEMA = VERSION["schema"]["openAPIV3Schema"]
VALIDATOR = jsonschema.Draft7Validator(re2_anchors(SCHEMA))


@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(ROOT)) for p in SHIPPED])
def test_the_shipped_crd_is_the_one_made_from_the_imagemap_crd(path: Path) -> None:
    assert path.read_text(encoding="utf-8") == render(cluster_crd(imagemap_crd())), (
        "run `make crds`")


def test_names_scope_and_columns() -> None:
    imagemap = imagemap_crd()
    assert CRD["metadata"]["name"] == "clusterimagemaps.mapper.imagerelocation.pivotal.io"
    assert CRD["spec"]["group"] == imagemap["spec"]["group"]
    assert CRD["spec"]["scope"] == "Cluster"
    assert CRD["spec"]["names"] == {
        "kind": "ClusterImageMap", "listKind": "ClusterImageMapList",
        "plural": "clusterimagemaps", "singular": "clusterimagemap", "shortNames": ["cimap"]}
    theirs = imagemap["spec"]["versions"][0]
    assert [v["name"] for v in CRD["spec"]["versions"]] == ["v1alpha1"]
    assert VERSION["subresources"] == theirs["subresources"]
    assert [(c["name"], c["jsonPath"]) for c in VERSION["additionalPrinterColumns"]] == [
        (c["name"], c["jsonPath"]) for c in theirs["additionalPrinterColumns"]]


def _without_descriptions(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_descriptions(v) for k, v in schema.items() if k != "description"}
    if isinstance(schema, list):
        return [_without_descriptions(v) for v in schema]
    return schema


def test_the_spec_is_the_imagemaps_plus_a_namespace_selector() -> None:
    theirs = imagemap_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    ours = copy.deepcopy(SCHEMA["properties"]["spec"])
    assert "namespaceSelector" in ours["properties"]
    del ours["properties"]["namespaceSelector"]
    assert _without_descriptions(ours) == _without_descriptions(theirs["properties"]["spec"])


def cluster_sample(*maplets: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return sample(*maplets, **spec) | {"kind": "ClusterImageMap"}


@pytest.mark.parametrize("obj", [b[1] for b in BAD], ids=[b[0] for b in BAD])
def test_what_an_imagemap_may_not_be_a_clusterimagemap_may_not_be(obj: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(obj | {"kind": "ClusterImageMap"})


@pytest.mark.parametrize(
    "selector",
    [
        pytest.param({}, id="empty"),
        pytest.param({"matchLabels": {"team": "a", "example.com/tier": ""}}, id="labels"),
        pytest.param({"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["a", "b"]},
            {"key": "team", "operator": "Exists"}]}, id="expressions"),
    ],
)
def test_the_schema_accepts_label_selectors(selector: dict[str, Any]) -> None:
    VALIDATOR.validate(cluster_sample(GOOD[0][1], namespaceSelector=selector))


@pytest.mark.parametrize(
    "selector",
    [
        pytest.param("team=a", id="string"),
        pytest.param({"matchLabels": {"team": 1}}, id="value-number"),
        pytest.param({"matchLabels": {"team": "a b"}}, id="value-space"),
        pytest.param({"matchLabels": {"team": "x" * 64}}, id="value-too-long"),
        pytest.param({"matchExpressions": [{"key": "team", "operator": "Equals",
                                            "values": ["a"]}]}, id="operator-unknown"),
        pytest.param({"matchExpressions": [{"key": "-team", "operator": "Exists"}]},
                     id="key-invalid"),
        pytest.param({"matchExpressions": [{"operator": "Exists"}]}, id="key-missing"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]},
                     id="values-numbers"),
    ],
)
def test_the_schema_rejects_malformed_selectors(selector: Any) -> None:
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(cluster_sample(GOOD[0][1], namespaceSelector=selector))


def test_a_conflict_names_the_other_clusterimagemap() -> None:
    conflict = SCHEMA["properties"]["status"]["properties"]["conflicts"]["items"]
    assert conflict["required"] == ["from", "to", "clusterImageMap", "theirTo"]
    assert "imageMap" not in conflict["properties"]
