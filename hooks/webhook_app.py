"""The admission webhook's Flask app: `POST /mutate` and the probes (SPEC 4, 5).

`AdmissionEndpoint` is `POST /mutate` from body to answer: parse, call `hooks.admission.admit`,
serialize, count. Errors reach the caller as JSON with no stack trace: 400 for a body that is
not an AdmissionReview, 503 while the view of the ImageMaps is not synced (so the webhook's
failurePolicy decides), 500 for a bug.

Every admission passes through `/mutate`, so it is served below Flask: a WSGI layer hands a
`POST /mutate` with a Content-Length straight to the endpoint and leaves every other request
(the probes, errors, a chunked or oversized body) to Flask. Profiles of the server at
saturation showed Flask's per-request machinery (request context, URL matching, Response
object) costing about as much as the admission itself (benchmarks/, "Optimizations").
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from werkzeug.exceptions import HTTPException

from hooks.admission import Admission, admit
from hooks.reviews import ReviewError, parse_review, review_response
from hooks.serving.bodylimit import BodyLimit
from hooks.serving.probes import probes_blueprint
from hooks.state import View

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 7 * 512 * 1024
"""3.5 MiB. A review holds the pod and, on UPDATE, its old version; etcd stores an object of at
most 1.5 MiB and the API server takes request bodies of at most 3 MiB, so a review of a pod
that can exist fits. Past it: 413 (`hooks.bodylimit`), and the failurePolicy decides."""

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
        # Labelled children, looked up once: `labels()` takes a lock and builds a tuple on
        # every call, several times an admission.
        self._outcomes = {outcome: (self.requests.labels(outcome), self.latency.labels(outcome))
                          for outcome in ("patched", "unchanged", "invalid", "not_ready",
                                          "error")}
        self._rewritten: dict[tuple[str, str], Any] = {}
        self._unmatched: dict[str, Any] = {}

    def observe(self, outcome: str, started: float) -> None:
        requests, latency = self._outcomes[outcome]
        requests.inc()
        latency.observe(time.perf_counter() - started)

    def count(self, namespace: str, admission: Admission) -> None:
        for match in admission.rewritten:
            key = (namespace, match.maplet.image_map)
            child = self._rewritten.get(key)
            if child is None:
                child = self._rewritten[key] = self.rewritten.labels(*key)
            child.inc()
        if admission.unmatched:
            child = self._unmatched.get(namespace)
            if child is None:
                child = self._unmatched[namespace] = self.unmatched.labels(namespace)
            child.inc(len(admission.unmatched))


def _or_minus_one(age: float | None) -> float:
    return -1.0 if age is None else age


def error_body(status: int, message: str) -> bytes:
    return json.dumps({"error": message, "code": status}, separators=(",", ":")).encode()


def error_response(status: int, message: str) -> Response:
    return Response(error_body(status, message), status=status, mimetype="application/json")


INTERNAL_ERROR = "internal error; see the webhook's log"


class AdmissionEndpoint:
    """`POST /mutate`: the request body in, (HTTP status, JSON body) out."""

    def __init__(self, state: View, metrics: WebhookMetrics) -> None:
        self.state = state
        self.metrics = metrics

    def __call__(self, body: bytes) -> tuple[int, bytes]:
        started = time.perf_counter()
        try:
            review_request = parse_review(body)
        except ReviewError as error:
            self.metrics.observe("invalid", started)
            return 400, error_body(400, f"not a valid AdmissionReview: {error}")
        if self.state.age() is None:
            self.metrics.observe("not_ready", started)
            return 503, error_body(503, "the webhook has not listed the ImageMaps yet")
        namespace = review_request.get("namespace") or ""
        admission = admit(review_request=review_request,
                          mapping=self.state.mapping_for(namespace))
        answer = json.dumps(review_response(admission.response), separators=(",", ":"))
        self.metrics.count(namespace, admission)
        self.metrics.observe("patched" if "patch" in admission.response else "unchanged",
                             started)
        return 200, answer.encode()


_STATUS_LINES = {code: f"{code} {HTTPStatus(code).phrase}" for code in (200, 400, 500, 503)}


class MutateFastPath:
    """WSGI: `POST /mutate` with a Content-Length up to the app's limit goes straight to the
    endpoint; everything else to `app` (Flask), which answers it as before."""

    def __init__(self, app: WSGIApplication, endpoint: AdmissionEndpoint,
                 max_body: Callable[[], int | None]) -> None:
        self.app = app
        self.endpoint = endpoint
        self.max_body = max_body

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/mutate" or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        length = environ.get("CONTENT_LENGTH") or ""
        limit = self.max_body()
        if not length.isdigit() or (limit is not None and int(length) > limit):
            return self.app(environ, start_response)  # chunked, or 413 from Flask
        body = environ["wsgi.input"].read(int(length))
        try:
            status, answer = self.endpoint(body)
        except Exception:
            log.exception("error answering POST /mutate")
            self.endpoint.metrics.requests.labels("error").inc()
            status, answer = 500, error_body(500, INTERNAL_ERROR)
        start_response(_STATUS_LINES[status], [("Content-Type", "application/json"),
                                               ("Content-Length", str(len(answer)))])
        return [answer]


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
    endpoint = AdmissionEndpoint(state, metrics)
    app.extensions["image_mapper_metrics"] = metrics
    app.extensions["image_mapper_registry"] = registry
    app.extensions["image_mapper_admission"] = endpoint
    app.wsgi_app = MutateFastPath(  # type: ignore[method-assign]
        app.wsgi_app, endpoint, lambda: app.config["MAX_CONTENT_LENGTH"])
    if app.config["MAX_CONTENT_LENGTH"] is not None:
        app.wsgi_app = BodyLimit(  # type: ignore[method-assign]
            app.wsgi_app, app.config["MAX_CONTENT_LENGTH"])

    def readiness() -> tuple[bool, str]:
        if shutting_down is not None and shutting_down.is_set():
            return False, "shutting down"
        return state.readiness()

    app.register_blueprint(probes_blueprint(registry, readiness))

    @app.post("/mutate")
    def mutate() -> Response:
        # A body without Content-Length (chunked) comes here; the rest takes MutateFastPath.
        status, answer = endpoint(request.get_data(cache=False))
        return Response(answer, status=status, mimetype="application/json")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return error_response(error.code or 500, error.description or error.name)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        log.exception("error answering %s %s", request.method, request.path)
        if request.path == "/mutate":
            metrics.requests.labels("error").inc()
        return error_response(500, INTERNAL_ERROR)

    return app
