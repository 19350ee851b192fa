"""The webhook server: the admission app over HTTPS (design.md#admission, #http).

`image-mapper serve-webhook` reads the options (`image_mapper.cli.serve_webhook`) and calls `serve`
with a `WebhookConfig`. One process: uvicorn (httptools' C parser, uvloop's event loop, TLS by
the `ssl` module) serves the ASGI app (`image_mapper.webhook.asgi`), which answers `POST /mutate` on
the loop and hands everything else to the Flask app; beside it run the view of the ImageMaps
(a watcher thread) and the TLS rotation thread. Why this stack: README, "Benchmarks".

- TLS: the listening context's ClientHello callback gives each new connection the current
  context of `image_mapper.webhook.tls.reloader.CertificateReloader`, which builds one only when the
  files change and keeps the previous one while a rotation is half-written.
- Shutdown: on SIGTERM (or SIGINT) the server first reports not ready for `--shutdown-delay`
  seconds while still serving (endpoints drop the pod meanwhile), then stops accepting,
  finishes in-flight requests and closes kept-alive connections, within `--graceful-timeout`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any, cast

import uvicorn
from flask import Flask
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from image_mapper.engine.mapping import Mapping
from image_mapper.serving.errors import ServeError, describe_error
from image_mapper.webhook.app import (
    DECISION_WAIT_SECONDS,
    ENDPOINT,
    MAX_BODY_BYTES,
    Undecided,
    create_app,
)
from image_mapper.webhook.asgi import WebhookASGI
from image_mapper.webhook.kube import (
    ApiClient,
    KubernetesTLSStore,
    close,
    imagemap_source,
    kube_client,
    namespace_source,
)
from image_mapper.webhook.tls.bootstrap import TLSBootstrap
from image_mapper.webhook.tls.certificates import service_dns_names
from image_mapper.webhook.tls.reloader import CertificateReloader, serving_context
from image_mapper.webhook.view import StaticView, View
from image_mapper.webhook.watcher import ClusterWatch

log = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 30
"""How long an idle connection is kept: the API server reuses connections to webhooks."""

CLOSE_NOTIFY_SECONDS = 1.0
"""While stopping, how long a closed connection waits for the client's TLS close_notify."""

FIRST_REQUEST_GRACE_SECONDS = 2.0
"""While stopping, how long a connection that has not sent its first request yet is given to
send it (Go's server gives such connections 5 s)."""


@dataclass(frozen=True, kw_only=True)
class WebhookConfig:
    """How to serve: what `image-mapper serve-webhook` read from its options (which hold the
    defaults, and the environment variables that set them)."""

    host: str
    port: int
    cert_file: str
    """The serving certificate, PEM; reloaded when it changes."""
    key_file: str
    static: Mapping | None
    """One mapping for every namespace instead of watching the cluster (development)."""
    kubeconfig: str | None
    in_cluster: bool
    bootstrap_tls: bool
    """Create the CA and serving certificate Secret if absent, write the files from it, set the
    webhook configuration's caBundle, rotate before expiry."""
    tls_secret: str
    namespace: str
    """The webhook's namespace, of the Secret and the Service."""
    service: str
    tls_dns_names: Sequence[str]
    """Names for the certificate besides the Service's."""
    webhook_configuration: str
    tls_check_interval: float
    threads: int
    shutdown_delay: float
    """Seconds to report not ready, still serving, after SIGTERM."""
    graceful_timeout: float
    """Seconds then left for in-flight requests."""
    access_log: bool
    log_level: str
    log_repeat_interval: float = 60.0
    """A failing list or watch is logged at most once per kind of error per this many seconds."""
    decision_wait: float = DECISION_WAIT_SECONDS
    """Seconds a pod that a pending ImageMap could change waits for its decision."""
    undecided: Undecided = "refuse"
    """What becomes of such a pod after the wait: refused, or admitted with a warning."""


# --- what runs beside the server ----------------------------------------------------------


@dataclass
class Components:
    """The watch and the TLS rotation: started before serving, stopped after."""

    stoppers: list[Callable[[], object]] = field(default_factory=list)

    def stop(self) -> None:
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception:  # stopping is best effort
                log.exception("error while stopping")
        self.stoppers.clear()


