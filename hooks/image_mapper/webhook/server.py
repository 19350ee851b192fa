"""The webhook server: the admission app over HTTPS (design.md#admission, #http).

`image-mapper serve-webhook` reads the options (`image_mapper.cli.serve_webhook`) and calls `serve`
with a `WebhookConfig`. One process: uvicorn (httptools' C parser, uvloop's event loop, TLS by
the `ssl` module) serves the Flask app (`image_mapper.webhook.app`), every route one way, through
`image_mapper.serving.wsgi_bridge` (the body read on the loop, the app called on a thread of a
pool of up to `APP_THREADS`, or on the loop itself while no request can block: no namespace
has a pending ImageMap); beside it run the view of the ImageMaps (a watcher thread) and
the TLS rotation thread. Only uvicorn's public settings are used. Why this stack:
docs/benchmarks.md.

- TLS: uvicorn's `ssl_context_factory` hands it the listening context, whose ClientHello
  callback gives each new connection the current context of
  `image_mapper.webhook.tls.reloader.CertificateReloader`, which builds one only when the files
  change and keeps the previous one while a rotation is half-written.
- Shutdown: on SIGTERM (or SIGINT) the app first reports not ready for `--shutdown-delay`
  seconds while still serving (endpoints drop the pod meanwhile), every answer then carrying
  `Connection: close`; then uvicorn stops accepting and finishes in-flight requests within
  `--graceful-timeout` (its `timeout_graceful_shutdown`). uvicorn runs in a thread of its own
  and is stopped by its `should_exit`; the signals are this process's, handled in the main
  thread. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import uvicorn
from flask import Flask

from image_mapper.engine.mapping import Mapping
from image_mapper.serving.errors import ServeError, describe_error
from image_mapper.serving.wsgi_bridge import WSGIBridge
from image_mapper.webhook.app import (
    DECISION_WAIT_SECONDS,
    MAX_BODY_BYTES,
    Undecided,
    create_app,
    may_block,
)
from image_mapper.webhook.kube import (
    ApiClient,
    KubernetesTLSStore,
    close,
    clusterimagemap_source,
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
                               clusterimagemaps=clusterimagemap_source(api_client),
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


# --- the server ---------------------------------------------------------------------------


APP_THREADS = 400
"""The most requests the app answers at once, each on a thread of the bridge's pool, started
as requests need them. A request the app holds (an admission waiting a few seconds for a
pending ImageMap's decision) keeps its thread and no other: with hundreds of them waiting,
the rest are still answered. Past this many at once, requests queue for a thread."""


def bridge(app: Flask) -> WSGIBridge:
    """The ASGI app the server runs: every request to `app`, on the pool, or on the loop while
    the app says none of its requests can block (`may_block`)."""
    return WSGIBridge(app, threads=APP_THREADS, limit=MAX_BODY_BYTES, may_block=may_block(app))


def uvicorn_config(config: WebhookConfig, app: WSGIBridge,
                   context: ssl.SSLContext | None) -> uvicorn.Config:
    """uvicorn's settings; `context` (None: plain HTTP, for tests) is the listening SSL
    context, whose ClientHello callback serves the current certificate."""
    return uvicorn.Config(
        app,
        http="httptools",
        loop="uvloop",
        lifespan="off",
        interface="asgi3",
        log_config=None,  # the command's logging, not uvicorn's
        log_level=config.log_level,
        access_log=config.access_log,
        server_header=False,
        proxy_headers=False,  # the API server calls the webhook directly, through no proxy
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=max(1, round(config.graceful_timeout)),
        ssl_context_factory=None if context is None else (lambda _config, _default: context),
    )


def listen(host: str, port: int) -> socket.socket:
    """The listening socket; ServeError when the address cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as error:
        raise ServeError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


FIRST_REQUEST_GRACE_SECONDS = 1.0
"""Between closing the listener and stopping: a client that connected just before the close
sends its request within this time."""


def stop_accepting(server: uvicorn.Server) -> None:
    """Close uvicorn's listeners, from any thread, while its connections keep being served.

    uvicorn has no public call for this step of its shutdown; `Server.servers` (the asyncio
    servers it listens with, set by its startup) is the one internal used, named by
    tests/webhook/test_serve_tls.py and held by the exact uvicorn pin. Closing an asyncio
    server twice is harmless, so uvicorn's own shutdown can close them again."""
    for listener in list(getattr(server, "servers", [])):
        listener.get_loop().call_soon_threadsafe(listener.close)


def run_until_signalled(server: uvicorn.Server, sock: socket.socket, *,
                        shutdown_delay: float, shutting_down: threading.Event) -> bool:
    """Run `server` on `sock` in a thread until SIGTERM or SIGINT; then `shutting_down` is set
    for `shutdown_delay` seconds, still serving, before the server stops. Whether it started."""
    signals: queue.SimpleQueue[int] = queue.SimpleQueue()
    previous = {sig: signal.signal(sig, lambda number, _frame: signals.put(number))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="server")
    thread.start()
    try:
        stop_at: float | None = None
        closed, exit_at = False, 0.0
        while thread.is_alive():
            try:
                number = signals.get(timeout=0.1)
            except queue.Empty:
                number = None
            if number is not None and stop_at is None:
                stop_at = time.monotonic() + shutdown_delay
                shutting_down.set()
                log.info("%s: not ready; serving for %.1fs more, then stopping",
                         signal.Signals(number).name, shutdown_delay)
            elif number == signal.SIGINT:  # a second Ctrl-C: stop now
                server.should_exit = server.force_exit = True
            if stop_at is not None and time.monotonic() >= stop_at and not closed:
                # Stop accepting first, and give connections already accepted the time to
                # send their first request: uvicorn's shutdown closes a connection with no
                # request in progress, which drops a request still on its way.
                stop_accepting(server)
                closed = True
                exit_at = time.monotonic() + FIRST_REQUEST_GRACE_SECONDS
            if closed and time.monotonic() >= exit_at:
                server.should_exit = True
    finally:
        if thread.is_alive():  # an error here: stop the server before leaving
            server.should_exit = True
            thread.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return server.started


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
    app: WSGIBridge | None = None
    try:
        view = start_components(config, components)
        app = bridge(create_app({"DECISION_WAIT_SECONDS": config.decision_wait,
                                 "UNDECIDED": config.undecided},
                                view=view, shutting_down=shutting_down))
        settings = uvicorn_config(config, app, context)
        settings.load()
        server = uvicorn.Server(settings)
        host, port = sock.getsockname()[:2]
        log.info("serving https://%s:%d", f"[{host}]" if ":" in host else host, port)
        log.debug("settings: ImageMaps %s; certificate %s, key %s (TLS bootstrap %s); "
                  "shutdown delay %gs, graceful timeout %gs; access log %s",
                  "from files" if config.static is not None else "watched",
                  config.cert_file, config.key_file, "on" if config.bootstrap_tls else "off",
                  config.shutdown_delay, config.graceful_timeout,
                  "on" if config.access_log else "off")
        started = run_until_signalled(server, sock, shutdown_delay=config.shutdown_delay,
                                      shutting_down=shutting_down)
    finally:
        components.stop()
        if app is not None:
            app.close()
        sock.close()
    return 0 if started else 1
