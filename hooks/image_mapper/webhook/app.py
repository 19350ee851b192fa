"""The admission webhook's Flask app: `POST /mutate` and the probes (design.md#admission, #http).

`AdmissionEndpoint` is `POST /mutate` from body to answer: parse, call
`image_mapper.webhook.admission.admit`, serialize, count. Errors reach the caller as JSON of the
shape both servers use (`image_mapper.serving.errors`), with no stack trace: 400 for a body that
is not an AdmissionReview, 503 while the view of the ImageMaps is not synced (so the webhook's
failurePolicy decides), 500 for a bug.

The server (`image_mapper.webhook.server`) reaches the app one way, as WSGI: through
`image_mapper.serving.wsgi_bridge`, which reads the body (answering 413 past `MAX_BODY_BYTES`,
read away so that the client sees it) and calls the app on a thread of its pool, or, while no
request can block (`may_block`: no namespace has a pending ImageMap), on its event loop.

Every admission passes through `/mutate`, so the app answers it in front of Flask's routing:
`AdmissionRoute` is the app's `wsgi_app` (Flask's place for WSGI middleware), and Flask answers
every other path (the probes, errors). Flask's dispatch (request context, URL matching, the
Response object) cost an admission about 70% more server CPU than the rest of it together
(`make bench`, the serving stacks: 311 against 183 µs a request in one run), past the goal of
250 µs. Any caller of the app, a test client included, takes that same path.

No escape (design.md#no-escape): a pod that a pending ImageMap of its namespace could change
waits, in `AdmissionEndpoint`, for the decision that judges the map (`View.settled`), for at
most `decision_wait` seconds, and is answered under it. Past that it is refused with a message
that names the undecided ImageMaps and what to check (the ReplicaSet, Job and StatefulSet
controllers retry), or, with `undecided="admit"`, admitted under the decision before with a
warning. The wait blocks the request's thread only; a namespace without pending maps never
waits. An admission called on the server's loop (`environ[ON_LOOP]`) that finds a pending map
raises `WouldBlock` before it has counted anything, and the bridge calls it again on its pool.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal

from flask import Flask, Request, Response, request
from flask.sessions import SessionInterface, SessionMixin
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.wsgi import get_input_stream

from image_mapper.engine.imagemap import KIND
from image_mapper.engine.layers import Layered
from image_mapper.engine.mapping import Mapping as ImageMapping
from image_mapper.serving.errors import error_body, http_error, json_error
from image_mapper.serving.probes import LATENCY_BUCKETS, probes_blueprint
from image_mapper.serving.wsgi_bridge import ON_LOOP, WouldBlock
from image_mapper.webhook.admission import Admission, admit
from image_mapper.webhook.reporting import log_admission
from image_mapper.webhook.reviews import (
    AdmissionRequest,
    AdmissionResponse,
    ReviewError,
    parse_review,
    review_response,
)
from image_mapper.webhook.view import Pending, View

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 7 * 512 * 1024
"""3.5 MiB. A review holds the pod and, on UPDATE, its old version; etcd stores an object of at
most 1.5 MiB and the API server takes request bodies of at most 3 MiB, so a review of a pod
that can exist fits. Past it: 413 (`image_mapper.serving.wsgi_bridge`), and the failurePolicy
decides."""

MUTATE = "/mutate"

DECISION_WAIT_SECONDS = 3.0
"""How long an admission waits for a pending ImageMap to be decided: below the webhook
configuration's timeoutSeconds (5), above the decision's usual latency (about 1 s)."""
Undecided = Literal["refuse", "admit"]
UNDECIDED: tuple[Undecided, ...] = ("refuse", "admit")
"""What becomes of a pod still held by an undecided ImageMap after the wait."""


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
            "image_mapper_images_rewritten", "Pod images rewritten, by namespace and ImageMap "
            "(a ClusterImageMap as ClusterImageMap/NAME).",
            ["namespace", "imagemap"], registry=registry)
        self.unmatched = Counter(
            "image_mapper_images_unmatched", "Pod images looked at that no maplet matched, by "
            "namespace.", ["namespace"], registry=registry)
        self.audited = Counter(
            "image_mapper_images_audited", "Pod images that an ImageMap in Audit mode would "
            "have rewritten (and did not), by namespace and ImageMap (a ClusterImageMap as "
            "ClusterImageMap/NAME).",
            ["namespace", "imagemap"], registry=registry)
        age = Gauge(
            "image_mapper_webhook_view_age_seconds", "Seconds since the API server last "
            "confirmed the webhook's view of the ImageMaps (-1 before the first list).",
            registry=registry)
        age.set_function(lambda: _or_minus_one(view.age()))
        synced = Gauge(
            "image_mapper_webhook_view_synced", "1 once the ImageMaps have been listed.",
            registry=registry)
        synced.set_function(lambda: 0.0 if view.age() is None else 1.0)
        self.held = Histogram(
            "image_mapper_admission_hold_seconds", "Time admissions waited for a pending "
            "ImageMap to be decided, by result (decided, undecided).", ["result"],
            buckets=LATENCY_BUCKETS, registry=registry)
        self.undecided = Counter(
            "image_mapper_admissions_undecided", "Pods answered while an ImageMap that could "
            "change them was still undecided after the wait, by namespace and action "
            "(refused, admitted).", ["namespace", "action"], registry=registry)
        registry.register(_FirstDecisions(view))
        # Labelled children, looked up once: `labels()` takes a lock and builds a tuple on
        # every call, several times an admission.
        self._outcomes = {outcome: (self.requests.labels(outcome), self.latency.labels(outcome))
                          for outcome in ("patched", "unchanged", "invalid", "not_ready",
                                          "refused", "error")}
        self._by_imagemap: dict[tuple[bool, str, str], Any] = {}
        self._unmatched: dict[str, Any] = {}

    def observe(self, outcome: str, started: float) -> None:
        requests, latency = self._outcomes[outcome]
        requests.inc()
        latency.observe(time.perf_counter() - started)

    def count(self, namespace: str, admission: Admission) -> None:
        for rewrite in admission.reported:
            audit = rewrite.match.audit
            match = rewrite.match
            # Names are unique within a kind only: a ClusterImageMap's is told apart.
            key = (audit, namespace, match.image_map if match.kind == KIND
                   else f"{match.kind}/{match.image_map}")
            child = self._by_imagemap.get(key)
            if child is None:
                counter = self.audited if audit else self.rewritten
                child = self._by_imagemap[key] = counter.labels(namespace, key[2])
            child.inc()
        if admission.unmatched:
            child = self._unmatched.get(namespace)
            if child is None:
                child = self._unmatched[namespace] = self.unmatched.labels(namespace)
            child.inc(len(admission.unmatched))


def _or_minus_one(age: float | None) -> float:
    return -1.0 if age is None else age


class _FirstDecisions(Collector):
    """Each ImageMap's time from creation (as the webhook saw it) to its first decision."""

    def __init__(self, view: View) -> None:
        self.view = view

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "image_mapper_imagemap_first_decision_seconds", "Seconds from when the webhook "
            "first saw an ImageMap to the first decision record that judged it (ImageMaps "
            "created while the webhook runs).", labels=["namespace", "imagemap"])
        for (namespace, name), seconds in sorted(self.view.first_decisions().items()):
            family.add_metric([namespace, name], seconds)
        yield family


