"""How both servers log: one handler on the root logger, as text or one JSON object per line,
and a rate limit for warnings that can repeat many times a second.

- `configure(level, fmt)` is called once, by the server command, before the server starts
  (a forked worker inherits it). Text is for people; JSON is for log pipelines: `time`,
  `level`, `logger`, `message`, then every structured field a call passed with `extra=`, and
  `exception` when there is one (a traceback, as one string: a line is still one record).
- The libraries' own debug output is not ours to show: at `debug` the project's loggers say
  more, while the Kubernetes client stays at `info` (it logs whole response bodies at debug,
  the TLS Secret's private key among them) and urllib3 at `error` (its warnings are retries of
  a request whose failure the caller logs, once, e.g. the webhook's watch: three lines a try).
- `RateLimitedLog`: a warning that an outside party can repeat at will (a hook call without the
  token, an API server that refuses every watch) is logged at most once per key per interval;
  the next line of that key says how many were left out meanwhile (field `suppressed`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Literal, TextIO

Level = Literal["debug", "info", "warning", "error"]
Format = Literal["text", "json"]
LEVELS: tuple[Level, ...] = ("debug", "info", "warning", "error")
FORMATS: tuple[Format, ...] = ("text", "json")

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"

LIBRARIES = {"kubernetes": logging.INFO, "urllib3": logging.ERROR}
"""Loggers kept at this level or above, whatever the level asked for."""

# Every attribute a LogRecord has of its own; the rest came from `extra=`, except uvicorn's
# `color_message` (the message again, with terminal colour codes).
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime",
                                                               "taskName", "color_message"}


class JSONFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
                      .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def formatter(fmt: Format) -> logging.Formatter:
    return JSONFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure` installs, told apart from any other on the root logger."""


def configure(level: Level = "info", fmt: Format = "text", stream: TextIO | None = None) -> None:
    """Log records of `level` and above to `stream` (stderr) in `fmt`; called again, replaces
    what it set before."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    handler = _Handler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(fmt))
    root.addHandler(handler)
    number = logging.getLevelNamesMapping()[level.upper()]
    root.setLevel(number)
    for name, least in LIBRARIES.items():
        logging.getLogger(name).setLevel(max(number, least))


class RateLimiter:
    """At most one event per key per `interval` seconds; counts the others.

    Thread-safe. Keys that have been quiet for an interval are forgotten once there are more
    than `max_keys`, so a key made from outside input cannot grow it without bound.
    """

    def __init__(self, interval: float, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 1000) -> None:
        self.interval = interval
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._keys: dict[Hashable, tuple[float, int]] = {}
        """key -> (when it was last let through, how many were held back since)."""

    def admit(self, key: Hashable) -> tuple[int, float] | None:
        """None to hold this event back (it is counted); else how many of this key were held
        back since the last one let through, and how many seconds ago that was (0, 0.0 for
        the first)."""
        now = self._clock()
        with self._lock:
            last = self._keys.get(key)
            if last is not None and now - last[0] < self.interval:
                self._keys[key] = (last[0], last[1] + 1)
                return None
            if last is None and len(self._keys) >= self._max_keys:
                self._forget_quiet(now)
            self._keys[key] = (now, 0)
            return (0, 0.0) if last is None else (last[1], now - last[0])

    def _forget_quiet(self, now: float) -> None:
        quiet = [k for k, (then, _) in self._keys.items() if now - then >= self.interval]
        for key in quiet or list(self._keys):  # all busy: start over rather than grow
            del self._keys[key]


class RateLimitedLog:
    """A logger's warnings through a `RateLimiter`, one key per kind of event."""

    def __init__(self, logger: logging.Logger, limiter: RateLimiter) -> None:
        self.logger = logger
        self.limiter = limiter

    def limited_warning(self, key: Hashable, message: str, *args: object,
                extra: Mapping[str, object] | None = None) -> bool:
        """Log `message % args` unless `key` was logged less than an interval ago; whether it
        was. A line after held-back ones ends with their count, also in field `suppressed`."""
        admitted = self.limiter.admit(key)
        if admitted is None:
            return False
        suppressed, seconds = admitted
        fields = dict(extra or {})
        if suppressed:
            message = f"{message} ({suppressed} more like this in the last {seconds:.0f}s)"
            fields["suppressed"] = suppressed
        self.logger.warning(message, *args, extra=fields, stacklevel=2)
        return True
