"""A request body over the limit gets 413 with a JSON error, and the client gets to see it.

A server that answers 413 without reading the body, then closes the connection, leaves the
client writing into a closed socket: the kernel resets the connection, and a client that sends
its whole body before reading the answer (most do) sees a broken pipe instead of the 413.
Servers drain only a little of an unread body before closing (gunicorn 64 KiB). So a body
announced (by Content-Length) past the limit is read and thrown away, up to `discard` bytes, and
then answered; past `discard` it is answered at once and the connection closed.

A chunked body carries no length up front: it is read up to the limit and passed on with a
Content-Length, or refused the same way. (Flask alone would cut it at MAX_CONTENT_LENGTH and
hand the app a truncated body.) The API server always sends a Content-Length.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from image_mapper.serving.errors import error_body, too_long

if TYPE_CHECKING:
    from _typeshed.wsgi import InputStream, StartResponse, WSGIApplication, WSGIEnvironment

DISCARD_BYTES = 64 * 1024 * 1024
"""The most of a refused body read so that its 413 reaches the client."""

_CHUNK = 64 * 1024


class BodyLimit:
    """WSGI: answer 413 (JSON) to a request body over `limit` bytes."""

    def __init__(self, app: WSGIApplication, limit: int, *, discard: int = DISCARD_BYTES) -> None:
        self.app = app
        self.limit = limit
        self.discard = discard

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        stream: InputStream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH") or ""
        if length.isdigit():
            size = int(length)
            if size <= self.limit:
                return self.app(environ, start_response)
            drained = size <= self.discard and _discard(stream, size) == size
            return self._refuse(start_response, size, drained=drained)
        if environ.get("wsgi.input_terminated"):
            # Chunked: read it to learn its size, then hand it on with a Content-Length.
            body = _read(stream, self.limit + 1)
            if len(body) > self.limit:
                left = self.discard - len(body)
                drained = left > 0 and _discard(stream, left) < left
                return self._refuse(start_response, None, drained=drained)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)

    def _refuse(
        self, start_response: StartResponse, size: int | None, *, drained: bool
    ) -> Iterable[bytes]:
        body = error_body(413, too_long(self.limit, size))
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if not drained:
            headers.append(("Connection", "close"))
        start_response("413 Request Entity Too Large", headers)
        return [body]


def _chunks(stream: InputStream, size: int) -> Iterator[bytes]:
    """Up to `size` bytes of `stream`; fewer when the body ends or the client stops sending."""
    left = size
    try:
        while left > 0:
            chunk = stream.read(min(_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
    except OSError:
        return


def _read(stream: InputStream, size: int) -> bytes:
    return b"".join(_chunks(stream, size))


def _discard(stream: InputStream, size: int) -> int:
    """Read up to `size` bytes and drop them; how many there were."""
    return sum(len(chunk) for chunk in _chunks(stream, size))