INTERNAL_ERROR = "internal error; see the webhook's log"


class NoSessions(SessionInterface):
    """The webhook keeps no sessions, and does not open and check Flask's cookie session on
    every request."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        return None

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


class AdmissionEndpoint:
    """`POST /mutate`: the request body in, (HTTP status, JSON body) out."""

    def __init__(self, view: View, metrics: WebhookMetrics, *,
                 decision_wait: float = DECISION_WAIT_SECONDS,
                 undecided: Undecided = "refuse") -> None:
        self.view = view
        self.metrics = metrics
        self.decision_wait = decision_wait
        self.undecided = undecided

    def may_wait(self) -> bool:
        """Whether an admission may wait now (some namespace has a pending ImageMap)."""
        return self.view.pending_anywhere()

    def __call__(self, body: bytes, *, on_loop: bool = False) -> tuple[int, bytes]:
        """The answer; `on_loop` (called on the server's event loop): WouldBlock instead of
        waiting, raised before anything is counted."""
        started = time.perf_counter()
        try:
            review_request = parse_review(body)
        except ReviewError as error:
            self.metrics.observe("invalid", started)
            return 400, error_body(400, f"not a valid AdmissionReview: {error}")
        if self.view.age() is None:
            self.metrics.observe("not_ready", started)
            return 503, error_body(503, "the webhook has not listed the ImageMaps yet")
        namespace = review_request.get("namespace") or ""
        mapping = self.view.mapping_for(namespace)
        undecided: tuple[Pending, ...] = ()
        if self.view.pending_anywhere():
            if on_loop:
                raise WouldBlock(namespace)
            mapping, undecided = self._settled(namespace, review_request)
            if undecided and self.undecided == "refuse":
                self.metrics.undecided.labels(namespace, "refused").inc()
                self.metrics.observe("refused", started)
                refusal = refuse_undecided(review_request["uid"], namespace, undecided,
                                           waited=self.decision_wait)
                return 200, json.dumps(review_response(refusal), separators=(",", ":")).encode()
        admission = admit(review_request=review_request, mapping=mapping)
        response = admission.response
        if undecided:
            self.metrics.undecided.labels(namespace, "admitted").inc()
            response = {**response, "warnings": [
                undecided_warning(undecided, waited=self.decision_wait),
                *response.get("warnings", [])]}
        answer = json.dumps(review_response(response), separators=(",", ":"))
        self.metrics.count(namespace, admission)
        log_admission(namespace=namespace, pod=review_request.get("object"),
                      rewrites=admission.reported, dry_run=review_request.get("dryRun") is True)
        self.metrics.observe("patched" if "patch" in admission.response else "unchanged",
                             started)
        return 200, answer.encode()

    def _settled(self, namespace: str, review_request: AdmissionRequest
                 ) -> tuple[ImageMapping | Layered, tuple[Pending, ...]]:
        """The namespace's mapping once no pending ImageMap could change this pod, waiting
        for at most `decision_wait`; and the pending ones that still could."""
        def holds(pending: Pending) -> bool:
            return bool(admit(review_request=review_request, mapping=pending.mapping).rewritten)

        began = time.perf_counter()
        mapping, undecided = self.view.settled(namespace, holds=holds,
                                               timeout=self.decision_wait)
        waited = time.perf_counter() - began
        if waited > 0.001 or undecided:
            self.metrics.held.labels("undecided" if undecided else "decided").observe(waited)
        return mapping, undecided

    def answer(self, body: bytes, *, on_loop: bool = False) -> tuple[int, bytes]:
        """As a call, but a bug is logged, counted and answered 500 instead of raised."""
        try:
            return self(body, on_loop=on_loop)
        except WouldBlock:
            raise
        except Exception:
            log.exception("error answering POST /mutate")
            self.metrics.requests.labels("error").inc()
            return 500, error_body(500, INTERNAL_ERROR)


MAX_NAMED = 5
"""Undecided ImageMaps named in a refusal or a warning; the rest are counted."""


def _named(undecided: tuple[Pending, ...]) -> str:
    names = sorted({p.name if p.kind == KIND else f"{p.name} ({p.kind})" for p in undecided})
    shown = ", ".join(names[:MAX_NAMED])
    return shown if len(names) <= MAX_NAMED else f"{shown} and {len(names) - MAX_NAMED} more"


def refuse_undecided(uid: str, namespace: str, undecided: tuple[Pending, ...], *,
                     waited: float) -> AdmissionResponse:
    """The refusal of a pod that an ImageMap not yet decided could change."""
    return {"uid": uid, "allowed": False, "status": {
        "code": 403, "reason": "Forbidden",
        "message": (
            f"image-mapper: ImageMap {_named(undecided)} in namespace {namespace} is not decided "
            f"yet (waited {waited:g}s); the pod is refused rather than created with images the "
            "ImageMap may relocate. Check that Metacontroller and the image-mapper hooks are "
            "running (their pods and logs) and the ImageMap's status (kubectl get imagemaps -n "
            f"{namespace}). ReplicaSets, Jobs and StatefulSets retry on their own."),
    }}


def undecided_warning(undecided: tuple[Pending, ...], *, waited: float) -> str:
    """The warning on a pod admitted while an ImageMap that could change it is undecided."""
    return (f"image-mapper: ImageMap {_named(undecided)} not decided after {waited:g}s; "
            "admitted without it")


_STATUS_LINES = {code: f"{code} {HTTPStatus(code).phrase}" for code in (200, 400, 500, 503)}


class AdmissionRoute:
    """WSGI: `POST /mutate` goes straight to the endpoint; another method on it gets 405; every
    other path goes to `app` (Flask). A body past `limit` gets 413; while `shutting_down` is
    set, the answer carries `Connection: close`, as Flask's answers do then."""

    def __init__(self, app: WSGIApplication, endpoint: AdmissionEndpoint, *, limit: int | None,
                 shutting_down: threading.Event | None) -> None:
        self.app = app
        self.endpoint = endpoint
        self.limit = limit
        self.shutting_down = shutting_down

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != MUTATE:
            return self.app(environ, start_response)
        try:
            if environ.get("REQUEST_METHOD") != "POST":
                raise MethodNotAllowed(valid_methods=["POST"])
            body = get_input_stream(environ, max_content_length=self.limit).read()
        except HTTPException as error:
            return self._close_if_draining(http_error(error))(environ, start_response)
        status, answer = self.endpoint.answer(body, on_loop=environ.get(ON_LOOP, False))
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))]
        if self.shutting_down is not None and self.shutting_down.is_set():
            headers.append(("Connection", "close"))
        start_response(_STATUS_LINES[status], headers)
        return [answer]

    def _close_if_draining(self, response: Response) -> Response:
        if self.shutting_down is not None and self.shutting_down.is_set():
            response.headers["Connection"] = "close"
        return response


