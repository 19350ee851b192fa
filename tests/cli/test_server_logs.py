"""What the two server processes log, read from the real processes: JSON lines that parse,
refused hook calls and API errors once per interval with a count, no configuration dump."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.cli.test_serve_hooks import HooksProcess
from tests.hardening.servers import IMAGEMAPS, make_pki
from tests.support.ports import free_port
from tests.support.waiting import wait_for
from tests.webhook.server import start_server, stop_process

REVIEW = IMAGEMAPS.parent / "create-image-form.request.json"
TOKEN = "s3cret-hooks-token"


def _stop(hooks: HooksProcess) -> int:
    """SIGTERM, its exit status; its log is read to the end and the pipe closed."""
    status = hooks.terminate()
    if hooks.process.stderr is not None:
        hooks.process.stderr.close()
    return status


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of a log as JSON: one that does not parse fails the test."""
    entries = []
    for line in text.splitlines():
        entry = json.loads(line)
        assert isinstance(entry, dict), line
        assert {"time", "level", "logger", "message"} <= entry.keys(), line
        entries.append(entry)
    return entries


def _refused(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("event") == "hook_refused"]


def test_refused_hook_calls_are_logged_once_per_interval_with_a_count(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    hooks = HooksProcess("--token-file", str(token_file), "--log-format", "json",
                         env={"IMAGE_MAPPER_LOG_REPEAT_INTERVAL": "3"})
    try:
        hooks.wait_until_listening()
        first = time.monotonic()
        for path in ("/namespace/sync", "/imagemap/sync", "/namespace/sync", "/imagemap/sync"):
            assert requests.post(hooks.url + path, data=b"{}", timeout=10).status_code == 401
        wrong = requests.post(hooks.url + "/imagemap/sync", data=b"{}", timeout=10,
                              headers={"Authorization": "Bearer wrong-token"})
        assert wrong.status_code == 401
        assert time.monotonic() - first < 3, "the calls took longer than the interval"
        time.sleep(max(0.0, first + 3.2 - time.monotonic()))
        assert requests.post(hooks.url + "/namespace/sync", data=b"{}",
                             timeout=10).status_code == 401
    finally:
        assert _stop(hooks) == 0
    entries = _json_lines("".join(hooks.log))
    refused = _refused(entries)
    assert [(e["level"], e["reason"], e["hook"], e.get("suppressed")) for e in refused] == [
        ("warning", "no Authorization header", "/namespace/sync", None),
        ("warning", "a bearer token that is not one of the accepted ones", "/imagemap/sync",
         None),
        # After the interval: the three left out meanwhile, counted.
        ("warning", "no Authorization header", "/namespace/sync", 3),
    ]
    assert refused[2]["message"].startswith("refused a hook call (401) from 127.0.0.1 to "
                                            "/namespace/sync: no Authorization header")
    assert "(3 more like this in the last 3s)" in refused[2]["message"]
    assert all(e["client"] == "127.0.0.1" for e in refused)
    assert "wrong-token" not in "".join(hooks.log)
    assert any(e["message"] == "stopped" for e in entries)  # the whole run, as JSON


def test_the_hooks_take_a_log_level(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    port = free_port()  # at warning, no line says where it listens: given here
    hooks = HooksProcess("--token-file", str(token_file), "--port", str(port),
                         env={"IMAGE_MAPPER_LOG_LEVEL": "warning"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("the hooks to answer", lambda: requests.get(url + "/healthz", timeout=5),
                 timeout=30)
        assert requests.post(url + "/imagemap/sync", data=b"{}", timeout=10).status_code == 401
    finally:
        assert _stop(hooks) == 0
    (line,) = hooks.log  # no info line: neither "serving" nor "stopped"
    assert " WARNING " in line
    assert "refused a hook call (401)" in line


def test_the_webhook_logs_json_at_debug_without_a_configuration_dump(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    log = tmp_path / "webhook.log"
    server = start_server("-f", str(IMAGEMAPS), "--shutdown-delay", "0", "--access-log",
                          "--log-level", "debug", "--log-format", "json",
                          cert_file=pki.cert_file, key_file=pki.key_file,
                          ca_bundle=pki.ca_file, log=log)
    try:
        connection = server.connection()
        connection.request("POST", "/mutate", body=REVIEW.read_bytes(),
                           headers={"Content-Type": "application/json"})
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        assert server.stop() == 0
    text = log.read_text()
    entries = _json_lines(text)
    loggers = {e["logger"] for e in entries}
    assert {"uvicorn.error", "uvicorn.access"} <= loggers  # uvicorn's lines, as JSON too
    assert any(e["level"] == "debug" for e in entries)  # debug is on
    assert any("POST /mutate" in e["message"] for e in entries if e["logger"] ==
               "uvicorn.access")
    assert "Current configuration" not in text
    assert not any("color_message" in e for e in entries)  # uvicorn's coloured copy left out
    assert "certfile" not in text  # one of the ~150 settings the dump would list
    assert len(entries) < 40, text


def test_the_webhook_logs_a_failing_watch_once_per_interval(tmp_path: Path) -> None:
    """An API server that is not there: the lists fail every backoff (0.5 s, 1 s, 2 s...) and
    each failure is one urllib3 retry storm; the log has one line per resource per interval."""
    pki = make_pki(tmp_path / "pki")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "none",
        "clusters": [{"name": "none", "cluster": {"server": f"https://127.0.0.1:{free_port()}",
                                                  "insecure-skip-tls-verify": True}}],
        "users": [{"name": "none", "user": {"token": "x"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}]}))
    log = tmp_path / "webhook.log"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IMAGE_MAPPER_", "KUBERNETES_")) and k != "KUBECONFIG"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "image_mapper", "serve-webhook", "--host", "127.0.0.1", "--port",
             str(free_port()), "--cert-file", str(pki.cert_file), "--key-file",
             str(pki.key_file), "--kubeconfig", str(kubeconfig), "--shutdown-delay", "0",
             "--log-format", "json", "--log-repeat-interval", "2"],
            stdout=out, stderr=subprocess.STDOUT, env={**env, "IMAGE_MAPPER_LOG_LEVEL": "debug"})
    try:
        def suppressed() -> bool:
            if process.poll() is not None:
                pytest.fail(log.read_text())
            return any(e.get("suppressed") for e in _api_errors(log, "imagemaps"))

        wait_for("a line counting suppressed API errors", suppressed, timeout=30, interval=0.2)
    finally:
        assert stop_process(process) == 0
    text = log.read_text()
    _json_lines(text)
    assert "Retrying" not in text  # urllib3's own retries stay out
    for resource in ("imagemaps", "namespaces"):
        errors = _api_errors(log, resource)
        first, *_ = errors
        assert first["operation"] == "list"
        assert first["error"].startswith("NewConnectionError: ")
        assert first["level"] == "warning"
        assert "suppressed" not in first
    counted = [e for e in _api_errors(log, "imagemaps") if e.get("suppressed")]
    assert counted, text
    assert f"({counted[0]['suppressed']} more like this in the last" in counted[0]["message"]
    # At most one line per interval: a line after the first only once 2 s have passed.
    times = [e["time"] for e in _api_errors(log, "imagemaps")]
    assert len(times) <= 1 + _seconds(times[0], times[-1]) / 2, times


def _api_errors(log: Path, resource: str) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [e for e in entries if e.get("event") == "api_error" and e["resource"] == resource]


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
