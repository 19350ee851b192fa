"""Bad input at the edges, over real HTTP, and the regression tests of what the fuzzer found.

Found by `python -m tests.hardening.fuzz` (each was a 500, or unbounded memory):
- the webhook answered 500 to JSON nested past the recursion limit (RecursionError escaped
  `parse_review`), and to an original-images annotation nested that deep;
- the webhook answered 500 when a container it rewrote had a lone surrogate (`"\\ud800"`) in
  its name: the patch could not be encoded as UTF-8;
- the ImageMap hook answered 500 when an ImageMap's `metadata.generation` (or `name`) was a
  list or an object: the decision cache keyed on it;
- a namespace that is not a namespace name became a Prometheus label (a lone surrogate made
  `/metrics` fail for good);
- `Mapping.lookup` kept every image string it was asked about, however long, in its memo.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from image_mapper.controller.app import create_app
from image_mapper.engine.acceptance import decide
from image_mapper.engine.imagemap import read_imagemaps
from tests.webhook.server import Server

from .corpus import ADMISSION_FIXTURES, HOOK_FIXTURES
from .servers import Client, HooksHandle
from .targets import lookup_mapping

MIB = 1024 * 1024


def _sync_request() -> dict[str, Any]:
    """A composite sync of one ImageMap, bootcamp-sample, that is accepted."""
    path = HOOK_FIXTURES / "imagemap-sync" / "new-imagemap-accepted.request.json"
    request: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return request


def _review() -> dict[str, Any]:
    """A pod CREATE whose one container's image is mapped."""
    path = ADMISSION_FIXTURES / "create-image-form.request.json"
    review: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return review


@pytest.fixture
def hooks_client(hooks: HooksHandle) -> Iterator[Client]:
    client = Client(hooks.host, hooks.port)
    yield client
    client.close()


@pytest.fixture
def webhook_client(webhook: Server) -> Iterator[Client]:
    client = Client("localhost", webhook.port, webhook.context)
    yield client
    client.close()


def _json_error(status: int, content_type: str, data: bytes) -> str:
    assert content_type == "application/json", (status, data[:200])
    message = json.loads(data)["error"]
    assert isinstance(message, str)
    assert message
    return message


# --- nesting, encodings, sizes ------------------------------------------------------------------

DEEP = [
    pytest.param(b"[" * 100_000, id="100k-unclosed-arrays"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="100k-arrays"),
    pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, id="100k-objects"),
]
ENCODINGS = [
    pytest.param(b'{"apiVersion": "\xff\xfe"}', id="invalid-utf8"),
    pytest.param(b'{"apiVersion": "\xed\xa0\x80"}', id="utf8-encoded-surrogate"),
    pytest.param(b'{"apiVersion": "\xc0\xaf"}', id="overlong-utf8"),
    pytest.param(b"\x00" * 100, id="nul-bytes"),
    pytest.param(b'{"a": ' + b"9" * 5000 + b"}", id="integer-past-4300-digits"),
    pytest.param(b"", id="empty"),
]


@pytest.mark.parametrize("body", DEEP + ENCODINGS)
@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_webhook_answers_400_with_json(webhook_client: Client, body: bytes, chunked: bool) -> None:
    status, content_type, data = webhook_client.post("/mutate", body, chunked=chunked)
    assert status == 400, data[:200]
    assert "not a valid AdmissionReview" in _json_error(status, content_type, data)


@pytest.mark.parametrize("body", DEEP + ENCODINGS)
@pytest.mark.parametrize("path", ["/imagemap/sync", "/namespace/sync", "/imagemap/customize"])
def test_hooks_answer_400_with_json(hooks_client: Client, path: str, body: bytes) -> None:
    status, content_type, data = hooks_client.post(path, body)
    assert status == 400, data[:200]
    _json_error(status, content_type, data)


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_webhook_refuses_4_mib_with_413_and_json(webhook_client: Client, chunked: bool) -> None:
    """Past 3.5 MiB (an AdmissionReview of the largest pod etcd stores fits below it); the body
    is read away first, so the client sees the 413 and the connection stays usable."""
    body = json.dumps(_review() | {"padding": "x" * (4 * MIB)}).encode()
    status, content_type, data = webhook_client.post("/mutate", body, chunked=chunked)
    assert status == 413
    assert "limit of 3670016 bytes" in _json_error(status, content_type, data)
    status, _, _ = webhook_client.post("/mutate", json.dumps(_review()).encode())
    assert status == 200
    assert webhook_client.reconnects == 0


