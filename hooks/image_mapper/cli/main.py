"""`image-mapper`: the entry point, and its subcommands (design.md#commands).

Each subcommand module provides `configure(parser)` and `run(args) -> int`. The server
commands import their servers only when run, so that `image-mapper map` never pays for
uvicorn and the Kubernetes client. A user sees one line per error, never a traceback: a bad
flag gets the subcommand's own usage, a closed pipe (`| head`) and Ctrl-C end quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Protocol

from image_mapper.cli import (
    hook_cmd,
    images_cmd,
    import_cmd,
    map_cmd,
    preview_cmd,
    review_cmd,
    serve_hooks,
    serve_webhook,
    validate_cmd,
    verify_cmd,
)
from image_mapper.cli.errors import CommandError


class Command(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


COMMANDS: dict[str, tuple[Command, str]] = {
    "map": (map_cmd, "preview what images become under some ImageMaps"),
    "preview": (preview_cmd, "show manifests as they would run, images rewritten"),
    "validate": (validate_cmd, "check ImageMaps as the cluster would, for CI and pre-commit"),
    "images": (images_cmd, "list the images manifests would run, and what they become"),
    "import": (import_cmd, "write an ImageMap from a relocation tool's record of its copies"),
    "verify": (verify_cmd, "check that every relocated image exists in its registry"),
    "review": (review_cmd, "run the admission logic on an AdmissionReview"),
    "hook": (hook_cmd, "run a Metacontroller hook on a request read from stdin"),
    "serve-hooks": (serve_hooks, "serve the Metacontroller hooks (plain HTTP)"),
    "serve-webhook": (serve_webhook, "serve the pod admission webhook (HTTPS)"),
}


def version() -> str:
    try:
        return metadata.version("image-mapper")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser, and each subcommand's own parser by name."""
    parser = argparse.ArgumentParser(
        prog="image-mapper",
        description="Run Kubernetes pods from relocated images: preview and test ImageMaps, "
                    "serve the Metacontroller hooks and the admission webhook.")
    parser.add_argument("--version", action="version", version=f"image-mapper {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    subparsers = {}
    for name, (command, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        command.configure(sub)
        sub.set_defaults(run=command.run)
        subparsers[name] = sub
    return parser, subparsers


def main(argv: Sequence[str] | None = None) -> int:
    parser, subparsers = build_parser()
    try:
        args, extra = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
        if extra:
            # The subcommand's own usage, not the top-level one.
            subparsers[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
        status: int = args.run(args)
        sys.stdout.flush()
    except CommandError as error:
        print(f"image-mapper {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more to say, and nowhere to say it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    return status


if __name__ == "__main__":
    sys.exit(main())