MAY_BLOCK = "image_mapper.may_block"
"""Where a webhook app keeps, in `Flask.extensions`, whether any of its requests can block now:
an admission can, while some namespace has a pending ImageMap; nothing else does."""


def may_block(app: Flask) -> Callable[[], bool] | None:
    """Whether a request to `app` can block now (asked for every request, cheap); None for an
    app that does not tell (any request may)."""
    found = app.extensions.get(MAY_BLOCK)
    return found if callable(found) else None


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    view: View,
    shutting_down: threading.Event | None = None,
) -> Flask:
    """The webhook app over a view of the ImageMaps.

    `shutting_down`, once set, makes `/readyz` answer 503 while requests are still served, so
    endpoints drop the pod before the server stops accepting connections; every answer then
    carries `Connection: close`, so clients move to new connections (to other replicas)
    instead of reusing one that the stop will close under them.
    """
    app = Flask(__name__)
    app.session_interface = NoSessions()
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    if config is not None:
        app.config.from_mapping(config)
    registry = CollectorRegistry()
    metrics = WebhookMetrics(registry, view)
    endpoint = AdmissionEndpoint(
        view, metrics,
        decision_wait=app.config.get("DECISION_WAIT_SECONDS", DECISION_WAIT_SECONDS),
        undecided=app.config.get("UNDECIDED", "refuse"))
    app.wsgi_app = AdmissionRoute(  # type: ignore[method-assign]
        app.wsgi_app, endpoint, limit=app.config["MAX_CONTENT_LENGTH"],
        shutting_down=shutting_down)
    app.extensions[MAY_BLOCK] = endpoint.may_wait

    if shutting_down is not None:
        @app.after_request
        def close_while_draining(response: Response) -> Response:
            if shutting_down.is_set():
                response.headers["Connection"] = "close"
            return response

    def readiness() -> tuple[bool, str]:
        if shutting_down is not None and shutting_down.is_set():
            return False, "shutting down"
        return view.readiness()

    app.register_blueprint(probes_blueprint(registry, readiness))
    app.register_error_handler(HTTPException, http_error)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        log.exception("error answering %s %s", request.method, request.path)
        return json_error(500, INTERNAL_ERROR)

    return app
