"""``python -m tests.controlplane build|up``.

build  ensure the binaries exist (build them if needed); print the bin dir.
up     start a control plane, print how to reach it, run until Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .cluster import ControlPlane, ControlPlaneError, ensure_binaries


def _cmd_build(_: argparse.Namespace) -> int:
    print(ensure_binaries())
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    cp = ControlPlane(keep_workdir=args.keep)
    try:
        cp.start()
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        timings = ", ".join(f"{k}={v:.1f}s" for k, v in cp.timings.items())
        print(f"control plane up in {cp.timings['start']:.1f}s ({timings})", file=sys.stderr)
        print(f"server:     {cp.server}", file=sys.stderr)
        print(f"token:      {cp.admin_token}", file=sys.stderr)
        print(f"ca file:    {cp.ca_file}", file=sys.stderr)
        print(f"logs:       {cp.log_dir}", file=sys.stderr)
        print(f"export KUBECONFIG={cp.kubeconfig}", file=sys.stderr)
        print("Ctrl-C or SIGTERM to stop.", file=sys.stderr)
        print(cp.kubeconfig, flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        print("stopping control plane", file=sys.stderr)
        cp.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.controlplane",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="ensure the binaries exist; print the bin dir").set_defaults(
        func=_cmd_build
    )
    up = sub.add_parser("up", help="start a control plane until Ctrl-C / SIGTERM")
    up.add_argument(
        "--keep", action="store_true", help="keep the temp dir (logs, certs) after stopping"
    )
    up.set_defaults(func=_cmd_up)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
