"""`image-mapper`: the entry point, and its subcommands (SPEC 6).

Each subcommand module provides `configure(parser)` and `run(args) -> int`. The server
commands import their servers only when run, so that `image-mapper map` never pays for
gunicorn and the Kubernetes client.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Protocol

from hooks.cli import hook_cmd, map_cmd, preview_cmd, review_cmd, serve_hooks, serve_webhook
from hooks.cli.errors import CommandError


class Command(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


COMMANDS: dict[str, tuple[Command, str]] = {
    "map": (map_cmd, "preview what images become under some ImageMaps"),
    "preview": (preview_cmd, "show manifests as they would run, images rewritten"),
    "review": (review_cmd, "run the admission logic on an AdmissionReview"),
    "hook": (hook_cmd, "run a Metacontroller hook on a request read from stdin"),
    "serve-hooks": (serve_hooks, "serve the Metacontroller hooks (plain HTTP)"),
    "serve-webhook": (serve_webhook, "serve the pod admission webhook (HTTPS)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="image-mapper",
        description="Run Kubernetes pods from relocated images: preview and test ImageMaps, "
                    "serve the Metacontroller hooks and the admission webhook.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (command, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        status: int = args.run(args)
    except CommandError as error:
        print(f"image-mapper {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
