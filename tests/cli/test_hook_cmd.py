"""`image-mapper hook PATH < request.json`: every golden response, byte for byte, and errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from image_mapper.cli.main import main
from image_mapper.engine.record import ANNOTATION
from tests.golden import Golden, hook_cases

CASES = hook_cases()
NEWCOMER = next(c for c in hook_cases("/imagemap/sync") if c.name == "newcomer-conflicts")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hook_command(
    case: Golden, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(case.request_path.read_text(encoding="utf-8")))
    assert main(["hook", case.hook, "--now", "2026-01-01T12:00:00Z"]) == 0
    # Byte for byte: the response files are the command's own output.
    assert capsys.readouterr().out == case.response_path.read_text(encoding="utf-8")


def run(
    argv: list[str], stdin: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    status = main(["hook", *argv])
    out, err = capsys.readouterr()
    return status, out, err


ERRORS = [
    ("unknown-hook", ["/imagemap/finalize"], "{}",
     "image-mapper hook: error: no hook at '/imagemap/finalize'; the hooks are "
     "/imagemap/customize"),
    ("not-json", ["/imagemap/sync"], "{nope",
     "image-mapper hook: error: the request on stdin is not valid JSON: "),
    ("bad-request", ["/namespace/sync"], '{"object": {"kind": "Pod", "metadata": {"name": "p"}}}',
     "image-mapper hook: error: /namespace/sync: bad request: 'object' must be a Namespace, "
     "not a Pod"),
]


@pytest.mark.parametrize(("argv", "stdin", "message"), [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_errors_name_the_problem(
    argv: list[str], stdin: str, message: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = run(argv, stdin, monkeypatch, capsys)
    assert (status, out) == (1, "")
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_the_leading_slash_is_optional(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    request = NEWCOMER.request_path.read_text(encoding="utf-8")
    status, out, _ = run(["imagemap/sync", "--now", "2026-01-01T12:00:00Z"], request,
                         monkeypatch, capsys)
    assert status == 0
    assert json.loads(out) == NEWCOMER.response()


@pytest.mark.parametrize("now", ["yesterday", "2026-01-01T12:00:00"], ids=["garbage", "no-zone"])
def test_now_must_be_an_rfc3339_time(
    now: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        run(["/imagemap/sync", "--now", now], "{}", monkeypatch, capsys)
    assert raised.value.code == 2
    assert "--now" in capsys.readouterr().err


def test_the_console_command_uses_the_clock() -> None:
    # A record without the time of each verdict: a flip takes the current time.
    request = json.loads(NEWCOMER.request_path.read_bytes())
    [namespace] = request["related"]["Namespace.v1"].values()
    annotations = namespace["metadata"]["annotations"]
    record = json.loads(annotations[ANNOTATION])
    annotations[ANNOTATION] = json.dumps({key: [row[:3] for row in rows]
                                          for key, rows in record.items()})
    before = datetime.now(UTC).replace(microsecond=0)
    done = subprocess.run(
        [sys.executable, "-m", "image_mapper", "hook", "/imagemap/sync"],
        input=json.dumps(request).encode(), capture_output=True, timeout=60, check=True,
    )
    condition = json.loads(done.stdout)["status"]["conditions"][0]
    flipped_at = datetime.fromisoformat(condition["lastTransitionTime"])
    assert before <= flipped_at <= datetime.now(UTC)
