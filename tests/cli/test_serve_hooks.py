"""`image-mapper serve-hooks` as a process: options, environment, token file, SIGTERM."""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from image_mapper.cli import serve_hooks
from tests.golden import hook_cases
from tests.support.waiting import wait_for

NEWCOMER = next(c for c in hook_cases("/imagemap/sync") if c.name == "newcomer-conflicts")
LISTENING = re.compile(r"serving Metacontroller hooks on http://([\d.]+):(\d+)")


class HooksProcess:
    """`image-mapper serve-hooks` on a free port; its log is read as it is written."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "image_mapper",
             "serve-hooks", "--host", "127.0.0.1", "--port", "0",
             *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})},
        )
        self.log: list[str] = []
        self.url = ""
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def wait_until_listening(self, timeout: float = 30) -> None:
        if not self._listening.wait(timeout):
            self.process.kill()
            pytest.fail("serve-hooks did not start:\n" + "".join(self.log))

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)
            found = LISTENING.search(line)
            if found and not self.url:
                self.url = f"http://{found[1]}:{found[2]}"
                self._listening.set()

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.wait()

    def wait(self) -> int:
        status = self.process.wait(timeout=20)
        self._reader.join(timeout=5)
        return status


@pytest.fixture
def start_hooks() -> Iterator[Callable[..., HooksProcess]]:
    """`start_hooks(*args, env=...)`: a listening serve-hooks process, killed at teardown."""
    started: list[HooksProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> HooksProcess:
        hooks = HooksProcess(*args, env=env)
        started.append(hooks)
        hooks.wait_until_listening()
        return hooks

    yield start
    for hooks in started:
        if hooks.process.poll() is None:
            hooks.process.kill()
        hooks.process.wait(timeout=20)
        hooks._reader.join(timeout=5)
        if hooks.process.stderr is not None:
            hooks.process.stderr.close()


def test_serves_then_stops_cleanly_on_sigterm(start_hooks: Callable[..., HooksProcess]) -> None:
    hooks = start_hooks()
    assert requests.get(hooks.url + "/healthz", timeout=10).status_code == 200
    answer = requests.post(hooks.url + "/imagemap/sync", data=NEWCOMER.request_path.read_bytes(),
                           timeout=10)
    assert answer.json()["status"]["conditions"][0]["reason"] == "Conflict"
    assert hooks.terminate() == 0
    log = "".join(hooks.log)
    assert "received SIGTERM: shutting down" in log
    assert "stopped" in log
    assert "Traceback" not in log


def test_a_call_being_received_at_sigterm_is_still_answered(
    start_hooks: Callable[..., HooksProcess],
) -> None:
    hooks = start_hooks()
    body = NEWCOMER.request_path.read_bytes()
    host, port = hooks.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"POST /imagemap/sync HTTP/1.1\r\nHost: hooks\r\n"
                           b"Content-Type: application/json\r\nConnection: close\r\n"
                           b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                           + body[:100])
        # Wait until the server has read the first part, then ask it to stop.
        requests.get(hooks.url + "/healthz", timeout=10)
        hooks.process.send_signal(signal.SIGTERM)
        connection.sendall(body[100:])
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:200]
    assert b'"reason":"Conflict"' in answer
    assert hooks.wait() == 0  # stopped by the one SIGTERM
    assert "Traceback" not in "".join(hooks.log)


def test_the_token_file_from_the_environment_is_required(
    start_hooks: Callable[..., HooksProcess], tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-a-secret\n", encoding="utf-8")
    hooks = start_hooks(env={serve_hooks.ENV_TOKEN_FILE: str(token_file)})
    url = hooks.url + "/imagemap/sync"
    body = NEWCOMER.request_path.read_bytes()
    assert requests.post(url, data=body, timeout=10).status_code == 401
    authorized = requests.post(url, data=body, timeout=10,
                               headers={"Authorization": "Bearer from-a-secret"})
    assert authorized.status_code == 200
    assert "token check on" in "".join(hooks.log)
    assert hooks.terminate() == 0


@pytest.mark.parametrize(
    ("make_file", "message"),
    [(False, "cannot read the hooks token from"), (True, "is empty")],
    ids=["missing", "empty"],
)
def test_an_unusable_token_file_is_an_error(tmp_path: Path, make_file: bool,
                                            message: str) -> None:
    token_file = tmp_path / "token"
    if make_file:
        token_file.write_text("  \n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "image_mapper", "serve-hooks", "--port", "0",
         "--token-file", str(token_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("image-mapper serve-hooks: error: ")
    assert message in done.stderr
    assert str(token_file) in done.stderr


def parse(argv: list[str], environ: dict[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    serve_hooks.configure(parser, environ)
    return parser.parse_args(argv)


def test_defaults() -> None:
    args = parse([], {})
    assert (args.host, args.port, args.threads, args.token_file, args.shutdown_timeout) == (
        "0.0.0.0", 8080, 4, None, 10.0)


def test_the_environment_fills_in_options_not_given() -> None:
    environ = {serve_hooks.ENV_HOST: "127.0.0.1", serve_hooks.ENV_PORT: "9000",
               serve_hooks.ENV_THREADS: "8", serve_hooks.ENV_TOKEN_FILE: "/run/token",
               serve_hooks.ENV_SHUTDOWN_TIMEOUT: "2.5"}
    args = parse(["--port", "9001"], environ)
    assert (args.host, args.port, args.threads, args.token_file, args.shutdown_timeout) == (
        "127.0.0.1", 9001, 8, Path("/run/token"), 2.5)


@pytest.mark.parametrize(
    ("argv", "environ"),
    [(["--port", "http"], {}), (["--port", "70000"], {}), ([], {serve_hooks.ENV_PORT: "x"}),
     (["--threads", "0"], {}), (["--shutdown-timeout", "-1"], {})],
    ids=["port-word", "port-range", "port-env", "no-threads", "negative-timeout"],
)
def test_bad_settings_are_refused(argv: list[str], environ: dict[str, str],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        parse(argv, environ)
    assert raised.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_tokens_in_a_mounted_secret_are_reloaded_without_a_restart(
    start_hooks: Callable[..., HooksProcess], tmp_path: Path
) -> None:
    """Rotation: a new key added to the Secret is accepted beside the old one; once the old key
    is removed, only the new token is (the kubelet updates a Secret volume in place)."""
    secret = tmp_path / "hooks-token"
    secret.mkdir()
    (secret / "token").write_text("old-token\n", encoding="utf-8")
    (secret / "..data").mkdir()  # the kubelet's own entries are not tokens
    hooks = start_hooks(env={serve_hooks.ENV_TOKEN_FILE: str(secret)})
    url = hooks.url + "/imagemap/sync"
    body = NEWCOMER.request_path.read_bytes()

    def status(token: str) -> int:
        return requests.post(url, data=body, timeout=10,
                             headers={"Authorization": f"Bearer {token}"}).status_code

    assert (status("old-token"), status("new-token")) == (200, 401)
    (secret / "token-2").write_text("new-token\n", encoding="utf-8")
    wait_for("the new token", lambda: status("new-token") == 200)
    assert status("old-token") == 200  # both, while the controllers move to the new key
    (secret / "token").unlink()
    wait_for("the old token to go", lambda: status("old-token") == 401)
    assert status("new-token") == 200
    (secret / "token-2").write_text("", encoding="utf-8")  # emptied mid-update: kept
    time.sleep(1.5)
    assert status("new-token") == 200
    assert "hooks tokens reloaded" in "".join(hooks.log)
    assert hooks.terminate() == 0
