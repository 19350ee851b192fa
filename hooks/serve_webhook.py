"""`image-mapper serve-webhook`: the admission webhook over HTTPS (SPEC 4, 5, 6).

Gunicorn, embedded, with one gthread worker: the worker owns the view of the ImageMaps (a
watcher thread) and the TLS rotation thread, and its threads answer requests.

- TLS: gunicorn's gthread worker asks the `ssl_context` hook for a context on every new
  connection, and its default factory re-reads the certificate files each time. The hook here
  (`hooks.tls.CertificateReloader`) builds a context only when the files change and keeps the
  previous one while a rotation is half-written.
- Shutdown: on SIGTERM the worker first reports not ready for `--shutdown-delay` seconds while
  still serving (endpoints drop the pod meanwhile), then gunicorn stops accepting, finishes
  in-flight requests and closes kept-alive connections, within `--graceful-timeout`.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from hooks import options
from hooks.cli import CommandError
from hooks.documents import load_imagemaps
from hooks.engine.acceptance import decide
from hooks.engine.imagemap import read_imagemaps
from hooks.engine.mapping import Mapping
from hooks.kube import ApiClient, KubernetesImageMapSource, KubernetesTLSStore, close, kube_client
from hooks.state import ImageMapWatcher, StaticView, View
from hooks.tls import CertificateReloader, TLSBootstrap, describe_error, service_dns_names
from hooks.webhook_app import create_app

log = logging.getLogger(__name__)

DEFAULT_TLS_DIR = "/run/image-mapper/tls"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"IMAGE_MAPPER_{name}", default)


def _env_flag(name: str) -> bool:
    return _env(name, "").lower() in ("1", "true", "yes")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Serve the pod admission webhook over HTTPS. Every option falls back to the "
        "environment variable named in its help.")
    add = parser.add_argument
    add("--host", default=_env("WEBHOOK_HOST", "0.0.0.0"),  # noqa: S104 - a pod's address
        help="address to listen on (IMAGE_MAPPER_WEBHOOK_HOST; default 0.0.0.0)")
    # String defaults go through `type` too, so a bad environment value is a usage error.
    add("--port", type=options.port, default=_env("WEBHOOK_PORT", "8443"),
        help="port to listen on (IMAGE_MAPPER_WEBHOOK_PORT; default 8443)")
    add("--cert-file", default=_env("CERT_FILE", f"{DEFAULT_TLS_DIR}/tls.crt"),
        help="serving certificate, PEM; reloaded when it changes (IMAGE_MAPPER_CERT_FILE)")
    add("--key-file", default=_env("KEY_FILE", f"{DEFAULT_TLS_DIR}/tls.key"),
        help="its private key, PEM (IMAGE_MAPPER_KEY_FILE)")
    tls = parser.add_argument_group("TLS bootstrap (no cert-manager needed)")
    tls.add_argument(
        "--bootstrap-tls", action="store_true", default=_env_flag("BOOTSTRAP_TLS"),
        help="create a CA and serving certificate Secret if absent, write --cert-file and "
             "--key-file from it, set the webhook configuration's caBundle, rotate before "
             "expiry (IMAGE_MAPPER_BOOTSTRAP_TLS=true)")
    tls.add_argument("--tls-secret", default=_env("TLS_SECRET", "image-mapper-webhook-tls"),
                     help="the Secret's name (IMAGE_MAPPER_TLS_SECRET)")
    tls.add_argument(
        "--namespace", default=_env("NAMESPACE", os.environ.get("POD_NAMESPACE", "image-mapper")),
        help="the webhook's namespace, of the Secret and the Service "
             "(IMAGE_MAPPER_NAMESPACE, else POD_NAMESPACE; default image-mapper)")
    tls.add_argument("--service", default=_env("WEBHOOK_SERVICE", "image-mapper-webhook"),
                     help="the webhook's Service, named in the certificate "
                          "(IMAGE_MAPPER_WEBHOOK_SERVICE)")
    tls.add_argument("--tls-dns-name", action="append", default=[], metavar="NAME",
                     help="another name for the certificate besides the Service's (repeatable; "
                          "for a webhook the API server reaches by URL)")
    tls.add_argument(
        "--webhook-configuration", default=_env("WEBHOOK_CONFIGURATION", "image-mapper"),
        help="the MutatingWebhookConfiguration whose caBundle to set "
             "(IMAGE_MAPPER_WEBHOOK_CONFIGURATION)")
    tls.add_argument("--tls-check-interval", type=options.positive_seconds,
                     default=_env("TLS_CHECK_INTERVAL", "60"),
                     help="seconds between checks of the Secret (IMAGE_MAPPER_TLS_CHECK_INTERVAL)")
    cluster = parser.add_argument_group("cluster access")
    source = cluster.add_mutually_exclusive_group()
    source.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"),
                        help="kubeconfig file (KUBECONFIG; default: in-cluster when running "
                             "in a pod, else ~/.kube/config)")
    source.add_argument("--in-cluster", action="store_true",
                        help="use the pod's ServiceAccount")
    source.add_argument("-f", "--filename", action="append", metavar="PATH",
                        help="serve these ImageMaps (files or folders) for every namespace "
                             "instead of watching the cluster: for development")
    server = parser.add_argument_group("server")
    server.add_argument("--threads", type=options.positive_int,
                        default=_env("WEBHOOK_THREADS", "8"),
                        help="request threads (IMAGE_MAPPER_WEBHOOK_THREADS; default 8)")
    server.add_argument("--shutdown-delay", type=options.seconds,
                        default=_env("SHUTDOWN_DELAY", "5"),
                        help="seconds to report not ready, still serving, after SIGTERM "
                             "(IMAGE_MAPPER_SHUTDOWN_DELAY; default 5)")
    server.add_argument("--graceful-timeout", type=options.seconds,
                        default=_env("GRACEFUL_TIMEOUT", "20"),
                        help="seconds then left for in-flight requests "
                             "(IMAGE_MAPPER_GRACEFUL_TIMEOUT; default 20)")
    server.add_argument("--access-log", action="store_true", default=_env_flag("ACCESS_LOG"),
                        help="log every request (IMAGE_MAPPER_ACCESS_LOG=true)")
    server.add_argument("--log-level", default=_env("LOG_LEVEL", "info"),
                        choices=("debug", "info", "warning", "error"),
                        help="(IMAGE_MAPPER_LOG_LEVEL; default info)")


# --- the worker process --------------------------------------------------------------------


@dataclass
class Components:
    """What the worker process runs besides the server: built after the fork."""

    stoppers: list[Callable[[], None]] = field(default_factory=list)

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


def _static_mapping(paths: list[str]) -> Mapping:
    decision = decide(read_imagemaps(load_imagemaps(paths)))
    for verdict in decision.verdicts.values():
        if not verdict.ready:
            log.warning("ImageMap %s: %s: %s", verdict.name, verdict.reason, verdict.message)
    return decision.mapping


def _bootstrap(args: argparse.Namespace, api_client: ApiClient) -> TLSBootstrap:
    store = KubernetesTLSStore(api_client, namespace=args.namespace, secret_name=args.tls_secret,
                               webhook_configuration=args.webhook_configuration)
    names = [*service_dns_names(args.service, args.namespace), *args.tls_dns_name]
    return TLSBootstrap(store, Path(args.cert_file), Path(args.key_file), names)


def _builder(args: argparse.Namespace, static: Mapping | None) -> Callable[[WebhookServer], Flask]:
    def build(server: WebhookServer) -> Flask:
        view: View
        if static is not None:
            view = StaticView(static)
        else:
            api_client = kube_client(args)
            watcher = ImageMapWatcher(KubernetesImageMapSource(api_client))
            watcher.start()
            server.components.stoppers.append(partial(close, api_client))
            server.components.stoppers.append(watcher.stop)
            view = watcher
        if args.bootstrap_tls:
            api_client = kube_client(args)
            bootstrap = _bootstrap(args, api_client)
            stopping = threading.Event()
            thread = threading.Thread(target=bootstrap.run, name="tls-rotation", daemon=True,
                                      args=(stopping, args.tls_check_interval))
            thread.start()
            server.components.stoppers.append(partial(close, api_client))
            server.components.stoppers.append(stopping.set)
        return create_app(state=view, shutting_down=server.shutting_down)

    return build


def gunicorn_options(args: argparse.Namespace) -> dict[str, Any]:
    reloader = CertificateReloader(args.cert_file, args.key_file)
    return {
        "bind": [f"[{args.host}]:{args.port}" if ":" in args.host else f"{args.host}:{args.port}"],
        "workers": 1,  # the view of the ImageMaps lives in the worker: one watch per pod
        "worker_class": DrainingWorker,
        "threads": args.threads,
        "certfile": args.cert_file,
        "keyfile": args.key_file,
        "ssl_context": lambda _config, default_factory: reloader.context(default_factory),
        "keepalive": 30,  # the API server reuses connections to webhooks
        "timeout": 30,
        "graceful_timeout": math.ceil(args.shutdown_delay + args.graceful_timeout),
        "accesslog": "-" if args.access_log else None,
        "errorlog": "-",
        "loglevel": args.log_level,
        "control_socket_disable": True,
        "proc_name": "image-mapper-webhook",
        "worker_exit": _worker_exit,
    }


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    static = _static_mapping(args.filename) if args.filename else None
    if args.bootstrap_tls:
        api_client = kube_client(args)
        try:
            _bootstrap(args, api_client).ensure()
        except CommandError:
            raise
        except Exception as error:
            raise CommandError(f"TLS bootstrap failed: {describe_error(error)}") from None
        finally:
            close(api_client)
    for option, path in (("--cert-file", args.cert_file), ("--key-file", args.key_file)):
        if not os.path.isfile(path):
            raise CommandError(f"{option} {path}: no such file; mount a certificate there or "
                               "pass --bootstrap-tls")
    server = WebhookServer(gunicorn_options(args), _builder(args, static),
                           shutdown_delay=args.shutdown_delay)
    try:
        server.run()
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    return 0
