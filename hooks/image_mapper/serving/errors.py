"""Errors as both servers report them: to an HTTP client, in a log line, to whoever starts them.

Every error body is `{"error": MESSAGE, "code": STATUS}`, compact JSON: the message names the
problem for a person, the code repeats the HTTP status for a client that only keeps the body
(the API server quotes a webhook's body in the error it returns to `kubectl`).
"""

from __future__ import annotations

import json
from typing import TypedDict

from flask import Response
from werkzeug.exceptions import HTTPException


class ErrorBody(TypedDict):
    error: str
    code: int


class ServeError(Exception):
    """A server cannot start: the message, one line, says why and what would fix it."""


def error_body(status: int, message: str) -> bytes:
    body: ErrorBody = {"error": message, "code": status}
    return json.dumps(body, separators=(",", ":")).encode()


def json_error(status: int, message: str) -> Response:
    return Response(error_body(status, message), status=status, mimetype="application/json")


def http_error(error: HTTPException) -> Response:
    """404, 405, 413...: Werkzeug's own description, as JSON like every other answer."""
    response = json_error(error.code or 500, error.description or error.name)
    for name, value in error.get_headers():
        if name.lower() == "allow":
            response.headers[name] = value
    return response


def too_long(limit: int, size: int | None = None) -> str:
    """The 413 message; with `size`, the body's announced length."""
    if size is None:
        return f"the request body is longer than the limit of {limit} bytes"
    return f"the request body has {size} bytes, more than the limit of {limit} bytes"


def describe_error(error: BaseException) -> str:
    """One line for a log or an error message: an API error as its HTTP status and reason.

    The Kubernetes client's ApiException prints the whole response, headers and body, over
    several lines; that belongs to the API server's audit log, not to ours. urllib3's
    "max retries exceeded" is told by the error that it retried.
    """
    error = _cause(error)
    status = getattr(error, "status", None)
    if isinstance(status, int):
        reason = getattr(error, "reason", None)
        return f"HTTP {status} {reason or ''}".strip()
    return " ".join(f"{type(error).__name__}: {error}".split())


def error_kind(error: BaseException) -> str:
    """What kind of error this is, without the details that change from one to the next (a
    connection's address, a request id): `HTTP 403` for an API error, else the type's name.
    Repeated errors of one kind are one kind of log line."""
    error = _cause(error)
    status = getattr(error, "status", None)
    return f"HTTP {status}" if isinstance(status, int) else type(error).__name__


def _cause(error: BaseException) -> BaseException:
    """The error a wrapper names as its `reason` (urllib3's MaxRetryError: the last try's)."""
    for _ in range(5):
        reason = getattr(error, "reason", None)
        if not isinstance(reason, BaseException):
            break
        error = reason
    return error
