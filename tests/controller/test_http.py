"""The hooks server over real HTTP (waitress on 127.0.0.1): errors, token, probes, metrics."""

from __future__ import annotations

import json
import socket
from datetime import datetime

import pytest
import requests
from flask.testing import FlaskClient
from prometheus_client import CONTENT_TYPE_LATEST

from image_mapper.controller import dispatch
from image_mapper.controller.app import create_app
from image_mapper.controller.memo import Memo
from image_mapper.controller.protocol import HookResponse
from tests.golden import hook_cases

from .conftest import Serve, fixed_clock_config

NEWCOMER = next(c for c in hook_cases("/imagemap/sync") if c.name == "newcomer-conflicts")
ACCEPTED = next(c for c in hook_cases("/imagemap/sync") if c.name == "new-imagemap-accepted")
NAMESPACE = next(c for c in hook_cases("/namespace/sync") if c.name == "hook-v2")


def post(url: str, body: bytes, **headers: str) -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": "application/json", **headers},
                         timeout=10)


MALFORMED = [
    ("not-json", "/imagemap/sync", b"{parent: x}", "not valid JSON"),
    ("empty", "/namespace/sync", b"", "not valid JSON"),
    ("truncated", "/imagemap/sync", NEWCOMER.request_path.read_bytes()[:200], "not valid JSON"),
    ("not-utf8", "/imagemap/customize", b'{"parent": "\xff\xfe"}', "not valid JSON"),
    ("too-deep", "/imagemap/sync", b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ("array", "/imagemap/sync", b"[]", "must be a JSON object, not an array"),
    ("no-parent", "/imagemap/sync", b'{"controller": {}, "children": {}}',
     "'parent' must be a Kubernetes object, not null"),
    ("namespace-to-imagemap-hook", "/imagemap/sync",
     json.dumps({"parent": {"kind": "Namespace", "metadata": {"name": "apps"}}}).encode(),
     "'parent' must be a ImageMap, not a Namespace"),
    ("decorator-without-target", "/namespace/sync", b'{"related": {}}',
     "in 'object' (v1) or 'parent' (v2)"),
    ("related-not-a-map", "/namespace/sync",
     json.dumps({"object": {"kind": "Namespace", "metadata": {"name": "a"}},
                 "related": "everything"}).encode(),
     "'related' must be an object of object groups, not a string"),
    ("customize-without-parent", "/namespace/customize", b"{}",
     "'parent' must be a Kubernetes object"),
]


@pytest.mark.parametrize(("path", "body", "message"), [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_bodies_get_400_with_a_json_error(
    hooks_url: str, path: str, body: bytes, message: str
) -> None:
    answer = post(hooks_url + path, body)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/json"
    assert message in answer.json()["error"]
    assert answer.json()["code"] == 400
    assert "Traceback" not in answer.text


def test_a_body_past_the_size_limit_gets_413(serve: Serve) -> None:
    url = serve(MAX_CONTENT_LENGTH=1000)
    answer = post(url + "/imagemap/sync", NEWCOMER.request_path.read_bytes())
    assert answer.status_code == 413
    assert answer.json() == {"error": "the request body is longer than the limit of 1000 bytes",
                             "code": 413}


def _exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the answer until the server closes: status, headers, body."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


def test_an_announced_body_past_the_limit_is_refused_before_it_is_sent(serve: Serve) -> None:
    """waitress answers from the headers alone: nothing of a 1 GiB body is spooled to /tmp."""
    url = serve(MAX_CONTENT_LENGTH=1000)
    status, headers, body = _exchange(url, (
        b"POST /imagemap/sync HTTP/1.1\r\nHost: hooks\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1073741824\r\n\r\n"))
    assert status == 413
    assert headers["Content-Type"] == "application/json"
    assert headers["Connection"] == "close"
    assert json.loads(body) == {
        "error": "the request body is longer than the limit of 1000 bytes", "code": 413}


def test_a_chunked_body_past_the_limit_is_cut_off_at_the_limit(serve: Serve) -> None:
    url = serve(MAX_CONTENT_LENGTH=1000)
    chunk = b"400\r\n" + b"x" * 1024 + b"\r\n"
    status, headers, body = _exchange(url, (
        b"POST /imagemap/sync HTTP/1.1\r\nHost: hooks\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunk * 2 + b"0\r\n\r\n"))
    assert status == 413
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "error": "the request body is longer than the limit of 1000 bytes", "code": 413}


def test_a_body_of_exactly_the_limit_reaches_the_hook(serve: Serve) -> None:
    body = ACCEPTED.request_path.read_bytes()
    url = serve(MAX_CONTENT_LENGTH=len(body))
    assert post(url + "/imagemap/sync", body).status_code == 200


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [(b"POST /imagemap/sync HTTP/1.1\r\nHost: hooks\r\nContent-Length: x\r\n\r\n", 400),
     (b"POST /imagemap/sync HTTP/1.1\r\nHost: hooks\r\nTransfer-Encoding: gzip\r\n\r\n",
      501)],
    ids=["bad-content-length", "unknown-transfer-encoding"],
)
def test_http_that_waitress_refuses_gets_a_json_error(
    hooks_url: str, request_bytes: bytes, status: int
) -> None:
    answered, headers, body = _exchange(hooks_url, request_bytes)
    assert answered == status
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]
    assert json.loads(body)["code"] == status


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/imagemap/sync", 405), ("PUT", "/namespace/sync", 405), ("POST", "/sync", 404),
     ("POST", "/healthz", 405)],
    ids=["get-hook", "put-hook", "unknown-path", "post-probe"],
)
def test_other_requests_get_json_errors(hooks_url: str, method: str, path: str,
                                        status: int) -> None:
    answer = requests.request(method, hooks_url + path, timeout=10)
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"]
    assert answer.json()["code"] == status
    if status == 405:
        assert "POST" in answer.headers["Allow"] or "GET" in answer.headers["Allow"]


