"""JSON pointers and JSONPatch encoding."""

from __future__ import annotations

import base64
import json

import pytest

from hooks.webhook import patches

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
