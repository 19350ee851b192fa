"""The HTTP surface of the webhook app (design.md#admission, #http): errors, readiness, metrics."""

from __future__ import annotations

import logging
import threading

import pytest
from flask.testing import FlaskClient

from image_mapper.engine.mapping import Mapping
from image_mapper.webhook.app import create_app
from image_mapper.webhook.view import StaticView
from tests.golden import ADMISSION_FIXTURES


class UnsyncedView(StaticView):
    def __init__(self) -> None:
        super().__init__(Mapping.EMPTY)

    def mapping_for(self, namespace: str) -> Mapping:
        raise AssertionError("not consulted before the first list")

    def readiness(self) -> tuple[bool, str]:
        return False, "ImageMaps not yet listed"

    def age(self) -> float | None:
        return None


class BrokenView(StaticView):
    def mapping_for(self, namespace: str) -> Mapping:
        raise RuntimeError("secret internals")


def _review(name: str) -> bytes:
    return (ADMISSION_FIXTURES / f"{name}.request.json").read_bytes()


def _metric(client: FlaskClient, line_start: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{line_start} not in /metrics")


def test_probes_when_synced(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert "maplets" in ready.get_data(as_text=True)


def test_not_ready_and_error_status_until_synced() -> None:
    client = create_app(view=UnsyncedView()).test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    reply = client.post("/mutate", data=_review("create-image-form"))
    assert reply.status_code == 503
    assert reply.get_json() == {"code": 503,
                                "error": "the webhook has not listed the ImageMaps yet"}
    assert _metric(client, 'image_mapper_admission_requests_total{outcome="not_ready"}') == 1
    assert _metric(client, "image_mapper_webhook_view_synced") == 0
    assert _metric(client, "image_mapper_webhook_view_age_seconds") == -1


def test_shutting_down_turns_readiness_off_but_keeps_serving(golden_mapping: Mapping) -> None:
    shutting_down = threading.Event()
    client = create_app(view=StaticView(golden_mapping),
                        shutting_down=shutting_down).test_client()
    assert client.get("/readyz").status_code == 200
    assert "Connection" not in client.post("/mutate", data=_review("create-image-form")).headers
    shutting_down.set()
    reply = client.get("/readyz")
    assert reply.status_code == 503
    assert reply.get_data(as_text=True) == "shutting down\n"
    assert reply.headers["Connection"] == "close"  # clients move to other replicas
    reply = client.post("/mutate", data=_review("create-image-form"))
    assert reply.status_code == 200
    assert reply.headers["Connection"] == "close"
    assert client.get("/mutate").headers["Connection"] == "close"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param(b"", "body is not JSON", id="empty"),
        pytest.param(b"<xml/>", "body is not JSON", id="xml"),
        pytest.param(b"\xff", "body is not JSON", id="not-utf8"),
        pytest.param(b'"review"', "must be an object, but it is a str", id="string"),
    ],
)
def test_bodies_that_are_not_reviews_get_400_json(
    client: FlaskClient, body: bytes, problem: str
) -> None:
    reply = client.post("/mutate", data=body, content_type="application/json")
    assert reply.status_code == 400
    assert reply.mimetype == "application/json"
    assert problem in reply.get_json()["error"]
    assert _metric(client, 'image_mapper_admission_requests_total{outcome="invalid"}') == 1


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/mutate", 405), ("POST", "/nowhere", 404), ("PUT", "/healthz", 405)],
    ids=["get-mutate", "unknown-path", "put-healthz"],
)
def test_http_errors_are_json(client: FlaskClient, method: str, path: str, status: int) -> None:
    reply = client.open(path, method=method)
    assert reply.status_code == status
    assert reply.get_json()["code"] == status


def test_too_large_a_body_is_refused(golden_mapping: Mapping) -> None:
    client = create_app({"MAX_CONTENT_LENGTH": 1024},
                        view=StaticView(golden_mapping)).test_client()
    reply = client.post("/mutate", data=b"{" + b" " * 2048 + b"}")
    assert reply.status_code == 413
    assert reply.get_json()["code"] == 413


