"""Every offline `image-mapper` command of the README and docs/ runs as written, from the
repository's root, on the files it names (shipped in examples/ or samples/): exit status 0
unless the page shows otherwise, no traceback, no warning the page does not show, and in a
console block the output the page shows (lines with an ellipsis stand for what they cut)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.commands import ROOT, Command, all_commands

OFFLINE = ("image-mapper map", "image-mapper preview", "image-mapper validate",
           "image-mapper review", "image-mapper hook")


def offline(command: Command) -> bool:
    return command.line.startswith(OFFLINE) and "&" not in command.line.replace("&&", "")


SEQUENTIAL = {"relocating.md"}
"""Pages whose commands build on each other (a file one writes, the next reads): their own
end-to-end test runs them in order, from the first."""

CASES = [c for c in all_commands() if offline(c) and c.page not in SEQUENTIAL]


def run(line: str, merged: bool = False) -> subprocess.CompletedProcess[str]:
    """`merged`: stderr into stdout, in the order a terminal shows them."""
    bin_dir = str(Path(sys.executable).parent)
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=ROOT, env=environment,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT if merged else subprocess.PIPE,
                          text=True, timeout=120, check=False)


def test_the_pages_have_cli_commands() -> None:
    assert len(CASES) >= 12, CASES


@pytest.mark.parametrize("command", CASES, ids=lambda c: f"{c.page}: {c.line[:70]}")
def test_runs_as_written(command: Command) -> None:
    done = run(command.line, merged=command.shows is not None)
    assert "Traceback" not in done.stdout + (done.stderr or "")
    if command.shows is None:
        assert done.returncode == 0, done.stderr
        # Nothing the page does not show: no hook-version warning, no note on stderr.
        if command.line.startswith("image-mapper hook"):
            assert done.stderr == ""
        return
    assert done.returncode == (command.status or 0) or (
        command.status is None and "error:" in "".join(command.shows)), done.stderr
    shown = [line for line in command.shows if line.strip()]
    printed = [line for line in done.stdout.splitlines() if line.strip()]
    for line in shown:
        if "…" in line:
            head = line.split("…")[0]
            assert any(p.startswith(head) for p in printed), (line, printed)
        else:
            assert line in printed, (line, printed)
    if not any("…" in line for line in shown):
        assert printed == shown, "the page shows other output than the command prints"
