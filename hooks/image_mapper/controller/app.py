"""The hooks' Flask app: Metacontroller's four hooks, probes and metrics (design.md#http).

Views only read the body, call the hook (`image_mapper.controller.dispatch`) and write JSON;
errors are JSON of the one shape both servers use (`image_mapper.serving.errors`). Nothing is
read from the environment here; `image-mapper serve-hooks` passes the configuration in:

- `HOOKS_TOKEN` (str | Tokens | None): when set, hook calls must carry `Authorization: Bearer
  <token>` (Metacontroller's `authorization` hook setting) with that token, or one of the
  `Tokens` (`image_mapper.controller.tokens`, reloaded as they change); probes and metrics stay
  open.
- `HOOKS_CLOCK` (() -> datetime): the current time, for `lastTransitionTime`; tests fix it.
- `HOOKS_CLUSTER_NAMESPACE` (str): the project's own namespace, whose Namespace records the
  ClusterImageMaps' decision (default `image-mapper`).
- `MAX_CONTENT_LENGTH` (int): the largest body accepted; a namespace of 1,000 ImageMaps is a
  few megabytes.
- `HOOKS_LOG_REPEAT_INTERVAL` (float): a refused call (401) is logged at warning at most once
  per this many seconds per reason, the next line counting those left out; `HOOKS_LOG_CLOCK`
  (() -> float, monotonic seconds) times it, and tests set it.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from time import monotonic, perf_counter
from typing import Any, Literal

from flask import Flask, Response, current_app, request
from prometheus_client import CollectorRegistry, Counter, Histogram
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from image_mapper.controller.bodies import BodyDecoder
from image_mapper.controller.cluster_hook import DEFAULT_CLUSTER_NAMESPACE
from image_mapper.controller.dispatch import HOOKS, Hook, utc_now
from image_mapper.controller.memo import Memo
from image_mapper.controller.protocol import BadRequest, HookResponse
from image_mapper.controller.tokens import Tokens
from image_mapper.serving.errors import http_error, json_error, too_long
from image_mapper.serving.logs import RateLimitedLog, RateLimiter
from image_mapper.serving.probes import LATENCY_BUCKETS, probes_blueprint

log = logging.getLogger(__name__)

Outcome = Literal["ok", "bad_request", "unauthorized", "error"]

DEFAULT_CONFIG: dict[str, Any] = {
    "HOOKS_TOKEN": None,
    "HOOKS_CLUSTER_NAMESPACE": DEFAULT_CLUSTER_NAMESPACE,
    "MAX_CONTENT_LENGTH": 64 * 1024 * 1024,
    "HOOKS_LOG_REPEAT_INTERVAL": 60.0,
    "HOOKS_LOG_CLOCK": monotonic,
}


class HookMetrics:
    """The hooks' Prometheus metrics, in the app's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "image_mapper_hook_calls_total",
            "Metacontroller hook calls, by hook and outcome.",
            ["hook", "outcome"], registry=registry,
        )
        self.latency = Histogram(
            "image_mapper_hook_duration_seconds",
            "Time to answer a Metacontroller hook call, by hook and outcome.",
            ["hook", "outcome"], buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.verdicts = Counter(
            "image_mapper_imagemap_verdicts_total",
            "ImageMap syncs by the reason of the Ready condition they returned "
            "(Accepted; rejected: InvalidSpec, Conflict).",
            ["reason"], registry=registry,
        )
        for hook in HOOKS:
            for outcome in ("ok", "bad_request", "unauthorized", "error"):
                self.calls.labels(hook=hook, outcome=outcome)
        for reason in ("Accepted", "InvalidSpec", "Conflict"):
            self.verdicts.labels(reason=reason)

    def observe(self, hook: str, outcome: Outcome, seconds: float) -> None:
        self.calls.labels(hook=hook, outcome=outcome).inc()
        self.latency.labels(hook=hook, outcome=outcome).observe(seconds)

    def count_verdict(self, response: HookResponse) -> None:
        status = response.get("status")
        conditions = status.get("conditions") if isinstance(status, dict) else None
        # A status not judged yet is the parent's own, as the request had it: anything.
        first = conditions[0] if isinstance(conditions, list) and conditions else None
        reason = first.get("reason") if isinstance(first, dict) else None
        if reason in ("Accepted", "InvalidSpec", "Conflict"):
            self.verdicts.labels(reason=reason).inc()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(DEFAULT_CONFIG)
    app.config["HOOKS_CLOCK"] = utc_now
    if config is not None:
        app.config.from_mapping(config)
    token = app.config["HOOKS_TOKEN"]
    if token is not None and not isinstance(token, Tokens) and (
            not isinstance(token, str) or not token):
        raise ValueError("HOOKS_TOKEN must be a non-empty string, Tokens, or None for no token "
                         "check")

    registry = CollectorRegistry()
    metrics = HookMetrics(registry)
    memo = Memo()  # what the hooks remember between syncs: decisions, and ImageMaps read
    bodies = BodyDecoder(readings=memo.readings)  # from the objects they were sent
    refusals = RateLimitedLog(log, RateLimiter(float(app.config["HOOKS_LOG_REPEAT_INTERVAL"]),
                                               clock=app.config["HOOKS_LOG_CLOCK"]))
    # The hooks are stateless: ready as soon as they serve.
    app.register_blueprint(probes_blueprint(registry, lambda: (True, "ready")))
    for path, hook in HOOKS.items():
        app.add_url_rule(path, endpoint=path, methods=["POST"],
                         view_func=_hook_view(path, hook, metrics, token,
                                              clock=app.config["HOOKS_CLOCK"], memo=memo,
                                              bodies=bodies, refusals=refusals,
                                              cluster_namespace=str(
                                                  app.config["HOOKS_CLUSTER_NAMESPACE"])))
    app.register_error_handler(HTTPException, http_error)
    return app


def _hook_view(
    path: str,
    hook: Hook,
    metrics: HookMetrics,
    token: str | Tokens | None,
    *,
    clock: Callable[[], datetime],
    memo: Memo,
    bodies: BodyDecoder,
    refusals: RateLimitedLog,
    cluster_namespace: str = DEFAULT_CLUSTER_NAMESPACE,
) -> Callable[[], Response]:
    def view() -> Response:
        started = perf_counter()
        outcome, answer, response = _answer(path, hook, token, clock, memo=memo,
                                            bodies=bodies, cluster_namespace=cluster_namespace)
        if outcome == "unauthorized":
            _log_refusal(refusals, path)
        metrics.observe(path, outcome, perf_counter() - started)
        if answer is not None and path in ("/imagemap/sync", "/clusterimagemap/sync"):
            metrics.count_verdict(answer)
        return response

    return view


def _answer(
    path: str, hook: Hook, token: str | Tokens | None, clock: Callable[[], datetime], *,
    memo: Memo, bodies: BodyDecoder, cluster_namespace: str,
) -> tuple[Outcome, HookResponse | None, Response]:
    if token is not None and not _authorized(request.headers.get("Authorization"), token):
        response = json_error(401, "a valid 'Authorization: Bearer <token>' header is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="image-mapper-hooks"'
        return "unauthorized", None, response
    try:
        answer = hook(_read_json(bodies), clock(), memo, cluster_namespace)
    except BadRequest as error:
        log.warning("%s: bad request: %s", path, _loggable(str(error)))
        return "bad_request", None, json_error(400, str(error))
    except HTTPException as error:  # e.g. 413 past MAX_CONTENT_LENGTH
        return "bad_request", None, http_error(error)
    except Exception:
        log.exception("%s: the hook failed", path)
        return "error", None, json_error(500, f"the {path} hook failed; see the hooks' log")
    return "ok", answer, _json(200, answer)


def _log_refusal(refusals: RateLimitedLog, path: str) -> None:
    """One warning per reason per interval: a caller without the token may call many times a
    second (Metacontroller retries every hook call that fails). The token is never logged."""
    header = request.headers.get("Authorization")
    if header is None:
        reason = "no Authorization header"
    elif not header.startswith("Bearer "):
        reason = "an Authorization header that is not a Bearer token"
    else:
        reason = "a bearer token that is not one of the accepted ones"
    client = request.remote_addr or "unknown"
    refusals.limited_warning(reason, "refused a hook call (401) from %s to %s: %s; check the "
                     "controllers' authorization secretRef and the hooks' --token-file",
                     client, path, reason,
                     extra={"event": "hook_refused", "reason": reason, "hook": path,
                            "client": client})


def _read_json(bodies: BodyDecoder) -> object:
    try:
        data = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise RequestEntityTooLarge(
            too_long(current_app.config["MAX_CONTENT_LENGTH"])) from None
    try:
        return bodies.decode(data)
    except (ValueError, RecursionError) as error:
        # JSONDecodeError and UnicodeDecodeError are ValueErrors.
        raise BadRequest(f"the request body is not valid JSON: {error}") from None


def _loggable(message: str, limit: int = 300) -> str:
    """One line of bounded length: a request body can put anything in an error message."""
    if len(message) > limit:
        message = f"{message[:limit]}... ({len(message)} characters)"
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in message)


def _authorized(header: str | None, token: str | Tokens) -> bool:
    if isinstance(token, Tokens):
        return token.accepts(header)
    expected = f"Bearer {token}".encode()
    return header is not None and hmac.compare_digest(header.encode(), expected)


def _json(status: int, payload: object) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status=status,
                    mimetype="application/json")

