"""Errors as one log line (`image_mapper.serving.errors`): what a repeated error is, and how it
reads."""

from __future__ import annotations

import socket

import urllib3
from kubernetes.client import ApiException
from urllib3.exceptions import MaxRetryError

from image_mapper.serving.errors import describe_error, error_kind


def _refused(port: int) -> MaxRetryError:
    """What the Kubernetes client raises when nothing listens (it retries 3 times)."""
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        try:
            urllib3.PoolManager(retries=3).request(
                "GET", f"http://127.0.0.1:{sock.getsockname()[1]}/api/v1/namespaces?{port}")
        except MaxRetryError as error:
            return error
    raise AssertionError("a port nobody listens on answered")


def test_an_api_error_is_its_status_and_reason_in_one_line() -> None:
    error = ApiException(status=403, reason="Forbidden")
    error.body = '{"kind":"Status",\n"message":"namespaces is forbidden"}'
    assert describe_error(error) == "HTTP 403 Forbidden"
    assert error_kind(error) == "HTTP 403"


def test_urllib3_retries_are_told_by_the_last_error() -> None:
    description = describe_error(_refused(1))
    assert description.startswith("NewConnectionError: ")
    assert description.endswith("Connection refused")
    assert "Max retries" not in description
    # Two refusals are one kind of error, whatever their details.
    assert error_kind(_refused(1)) == error_kind(_refused(2)) == "NewConnectionError"


def test_any_other_error_is_its_type_and_message_on_one_line() -> None:
    assert describe_error(ValueError("two\nlines")) == "ValueError: two lines"
    assert error_kind(ValueError("x")) == "ValueError"
