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
from collections.abc import Callable, Mapping

from image_mapper.serving.logs import FORMATS, LEVELS


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


ENV_LOG_LEVEL = "IMAGE_MAPPER_LOG_LEVEL"
ENV_LOG_FORMAT = "IMAGE_MAPPER_LOG_FORMAT"
ENV_LOG_REPEAT_INTERVAL = "IMAGE_MAPPER_LOG_REPEAT_INTERVAL"


def add_log_options(parser: argparse.ArgumentParser,
                    environ: Mapping[str, str] | None = None) -> None:
    """`--log-level`, `--log-format` and `--log-repeat-interval`, alike on both servers."""
    group = parser.add_argument_group("logging")
    group.add_argument("--log-level", type=_choice("log level", LEVELS),
                       default=env(ENV_LOG_LEVEL, "info", environ),
                       help=f"{', '.join(LEVELS)} ({ENV_LOG_LEVEL}; default info)")
    group.add_argument("--log-format", type=_choice("log format", FORMATS),
                       default=env(ENV_LOG_FORMAT, "text", environ),
                       help="text, or json: one JSON object per line with time, level, logger, "
                            f"message and the event's fields ({ENV_LOG_FORMAT}; default text)")
    group.add_argument("--log-repeat-interval", type=positive_seconds,
                       default=env(ENV_LOG_REPEAT_INTERVAL, "60", environ),
                       help="a warning that repeats (refused hook calls, API errors) is logged at "
                            "most once per this many seconds, the next line counting the ones "
                            f"left out ({ENV_LOG_REPEAT_INTERVAL}; default 60)")


def _choice(what: str, choices: tuple[str, ...]) -> Callable[[str], str]:
    """A check of one of `choices`, case-insensitive: argparse's `choices` would not check a
    default from the environment."""
    def check(text: str) -> str:
        if text.lower() not in choices:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a {what}: use one of {', '.join(choices)}")
        return text.lower()

    return check
