"""The serving stacks `make bench` compares, each serving the same app over TLS on 127.0.0.1.

The shipped one is `image-mapper serve-webhook` itself (uvicorn, one process). The others run
the project's app from the factories below, under their own command lines; none of them has
the shipped server's certificate reloading or draining (they are measured for speed only):

- gunicorn, gthread worker, 8 threads: the server before issue 13 (the Flask app, WSGI);
- granian (Rust: hyper, rustls) on the Flask app as WSGI, 1 worker, 1 blocking thread;
- granian on the ASGI app (`image_mapper.webhook.asgi`), 1 worker, uvloop;
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

from flask import Flask

from image_mapper.cli.documents import load_imagemaps
from image_mapper.engine.acceptance import decide
from image_mapper.engine.imagemap import read_imagemaps
from image_mapper.webhook.app import create_app
from image_mapper.webhook.asgi import WebhookASGI
from image_mapper.webhook.server import asgi_app as shipped_asgi_app
from image_mapper.webhook.view import StaticView

IMAGEMAPS_VARIABLE = "IMAGE_MAPPER_BENCH_IMAGEMAPS"


def flask_app() -> Flask:
    """The webhook's Flask app (WSGI) over the ImageMaps of `IMAGE_MAPPER_BENCH_IMAGEMAPS`."""
    mapping = decide(read_imagemaps(load_imagemaps([os.environ[IMAGEMAPS_VARIABLE]]))).mapping
    return create_app(view=StaticView(mapping))


def asgi_app() -> WebhookASGI:
    """The ASGI app the shipped server runs, over the same ImageMaps."""
    return shipped_asgi_app(flask_app())


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


def _uvicorn_workers(workers: int) -> Callable[[int, Path, Path], list[str]]:
    def command(port: int, cert: Path, key: Path) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "--factory", "--workers", str(workers),
                "--http", "httptools", "--loop", "uvloop", "--lifespan", "off",
                "--host", "127.0.0.1", "--port", str(port), "--ssl-certfile", str(cert),
                "--ssl-keyfile", str(key), "--no-access-log", "--no-server-header",
                "--timeout-keep-alive", "30", "--log-level", "warning",
                f"{__name__}:asgi_app"]

    return command


SHIPPED = Stack("uvicorn + httptools + uvloop, ASGI, 1 process (shipped: serve-webhook)",
                None, "1", 2)
STACKS = (
    Stack("gunicorn gthread, 8 threads, Flask WSGI (before)", _gunicorn, "1 + master", 2),
    Stack("granian 2.8 WSGI, Flask app, 1 blocking thread", _granian("wsgi", "flask_app"),
          "1 + master", 2),
    Stack("granian 2.8 ASGI, uvloop", _granian("asgi", "asgi_app"), "1 + master", 2),
    SHIPPED,
    Stack("uvicorn + httptools + uvloop, ASGI, 2 worker processes", _uvicorn_workers(2),
          "2 + master", 4),
)
