"""Fixtures `app` -> `client`, and `serve`: the hooks app on a real waitress server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from image_mapper.controller.app import create_app
from image_mapper.controller.server import HooksServer
from tests.golden import FIXTURE_NOW

Serve = Callable[..., str]


def fixed_clock_config(**config: Any) -> dict[str, Any]:
    return {"HOOKS_CLOCK": lambda: FIXTURE_NOW, **config}


@pytest.fixture
def app() -> Flask:
    return create_app(fixed_clock_config())


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def serve() -> Iterator[Serve]:
    """`serve(app=None, **config) -> base URL` of a server on 127.0.0.1 and a free port."""
    running: list[tuple[HooksServer, threading.Thread]] = []

    def start(app: Flask | None = None, **config: Any) -> str:
        server = HooksServer(app or create_app(fixed_clock_config(**config)),
                             host="127.0.0.1", port=0, threads=2)
        thread = threading.Thread(target=server.serve, kwargs={"shutdown_timeout": 2.0},
                                  daemon=True)
        thread.start()
        running.append((server, thread))
        host, port = server.addresses[0]
        return f"http://{host}:{port}"

    yield start
    for server, _ in running:
        server.stop()
    for _, thread in running:
        thread.join(timeout=10)
        assert not thread.is_alive(), "the hooks server did not stop"


@pytest.fixture
def hooks_url(serve: Serve) -> str:
    return serve()
