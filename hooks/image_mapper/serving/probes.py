"""Health, readiness and Prometheus endpoints shared by both processes (design.md#http)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Seconds, for both servers' latency histograms: an admission or a hook call for one ImageMap
takes well under a millisecond, a hook call for a large namespace up to tens."""

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
        # As is: `mimetype=` would add a second `charset`, a Content-Type that Prometheus 3
        # refuses to parse (duplicate parameter), failing the scrape.
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return blueprint