def test_a_failing_hook_gets_500_without_a_traceback(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(body: object, now: datetime, memo: Memo | None) -> HookResponse:
        raise RuntimeError("secret internals")

    monkeypatch.setitem(dispatch.HOOKS, "/namespace/sync", broken)
    url = serve(create_app(fixed_clock_config()))
    answer = post(url + "/namespace/sync", NAMESPACE.request_path.read_bytes())
    assert answer.status_code == 500
    assert answer.json() == {"error": "the /namespace/sync hook failed; see the hooks' log",
                             "code": 500}
    metrics = requests.get(url + "/metrics", timeout=10).text
    assert 'image_mapper_hook_calls_total{hook="/namespace/sync",outcome="error"} 1.0' in metrics


# --- the bearer token -------------------------------------------------------------------------

TOKEN = "s3cret-token"


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": TOKEN}, 401),
     ({"Authorization": f"Basic {TOKEN}"}, 401), ({"Authorization": f"Bearer {TOKEN}"}, 200)],
    ids=["none", "wrong-token", "no-scheme", "basic", "right-token"],
)
def test_the_token_is_required_when_configured(
    serve: Serve, headers: dict[str, str], status: int
) -> None:
    url = serve(HOOKS_TOKEN=TOKEN)
    answer = post(url + "/imagemap/sync", NEWCOMER.request_path.read_bytes(), **headers)
    assert answer.status_code == status
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in answer.text
    else:
        assert answer.json() == NEWCOMER.response()


def test_probes_and_metrics_need_no_token(serve: Serve) -> None:
    url = serve(HOOKS_TOKEN=TOKEN)
    for path in ("/healthz", "/readyz", "/metrics"):
        assert requests.get(url + path, timeout=10).status_code == 200


@pytest.mark.parametrize("token", ["", 42], ids=["empty", "not-a-string"])
def test_a_bad_token_setting_is_refused(token: object) -> None:
    with pytest.raises(ValueError, match="HOOKS_TOKEN"):
        create_app({"HOOKS_TOKEN": token})


# --- probes and metrics ----------------------------------------------------------------------


def test_probes(hooks_url: str) -> None:
    assert requests.get(hooks_url + "/healthz", timeout=10).text == "ok\n"
    ready = requests.get(hooks_url + "/readyz", timeout=10)
    assert (ready.status_code, ready.text) == (200, "ready\n")


def test_metrics_count_calls_latency_and_verdicts(hooks_url: str) -> None:
    post(hooks_url + "/imagemap/sync", NEWCOMER.request_path.read_bytes())
    post(hooks_url + "/imagemap/sync", ACCEPTED.request_path.read_bytes())
    post(hooks_url + "/imagemap/sync", ACCEPTED.request_path.read_bytes())
    post(hooks_url + "/namespace/sync", b"nonsense")
    answer = requests.get(hooks_url + "/metrics", timeout=10)
    # Exactly prometheus_client's, one charset: Prometheus 3 refuses a repeated parameter.
    assert answer.headers["Content-Type"] == CONTENT_TYPE_LATEST
    metrics = answer.text
    for line in (
        'image_mapper_hook_calls_total{hook="/imagemap/sync",outcome="ok"} 3.0',
        'image_mapper_hook_calls_total{hook="/namespace/sync",outcome="bad_request"} 1.0',
        'image_mapper_hook_calls_total{hook="/imagemap/customize",outcome="ok"} 0.0',
        'image_mapper_hook_duration_seconds_count{hook="/imagemap/sync",outcome="ok"} 3.0',
        'image_mapper_imagemap_verdicts_total{reason="Accepted"} 2.0',
        'image_mapper_imagemap_verdicts_total{reason="Conflict"} 1.0',
        'image_mapper_imagemap_verdicts_total{reason="InvalidSpec"} 0.0',
    ):
        assert line in metrics


def test_each_app_has_its_own_metrics(serve: Serve) -> None:
    first, second = serve(), serve()
    post(first + "/imagemap/sync", ACCEPTED.request_path.read_bytes())
    metrics = requests.get(second + "/metrics", timeout=10).text
    assert 'image_mapper_hook_calls_total{hook="/imagemap/sync",outcome="ok"} 0.0' in metrics


def test_in_process_answers_are_compact_json_in_the_spec_order(client: FlaskClient) -> None:
    answer = client.post("/imagemap/sync", data=ACCEPTED.request_path.read_bytes())
    assert answer.status_code == 200
    assert answer.data == json.dumps(ACCEPTED.response(), separators=(",", ":")).encode()
    assert list(answer.json["status"]) == [  # type: ignore[index]
        "observedGeneration", "mappings", "deployedMap", "deployedMode", "conditions"]


def test_a_status_not_judged_yet_is_returned_as_it_came_whatever_it_holds(
    hooks_url: str,
) -> None:
    """Until the namespace's record judges an ImageMap, its status stays as the request had
    it: a malformed one too, answered and counted without a failure."""
    parent = {"apiVersion": "mapper.imagerelocation.pivotal.io/v1alpha1", "kind": "ImageMap",
              "metadata": {"name": "m", "namespace": "apps", "uid": "u", "generation": 1},
              "spec": {"map": [{"from": "a.io/x:1", "to": "b.io/x:1"}]},
              "status": {"conditions": ["junk", {"reason": 5}]}}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}
    body = {"controller": {}, "parent": parent, "children": {}, "finalizing": False,
            "related": {"Namespace.v1": {"apps": namespace}}}
    answer = requests.post(f"{hooks_url}/imagemap/sync", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == parent["status"]
