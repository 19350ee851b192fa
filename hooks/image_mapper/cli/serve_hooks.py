"""`image-mapper serve-hooks`: the Metacontroller hooks over plain HTTP (design.md#http, #commands).

Settings come from options, or from the environment when an option is not given:

| option | environment | default |
|---|---|---|
| `--host` | `IMAGE_MAPPER_HOOKS_HOST` | `0.0.0.0` |
| `--port` | `IMAGE_MAPPER_HOOKS_PORT` | `8080` |
| `--threads` | `IMAGE_MAPPER_HOOKS_THREADS` | `4` |
| `--token-file` | `IMAGE_MAPPER_HOOKS_TOKEN_FILE` | none: no token check |
| `--shutdown-timeout` | `IMAGE_MAPPER_HOOKS_SHUTDOWN_TIMEOUT` | `10` seconds |
| `--log-level` | `IMAGE_MAPPER_LOG_LEVEL` | `info` |
| `--log-format` | `IMAGE_MAPPER_LOG_FORMAT` | `text` (or `json`) |
| `--log-repeat-interval` | `IMAGE_MAPPER_LOG_REPEAT_INTERVAL` | `60` seconds |

The server is `image_mapper.controller.server`, imported when the command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from image_mapper.cli import options
from image_mapper.cli.errors import CommandError, server_dependencies_missing
from image_mapper.serving import logs

ENV_HOST = "IMAGE_MAPPER_HOOKS_HOST"
ENV_PORT = "IMAGE_MAPPER_HOOKS_PORT"
ENV_THREADS = "IMAGE_MAPPER_HOOKS_THREADS"
ENV_TOKEN_FILE = "IMAGE_MAPPER_HOOKS_TOKEN_FILE"  # noqa: S105 (a variable name, not a secret)
ENV_SHUTDOWN_TIMEOUT = "IMAGE_MAPPER_HOOKS_SHUTDOWN_TIMEOUT"
ENV_CLUSTER_NAMESPACE = "IMAGE_MAPPER_HOOKS_CLUSTER_NAMESPACE"


def configure(parser: argparse.ArgumentParser, environ: Mapping[str, str] | None = None) -> None:
    def env(variable: str, default: str) -> str:
        return options.env(variable, default, environ)

    parser.add_argument("--host", default=env(ENV_HOST, "0.0.0.0"),  # noqa: S104
                        help=f"address to listen on (env {ENV_HOST}; default 0.0.0.0)")
    parser.add_argument("--port", type=options.port_or_any, default=env(ENV_PORT, "8080"),
                        help=f"port to listen on, 0 for any free port (env {ENV_PORT}; "
                             f"default 8080)")
    parser.add_argument("--threads", type=options.positive_int, default=env(ENV_THREADS, "4"),
                        help=f"worker threads (env {ENV_THREADS}; default 4)")
    parser.add_argument("--token-file", type=Path, default=env(ENV_TOKEN_FILE, "") or None,
                        help="require 'Authorization: Bearer <token>' on hook calls, the token "
                             f"read from this file (env {ENV_TOKEN_FILE}; default: no check)")
    parser.add_argument("--shutdown-timeout", type=options.seconds,
                        default=env(ENV_SHUTDOWN_TIMEOUT, "10"),
                        help="on SIGTERM, seconds to let calls in flight finish "
                             f"(env {ENV_SHUTDOWN_TIMEOUT}; default 10)")
    parser.add_argument("--cluster-namespace", default=env(ENV_CLUSTER_NAMESPACE, "image-mapper"),
                        help="the namespace the hooks run in: its Namespace records which "
                             "ClusterImageMaps are in force (env "
                             f"{ENV_CLUSTER_NAMESPACE}; default image-mapper)")
    options.add_log_options(parser, environ)


def run(args: argparse.Namespace) -> int:
    # Here, not above: the other commands need neither Flask nor waitress, which a light
    # install (without the server extra) has not got.
    try:
        from image_mapper.controller.server import HooksConfig, serve  # noqa: PLC0415
        from image_mapper.serving.errors import ServeError  # noqa: PLC0415
    except ModuleNotFoundError as error:
        if (error.name or "").startswith("image_mapper"):
            raise
        raise server_dependencies_missing("serve-hooks", error) from None

    logs.configure(args.log_level, args.log_format)
    config = HooksConfig(host=args.host, port=args.port, threads=args.threads,
                         token_file=args.token_file, shutdown_timeout=args.shutdown_timeout,
                         log_repeat_interval=args.log_repeat_interval,
                         cluster_namespace=args.cluster_namespace)
    try:
        return serve(config)
    except ServeError as error:
        raise CommandError(str(error)) from None
