"""`image-mapper serve-webhook`: the admission webhook over HTTPS (design.md#admission, #http,
#commands).

Every option falls back to the environment variable named in its help. The server is
`image_mapper.webhook.server`, imported when the command runs; `-f` files are read and decided here.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping as MappingABC
from typing import TYPE_CHECKING

from image_mapper.cli import options
from image_mapper.cli.documents import load_imagemaps
from image_mapper.cli.errors import CommandError, server_dependencies_missing
from image_mapper.engine.acceptance import decide
from image_mapper.engine.imagemap import read_imagemaps
from image_mapper.engine.mapping import Mapping
from image_mapper.serving import logs

if TYPE_CHECKING:
    from image_mapper.webhook.server import WebhookConfig

log = logging.getLogger(__name__)

DEFAULT_TLS_DIR = "/run/image-mapper/tls"


def configure(parser: argparse.ArgumentParser, environ: MappingABC[str, str] | None = None) -> None:
    def env(name: str, default: str) -> str:
        return options.env(f"IMAGE_MAPPER_{name}", default, environ)

    def env_flag(name: str) -> bool:
        return options.env_flag(f"IMAGE_MAPPER_{name}", environ)

    parser.description = (
        "Serve the pod admission webhook over HTTPS. Every option falls back to the "
        "environment variable named in its help.")
    add = parser.add_argument
    add("--host", default=env("WEBHOOK_HOST", "0.0.0.0"),  # noqa: S104 - a pod's address
        help="address to listen on (IMAGE_MAPPER_WEBHOOK_HOST; default 0.0.0.0)")
    # String defaults go through `type` too, so a bad environment value is a usage error.
    add("--port", type=options.port, default=env("WEBHOOK_PORT", "8443"),
        help="port to listen on (IMAGE_MAPPER_WEBHOOK_PORT; default 8443)")
    add("--cert-file", default=env("CERT_FILE", f"{DEFAULT_TLS_DIR}/tls.crt"),
        help="serving certificate, PEM; reloaded when it changes (IMAGE_MAPPER_CERT_FILE)")
    add("--key-file", default=env("KEY_FILE", f"{DEFAULT_TLS_DIR}/tls.key"),
        help="its private key, PEM (IMAGE_MAPPER_KEY_FILE)")
    tls = parser.add_argument_group("TLS bootstrap (no cert-manager needed)")
    tls.add_argument(
        "--bootstrap-tls", action="store_true", default=env_flag("BOOTSTRAP_TLS"),
        help="create a CA and serving certificate Secret if absent, write --cert-file and "
             "--key-file from it, set the webhook configuration's caBundle, rotate before "
             "expiry (IMAGE_MAPPER_BOOTSTRAP_TLS=true)")
    tls.add_argument("--tls-secret", default=env("TLS_SECRET", "image-mapper-webhook-tls"),
                     help="the Secret's name (IMAGE_MAPPER_TLS_SECRET)")
    pod_namespace = options.env("POD_NAMESPACE", "image-mapper", environ)
    tls.add_argument(
        "--namespace", default=env("NAMESPACE", pod_namespace),
        help="the webhook's namespace, of the Secret and the Service "
             "(IMAGE_MAPPER_NAMESPACE, else POD_NAMESPACE; default image-mapper)")
    tls.add_argument("--service", default=env("WEBHOOK_SERVICE", "image-mapper-webhook"),
                     help="the webhook's Service, named in the certificate "
                          "(IMAGE_MAPPER_WEBHOOK_SERVICE)")
    tls.add_argument("--tls-dns-name", action="append", default=[], metavar="NAME",
                     help="another name for the certificate besides the Service's (repeatable; "
                          "for a webhook the API server reaches by URL)")
    tls.add_argument(
        "--webhook-configuration", default=env("WEBHOOK_CONFIGURATION", "image-mapper"),
        help="the MutatingWebhookConfiguration whose caBundle to set "
             "(IMAGE_MAPPER_WEBHOOK_CONFIGURATION)")
    tls.add_argument("--tls-check-interval", type=options.positive_seconds,
                     default=env("TLS_CHECK_INTERVAL", "60"),
                     help="seconds between checks of the Secret (IMAGE_MAPPER_TLS_CHECK_INTERVAL)")
    cluster = parser.add_argument_group("cluster access")
    source = cluster.add_mutually_exclusive_group()
    source.add_argument("--kubeconfig", default=options.env("KUBECONFIG", "", environ) or None,
                        help="kubeconfig file (KUBECONFIG; default: in-cluster when running "
                             "in a pod, else ~/.kube/config)")
    source.add_argument("--in-cluster", action="store_true",
                        help="use the pod's ServiceAccount")
    source.add_argument("-f", "--filename", action="append", metavar="PATH",
                        help="serve these ImageMaps (files or folders) for every namespace "
                             "instead of watching the cluster: for development")
    admission = parser.add_argument_group("pods that arrive with their ImageMap")
    admission.add_argument(
        "--decision-wait", type=options.positive_seconds, default=env("DECISION_WAIT", "3"),
        help="seconds a pod that an ImageMap not yet decided could change waits for the "
             "decision; keep it below the webhook configuration's timeoutSeconds "
             "(IMAGE_MAPPER_DECISION_WAIT; default 3)")
    admission.add_argument(
        "--undecided", type=_undecided, choices=UNDECIDED, default=env("UNDECIDED", "refuse"),
        help="what becomes of such a pod when no decision came in time: refuse it (its "
             "controller retries) or admit it unmapped, with a warning "
             "(IMAGE_MAPPER_UNDECIDED; default refuse)")
    server = parser.add_argument_group("server")
    server.add_argument("--shutdown-delay", type=options.seconds,
                        default=env("SHUTDOWN_DELAY", "5"),
                        help="seconds to report not ready, still serving, after SIGTERM "
                             "(IMAGE_MAPPER_SHUTDOWN_DELAY; default 5)")
    server.add_argument("--graceful-timeout", type=options.seconds,
                        default=env("GRACEFUL_TIMEOUT", "20"),
                        help="seconds then left for in-flight requests "
                             "(IMAGE_MAPPER_GRACEFUL_TIMEOUT; default 20)")
    server.add_argument("--access-log", action="store_true", default=env_flag("ACCESS_LOG"),
                        help="log every request (IMAGE_MAPPER_ACCESS_LOG=true)")
    options.add_log_options(parser, environ)

UNDECIDED = ("refuse", "admit")


def _undecided(value: str) -> str:
    """Checked here too: argparse does not check a default (the environment's) against
    `choices`."""
    if value not in UNDECIDED:
        raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(UNDECIDED)}")
    return value


def config(args: argparse.Namespace) -> WebhookConfig:
    """The server's configuration from the parsed options; `-f` files are decided here."""
    # Here, not above: the other commands need neither uvicorn nor the Kubernetes client.
    from image_mapper.webhook.server import WebhookConfig  # noqa: PLC0415

    return WebhookConfig(
        host=args.host, port=args.port, cert_file=args.cert_file, key_file=args.key_file,
        static=_static_mapping(args.filename) if args.filename else None,
        kubeconfig=args.kubeconfig, in_cluster=args.in_cluster,
        bootstrap_tls=args.bootstrap_tls, tls_secret=args.tls_secret, namespace=args.namespace,
        service=args.service, tls_dns_names=tuple(args.tls_dns_name),
        webhook_configuration=args.webhook_configuration,
        tls_check_interval=args.tls_check_interval,
        shutdown_delay=args.shutdown_delay, graceful_timeout=args.graceful_timeout,
        access_log=args.access_log, log_level=args.log_level,
        log_repeat_interval=args.log_repeat_interval,
        decision_wait=args.decision_wait, undecided=args.undecided,
    )


def run(args: argparse.Namespace) -> int:
    # Here, not above: the other commands need neither uvicorn nor the Kubernetes client, which
    # a light install (without the server extra) has not got.
    try:
        from image_mapper.serving.errors import ServeError  # noqa: PLC0415
        from image_mapper.webhook.server import serve  # noqa: PLC0415
    except ModuleNotFoundError as error:
        if (error.name or "").startswith("image_mapper"):
            raise
        raise server_dependencies_missing("serve-webhook", error) from None

    logs.configure(args.log_level, args.log_format)
    try:
        return serve(config(args))
    except ServeError as error:
        raise CommandError(str(error)) from None


def _static_mapping(paths: list[str]) -> Mapping:
    decision = decide(read_imagemaps(load_imagemaps(paths)))
    for verdict in decision.verdicts.values():
        if not verdict.ready:
            log.warning("ImageMap %s: %s: %s", verdict.name, verdict.reason, verdict.message)
    return decision.mapping
