"""The bridge calls the app on the server's event loop while the app says no request can block,
and on its pool otherwise: with the shipped server's settings (`image_mapper.webhook.server`)
over TLS on 127.0.0.1, the webhook's app over a cluster view, and a test app that records
where it ran. An admission held for a pending ImageMap never holds up the loop."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask
from werkzeug.test import EnvironBuilder

from image_mapper.serving.wsgi_bridge import ON_LOOP, WouldBlock
from image_mapper.webhook.app import MAY_BLOCK, create_app
from image_mapper.webhook.view import ClusterView
from tests.support.resources import imagemap, namespace

from .conftest import Pki
from .server import client_context
from .test_serve_blocking import serving

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
RELOCATED = "registry.example.com/kubernetes-bootcamp:v1"
RELOCATE = (BOOTCAMP, RELOCATED)
HELD = 20
LONG = 30.0
"""A wait that a test expects to end early."""


def _view(*imagemaps: dict[str, Any], records: tuple[dict[str, Any], ...] = ()) -> ClusterView:
    view = ClusterView()
    view.imagemaps.replace(list(imagemaps))
    view.namespaces.replace(list(records))
    view.imagemaps.confirm()
    view.namespaces.confirm()
    return view


def _review(ns: str, uid: str) -> bytes:
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": {
        "uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": ns, "operation": "CREATE",
        "object": {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "web", "namespace": ns},
                   "spec": {"containers": [{"name": "web", "image": BOOTCAMP}]}}}}).encode()


def _images(answer: dict[str, Any]) -> list[str]:
    patch = json.loads(base64.b64decode(answer.get("patch", "W10=")))
    return [op["value"] for op in patch if op["path"].endswith("/image")]


class Client:
    def __init__(self, port: int, pki: Pki) -> None:
        self.port = port
        self.context = client_context(pki.ca_file)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPSConnection("localhost", self.port, timeout=LONG,
                                                 context=self.context)
        try:
            connection.request(method, path, body=body,
                               headers={"Content-Type": "application/json"})
            reply = connection.getresponse()
            return reply.status, reply.read()
        finally:
            connection.close()

    def admit(self, ns: str, uid: str) -> dict[str, Any]:
        status, body = self.request("POST", "/mutate", _review(ns, uid))
        assert status == 200, body
        answer: dict[str, Any] = json.loads(body)["response"]
        return answer


def test_while_a_map_is_pending_a_held_admission_does_not_stop_another(pki: Pki) -> None:
    view = _view(imagemap("relocate", RELOCATE),
                 imagemap("relocate", RELOCATE, namespace="other"),
                 records=(namespace("other", "relocate"),))
    assert view.pending_anywhere()  # "apps" waits for its decision; "other" has it
    app = create_app({"DECISION_WAIT_SECONDS": LONG}, view=view)
    with serving(app, pki) as port, ThreadPoolExecutor(HELD) as clients:
        client = Client(port, pki)
        held = [clients.submit(client.admit, "apps", f"held-{i}") for i in range(HELD)]
        answer = client.admit("other", "free")  # answered while the others wait
        assert answer["allowed"] is True
        assert _images(answer) == [RELOCATED]
        status, _ = client.request("GET", "/healthz")
        assert status == 200
        assert not any(waiter.done() for waiter in held)
        view.namespaces.apply("MODIFIED", namespace("apps", "relocate"))
        answers = [waiter.result(timeout=LONG) for waiter in held]
    assert all(_images(answer) == [RELOCATED] for answer in answers)
    assert not view.pending_anywhere()


class Where:
    """A WSGI app in front of a Flask app: records, per request, the thread it ran on and
    whether it was told it runs on the loop; raises WouldBlock there when `refuse_loop`."""

    def __init__(self, flask: Flask) -> None:
        self.flask = flask
        self.blocking = False
        self.refuse_loop = False
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        on_loop = bool(environ.get(ON_LOOP))
        self.calls.append((threading.current_thread().name, on_loop))
        if on_loop and self.refuse_loop:
            raise WouldBlock
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"on loop:" + str(on_loop).encode() + b" body:" + body]


def _where_app() -> tuple[Flask, Where]:
    app = Flask("where")
    where = Where(app)
    app.wsgi_app = where  # type: ignore[method-assign]
    app.extensions[MAY_BLOCK] = lambda: where.blocking
    return app, where


def test_the_app_runs_on_the_loop_while_nothing_can_block_and_on_the_pool_otherwise(
        pki: Pki) -> None:
    app, where = _where_app()
    with serving(app, pki) as port:
        client = Client(port, pki)
        assert client.request("POST", "/x", b"one") == (200, b"on loop:True body:one")
        where.blocking = True
        assert client.request("POST", "/x", b"two") == (200, b"on loop:False body:two")
        where.blocking = False
        assert client.request("POST", "/x", b"three") == (200, b"on loop:True body:three")
    (loop, _), (pool, _), (loop_again, _) = where.calls
    assert loop == loop_again
    assert pool.startswith("app")
    assert not loop.startswith("app")


def test_an_app_that_would_block_on_the_loop_is_called_again_on_the_pool(pki: Pki) -> None:
    app, where = _where_app()
    where.refuse_loop = True
    with serving(app, pki) as port:
        # The body reaches the second call whole, though the first may have read it.
        assert Client(port, pki).request("POST", "/x", b"body") == (
            200, b"on loop:False body:body")
    assert [on_loop for _, on_loop in where.calls] == [True, False]
    assert where.calls[1][0].startswith("app")


def _environ(body: bytes, *, on_loop: bool) -> dict[str, Any]:
    environ = EnvironBuilder(path="/mutate", method="POST", data=body,
                             content_type="application/json").get_environ()
    environ[ON_LOOP] = on_loop
    return environ


def test_an_admission_on_the_loop_that_finds_a_pending_map_counts_nothing() -> None:
    view = _view(imagemap("relocate", RELOCATE))
    app = create_app({"DECISION_WAIT_SECONDS": 0.0}, view=view)
    client = app.test_client()

    def metrics() -> list[str]:
        """The admissions' counters and histograms, as /metrics shows them."""
        text = client.get("/metrics").get_data(as_text=True)
        return [line for line in text.splitlines() if line.startswith("image_mapper_admission")]

    before = metrics()
    assert before  # the counters are there, at zero
    with pytest.raises(WouldBlock):
        app.wsgi_app(_environ(_review("apps", "u"), on_loop=True), lambda *_: lambda _: None)
    assert metrics() == before
    # Once decided, nothing is pending: the same admission is answered on the loop.
    view.namespaces.apply("MODIFIED", namespace("apps", "relocate"))
    answered: list[str] = []

    def start_response(status: str, _headers: object, _exc: object = None) -> object:
        answered.append(status)
        return None

    chunks = app.wsgi_app(_environ(_review("apps", "u"), on_loop=True),
                          start_response)  # type: ignore[arg-type]
    assert answered == ["200 OK"]
    assert _images(json.loads(b"".join(chunks))["response"]) == [RELOCATED]
    assert metrics() != before