def test_a_bug_answers_500_json_without_a_stack_trace(
    golden_mapping: Mapping, caplog: pytest.LogCaptureFixture
) -> None:
    client = create_app(view=BrokenView(golden_mapping)).test_client()
    reply = client.post("/mutate", data=_review("create-image-form"))
    assert reply.status_code == 500
    text = reply.get_data(as_text=True)
    assert "secret internals" not in text
    assert "Traceback" not in text
    assert reply.get_json() == {"code": 500, "error": "internal error; see the webhook's log"}
    assert "secret internals" in caplog.text  # logged on the server side instead
    assert _metric(client, 'image_mapper_admission_requests_total{outcome="error"}') == 1


def test_metrics_count_outcomes_rewrites_and_unmatched_images(client: FlaskClient) -> None:
    for name in ("create-all-container-lists", "create-image-form", "create-nothing-matches"):
        assert client.post("/mutate", data=_review(name)).status_code == 200
    assert _metric(client, 'image_mapper_admission_requests_total{outcome="patched"}') == 2
    assert _metric(client, 'image_mapper_admission_requests_total{outcome="unchanged"}') == 1
    assert _metric(client, 'image_mapper_admission_duration_seconds_count{outcome="patched"}') == 2
    assert _metric(
        client, 'image_mapper_images_rewritten_total{imagemap="mirrors",namespace="demo"}') == 3
    assert _metric(
        client,
        'image_mapper_images_rewritten_total{imagemap="bootcamp-sample",namespace="demo"}') == 1
    # pause:3.9 in the first, three in the last.
    assert _metric(client, 'image_mapper_images_unmatched_total{namespace="demo"}') == 4
    assert _metric(client, "image_mapper_webhook_view_synced") == 1
    assert _metric(client, "image_mapper_webhook_view_age_seconds") == 0


def test_metrics_count_what_audit_imagemaps_would_have_rewritten(client: FlaskClient) -> None:
    for name in ("create-audit-warns-without-patch", "create-audit-winner-hides-enforce"):
        assert client.post("/mutate", data=_review(name)).status_code == 200
    assert _metric(
        client, 'image_mapper_images_audited_total{imagemap="trial",namespace="demo"}') == 2
    assert _metric(
        client, 'image_mapper_images_rewritten_total{imagemap="private",namespace="demo"}') == 1
    assert _metric(
        client, 'image_mapper_images_rewritten_total{imagemap="mirrors",namespace="demo"}') == 1
    text = client.get("/metrics").get_data(as_text=True)
    assert 'image_mapper_images_rewritten_total{imagemap="trial"' not in text
    assert _metric(client, 'image_mapper_admission_requests_total{outcome="unchanged"}') == 1


def test_a_rewritten_pod_is_logged_once(client: FlaskClient,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="image_mapper.webhook")
    client.post("/mutate", data=_review("create-pull-secrets-after-the-pods-own"))
    client.post("/mutate", data=_review("create-nothing-matches"))
    [record] = [r for r in caplog.records if r.name == "image_mapper.webhook.reporting"]
    assert record.__dict__["namespace"] == "demo"
    assert record.__dict__["pod"] == "web-"
    assert [(i["container"], i["imageMap"]) for i in record.__dict__["images"]] == [
        ("web", "mirrors"), ("sidecar", "private")]


def test_each_app_has_its_own_registry(golden_mapping: Mapping) -> None:
    first = create_app(view=StaticView(golden_mapping)).test_client()
    second = create_app(view=StaticView(golden_mapping)).test_client()
    first.post("/mutate", data=_review("create-image-form"))
    assert _metric(first, 'image_mapper_admission_requests_total{outcome="patched"}') == 1
    assert _metric(second, 'image_mapper_admission_requests_total{outcome="patched"}') == 0
