"""The rewrite rule on shapes the golden fixtures do not cover: odd pods, the result record."""

from __future__ import annotations

import json
from typing import Any

import pytest

from image_mapper.engine.mapping import Mapping, compile_maplet
from image_mapper.webhook.admission import ORIGINAL_IMAGES, admit
from image_mapper.webhook.reviews import AdmissionRequest, Operation
from tests.webhook.jsonpatch import decode

MAPPING = Mapping.build([
    compile_maplet("nginx", "registry.example.com/nginx", "mirrors"),
    compile_maplet("quay.io/", "registry.example.com/quay/", "quay"),
])


def _request(obj: Any, operation: Operation = "CREATE", old: Any = None) -> AdmissionRequest:
    return {
        "uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": "demo", "operation": operation, "object": obj, "oldObject": old,
    }


def _operations(obj: Any, **kwargs: Any) -> list[dict[str, Any]]:
    response = admit(review_request=_request(obj, **kwargs), mapping=MAPPING).response
    assert response["uid"] == "u-1"
    assert response["allowed"] is True
    return list(decode(response["patch"])) if "patch" in response else []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param({}, id="empty-pod"),
        pytest.param({"spec": None}, id="spec-null"),
        pytest.param({"spec": []}, id="spec-list"),
        pytest.param({"spec": {"containers": None}}, id="containers-null"),
        pytest.param({"spec": {"containers": {"name": "a"}}}, id="containers-object"),
        pytest.param({"spec": {"containers": ["nginx"]}}, id="container-string"),
        pytest.param({"spec": {"containers": [{"name": "a"}]}}, id="no-image"),
        pytest.param({"spec": {"containers": [{"name": "a", "image": 5}]}}, id="image-number"),
        pytest.param({"spec": {"containers": [{"image": "nginx"}]}}, id="no-name"),
        pytest.param({"spec": {"containers": [{"name": "a", "image": ""}]}}, id="empty-image"),
        pytest.param({"spec": {"containers": [{"name": "a", "image": "x" * 100_000}]}},
                     id="huge-image"),
    ],
)
def test_pods_the_api_server_would_reject_are_allowed_unchanged(obj: Any) -> None:
    assert _operations(obj) == []


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        pytest.param(None, {"op": "add", "path": "/metadata",
                            "value": {"annotations": {ORIGINAL_IMAGES: '{"a":"nginx"}'}}},
                     id="no-metadata"),
        pytest.param({"name": "p"}, {"op": "add", "path": "/metadata/annotations",
                                     "value": {ORIGINAL_IMAGES: '{"a":"nginx"}'}},
                     id="no-annotations"),
        pytest.param({"annotations": None}, {"op": "add", "path": "/metadata/annotations",
                                             "value": {ORIGINAL_IMAGES: '{"a":"nginx"}'}},
                     id="annotations-null"),
        pytest.param({"annotations": {ORIGINAL_IMAGES: "{broken"}},
                     {"op": "add", "path": "/metadata/annotations/"
                      "mapper.imagerelocation.pivotal.io~1original-images",
                      "value": '{"a":"nginx"}'},
                     id="record-unreadable"),
    ],
)
def test_the_record_is_added_wherever_metadata_stands(
    metadata: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    obj: dict[str, Any] = {"spec": {"containers": [{"name": "a", "image": "nginx"}]}}
    if metadata is not None:
        obj["metadata"] = metadata
    assert _operations(obj) == [
        {"op": "replace", "path": "/spec/containers/0/image",
         "value": "registry.example.com/nginx"},
        expected,
    ]


def test_the_result_record_names_images_and_imagemaps() -> None:
    pod = {"spec": {"initContainers": [{"name": "i", "image": "quay.io/x/y:1"}],
                    "containers": [{"name": "a", "image": "nginx:1"},
                                   {"name": "b", "image": "busybox"},
                                   {"name": "c", "image": "Not/Valid"}]}}
    admission = admit(review_request=_request(pod), mapping=MAPPING)
    assert [(r.container, r.match.image, r.match.result, r.match.image_map)
            for r in admission.rewritten] == [
        ("i", "quay.io/x/y:1", "registry.example.com/quay/x/y:1", "quay"),
        ("a", "nginx:1", "registry.example.com/nginx:1", "mirrors"),
    ]
    assert admission.audited == ()
    assert admission.unmatched == ("busybox", "Not/Valid")


def test_update_matches_containers_by_name_not_position() -> None:
    old = {"spec": {"containers": [{"name": "a", "image": "busybox"},
                                   {"name": "b", "image": "nginx:1"}]}}
    new = {"spec": {"containers": [{"name": "b", "image": "nginx:1"},
                                   {"name": "a", "image": "busybox"}]}}
    assert _operations(new, operation="UPDATE", old=old) == []


def test_update_maps_a_container_the_old_pod_did_not_have() -> None:
    old = {"spec": {"containers": [{"name": "a", "image": "busybox"}]}}
    new = {"spec": {"containers": [{"name": "a", "image": "busybox"}],
                    "ephemeralContainers": [{"name": "debug", "image": "quay.io/tools:1"}]}}
    operations = _operations(new, operation="UPDATE", old=old)
    assert operations[0] == {"op": "replace", "path": "/spec/ephemeralContainers/0/image",
                             "value": "registry.example.com/quay/tools:1"}


def test_a_pod_copied_from_a_rewritten_one_is_left_alone() -> None:
    pod = {"metadata": {"annotations": {ORIGINAL_IMAGES: json.dumps({"a": "nginx:1"})}},
           "spec": {"containers": [{"name": "a", "image": "registry.example.com/nginx:1"}]}}
    assert _operations(pod) == []


def test_an_image_changed_by_someone_else_after_the_mapper_is_mapped() -> None:
    # The record says the mapper made `a` from nginx:1, but `a` now holds another image that
    # the mapping does not make from nginx:1: someone changed it, so it is looked up.
    pod = {"metadata": {"annotations": {ORIGINAL_IMAGES: json.dumps({"a": "nginx:1"})}},
           "spec": {"containers": [{"name": "a", "image": "quay.io/other:2"}]}}
    assert _operations(pod) == [
        {"op": "replace", "path": "/spec/containers/0/image",
         "value": "registry.example.com/quay/other:2"},
        {"op": "add", "path": "/metadata/annotations/"
         "mapper.imagerelocation.pivotal.io~1original-images",
         "value": '{"a":"quay.io/other:2"}'},
    ]


def test_an_empty_mapping_changes_nothing() -> None:
    pod = {"spec": {"containers": [{"name": "a", "image": "nginx"}]}}
    admission = admit(review_request=_request(pod), mapping=Mapping.EMPTY)
    assert admission.response == {"uid": "u-1", "allowed": True}
    assert admission.unmatched == ("nginx",)