def _client(config: WebhookConfig) -> ApiClient:
    return kube_client(kubeconfig=config.kubeconfig, in_cluster=config.in_cluster)


def _bootstrap(config: WebhookConfig, api_client: ApiClient) -> TLSBootstrap:
    store = KubernetesTLSStore(api_client, namespace=config.namespace,
                               secret_name=config.tls_secret,
                               webhook_configuration=config.webhook_configuration)
    names = [*service_dns_names(config.service, config.namespace), *config.tls_dns_names]
    return TLSBootstrap(store, Path(config.cert_file), Path(config.key_file), names)


def start_components(config: WebhookConfig, components: Components) -> View:
    """Start the view of the ImageMaps (a watch, unless `-f`) and the TLS rotation."""
    view: View
    if config.static is not None:
        view = StaticView(config.static)
    else:
        api_client = _client(config)
        watcher = ClusterWatch(imagemap_source(api_client), namespace_source(api_client),
                               log_repeat_interval=config.log_repeat_interval)
        watcher.start()
        components.stoppers.append(partial(close, api_client))
        components.stoppers.append(watcher.stop)
        view = watcher.view
    if config.bootstrap_tls:
        api_client = _client(config)
        bootstrap = _bootstrap(config, api_client)
        stopping = threading.Event()
        thread = threading.Thread(target=bootstrap.run, name="tls-rotation", daemon=True,
                                  args=(stopping, config.tls_check_interval))
        thread.start()
        components.stoppers.append(partial(close, api_client))
        components.stoppers.append(stopping.set)
    return view


# --- the server ----------------------------------------------------------------------------


def asgi_app(app: Flask) -> WebhookASGI:
    """The ASGI app the server runs: `/mutate` straight to the endpoint, the rest to `app`."""
    return WebhookASGI(app.wsgi_app, app.extensions[ENDPOINT], limit=MAX_BODY_BYTES)


class DrainingProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, drained without dropping a request.

    - From SIGTERM on (`draining`), every answer carries `Connection: close`: clients move to
      new connections (to other replicas, once endpoints drop this one) while this one still
      answers, instead of reusing a connection the stop will close under them.
    - At the stop, uvicorn closes every connection between requests at once; a connection
      that has just finished its TLS handshake may have its first request on the way, so it
      gets `FIRST_REQUEST_GRACE_SECONDS` to send it instead (and is closed after its answer).
    """

    graced = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = cast(DrainingState, self.server_state)
        # Made at accept; `connection_made` comes once the TLS handshake is done.
        self.accepted_at = time.monotonic()
        self.state.handshaking.add(self)

    def connection_made(self, transport: Any) -> None:
        self.state.handshaking.discard(self)
        super().connection_made(transport)
        if self.state.stopping:  # accepted before the listener closed
            self.shutdown()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.state.draining:
            self.cycle.keep_alive = False

    def shutdown(self) -> None:
        self.state.stopping = True
        if self.cycle is not None or self.graced:
            super().shutdown()
            return
        self.graced = True
        self.loop.call_later(FIRST_REQUEST_GRACE_SECONDS, self._close_if_silent)

    def _close_if_silent(self) -> None:
        if self.cycle is None:
            self.transport.close()


class DrainingState(ServerState):
    """uvicorn's state shared by the server and its connections, and the stop's."""

    def __init__(self) -> None:
        super().__init__()
        self.draining = False
        """From SIGTERM on: answers close their connections."""
        self.stopping = False
        """The listener is closed."""
        self.handshaking: weakref.WeakSet[DrainingProtocol] = weakref.WeakSet()
        """Connections accepted and still in their TLS handshake (a failed one is dropped
        without `connection_made`: hence weak references)."""


def uvicorn_config(config: WebhookConfig, app: WebhookASGI) -> uvicorn.Config:
    """uvicorn's settings; TLS is set on the listening socket's server by `serve`."""
    return uvicorn.Config(
        app,
        http=DrainingProtocol,
        loop="uvloop",
        lifespan="off",
        interface="asgi3",
        log_config=None,  # the command's logging, not uvicorn's
        log_level=config.log_level,
        access_log=config.access_log,
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=max(1, round(config.graceful_timeout)),
    )


class DrainingServer(uvicorn.Server):
    """uvicorn, but SIGTERM first turns /readyz to 503 for the shutdown delay."""

    def __init__(self, config: uvicorn.Config, *, shutdown_delay: float,
                 shutting_down: threading.Event) -> None:
        super().__init__(config)
        self.server_state: DrainingState = DrainingState()
        self.shutdown_delay = shutdown_delay
        self.shutting_down = shutting_down

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.shutting_down.is_set():
            if sig == signal.SIGINT:  # a second Ctrl-C: stop now
                self.should_exit = self.force_exit = True
            return
        self.shutting_down.set()
        self.server_state.draining = True
        log.info("%s: not ready; serving for %.1fs more, then stopping",
                 signal.Signals(sig).name, self.shutdown_delay)
        timer = threading.Timer(self.shutdown_delay, self._stop)
        timer.daemon = True
        timer.start()

    def _stop(self) -> None:
        self.should_exit = True

    async def _wait_tasks_to_complete(self) -> None:
        # Connections accepted before the listener closed may still be in their handshake,
        # not yet among uvicorn's connections: let them finish it (and then their request).
        deadline = time.monotonic() + FIRST_REQUEST_GRACE_SECONDS
        while time.monotonic() < deadline and any(
            protocol.accepted_at > time.monotonic() - FIRST_REQUEST_GRACE_SECONDS
            for protocol in self.server_state.handshaking
        ):
            await asyncio.sleep(0.02)
        # A closed TLS connection waits for the client's close_notify (uvloop: up to 30 s); an
        # idle client, e.g. a pooled connection, never sends it. Past a second, drop it.
        closing: dict[DrainingProtocol, float] = {}
        while self.server_state.connections and not self.force_exit:
            now = time.monotonic()
            for connection in list(self.server_state.connections):
                if (isinstance(connection, DrainingProtocol) and connection.transport.is_closing()
                        and now - closing.setdefault(connection, now) > CLOSE_NOTIFY_SECONDS):
                    connection.transport.abort()
            await asyncio.sleep(0.1)
        await super()._wait_tasks_to_complete()


def listen(host: str, port: int) -> socket.socket:
    """The listening socket; ServeError when the address cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as error:
        raise ServeError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def serve(config: WebhookConfig) -> int:
    """Serve until SIGTERM; the exit status. Raises ServeError when it cannot start."""
    if config.bootstrap_tls:
        api_client = _client(config)
        try:
            _bootstrap(config, api_client).ensure()
        except Exception as error:
            raise ServeError(f"TLS bootstrap failed: {describe_error(error)}") from None
        finally:
            close(api_client)
    for option, path in (("--cert-file", config.cert_file), ("--key-file", config.key_file)):
        if not os.path.isfile(path):
            raise ServeError(f"{option} {path}: no such file; mount a certificate there or "
                             "pass --bootstrap-tls")
    try:
        context = serving_context(CertificateReloader(config.cert_file, config.key_file))
    except (OSError, ssl.SSLError, ValueError) as error:
        raise ServeError(f"{config.cert_file} and {config.key_file} do not load as a "
                         f"certificate and its key: {error}") from None
    sock = listen(config.host, config.port)
    components = Components()
    shutting_down = threading.Event()
    try:
        view = start_components(config, components)
        app = create_app({"DECISION_WAIT_SECONDS": config.decision_wait,
                          "UNDECIDED": config.undecided},
                         view=view, shutting_down=shutting_down)
        settings = uvicorn_config(config, asgi_app(app))
        settings.load()
        settings.ssl = context
        server = DrainingServer(settings, shutdown_delay=config.shutdown_delay,
                                shutting_down=shutting_down)
        host, port = sock.getsockname()[:2]
        log.info("serving https://%s:%d", f"[{host}]" if ":" in host else host, port)
        log.debug("settings: ImageMaps %s; certificate %s, key %s (TLS bootstrap %s); "
                  "shutdown delay %gs, graceful timeout %gs; access log %s",
                  "from files" if config.static is not None else "watched",
                  config.cert_file, config.key_file, "on" if config.bootstrap_tls else "off",
                  config.shutdown_delay, config.graceful_timeout,
                  "on" if config.access_log else "off")
        server.run(sockets=[sock])
    finally:
        components.stop()
        sock.close()
    return 0
