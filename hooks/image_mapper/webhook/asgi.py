"""The webhook app as ASGI, for the server (`image_mapper.webhook.server`, uvicorn).

`POST /mutate` is answered here, on the event loop: the body read (up to the limit), handed to
the Flask app's `AdmissionEndpoint`, its answer sent; nothing else runs per admission. The
admission is pure computation of about a hundred microseconds, so running it inline costs less
than a hand-off to a thread. Every other request (the probes, `/metrics`, errors) goes to the
Flask app, called as WSGI on the loop with the body already read: they are few and quick.

A body over the limit gets 413 with a JSON error, as `image_mapper.serving.bodylimit` answers
it under WSGI: read and thrown away up to `discard` bytes so that the client sees the answer,
past that answered at once and the connection closed. A chunked body is read up to the limit.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from image_mapper.serving.bodylimit import DISCARD_BYTES
from image_mapper.serving.errors import error_body, too_long
from image_mapper.webhook.app import MUTATE, AdmissionEndpoint

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

WAITING_THREADS = 512
"""Admissions that may wait for a pending ImageMap's decision run on threads, at most this
many at once, so that the loop keeps answering every other request."""

_JSON = (b"content-type", b"application/json")
_CLOSE = (b"connection", b"close")


class Refused(Exception):
    """A body over the limit; `drained` when all of it was read."""

    def __init__(self, size: int | None, *, drained: bool) -> None:
        super().__init__(size)
        self.size = size
        self.drained = drained


class WebhookASGI:
    """ASGI: `POST /mutate` to `endpoint`, every other request to `wsgi_app` (Flask)."""

    def __init__(self, wsgi_app: WSGIApplication, endpoint: AdmissionEndpoint, *, limit: int,
                 discard: int = DISCARD_BYTES) -> None:
        self.wsgi_app = wsgi_app
        self.endpoint = endpoint
        self.limit = limit
        self.discard = discard
        self._waiting = ThreadPoolExecutor(WAITING_THREADS, thread_name_prefix="admission")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan, websocket: nothing to do
            return
        try:
            body = await self._body(scope, receive)
        except Refused as refused:
            answer = error_body(413, too_long(self.limit, refused.size))
            headers = [_JSON] if refused.drained else [_JSON, _CLOSE]
            await _respond(send, 413, headers, answer)
            return
        if scope["path"] == MUTATE and scope["method"] == "POST":
            if self.endpoint.may_wait():
                status, answer = await asyncio.get_running_loop().run_in_executor(
                    self._waiting, self.endpoint.answer, body)
            else:
                status, answer = self.endpoint.answer(body)
            await _respond(send, status, [_JSON], answer)
            return
        status, headers, answer = call_wsgi(self.wsgi_app, scope, body)
        await _respond(send, status, headers, answer)

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        size = _content_length(scope)
        if size is not None and size > self.limit:
            drained = size <= self.discard and await _discard(receive, size) >= size
            raise Refused(size, drained=drained)
        parts: list[bytes] = []
        read = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            chunk = message.get("body", b"")
            read += len(chunk)
            more = message.get("more_body", False)
            if read > self.limit:
                left = self.discard - read
                drained = not more or (left > 0 and await _discard(receive, left) < left)
                raise Refused(None, drained=drained)
            parts.append(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _discard(receive: Receive, size: int) -> int:
    """Read up to `size` bytes of the body and drop them; how many there were."""
    read = 0
    while read < size:
        message = await receive()
        if message["type"] != "http.request":
            break
        read += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return read


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]],
                   body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


def call_wsgi(app: WSGIApplication, scope: Scope, body: bytes
              ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run a WSGI app on one request whose body has been read: (status, headers, body)."""
    environ = wsgi_environ(scope, body)
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], object]:
        started[:] = [status, headers]
        return _no_write

    chunks = app(environ, start_response)
    try:
        answer = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    status, headers = started
    encoded = [(name.lower().encode("latin-1"), value.encode("latin-1"))
               for name, value in headers if name.lower() != "content-length"]
    return int(status.split(" ", 1)[0]), encoded, answer


def _no_write(_data: bytes) -> object:
    raise NotImplementedError("the WSGI write() callable is not supported")


def wsgi_environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """PEP 3333's environ for an ASGI HTTP scope and its whole body."""
    server = scope.get("server") or ("localhost", 0)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "https"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        if name in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue
        value = raw_value.decode("latin-1")
        key = name if name == "CONTENT_TYPE" else f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ

