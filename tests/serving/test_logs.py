"""How both servers log (`image_mapper.serving.logs`): the JSON lines, the levels, the rate
limit."""

from __future__ import annotations

import io
import json
import logging
import re
import sys

import pytest

from image_mapper.serving.logs import JSONFormatter, RateLimitedLog, RateLimiter, configure


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def _record(message: str, *args: object, level: int = logging.WARNING,
            **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("image_mapper.test", level, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


# --- the JSON formatter ---------------------------------------------------------------------


def test_a_json_line_has_time_level_logger_message_and_the_extra_fields() -> None:
    record = _record("refused %d calls", 3, event="hook_refused", hook="/namespace/sync",
                     suppressed=2)
    record.created = 1_764_370_000.25  # 2025-11-28T22:46:40.250Z
    line = JSONFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2025-11-28T22:46:40.250Z", "level": "warning", "logger": "image_mapper.test",
        "message": "refused 3 calls", "event": "hook_refused", "hook": "/namespace/sync",
        "suppressed": 2,
    }


def test_a_json_line_stays_one_line_with_newlines_and_a_traceback() -> None:
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        record = logging.LogRecord("image_mapper.test", logging.ERROR, __file__, 1,
                                   "line one\nline two", (), sys.exc_info())
    line = JSONFormatter().format(record)
    assert len(line.splitlines()) == 1
    entry = json.loads(line)
    assert entry["message"] == "line one\nline two"
    assert entry["exception"].startswith("Traceback")
    assert "ValueError: bad\nvalue" in entry["exception"]


def test_a_field_json_cannot_encode_is_written_as_its_string() -> None:
    entry = json.loads(JSONFormatter().format(_record("x", path=io.StringIO)))
    assert entry["path"] == str(io.StringIO)


# --- configure ------------------------------------------------------------------------------


def test_configure_json_at_debug_keeps_the_libraries_quieter() -> None:
    stream = io.StringIO()
    configure("debug", "json", stream)
    logging.getLogger("image_mapper.test").debug("ours at debug")
    logging.getLogger("kubernetes.client.rest").debug("response body: a private key")
    logging.getLogger("kubernetes.client.rest").info("theirs at info")
    logging.getLogger("urllib3.connectionpool").warning("Retrying (Retry(total=2))")
    logging.getLogger("urllib3.connectionpool").error("theirs at error")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["logger"], e["message"]) for e in lines] == [
        ("image_mapper.test", "ours at debug"), ("kubernetes.client.rest", "theirs at info"),
        ("urllib3.connectionpool", "theirs at error")]


def test_configure_again_replaces_its_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure("info", "json", first)
    configure("warning", "text", second)
    logging.getLogger("image_mapper.test").info("below the level")
    logging.getLogger("image_mapper.test").warning("to the second, as text")
    assert first.getvalue() == ""
    (line,) = second.getvalue().splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING \[\d+\] "
                        r"image_mapper\.test: to the second, as text", line), line


# --- the rate limiter -----------------------------------------------------------------------


def test_one_event_per_key_per_interval_then_the_count_of_those_held_back() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)
    assert limiter.admit("no header") == (0, 0.0)
    clock.now += 10
    assert [limiter.admit("no header") for _ in range(4)] == [None] * 4
    assert limiter.admit("wrong token") == (0, 0.0)  # another key: its own interval
    clock.now += 49.9
    assert limiter.admit("no header") is None  # 59.9 s after the first: still held back
    clock.now += 0.1
    assert limiter.admit("no header") == (5, 60.0)
    assert limiter.admit("no header") is None
    clock.now += 600
    assert limiter.admit("no header") == (1, 600.0)
    clock.now += 600
    assert limiter.admit("no header") == (0, 600.0)


def test_quiet_keys_are_forgotten_past_the_bound() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock=clock, max_keys=3)
    for key in ("a", "b", "c"):
        limiter.admit(key)
    clock.now += 30
    limiter.admit("a")  # held back: "a" is still busy
    clock.now += 30  # "a", "b", "c" were let through 60 s ago: all quiet
    assert limiter.admit("d") == (0, 0.0)
    assert len(limiter._keys) == 1
    # All busy: the limiter starts over rather than grow.
    limiter.admit("e")
    limiter.admit("f")
    assert limiter.admit("g") == (0, 0.0)
    assert len(limiter._keys) == 1


def test_the_rate_limited_log_says_how_many_it_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    log = RateLimitedLog(logging.getLogger("image_mapper.test"), RateLimiter(60, clock=clock))
    caplog.set_level(logging.WARNING, "image_mapper.test")
    assert log.limited_warning("401", "refused a call to %s", "/namespace/sync",
                               extra={"hook": "x"})
    assert not any(log.limited_warning("401", "refused a call to %s", "/imagemap/sync")
                   for _ in range(11))
    clock.now += 61
    assert log.limited_warning("401", "refused a call to %s", "/imagemap/sync")
    first, second = caplog.records
    assert first.getMessage() == "refused a call to /namespace/sync"
    assert not hasattr(first, "suppressed")
    assert first.hook == "x"  # type: ignore[attr-defined]
    assert second.getMessage() == ("refused a call to /imagemap/sync "
                                   "(11 more like this in the last 61s)")
    assert second.suppressed == 11  # type: ignore[attr-defined]
    assert second.funcName == "test_the_rate_limited_log_says_how_many_it_left_out"
