"""The `image-mapper` command: one entry point, one module per subcommand (SPEC 6).

Subcommand modules are imported lazily so that `image-mapper map` never pays for the
servers' imports. Each module provides `configure(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "map": ("hooks.map_cmd", "preview what images become under some ImageMaps"),
    "review": ("hooks.review_cmd", "run the admission logic on an AdmissionReview"),
    "hook": ("hooks.hook_cmd", "run a Metacontroller hook on a request read from stdin"),
    "serve-hooks": ("hooks.serve_hooks", "serve the Metacontroller hooks (plain HTTP)"),
    "serve-webhook": ("hooks.serve_webhook", "serve the pod admission webhook (HTTPS)"),
}


class CommandError(Exception):
    """An error for the user: printed as one line on stderr, exit status 1."""


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="image-mapper", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Only the chosen subcommand's module is imported.
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.configure(sub)
            sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
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
