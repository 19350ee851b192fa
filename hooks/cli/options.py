"""The servers' command-line values, shared so both server commands read and word them alike.

- Checks: each is an argparse `type`; it returns the value or raises `ArgumentTypeError`, which
  argparse prints as `argument --NAME: MESSAGE` with exit status 2. String defaults go through
  `type` too, so a bad environment value is a usage error.
- Environment defaults: an option not given falls back to an environment variable.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping


def env(variable: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    """An option's default: the environment variable when it is set, else `default`."""
    return (os.environ if environ is None else environ).get(variable, default)


def env_flag(variable: str, environ: Mapping[str, str] | None = None) -> bool:
    """An on/off option's default: on when the variable is 1, true or yes."""
    return env(variable, "", environ).lower() in ("1", "true", "yes")


def port(text: str) -> int:
    """A TCP port to listen on, 1-65535."""
    number = int(text) if text.isdigit() else 0
    if not 0 < number < 65536:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (1-65535)")
    return number


def port_or_any(text: str) -> int:
    """A TCP port to listen on, or 0 for any free one."""
    if text == "0":
        return 0
    try:
        return port(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text} is not a TCP port (1-65535, or 0 for any free port)") from None


def positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
    return number


def seconds(text: str) -> float:
    """A finite number of seconds, 0 or more."""
    value = _seconds(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must not be negative")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds greater than 0."""
    value = _seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    return value
