"""Requests that the app holds do not hold up the others: the shipped server's settings
(`image_mapper.webhook.server`: uvicorn, the bridge's pool of `APP_THREADS`) serving a test app
whose `/held` view waits until the test releases it, as an admission waits for a pending
ImageMap's decision, over TLS on 127.0.0.1."""

from __future__ import annotations

import argparse
import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from flask import Flask

from image_mapper.cli.serve_webhook import config, configure
from image_mapper.webhook.server import APP_THREADS, bridge, listen, uvicorn_config
from image_mapper.webhook.tls.reloader import CertificateReloader, serving_context

from .conftest import Pki
from .server import client_context

HELD = 200


class Gate:
    """The test app's `/held` requests: counted as they come in, held until `release`."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.inside = 0
        self.released = threading.Event()

    def hold(self) -> None:
        with self.condition:
            self.inside += 1
            self.condition.notify_all()
        self.released.wait(120)

    def wait_inside(self, count: int, timeout: float) -> bool:
        with self.condition:
            return self.condition.wait_for(lambda: self.inside >= count, timeout)


def held_app(gate: Gate) -> Flask:
    app = Flask("held")

    @app.post("/held")
    def held() -> str:
        gate.hold()
        return "released"

    @app.get("/free")
    def free() -> str:
        return "free"

    return app


@contextmanager
def serving(app: Flask, pki: Pki) -> Iterator[int]:
    """`app` behind the shipped server's uvicorn settings and bridge; yields the port."""
    parser = argparse.ArgumentParser()
    configure(parser, {})
    settings = config(parser.parse_args(["--log-level", "warning"]))
    sock = listen("127.0.0.1", 0)
    asgi = bridge(app)
    context = serving_context(CertificateReloader(pki.cert_file, pki.key_file))
    server = uvicorn.Server(uvicorn_config(settings, asgi, context))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(30)
        asgi.close()
        sock.close()
        assert not thread.is_alive()


def test_requests_held_in_the_app_do_not_delay_another(pki: Pki) -> None:
    gate = Gate()
    context = client_context(pki.ca_file)
    answers: list[tuple[int, float]] = []
    lock = threading.Lock()

    with serving(held_app(gate), pki) as port:

        def request(method: str, path: str) -> tuple[int, bytes, float]:
            connection = http.client.HTTPSConnection("localhost", port, timeout=60,
                                                     context=context)
            started = time.monotonic()
            try:
                connection.request(method, path)
                reply = connection.getresponse()
                return reply.status, reply.read(), time.monotonic() - started
            finally:
                connection.close()

        def held() -> None:
            status, _, seconds = request("POST", "/held")
            with lock:
                answers.append((status, seconds))

        clients = [threading.Thread(target=held, daemon=True) for _ in range(HELD)]
        for client in clients:
            client.start()
        try:
            # All of them are inside the app at once, each holding a thread of the pool.
            assert gate.wait_inside(HELD, timeout=90), f"{gate.inside} of {HELD} came in"
            status, body, free_seconds = request("GET", "/free")
            assert (status, body) == (200, b"free")
            with lock:
                assert answers == []  # answered while every held request is still held
        finally:
            gate.released.set()
            for client in clients:
                client.join(60)
    assert len(answers) == HELD
    assert {status for status, _ in answers} == {200}
    held_seconds = sorted(seconds for _, seconds in answers)
    print(f"\n{HELD} requests held in the app (pool of {APP_THREADS} threads); another answered "
          f"in {free_seconds * 1000:.1f} ms meanwhile; the held ones in "
          f"{held_seconds[0]:.2f} to {held_seconds[-1]:.2f} s, once released")
    assert free_seconds < held_seconds[0]