def test_webhook_cuts_off_a_body_past_64_mib_and_carries_on(
    webhook: Server, webhook_client: Client
) -> None:
    """Past 64 MiB the body is not read at all: 413 and the connection closed, which a client
    still sending sees as a reset. The server serves the next connection as before."""
    body = b'{"padding": "' + b"x" * (65 * MIB) + b'"}'
    try:
        status, content_type, data = webhook_client.post("/mutate", body)
    except OSError:
        pass
    else:
        assert status == 413
        _json_error(status, content_type, data)
    assert webhook.get("/healthz")[0] == 200


def test_webhook_takes_a_review_just_under_the_limit(webhook_client: Client) -> None:
    review = _review()
    review["request"]["object"]["metadata"]["labels"] = {"padding": "x" * (3 * MIB)}
    status, _, data = webhook_client.post("/mutate", json.dumps(review).encode())
    assert status == 200, data[:200]
    assert json.loads(data)["response"]["patchType"] == "JSONPatch"


def test_hooks_take_4_mib_and_cut_off_a_body_past_64_mib(hooks_client: Client) -> None:
    """The hooks get whole namespaces (1,000 ImageMaps x 10 maplets is 2.3 MiB), so their
    limit is 64 MiB, not the API server's 3 MiB per object. Past it waitress answers 413 at
    once and closes, storing none of the rest: a client still sending may see a reset instead
    (tests/controller/test_http.py shows the 413 to a client that reads). The server serves the
    next request as before."""
    request = _sync_request()
    padded = request | {"padding": "x" * (4 * MIB)}
    status, _, data = hooks_client.post("/imagemap/sync", json.dumps(padded).encode())
    assert status == 200, data[:200]
    body = json.dumps(request | {"padding": "x" * (65 * MIB)}).encode()
    for chunked in (False, True):
        try:
            status, content_type, data = hooks_client.post("/imagemap/sync", body,
                                                           chunked=chunked)
        except OSError:
            pass
        else:
            assert status == 413
            assert "limit of 67108864 bytes" in _json_error(status, content_type, data)
        status, _, data = hooks_client.post("/imagemap/sync", json.dumps(request).encode())
        assert status == 200, data[:200]


WRONG_TYPES = [None, 0, 1.5, "x", [], True, {}]


@pytest.mark.parametrize("wrong", WRONG_TYPES, ids=repr)
@pytest.mark.parametrize(
    "where",
    [
        ("parent",),
        ("related",),
        ("children",),
        ("parent", "metadata"),
        ("parent", "spec"),
        ("parent", "spec", "map"),
        ("parent", "metadata", "name"),
        ("parent", "kind"),
        ("controller",),
        ("finalizing",),
        ("parent", "status"),
        ("parent", "metadata", "generation"),
    ],
    ids="/".join,
)
def test_imagemap_sync_with_a_wrong_type_is_200_or_400(
    hooks_client: Client, where: tuple[str, ...], wrong: object
) -> None:
    request = _sync_request()
    target = request
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = copy.deepcopy(wrong)
    status, content_type, data = hooks_client.post("/imagemap/sync", json.dumps(request).encode())
    assert status in (200, 400), data[:200]
    if status == 400:
        _json_error(status, content_type, data)


@pytest.mark.parametrize("wrong", WRONG_TYPES, ids=repr)
@pytest.mark.parametrize(
    "where",
    [
        ("request",),
        ("request", "object"),
        ("request", "object", "spec"),
        ("request", "object", "spec", "containers"),
        ("request", "object", "metadata"),
        ("request", "object", "metadata", "annotations"),
        ("request", "uid"),
        ("request", "kind"),
        ("request", "resource"),
        ("request", "operation"),
        ("request", "namespace"),
        ("request", "oldObject"),
        ("request", "subResource"),
    ],
    ids="/".join,
)
def test_admission_with_a_wrong_type_is_200_or_400(
    webhook_client: Client, where: tuple[str, ...], wrong: object
) -> None:
    review = _review()
    target = review
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = copy.deepcopy(wrong)
    status, content_type, data = webhook_client.post("/mutate", json.dumps(review).encode())
    assert status in (200, 400), data[:200]
    if status == 400:
        _json_error(status, content_type, data)


