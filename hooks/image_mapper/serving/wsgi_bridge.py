"""A WSGI app (Flask) served by an ASGI server (uvicorn): the one way a request reaches the app.

For each request, on the server's event loop: the body is read, up to a limit, then the app
is called with it on a thread of a pool, and its answer is sent. A view may block (wait for
a decision, read a file) without holding up the loop or any other request: only its own
thread waits. The pool's threads are started as requests need them, up to `threads`; past
that, requests queue for a free thread.

An app that can tell when none of its requests can block passes `may_block`, asked on the
loop for every request: while it answers False the app is called right there, on the loop,
with `environ[ON_LOOP]` True. A call on the pool hands the request from the loop's thread to
another and back, and under load each hand-off may wait for the GIL up to the interpreter's
switch interval (5 ms): at 1,000 admissions/s, p99 3.4 ms on the pool against 1.6 ms on the
loop, each the median of 9 runs alternating in one session (docs/benchmarks.md). An app
called on the loop that finds it has to wait after all (the state changed since `may_block`
was asked) raises `WouldBlock` before doing anything it would do twice, and the bridge calls
it again on the pool: a request that waits never holds up the loop.

Why not a2wsgi, the maintained adapter: it hands the body to the thread and each piece of the
answer back to the loop one blocking round trip at a time (four or more per request), which
costs the webhook about four times the CPU per admission of this bridge's two hand-offs (the
call and its result; `make bench` measures both, docs/benchmarks.md).

A body over the limit gets 413 with a JSON error, and the client gets to see it: a server that
answers without reading the body and closes leaves a client that sends its whole body first
(most do) writing into a closed socket, and it sees a reset instead of the 413. So a body
announced (by Content-Length) past the limit is read and thrown away, up to `discard` bytes,
then answered; past `discard` it is answered at once and the connection closed. A chunked body
is read up to the limit.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from image_mapper.serving.errors import error_body, too_long

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DISCARD_BYTES = 64 * 1024 * 1024
"""The most of a refused body read so that its 413 reaches the client."""

_JSON = (b"content-type", b"application/json")
_CLOSE = (b"connection", b"close")
_INTERNAL_ERROR = error_body(500, "internal error; see the server's log")


ON_LOOP = "image_mapper.on_loop"
"""The environ key that is True when the app is called on the event loop, where it must not
block."""


class WouldBlock(Exception):
    """Raised by an app called on the loop (`environ[ON_LOOP]`) that has to wait: the bridge
    calls it again on the pool. Raise it before doing anything that must not be done twice,
    and out of the WSGI callable itself: a framework would answer it as an error (Flask: 500)."""


class Refused(Exception):
    """A body over the limit; `drained` when all of it was read."""

    def __init__(self, size: int | None, *, drained: bool) -> None:
        super().__init__(size)
        self.size = size
        self.drained = drained


class WSGIBridge:
    """ASGI: every HTTP request to the WSGI `app`, on a pool of up to `threads` threads, or
    on the loop while `may_block()` is False (None: always on the pool)."""

    def __init__(self, app: WSGIApplication, *, threads: int, limit: int,
                 discard: int = DISCARD_BYTES,
                 may_block: Callable[[], bool] | None = None) -> None:
        self.app = app
        self.may_block = may_block
        self.limit = limit
        self.discard = discard
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="app")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan, websocket: nothing to do
            return
        try:
            body = await self._body(scope, receive)
        except Refused as refused:
            answer = error_body(413, too_long(self.limit, refused.size))
            await _respond(send, 413, [_JSON] if refused.drained else [_JSON, _CLOSE], answer)
            return
        try:
            if self.may_block is not None and not self.may_block():
                environ = wsgi_environ(scope, body)
                environ[ON_LOOP] = True
                try:
                    status, headers, answer = call_wsgi(self.app, environ)
                except WouldBlock:
                    status, headers, answer = await self._on_pool(scope, body)
            else:
                status, headers, answer = await self._on_pool(scope, body)
        except Exception:  # a WSGI app answers its own errors; this is a bug in one
            log.exception("error answering %s %s", scope["method"], scope["path"])
            status, headers, answer = 500, [_JSON], _INTERNAL_ERROR
        await _respond(send, status, headers, answer)

    async def _on_pool(self, scope: Scope, body: bytes
                       ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, call_wsgi, self.app,
                                          wsgi_environ(scope, body))

    def close(self) -> None:
        """Let the pool's threads end once their requests are answered."""
        self.pool.shutdown(wait=False)

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


def call_wsgi(app: WSGIApplication, environ: dict[str, Any]
              ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run a WSGI app on one request whose body has been read: (status, headers, body)."""
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
        "wsgi.multithread": True,
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
