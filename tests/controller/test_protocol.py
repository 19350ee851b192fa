"""Reading hook bodies: the documented shapes of v1 and v2 pass, anything else is named."""

from __future__ import annotations

from typing import Any

import pytest

from image_mapper.controller.protocol import (
    NAMESPACE_KIND,
    BadRequest,
    namespace_imagemaps,
    parse_composite_sync,
    parse_customize,
    parse_decorator_sync,
)
from image_mapper.engine.imagemap import KIND as IMAGEMAP_KIND
from tests.support.resources import imagemap, namespace

API = "mapper.imagerelocation.pivotal.io/v1alpha1"



def composite(**fields: Any) -> dict[str, Any]:
    body = {"controller": {}, "parent": imagemap("a"), "children": {}, "related": {},
            "finalizing": False}
    body.update(fields)
    return body


def test_composite_sync_reads_the_documented_shape() -> None:
    body = composite(related={f"ImageMap.{API}": {"a": imagemap("a")}})
    request = parse_composite_sync(body, kind=IMAGEMAP_KIND)
    assert request["parent"] is body["parent"]
    assert request["related"] == body["related"]
    assert request["finalizing"] is False


@pytest.mark.parametrize(
    ("field", "value"),
    [("children", None), ("related", None), ("related", {f"ImageMap.{API}": None})],
    ids=["children-null", "related-null", "related-group-null"],
)
def test_go_nil_maps_read_as_empty(field: str, value: object) -> None:
    request = parse_composite_sync(composite(**{field: value}), kind=IMAGEMAP_KIND)
    assert namespace_imagemaps(request["related"], "apps") == []


def test_decorator_sync_v1_and_v2_read_alike() -> None:
    related = {f"ImageMap.{API}": {"apps/a": imagemap("a")}}
    v1 = parse_decorator_sync({"controller": {}, "object": namespace(), "attachments": {},
                               "related": related, "finalizing": False}, kind=NAMESPACE_KIND)
    v2 = parse_decorator_sync({"controller": {}, "parent": namespace(), "children": {},
                               "related": related, "finalizing": False}, kind=NAMESPACE_KIND)
    assert v1 == v2


MALFORMED: list[tuple[str, object, str]] = [
    ("not-an-object", [1, 2], "must be a JSON object, not an array"),
    ("null", None, "must be a JSON object, not null"),
    ("no-parent", {"controller": {}}, "'parent' must be a Kubernetes object, not null"),
    ("parent-string", composite(parent="a"), "'parent' must be a Kubernetes object, not a string"),
    ("no-metadata", composite(parent={"kind": "ImageMap"}), "'parent.metadata' must be an object"),
    ("no-name", composite(parent={"kind": "ImageMap", "metadata": {}}),
     "'parent.metadata.name' must be a non-empty string, not null"),
    ("namespace-number", composite(parent={"kind": "ImageMap",
                                           "metadata": {"name": "a", "namespace": 3}}),
     "'parent.metadata.namespace' must be a string, not a number"),
    ("no-kind", composite(parent={"metadata": {"name": "a"}}), "'parent.kind' must be a string"),
    ("wrong-kind", composite(parent=namespace()), "'parent' must be a ImageMap, not a Namespace"),
    ("related-list", composite(related=[]), "'related' must be an object of object groups"),
    ("related-group-list", composite(related={"ImageMap.x/v1": []}),
     "'related.ImageMap.x/v1' must be an object keyed by object name, not an array"),
    ("related-object-broken", composite(related={"ImageMap.x/v1": {"b": {"kind": "ImageMap"}}}),
     "'related.ImageMap.x/v1.b.metadata' must be an object"),
    ("children-string", composite(children="none"), "'children' must be an object"),
    ("finalizing-string", composite(finalizing="false"), "'finalizing' must be true or false"),
    ("controller-list", composite(controller=[]), "'controller' must be an object, not an array"),
]


@pytest.mark.parametrize(("body", "message"), [(b, m) for _, b, m in MALFORMED],
                         ids=[i for i, _, _ in MALFORMED])
def test_malformed_composite_sync_is_named(body: object, message: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_composite_sync(body, kind=IMAGEMAP_KIND)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"controller": {}, "attachments": {}}, "in 'object' (v1) or 'parent' (v2)"),
        ({"object": imagemap("a")}, "'object' must be a Namespace, not a ImageMap"),
        ({"parent": namespace(), "children": 5}, "'children' must be an object"),
    ],
    ids=["no-target", "wrong-kind", "v2-children-number"],
)
def test_malformed_decorator_sync_is_named(body: object, message: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_decorator_sync(body, kind=NAMESPACE_KIND)
    assert message in str(raised.value)


def test_customize_needs_a_parent_of_the_kind() -> None:
    parse_customize({"controller": {}, "parent": namespace()}, kind=NAMESPACE_KIND)
    with pytest.raises(BadRequest, match="'parent' must be a Namespace"):
        parse_customize({"controller": {}, "parent": imagemap("a")}, kind=NAMESPACE_KIND)


def test_namespace_imagemaps_reads_objects_not_keys() -> None:
    related = {
        f"ImageMap.{API}": {"whatever": imagemap("a"), "apps/b": imagemap("b"),
                            "c": imagemap("c", namespace="other")},
        "ImageMap.mapper.imagerelocation.pivotal.io/v1beta1": {"a": imagemap("a")},
        "ImageMap.other.example.com/v1": {
            "d": {**imagemap("d"), "apiVersion": "other.example.com/v1"}},
        "ConfigMap.v1": {"e": {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "e", "namespace": "apps"}}},
    }
    assert sorted(m.name for m in namespace_imagemaps(related, "apps")) == ["a", "b"]
