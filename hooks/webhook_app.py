"""The admission webhook's Flask app: `POST /mutate` and the probes (SPEC 4, 5).

Views only parse, call `hooks.admission.admit` and serialize. Errors reach the caller as JSON
with no stack trace: 400 for a body that is not an AdmissionReview, 503 while the view of the
ImageMaps is not synced (so the webhook's failurePolicy decides), 500 for a bug.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from werkzeug.exceptions import HTTPException

from hooks.admission import Admission, admit
from hooks.probes import probes_blueprint
from hooks.reviews import ReviewError, parse_review, review_response
from hooks.state import View

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
"""A pod and its old version: the API server caps each object at about 3 MiB."""

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class WebhookMetrics:
    """The webhook's Prometheus metrics, in a registry of its own."""

    def __init__(self, registry: CollectorRegistry, view: View) -> None:
        self.requests = Counter(
            "image_mapper_admission_requests", "Admission requests by outcome "
            "(patched, unchanged, invalid, not_ready, error).", ["outcome"], registry=registry)
        self.latency = Histogram(
            "image_mapper_admission_duration_seconds", "Time to answer an admission request, "
            "by outcome.", ["outcome"], buckets=LATENCY_BUCKETS, registry=registry)
        self.rewritten = Counter(
            "image_mapper_images_rewritten", "Pod images rewritten, by namespace and ImageMap.",
            ["namespace", "imagemap"], registry=registry)
        self.unmatched = Counter(
            "image_mapper_images_unmatched", "Pod images looked at that no maplet matched, by "
            "namespace.", ["namespace"], registry=registry)
        age = Gauge(
            "image_mapper_webhook_view_age_seconds", "Seconds since the API server last "
            "confirmed the webhook's view of the ImageMaps (-1 before the first list).",
            registry=registry)
        age.set_function(lambda: _or_minus_one(view.age()))
        synced = Gauge(
            "image_mapper_webhook_view_synced", "1 once the ImageMaps have been listed.",
            registry=registry)
        synced.set_function(lambda: 0.0 if view.age() is None else 1.0)
        for outcome in ("patched", "unchanged", "invalid", "not_ready", "error"):
            self.requests.labels(outcome)
            self.latency.labels(outcome)

    def observe(self, outcome: str, started: float) -> None:
        self.requests.labels(outcome).inc()
        self.latency.labels(outcome).observe(time.perf_counter() - started)

    def count(self, namespace: str, admission: Admission) -> None:
        for match in admission.rewritten:
            self.rewritten.labels(namespace, match.maplet.image_map).inc()
        if admission.unmatched:
            self.unmatched.labels(namespace).inc(len(admission.unmatched))


def _or_minus_one(age: float | None) -> float:
    return -1.0 if age is None else age


def _json(body: Mapping[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status,
                    mimetype="application/json")


def error_response(status: int, message: str) -> Response:
    return _json({"error": message, "code": status}, status)


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    state: View,
    shutting_down: threading.Event | None = None,
) -> Flask:
    """The webhook app over a view of the ImageMaps.

    `shutting_down`, once set, makes `/readyz` answer 503 while requests are still served, so
    endpoints drop the pod before the server stops accepting connections.
    """
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    if config is not None:
        app.config.from_mapping(config)
    registry = CollectorRegistry()
    metrics = WebhookMetrics(registry, state)
    app.extensions["image_mapper_metrics"] = metrics
    app.extensions["image_mapper_registry"] = registry

    def readiness() -> tuple[bool, str]:
        if shutting_down is not None and shutting_down.is_set():
            return False, "shutting down"
        return state.readiness()

    app.register_blueprint(probes_blueprint(registry, readiness))

    @app.post("/mutate")
    def mutate() -> Response:
        started = time.perf_counter()
        try:
            review_request = parse_review(request.get_data(cache=False))
        except ReviewError as error:
            metrics.observe("invalid", started)
            return error_response(400, f"not a valid AdmissionReview: {error}")
        if state.age() is None:
            metrics.observe("not_ready", started)
            return error_response(503, "the webhook has not listed the ImageMaps yet")
        namespace = review_request.get("namespace") or ""
        admission = admit(review_request=review_request, mapping=state.mapping_for(namespace))
        body = json.dumps(review_response(admission.response), separators=(",", ":"))
        metrics.count(namespace, admission)
        metrics.observe("patched" if "patch" in admission.response else "unchanged", started)
        return Response(body, mimetype="application/json")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return error_response(error.code or 500, error.description or error.name)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        log.exception("error answering %s %s", request.method, request.path)
        if request.path == "/mutate":
            metrics.requests.labels("error").inc()
        return error_response(500, "internal error; see the webhook's log")

    return app
