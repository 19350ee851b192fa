"""`image-mapper hook PATH < request.json`: run a Metacontroller hook locally (design.md#commands).

The request is read from stdin exactly as Metacontroller would POST it, and the response is
printed as the server would return it. `--now` fixes the current time so that a response whose
Ready condition flips is reproducible (the golden fixtures under tests/fixtures/hooks use it).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from image_mapper.cli.documents import stdin_bytes
from image_mapper.cli.errors import CommandError
from image_mapper.controller.dispatch import HOOKS, run_hook, utc_now
from image_mapper.controller.protocol import BadRequest


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH",
                        help=f"the hook to run: {', '.join(HOOKS)}")
    parser.add_argument("--now", metavar="TIME", type=_time, default=None,
                        help="take the current time to be TIME (RFC 3339, e.g. "
                             "2026-01-01T12:00:00Z) instead of the clock")
    parser.add_argument("--cluster-namespace", metavar="NAMESPACE", default="image-mapper",
                        help="the project's own namespace, whose Namespace records the "
                             "ClusterImageMaps' decision (default image-mapper)")


def run(args: argparse.Namespace) -> int:
    path = args.path if args.path.startswith("/") else f"/{args.path}"
    if path not in HOOKS:
        raise CommandError(f"no hook at {args.path!r}; the hooks are {', '.join(HOOKS)}")
    text = stdin_bytes(f"the JSON body Metacontroller POSTs to {path}")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise CommandError(f"the request on stdin is not valid JSON: {error}") from None
    try:
        response = run_hook(path, body, now=args.now or utc_now(),
                            cluster_namespace=args.cluster_namespace)
    except BadRequest as error:
        raise CommandError(f"{path}: bad request: {error}") from None
    print(format_response(response))
    return 0


def format_response(response: object) -> str:
    """How responses are printed, and how the golden response files are written."""
    return json.dumps(response, indent=2)


def _time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 time such as 2026-01-01T12:00:00Z") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; end it with Z or +00:00")
    return moment
