"""One way to wait: poll a check until it answers.

Tests wait for things that happen in other threads and processes (a watch, a server, a
controller): never for a fixed time, always for the thing itself, up to a deadline that says
what was awaited when it passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T], *, timeout: float = 60.0,
             interval: float = 0.1) -> T:
    """Call `check` every `interval` seconds until it returns something true, and return that
    (so `check` may return what it found: an object, a list of log lines). An exception from
    `check` counts as "not yet" (the thing awaited may not exist yet); the last one is named
    when `timeout` seconds pass, in a TimeoutError that says what was awaited. A check that
    knows the wait is in vain (the server awaited has exited) calls `pytest.fail`, which ends
    it at once (it raises a BaseException)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = check()
        except Exception as error:  # retried until the deadline
            last_error = error
        else:
            if result:
                return result
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}{detail}")
        time.sleep(interval)
