"""JSON pointers and JSONPatch encoding."""

from __future__ import annotations

import base64
import json

import pytest

from image_mapper.webhook import patches

from .jsonpatch import decode


@pytest.mark.parametrize(
    ("token", "escaped"),
    [
        pytest.param("plain", "plain", id="plain"),
        pytest.param("a/b", "a~1b", id="slash"),
        pytest.param("a~b", "a~0b", id="tilde"),
        pytest.param("~1", "~01", id="tilde-then-one"),
        pytest.param("/~", "~1~0", id="both"),
        pytest.param("mapper.imagerelocation.pivotal.io/original-images",
                     "mapper.imagerelocation.pivotal.io~1original-images", id="annotation"),
        pytest.param("", "", id="empty"),
    ],
)
def test_escape(token: str, escaped: str) -> None:
    assert patches.escape(token) == escaped


def test_pointer() -> None:
    assert patches.pointer("spec", "containers", 0, "image") == "/spec/containers/0/image"
    assert patches.pointer("metadata", "annotations", "a/b~c") == "/metadata/annotations/a~1b~0c"
    assert patches.pointer() == ""


def test_encode_is_base64_of_compact_json() -> None:
    operations: list[patches.Operation] = [
        patches.replace("/spec/containers/0/image", "r.example.com/nginx"),
        patches.add("/metadata/annotations", {"k": "ü"}),
        patches.remove("/metadata/labels/x"),
    ]
    encoded = patches.encode(operations)
    assert json.loads(base64.b64decode(encoded)) == operations
    assert decode(encoded) == operations
    assert b" " not in base64.b64decode(encoded)


POD = {"metadata": {"name": "p"},
       "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "x"}]}}


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        pytest.param([patches.replace("/spec/containers/1/image", "y")],
                     {**POD, "spec": {"containers": [{"name": "a", "image": "nginx"},
                                                     {"name": "b", "image": "y"}]}},
                     id="replace-in-array"),
        pytest.param([patches.add("/metadata/annotations", {"a/b": "1"}),
                      patches.add(patches.pointer("metadata", "annotations", "a/b"), "2")],
                     {**POD, "metadata": {"name": "p", "annotations": {"a/b": "2"}}},
                     id="add-then-add-escaped"),
        pytest.param([patches.remove("/metadata/name")], {**POD, "metadata": {}}, id="remove"),
        pytest.param([patches.add("/spec/containers/-", {"name": "c"})],
                     {**POD, "spec": {"containers": [*POD["spec"]["containers"],  # type: ignore[index]
                                                     {"name": "c"}]}},
                     id="add-past-the-end"),
    ],
)
def test_apply_matches_the_reference_applier(
    operations: list[patches.Operation], expected: dict[str, object]
) -> None:
    from .jsonpatch import apply_patch

    before = json.loads(json.dumps(POD))
    assert patches.apply(POD, operations) == expected
    assert before == POD, "the document given is left as it was"
    if not any(o["path"].endswith("/-") for o in operations):
        assert apply_patch(POD, list(operations)) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        pytest.param(patches.replace("/spec/containers/2/image", "y"), "out of range",
                     id="index-out-of-range"),
        pytest.param(patches.replace("/spec/containers/01/image", "y"), "not an array index",
                     id="leading-zero"),
        pytest.param(patches.replace("/metadata/labels", {}), "no such location", id="missing"),
        pytest.param(patches.remove("/spec/containers/x"), "not an array index", id="not-index"),
        pytest.param(patches.add("/metadata/name/x", 1), "not an object or array",
                     id="add-under-a-string"),
        pytest.param(patches.add("metadata", 1), "not a JSON pointer", id="no-slash"),
    ],
)
def test_apply_refuses_missing_locations(operation: patches.Operation, message: str) -> None:
    with pytest.raises(patches.PatchError, match=message):
        patches.apply(POD, [operation])


def test_decode_is_the_inverse_of_encode() -> None:
    operations: list[patches.Operation] = [patches.add("/a", {"é": [1]}), patches.remove("/b")]
    assert patches.decode(patches.encode(operations)) == operations
