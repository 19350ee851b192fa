"""`python -m tests.hardening.fuzz --count 100000`: every fuzz target at full budget.

Starts a waitress hooks server and a uvicorn TLS webhook server on 127.0.0.1 (as the tests do),
feeds each target `--count` inputs and prints, per target: inputs tried, crashes, 5xx, 4xx
(or input refused), 2xx (or input accepted), time, and the slowest input. Exits 1 if any
target had a crash or a 5xx, listing the first inputs that caused them.

The pytest suite (tests/hardening/test_fuzz.py) runs the same targets with a smaller budget.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .servers import Client, hooks_server, webhook_server
from .targets import IN_PROCESS, OVER_HTTP, Stats, run

ALL = (*IN_PROCESS, *OVER_HTTP)


def table(results: list[Stats]) -> str:
    header = (
        f"{'target':<10} {'tried':>9} {'crashes':>8} {'5xx':>5} {'4xx/refused':>12} "
        f"{'2xx/ok':>9} {'time':>9} {'per input':>10} {'slowest':>9}"
    )
    lines = [header, "-" * len(header)]
    for s in results:
        lines.append(
            f"{s.target:<10} {s.tried:>9,} {s.crashes:>8} {s.server_errors:>5} "
            f"{s.refused:>12,} {s.ok:>9,} {s.seconds:>8.1f}s "
            f"{s.seconds / max(s.tried, 1) * 1000:>8.2f}ms {s.slowest * 1000:>7.0f}ms"
        )
    return "\n".join(lines)


def server_log_problems(log: Path) -> list[str]:
    """Lines of the webhook's log that show a crash or a restart."""
    text = log.read_text(errors="replace")
    problems = [
        line
        for line in text.splitlines()
        if re.search(r"Traceback|\[ERROR\]|\[CRITICAL\]|WORKER TIMEOUT", line)
    ]
    boots = text.count("Started server process")
    if boots != 1:
        problems.append(f"the server started {boots} times")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.hardening.fuzz", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--count", type=int, default=100_000, help="inputs per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--target", action="append", choices=ALL, help="only this target (repeatable; default: all)"
    )
    args = parser.parse_args(argv)
    chosen = args.target or list(ALL)
    # Each bad hook request is logged as a warning; count them instead of printing them.
    for name in ("image_mapper", "waitress"):
        logging.getLogger(name).propagate = False
        logging.getLogger(name).addHandler(logging.NullHandler())

    results: list[Stats] = []
    problems: list[str] = []

    def report(stats: Stats) -> None:
        results.append(stats)
        print(
            f"{stats.target}: {stats.tried:,} inputs, {stats.crashes} crashes, "
            f"{stats.server_errors} 5xx in {stats.seconds:.1f}s (slowest "
            f"{stats.slowest * 1000:.0f} ms: {stats.slowest_input})",
            file=sys.stderr,
            flush=True,
        )

    for name in chosen:
        if name in IN_PROCESS:
            report(run(IN_PROCESS[name](), args.count, seed=args.seed))
    if "hooks" in chosen:
        with hooks_server() as hooks:
            client = Client(hooks.host, hooks.port)
            try:
                report(run(OVER_HTTP["hooks"](client), args.count, seed=args.seed))
            finally:
                client.close()
            problems += [f"hooks log: {message}" for message in hooks.log.errors]
            print(f"hooks log records by level: {dict(hooks.log.levels)}", file=sys.stderr)
    if "admission" in chosen:
        with tempfile.TemporaryDirectory(prefix="image-mapper-fuzz-") as workdir:
            with webhook_server(Path(workdir)) as webhook:
                client = Client("localhost", webhook.port, webhook.context)
                try:
                    report(run(OVER_HTTP["admission"](client), args.count, seed=args.seed))
                finally:
                    client.close()
                status, _ = webhook.get("/metrics")
                if status != 200:
                    problems.append(f"webhook /metrics answered {status} after the run")
            problems += [
                f"webhook log: {line}"
                for line in server_log_problems(Path(workdir) / "webhook.log")
            ]

    print(table(results))
    for stats in results:
        if stats.reconnects:
            problems.append(
                f"{stats.target}: the server closed {stats.reconnects} kept-alive connections"
            )
        for failure in stats.failures:
            problems.append(f"{stats.target}: {failure}")
    for problem in problems:
        print(f"PROBLEM {problem}")
    clean = all(stats.clean for stats in results) and not problems
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