# --- regressions --------------------------------------------------------------------------------


def test_deeply_nested_original_images_annotation_is_no_record(webhook_client: Client) -> None:
    review = _review()
    review["request"]["object"]["metadata"]["annotations"] = {
        "mapper.imagerelocation.pivotal.io/original-images": "[" * 100_000
    }
    status, _, data = webhook_client.post("/mutate", json.dumps(review).encode())
    assert status == 200, data[:200]
    assert json.loads(data)["response"]["patchType"] == "JSONPatch"


def test_a_container_named_with_a_lone_surrogate_is_rewritten(webhook_client: Client) -> None:
    review = _review()
    review["request"]["object"]["spec"]["containers"][0]["name"] = "\ud800"
    status, _, data = webhook_client.post("/mutate", json.dumps(review).encode())
    assert status == 200, data[:200]
    patch = json.loads(base64.b64decode(json.loads(data)["response"]["patch"]))
    assert patch[0]["value"] == "registry.example.com/kubernetes-bootcamp:v1"
    assert json.loads(patch[1]["value"]["mapper.imagerelocation.pivotal.io/original-images"]) == {
        "\ud800": "gcr.io/google-samples/kubernetes-bootcamp:v1"
    }


@pytest.mark.parametrize("namespace", ["Demo", "demo\ud800", "a" * 64, "-demo", "de mo", "demo\n"])
def test_a_namespace_that_is_not_a_namespace_name_is_400(
    webhook: Server, webhook_client: Client, namespace: str
) -> None:
    review = _review()
    review["request"]["namespace"] = namespace
    status, content_type, data = webhook_client.post("/mutate", json.dumps(review).encode())
    assert status == 400
    assert "request.namespace must be a namespace name" in _json_error(status, content_type, data)
    assert webhook.get("/metrics")[0] == 200


@pytest.mark.parametrize("bad", [[], {}, [1], {"a": 1}], ids=repr)
@pytest.mark.parametrize("field", ["generation", "name"])
def test_imagemap_metadata_of_unhashable_shapes_is_decided(field: str, bad: object) -> None:
    imagemaps = [json.loads(json.dumps(_sync_request()["parent"]))]
    imagemaps[0]["metadata"][field] = bad
    decision = decide(read_imagemaps(imagemaps))
    assert list(decision.verdicts) == ([] if field == "name" else ["bootcamp-sample"])


def test_imagemap_sync_with_a_list_generation_is_answered(hooks_client: Client) -> None:
    request = _sync_request()
    request["parent"]["metadata"]["generation"] = [1]
    for item in request["related"].values():
        for related in item.values():
            related["metadata"]["generation"] = {"x": 1}
    status, _, data = hooks_client.post("/imagemap/sync", json.dumps(request).encode())
    assert status == 200, data[:200]
    # No generation the decision record can name: never judged, its status stays as it is.
    assert json.loads(data) == {"status": {}, "children": []}


def test_lookup_keeps_no_long_strings() -> None:
    """Pods are untrusted: 1 MiB image strings must not pile up in the mapping's memo."""
    mapping = lookup_mapping()
    tracemalloc.start()
    try:
        for index in range(64):
            assert mapping.lookup(f"{index}" + "a" * MIB) is None
        retained, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert retained < MIB


def test_a_bad_request_is_logged_on_one_bounded_line(caplog: pytest.LogCaptureFixture) -> None:
    client = create_app().test_client()
    kind = "Namespace\nFORGED 2026-01-01 ERROR everything failed" + "x" * 10_000
    body = {"parent": {"kind": kind, "metadata": {"name": "a"}}}
    with caplog.at_level(logging.WARNING, logger="image_mapper"):
        answer = client.post("/imagemap/sync", json=body)
    assert answer.status_code == 400
    (record,) = [r for r in caplog.records if "bad request" in r.getMessage()]
    message = record.getMessage()
    assert "\n" not in message
    assert len(message) < 500
