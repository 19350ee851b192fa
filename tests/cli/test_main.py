"""The entry point as a user meets it: a version, one line per error, the subcommand's own usage,
no traceback on a closed pipe or Ctrl-C, clear words on empty input."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from image_mapper.cli.main import version

COMMAND = [sys.executable, "-m", "image_mapper"]
SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "bootcamp-imagemap.yaml"


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], input=stdin, capture_output=True, text=True,
                          timeout=60, check=False)


def test_version() -> None:
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"image-mapper {version()}"
    assert version() != "unknown (not installed)"  # the venv has the package installed


def test_a_bad_flag_gets_the_subcommand_s_own_usage() -> None:
    done = run("map", "-f", str(SAMPLE), "--nope", "nginx")
    assert done.returncode == 2
    assert done.stderr.startswith("usage: image-mapper map ")
    assert "unrecognized arguments: --nope" in done.stderr


def test_a_closed_pipe_ends_quietly() -> None:
    images = [f"registry.example.com/app{i}:v{i}" for i in range(6000)]  # past a pipe's buffer
    with subprocess.Popen([*COMMAND, "map", "-f", str(SAMPLE), *images],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.readline()
        process.stdout.close()  # as `| head -1` does
        assert process.wait(60) == 141
        assert process.stderr.read() == b""


def test_ctrl_c_ends_quietly() -> None:
    with subprocess.Popen([*COMMAND, "hook", "/imagemap/sync"], stdin=subprocess.PIPE,
                          stderr=subprocess.PIPE) as process:
        time.sleep(1.0)  # waiting on standard input
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 130
        assert process.stderr is not None
        assert b"Traceback" not in process.stderr.read()


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(("hook", "/imagemap/sync"), "the JSON body Metacontroller POSTs", id="hook"),
    pytest.param(("review", "-f", str(SAMPLE)), "expected an AdmissionReview", id="review"),
    pytest.param(("map", "-f", "-", "nginx"), "expected YAML documents", id="map"),
    pytest.param(("preview", "-f", str(SAMPLE), "-"), "expected YAML documents", id="preview"),
    pytest.param(("validate", "-f", "-"), "expected YAML documents", id="validate"),
])
def test_empty_input_is_named(args: tuple[str, ...], message: str) -> None:
    done = run(*args, stdin="  \n")
    assert done.returncode == 1
    assert "standard input is empty" in done.stderr
    assert message in done.stderr
    assert "-f -" not in done.stderr  # `preview -` has no -f - to name
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [
    pytest.param(("hook", "/imagemap/sync"), id="hook"),
    pytest.param(("review", "-f", str(SAMPLE)), id="review"),
    pytest.param(("map", "-f", "-", "nginx"), id="map"),
    pytest.param(("preview", "-f", str(SAMPLE), "-"), id="preview"),
    pytest.param(("validate", "-f", "-"), id="validate"),
])
def test_a_closed_standard_input_is_named(args: tuple[str, ...]) -> None:
    """`image-mapper ... <&-`: Python then has no sys.stdin at all."""
    done = subprocess.run(["bash", "-c", 'exec "$@" <&-', "bash", *COMMAND, *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert "standard input is closed" in done.stderr
    assert "Traceback" not in done.stderr


INTERNAL = re.compile(r"S[P]EC|design\.md")
"""What help texts and CRD descriptions never cite: documents internal to the project."""


def test_no_design_section_is_cited_to_users() -> None:
    for args in ((), ("map",), ("review",), ("hook",), ("serve-hooks",), ("serve-webhook",)):
        done = run(*args, "--help")
        assert done.returncode == 0
        assert not INTERNAL.search(done.stdout), args
    crd = (Path(__file__).resolve().parents[2] / "hooks" / "image_mapper" / "crds"
           / "imagemaps.yaml").read_text()
    assert all(not INTERNAL.search(line) for line in crd.splitlines()
               if line.strip().startswith("description"))
