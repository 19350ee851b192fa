"""The webhook server: the admission app over HTTPS (SPEC 4, 5).

`image-mapper serve-webhook` reads the options (`hooks.cli.serve_webhook`) and calls `serve`
with a `WebhookConfig`. Gunicorn, embedded, with one gthread worker: the worker owns the view of
the ImageMaps (a watcher thread) and the TLS rotation thread, and its threads answer requests.

- TLS: gunicorn's gthread worker asks the `ssl_context` hook for a context on every new
  connection, and its default factory re-reads the certificate files each time. The hook here
  (`hooks.webhook.tls.reloader.CertificateReloader`) builds a context only when the files
  change and keeps the previous one while a rotation is half-written.
- Shutdown: on SIGTERM the worker first reports not ready for `--shutdown-delay` seconds while
  still serving (endpoints drop the pod meanwhile), then gunicorn stops accepting, finishes
  in-flight requests and closes kept-alive connections, within `--graceful-timeout`.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from hooks.engine.mapping import Mapping
from hooks.serving.errors import ServeError, describe_error
from hooks.webhook.app import create_app
from hooks.webhook.gunicorn_logs import GunicornLogger
from hooks.webhook.kube import (
    ApiClient,
    KubernetesTLSStore,
    close,
    imagemap_source,
    kube_client,
    namespace_source,
)
from hooks.webhook.tls.bootstrap import TLSBootstrap
from hooks.webhook.tls.certificates import service_dns_names
from hooks.webhook.tls.reloader import CertificateReloader
from hooks.webhook.view import StaticView, View
from hooks.webhook.watcher import ClusterWatch

log = logging.getLogger(__name__)


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


# --- the worker process --------------------------------------------------------------------


@dataclass
class Components:
    """What the worker process runs besides the server: built after the fork."""

    stoppers: list[Callable[[], object]] = field(default_factory=list)

    def stop(self) -> None:
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception:  # stopping is best effort
                log.exception("error while stopping")
        self.stoppers.clear()


class WebhookServer(BaseApplication):  # type: ignore[misc]  # gunicorn has no type hints
    """Gunicorn with the webhook app; `build` makes the app in the worker, after the fork."""

    def __init__(
        self,
        options: dict[str, Any],
        build: Callable[[WebhookServer], Flask],
        *,
        shutdown_delay: float,
    ) -> None:
        self.options = options
        self.build = build
        self.shutdown_delay = shutdown_delay
        self.shutting_down = threading.Event()
        self.components = Components()
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.build(self)


class DrainingWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn has no type hints
    """gthread, but SIGTERM first turns /readyz to 503 for the shutdown delay."""

    def handle_exit(self, sig: int, frame: object) -> None:
        server: WebhookServer = self.app
        if server.shutting_down.is_set():
            return
        server.shutting_down.set()
        self.log.info("SIGTERM: not ready; serving for %.1fs more, then stopping",
                      server.shutdown_delay)
        timer = threading.Timer(server.shutdown_delay, ThreadWorker.handle_exit,
                                args=(self, sig, None))
        timer.daemon = True
        timer.start()


def _worker_exit(_arbiter: object, worker: Any) -> None:
    worker.app.components.stop()


# --- wiring --------------------------------------------------------------------------------


def _client(config: WebhookConfig) -> ApiClient:
    return kube_client(kubeconfig=config.kubeconfig, in_cluster=config.in_cluster)


def _bootstrap(config: WebhookConfig, api_client: ApiClient) -> TLSBootstrap:
    store = KubernetesTLSStore(api_client, namespace=config.namespace,
                               secret_name=config.tls_secret,
                               webhook_configuration=config.webhook_configuration)
    names = [*service_dns_names(config.service, config.namespace), *config.tls_dns_names]
    return TLSBootstrap(store, Path(config.cert_file), Path(config.key_file), names)


def _builder(config: WebhookConfig) -> Callable[[WebhookServer], Flask]:
    def build(server: WebhookServer) -> Flask:
        view: View
        if config.static is not None:
            view = StaticView(config.static)
        else:
            api_client = _client(config)
            watcher = ClusterWatch(imagemap_source(api_client), namespace_source(api_client),
                                   log_repeat_interval=config.log_repeat_interval)
            watcher.start()
            server.components.stoppers.append(partial(close, api_client))
            server.components.stoppers.append(watcher.stop)
            view = watcher.view
        if config.bootstrap_tls:
            api_client = _client(config)
            bootstrap = _bootstrap(config, api_client)
            stopping = threading.Event()
            thread = threading.Thread(target=bootstrap.run, name="tls-rotation", daemon=True,
                                      args=(stopping, config.tls_check_interval))
            thread.start()
            server.components.stoppers.append(partial(close, api_client))
            server.components.stoppers.append(stopping.set)
        return create_app(view=view, shutting_down=server.shutting_down)

    return build


def gunicorn_options(config: WebhookConfig) -> dict[str, Any]:
    reloader = CertificateReloader(config.cert_file, config.key_file)
    host, port = config.host, config.port
    return {
        "bind": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"],
        "workers": 1,  # the view of the ImageMaps lives in the worker: one watch per pod
        "worker_class": DrainingWorker,
        "threads": config.threads,
        "certfile": config.cert_file,
        "keyfile": config.key_file,
        "ssl_context": lambda _config, default_factory: reloader.context(default_factory),
        "keepalive": 30,  # the API server reuses connections to webhooks
        "timeout": 30,
        "graceful_timeout": math.ceil(config.shutdown_delay + config.graceful_timeout),
        "accesslog": "-" if config.access_log else None,
        "errorlog": "-",
        "loglevel": config.log_level,
        "logger_class": GunicornLogger,  # through our handler (text or JSON), no config dump
        "control_socket_disable": True,
        "proc_name": "image-mapper-webhook",
        "worker_exit": _worker_exit,
    }


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
    server = WebhookServer(gunicorn_options(config), _builder(config),
                           shutdown_delay=config.shutdown_delay)
    try:
        server.run()
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    return 0
