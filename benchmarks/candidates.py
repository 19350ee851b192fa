"""The serving stacks `make bench` compares, each serving the same app over TLS on 127.0.0.1.

The shipped one is `image-mapper serve-webhook` itself: uvicorn, one process, the Flask app
through `image_mapper.serving.wsgi_bridge`. The others run the same Flask app from the factories
below, under their own command lines (one of them the shipped server's bridge and app with
`POST /mutate` a Flask view instead); none of them has the shipped server's certificate
reloading or draining (they are measured for speed only):

- gunicorn, gthread worker, 8 threads: the server before issue 13 (its `ssl_context` hook could
  serve a reloaded certificate);
- granian (Rust: hyper, rustls) on the Flask app as WSGI, 1 worker, 1 blocking thread;
- uvicorn (httptools, uvloop) on the Flask app through a2wsgi, the maintained ASGI-to-WSGI
  adapter, with as many threads as the shipped bridge;
- uvicorn (httptools, uvloop) with 2 worker processes, each with its own view of the ImageMaps:
  in a cluster, each worker would keep its own watches of ImageMaps and Namespaces.

The app factories read the ImageMaps to serve from `IMAGE_MAPPER_BENCH_IMAGEMAPS` (a file), as
`serve-webhook -f` does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from a2wsgi import WSGIMiddleware
from flask import Flask, Response, request
from prometheus_client import CollectorRegistry

from image_mapper.cli.documents import load_imagemaps
from image_mapper.engine.acceptance import decide
from image_mapper.engine.imagemap import read_imagemaps
from image_mapper.engine.mapping import Mapping
from image_mapper.serving.wsgi_bridge import WSGIBridge
from image_mapper.webhook.app import (
    MAX_BODY_BYTES,
    AdmissionEndpoint,
    AdmissionRoute,
    WebhookMetrics,
    create_app,
)
from image_mapper.webhook.server import APP_THREADS, bridge
from image_mapper.webhook.view import StaticView

IMAGEMAPS_VARIABLE = "IMAGE_MAPPER_BENCH_IMAGEMAPS"


def flask_app() -> Flask:
    """The webhook's Flask app (WSGI) over the ImageMaps of `IMAGE_MAPPER_BENCH_IMAGEMAPS`."""
    return create_app(view=StaticView(_mapping()))


def _mapping() -> Mapping:
    return decide(read_imagemaps(load_imagemaps([os.environ[IMAGEMAPS_VARIABLE]]))).mapping


def asgi_app() -> WSGIBridge:
    """The ASGI app the shipped server runs, over the same ImageMaps."""
    return bridge(flask_app())


def mutate_as_flask_view() -> WSGIBridge:
    """The shipped bridge and app, but `POST /mutate` a Flask view behind Flask's routing
    instead of in front of it (`AdmissionRoute`): what Flask's dispatch costs an admission."""
    view = StaticView(_mapping())
    app = create_app(view=view)
    route = app.wsgi_app
    assert isinstance(route, AdmissionRoute)
    app.wsgi_app = route.app  # type: ignore[method-assign]
    endpoint = AdmissionEndpoint(view, WebhookMetrics(CollectorRegistry(), view))

    @app.post("/mutate")
    def mutate() -> Response:
        status, answer = endpoint.answer(request.get_data(cache=False))
        return Response(answer, status=status, content_type="application/json")

    return WSGIBridge(app, threads=APP_THREADS, limit=MAX_BODY_BYTES)


def a2wsgi_app() -> WSGIMiddleware:
    """The Flask app through a2wsgi, with as many threads as the shipped bridge."""
    return WSGIMiddleware(flask_app(), workers=APP_THREADS)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Stack:
    """A server's command line for a port and a certificate."""

    name: str
    command: Callable[[int, Path, Path], list[str]] | None
    """None: the shipped `serve-webhook`."""
    processes: str
    watches: int
    """API-server watches per replica (ImageMaps and Namespaces, per process that keeps a
    view); -f stands in for them here."""


def _gunicorn(port: int, cert: Path, key: Path) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--threads", "8",
            "--workers", "1", "--certfile", str(cert), "--keyfile", str(key),
            "--bind", f"127.0.0.1:{port}", "--keep-alive", "30", "--log-level", "warning",
            f"{__name__}:flask_app()"]


def _granian(interface: str, target: str) -> Callable[[int, Path, Path], list[str]]:
    def command(port: int, cert: Path, key: Path) -> list[str]:
        return [sys.executable, "-m", "granian", "--interface", interface, "--factory",
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                "--blocking-threads", "1", "--http", "1", "--no-ws", "--loop", "uvloop",
                "--ssl-certificate", str(cert), "--ssl-keyfile", str(key),
                "--ssl-protocol-min", "tls1.2", "--log-level", "warning", f"{__name__}:{target}"]

    return command


def _uvicorn(workers: int, target: str) -> Callable[[int, Path, Path], list[str]]:
    def command(port: int, cert: Path, key: Path) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "--factory", "--workers", str(workers),
                "--http", "httptools", "--loop", "uvloop", "--lifespan", "off",
                "--host", "127.0.0.1", "--port", str(port), "--ssl-certfile", str(cert),
                "--ssl-keyfile", str(key), "--no-access-log", "--no-server-header",
                "--timeout-keep-alive", "30", "--no-proxy-headers", "--log-level", "warning",
                f"{__name__}:{target}"]

    return command


SHIPPED = Stack("uvicorn + httptools + uvloop, Flask through the bridge, 1 process (shipped: "
                "serve-webhook)", None, "1", 2)
STACKS = (
    Stack("gunicorn gthread, 8 threads, Flask WSGI (before)", _gunicorn, "1 + master", 2),
    Stack("granian 2.8 WSGI, Flask app, 1 blocking thread", _granian("wsgi", "flask_app"),
          "1 + master", 2),
    Stack("uvicorn + httptools + uvloop, Flask through a2wsgi 1.10", _uvicorn(1, "a2wsgi_app"),
          "1", 2),
    SHIPPED,
    Stack("the same, but POST /mutate a Flask view, behind Flask's routing",
          _uvicorn(1, "mutate_as_flask_view"), "1", 2),
    Stack("uvicorn + httptools + uvloop, Flask through the bridge, 2 worker processes",
          _uvicorn(2, "asgi_app"), "2 + master", 4),
)
