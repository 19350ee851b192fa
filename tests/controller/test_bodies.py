"""`BodyDecoder`: what `json.loads` gives, for every body; each related object decoded once, and
never changed by the hooks that read it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from image_mapper.controller.bodies import BodyDecoder
from image_mapper.controller.dispatch import run_hook
from image_mapper.controller.memo import Memo, Readings
from image_mapper.engine.imagemap import ImageMap
from tests.golden import FIXTURE_NOW, Golden, hook_cases

CASES = [case for case in hook_cases() if not case.malformed]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=4),
    max_leaves=20,
)
bodies = st.dictionaries(
    st.sampled_from(["controller", "parent", "object", "children", "related", "x"]),
    json_values | st.dictionaries(
        st.text(max_size=6),
        st.dictionaries(st.text(max_size=6), json_values, max_size=3), max_size=3),
    max_size=6,
)


def outcome(decode: Any, data: bytes) -> object:
    """The decoded body, or the type of error raised."""
    try:
        return decode(data)
    except (ValueError, RecursionError) as error:
        return type(error)


@settings(max_examples=300, deadline=None)
@given(bodies)
def test_equals_json_loads(body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    decoder = BodyDecoder()
    assert decoder.decode(data) == json.loads(data)
    assert list(decoder.decode(data)) == list(json.loads(data))  # the same key order
    assert decoder.decode(data) == json.loads(data)  # and again, from what it remembers


@pytest.mark.parametrize("data", [
    b"", b"{", b"[]", b"null", b"{} {}", b'{"related": NaN}', b'{"related": {"a": {"b": NaN}}}',
    b'{"related": [1]}', b'{"related": {"a": 1}}', b'{"related": null}',
    b'{"a": 1, "a": 2}', b'{"related": {"g": {"k": 1, "k": {"x": 2}}}}',
    b'{"related": {"g": {"k": "\\ud800"}}}', b'{"a": "\xff"}', b'\xef\xbb\xbf{}',
    b'{"related": {"g": {"k": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}}",
    b"[" * 100_000 + b"]" * 100_000,
])
def test_odd_bodies_as_json_loads(data: bytes) -> None:
    decoder = BodyDecoder()
    expected = outcome(json.loads, data)
    assert outcome(decoder.decode, data) == expected
    assert outcome(decoder.decode, data) == expected


def sync_body(objects: dict[str, object]) -> bytes:
    return json.dumps({"controller": {}, "related": {"ImageMap.v1": objects}}).encode()


def related(decoder: BodyDecoder, objects: dict[str, object]) -> dict[str, object]:
    """The objects `decoder` hands out for a sync request relating `objects`."""
    body = decoder.decode(sync_body(objects))
    assert isinstance(body, dict)
    group: dict[str, object] = body["related"]["ImageMap.v1"]
    return group


def test_related_objects_are_decoded_once() -> None:
    decoder = BodyDecoder()
    first = related(decoder, {"a": {"n": 1}, "b": {"n": 2}})
    again = related(decoder, {"b": {"n": 2}, "a": {"n": 1, "changed": True}})
    assert again["b"] is first["b"]
    assert again["a"] == {"n": 1, "changed": True}


def test_remembers_a_bounded_number() -> None:
    decoder = BodyDecoder(objects=2)
    first = related(decoder, {"a": {"n": 1}})
    related(decoder, {"b": {"n": 2}, "c": {"n": 3}})  # "a" is the oldest: forgotten
    again = related(decoder, {"a": {"n": 1}})
    assert again["a"] == first["a"]
    assert again["a"] is not first["a"]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hooks_leave_the_objects_they_were_sent_unchanged(case: Golden) -> None:
    """What the decoder hands out is shared with the next call: no hook may change it."""
    memo = Memo()
    decoder = BodyDecoder(readings=memo.readings)  # as the server has them
    for _ in range(2):  # the second time, from what they remember
        body = decoder.decode(case.request_body)
        sent = copy.deepcopy(body)
        answer = run_hook(case.hook, body, now=FIXTURE_NOW, memo=memo)
        assert body == sent
        assert answer == case.response()


IMAGEMAP = {"apiVersion": "mapper.imagerelocation.pivotal.io/v1alpha1", "kind": "ImageMap",
            "metadata": {"name": "m", "namespace": "apps", "uid": "u", "resourceVersion": "1"},
            "spec": {"map": [{"from": "a.example/x", "to": "b.example/x"}]}}


def test_imagemaps_are_read_when_decoded_and_forgotten_with_them() -> None:
    readings = Readings()
    decoder = BodyDecoder(objects=1, readings=readings)
    obj = related(decoder, {"m": IMAGEMAP})["m"]
    kept = readings.read(obj)
    assert kept == ImageMap.read(IMAGEMAP)
    assert readings.read(obj) is kept  # remembered, not read again
    related(decoder, {"n": {**IMAGEMAP, "metadata": {"name": "n"}}})  # pushes "m" out
    assert readings.read(obj) is not kept
    assert readings.read(obj) == kept


def test_readings_read_objects_not_kept() -> None:
    readings = Readings(size=1)
    obj = copy.deepcopy(IMAGEMAP)
    first = readings.read(obj)
    obj["metadata"]["name"] = "renamed"  # not kept: a changed object is read as it is now
    assert readings.read(obj) is not None
    assert readings.read(obj).name == "renamed"  # type: ignore[union-attr]
    assert first is not None
    assert first.name == "m"
    other = copy.deepcopy(IMAGEMAP)
    readings.keep(obj)
    readings.keep(other)  # bounded: `obj` is forgotten
    assert readings.read(other) is readings.read(other)
    assert readings.read(obj) is not readings.read(obj)
