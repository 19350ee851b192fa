"""The hooks server: the Flask app on waitress, over plain HTTP, stopped gracefully.

Metacontroller calls its hooks over plain HTTP inside the cluster, so this process serves no
TLS. `image-mapper serve-hooks` reads the options (`image_mapper.cli.serve_hooks`) and calls `serve`
with a `HooksConfig`.

On SIGTERM (or SIGINT) the server stops accepting connections, lets calls in flight finish
within the shutdown timeout, and exits 0. Metacontroller retries a hook call that fails, and
the hooks are idempotent, so a call cut off after the timeout costs only a retry.

A body is refused past the app's `MAX_CONTENT_LENGTH` (64 MiB) by waitress itself: when its
Content-Length says so, before any of it is read; a chunked body, once that much has come.
waitress keeps a body over 512 KiB in a file under /tmp (the Deployment's emptyDir) until the
call is answered, so this bounds what one call can put there. waitress's own refusals (413,
malformed HTTP, headers too large) are JSON like the app's.

waitress has no public interface for either a graceful stop or its own error answers, so this
module, and no other, uses these internals of waitress (pinned exactly in requirements.txt and
pyproject.toml; tests/controller/test_waitress_internals.py names each one, so an upgrade that
moves one fails there first):

- the serving loop: `wasyncore.loop`, `wasyncore.close_all`, `wasyncore.dispatcher.close` and
  the listener's `trigger.pull_trigger()` (to wake the loop), `task_dispatcher.shutdown`;
- what is in flight: `HTTPChannel.request`, `.requests`, `.total_outbufs_len`;
- the error answers: the listener's `channel_class`, `HTTPChannel.error_task_class` and
  `ErrorTask` (`execute`, `request.error`, `set_close_on_finish`, `write`).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from time import monotonic
from typing import Any

import waitress
from flask import Flask
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask

from image_mapper.controller.app import create_app
from image_mapper.controller.tokens import Tokens
from image_mapper.serving.errors import ServeError, error_body, too_long

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
"""The longest the serving loop sleeps; `stop()` wakes it at once anyway."""


@dataclass(frozen=True, kw_only=True)
class HooksConfig:
    """How to serve: what `image-mapper serve-hooks` read from its options (which hold the
    defaults, and the environment variables that set them)."""

    host: str
    port: int
    """0 for any free port."""
    threads: int
    token_file: Path | None
    """Require `Authorization: Bearer <token>` on hook calls, the token read from this file, or
    any of the tokens in this folder (a mounted Secret); reloaded when they change."""
    shutdown_timeout: float
    """On SIGTERM, seconds to let calls in flight finish."""
    log_repeat_interval: float = 60.0
    """A refused hook call is logged at most once per this many seconds per reason."""
    cluster_namespace: str = "image-mapper"
    """The project's own namespace: its Namespace records the ClusterImageMaps' decision."""


def serve(config: HooksConfig) -> int:
    """Serve the hooks until SIGTERM or SIGINT; raises ServeError when it cannot start."""
    token = Tokens(config.token_file) if config.token_file is not None else None
    app = create_app({"HOOKS_TOKEN": token,
                      "HOOKS_LOG_REPEAT_INTERVAL": config.log_repeat_interval,
                      "HOOKS_CLUSTER_NAMESPACE": config.cluster_namespace})
    try:
        server = HooksServer(app, host=config.host, port=config.port, threads=config.threads)
    except OSError as error:
        raise ServeError(f"cannot listen on {config.host}:{config.port}: {error}") from None

    def request_stop(signum: int, frame: object) -> None:
        log.info("received %s: shutting down", signal.Signals(signum).name)
        server.stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    for host, port in server.addresses:
        log.info("serving Metacontroller hooks on http://%s:%d (token check %s)", host, port,
                 "on" if token else "off")
    server.serve(shutdown_timeout=config.shutdown_timeout)
    log.info("stopped")
    return 0


class HooksServer:
    """A waitress server whose loop this process runs, so that it can stop gracefully."""

    def __init__(self, app: Flask, *, host: str, port: int, threads: int = 4) -> None:
        self._map: dict[int, Any] = {}
        limit = int(app.config["MAX_CONTENT_LENGTH"])
        self._server = waitress.create_server(
            app, map=self._map, host=host, port=port, threads=threads, ident="image-mapper",
            # waitress refuses a body of this many bytes or more.
            max_request_body_size=limit + 1)
        for listener in self._listeners():
            listener.channel_class = _JSONErrorChannel
        self._stopping = threading.Event()
        # Writing to a listener's trigger pipe wakes the loop at once.
        self._trigger = self._listeners()[0].trigger

    @property
    def addresses(self) -> list[tuple[str, int]]:
        # waitress reports the port as the string getnameinfo returns.
        return [(str(listener.effective_host), int(listener.effective_port))
                for listener in self._listeners()]

    def stop(self) -> None:
        """Ask `serve` to return; safe from a signal handler or another thread."""
        self._stopping.set()
        with contextlib.suppress(OSError):  # already closed: the server has stopped
            self._trigger.pull_trigger()

    def serve(self, *, shutdown_timeout: float = 10.0) -> None:
        """Serve until `stop`, then drain calls in flight and close every socket."""
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=POLL_SECONDS, map=self._map, count=1)
            self._drain(shutdown_timeout)
        finally:
            self._server.task_dispatcher.shutdown(timeout=1)
            wasyncore.close_all(self._map)

    def _drain(self, timeout: float) -> None:
        # Stop accepting, but keep the loop (and its wake-up triggers) running so that
        # answers already being computed are still written out.
        for listener in self._listeners():
            wasyncore.dispatcher.close(listener)
        deadline = monotonic() + timeout
        while self._in_flight() and monotonic() < deadline:
            wasyncore.loop(timeout=0.05, map=self._map, count=1)
        if self._in_flight():
            log.warning("shutdown timeout: dropping calls still in flight")

    def _listeners(self) -> list[Any]:
        return [d for d in self._map.values() if isinstance(d, BaseWSGIServer)]

    def _in_flight(self) -> bool:
        """A call is being received, answered, or written out; idle keep-alives don't count."""
        return any(
            isinstance(channel, HTTPChannel)
            and (channel.request is not None or channel.requests or channel.total_outbufs_len)
            for channel in list(self._map.values())
        )


class _JSONErrorTask(ErrorTask):  # type: ignore[misc]
    """waitress's answer to a request it refuses itself, as JSON like the app's errors."""

    def execute(self) -> None:
        error = self.request.error
        if error.code == 413:
            message = too_long(self.channel.server.adj.max_request_body_size - 1)
        else:
            message = f"{error.reason}: {error.body}"
        body = error_body(error.code, message)
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _JSONErrorChannel(HTTPChannel):  # type: ignore[misc]
    error_task_class = _JSONErrorTask
