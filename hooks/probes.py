"""Health, readiness and Prometheus endpoints shared by both processes (SPEC 5)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Readiness = Callable[[], tuple[bool, str]]
"""Returns (ready, reason); the reason is shown in the /readyz body."""


def probes_blueprint(registry: CollectorRegistry, readiness: Readiness) -> Blueprint:
    """`GET /healthz` (process alive), `GET /readyz` (503 until ready), `GET /metrics`."""
    blueprint = Blueprint("probes", __name__)

    @blueprint.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    @blueprint.get("/readyz")
    def readyz() -> Response:
        ready, reason = readiness()
        return Response(f"{reason}\n", status=200 if ready else 503, mimetype="text/plain")

    @blueprint.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return blueprint
