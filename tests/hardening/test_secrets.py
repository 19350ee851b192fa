"""The hooks' bearer token is enforced; tokens and private keys never reach the logs.

Both servers run as the commands the image runs (`image-mapper serve-hooks --token-file`,
`image-mapper serve-webhook` with its access log on and debug logging), their stderr captured;
requests carry secrets in headers; then the logs are searched for them.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import http.server
import json
import logging
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from image_mapper.controller import app as hooks_app
from image_mapper.webhook.kube import KubernetesTLSStore, close, kube_client
from image_mapper.webhook.tls.bootstrap import TLSBootstrap, write_atomically
from image_mapper.webhook.tls.certificates import make_serving_cert
from tests.cli.test_serve_hooks import HooksProcess
from tests.support.ports import free_port
from tests.webhook.server import start_server

from .corpus import HOOK_FIXTURES
from .servers import IMAGEMAPS, make_pki

TOKEN = "hooks-token-5e1f0c2a9b7d4e36a1c8f0d2b4e6a8c0"
WRONG = "hooks-token-00000000000000000000000000000000"
CLIENT_SECRETS = (
    "client-bearer-9f8e7d6c5b4a",
    "session-cookie-1a2b3c4d5e6f",
    "api-key-0f1e2d3c4b5a",
)
SYNC = (HOOK_FIXTURES / "imagemap-sync" / "new-imagemap-accepted.request.json").read_bytes()


def _pem_lines(pem: bytes) -> list[str]:
    """The base64 lines of a PEM block: any of them in a log is a leak."""
    return [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]


def _assert_no_secrets(log: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in log, f"{secret[:12]}... is in the log"


# --- the hooks' token ---------------------------------------------------------------------------


@pytest.fixture
def hooks_with_token(tmp_path: Path) -> Iterator[HooksProcess]:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    process = HooksProcess("--token-file", str(token_file))
    process.wait_until_listening()
    yield process
    if process.process.poll() is None:
        process.terminate()
    process.wait()
    if process.process.stderr is not None:
        process.process.stderr.close()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": f"Bearer {WRONG}"}, 401),
        ({"Authorization": f"Bearer {TOKEN[:-1]}"}, 401),
        ({"Authorization": f"Bearer {TOKEN}x"}, 401),
        ({"Authorization": TOKEN}, 401),
        ({"Authorization": f"Basic {TOKEN}"}, 401),
        ({"Authorization": f"bearer {TOKEN}"}, 401),
        ({"Authorization": f"Bearer {TOKEN}"}, 200),
    ],
    ids=["none", "wrong", "prefix", "longer", "no-scheme", "basic", "lowercase-scheme", "right"],
)
def test_the_hooks_token_is_enforced_over_http(
    hooks_with_token: HooksProcess, headers: dict[str, str], status: int
) -> None:
    answer = requests.post(
        hooks_with_token.url + "/imagemap/sync",
        data=SYNC,
        timeout=10,
        headers={"Content-Type": "application/json", **headers},
    )
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == "application/json"
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Bearer ")
        assert "Authorization: Bearer" in answer.json()["error"]
    else:
        assert answer.json()["status"]["conditions"][0]["reason"] == "Accepted"


def test_probes_and_metrics_need_no_token(hooks_with_token: HooksProcess) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert requests.get(hooks_with_token.url + path, timeout=10).status_code == 200


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hooks_app.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hooks_app.hmac, "compare_digest", spy)
    client = hooks_app.create_app({"HOOKS_TOKEN": TOKEN}).test_client()
    for token in (WRONG, TOKEN):
        client.post("/imagemap/customize", data=b"{}", headers={"Authorization": f"Bearer {token}"})
    assert compared == [
        (f"Bearer {WRONG}".encode(), f"Bearer {TOKEN}".encode()),
        (f"Bearer {TOKEN}".encode(), f"Bearer {TOKEN}".encode()),
    ]


def test_the_hooks_log_no_token(hooks_with_token: HooksProcess) -> None:
    url = hooks_with_token.url
    for token in (TOKEN, WRONG, *CLIENT_SECRETS):
        for body in (SYNC, b"{not json", b"[]"):
            requests.post(
                url + "/imagemap/sync",
                data=body,
                timeout=10,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Cookie": f"session={CLIENT_SECRETS[1]}",
                    "X-Api-Key": CLIENT_SECRETS[2],
                },
            )
    assert hooks_with_token.terminate() == 0
    log = "".join(hooks_with_token.log)
    assert "bad request" in log  # the log was captured, and it does log requests
    _assert_no_secrets(log, [TOKEN, WRONG, *CLIENT_SECRETS])


# --- the webhook's key and the clients' secrets ---------------------------------------------------


def test_the_webhook_logs_no_key_and_no_client_secret(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    first_key = pki.key_file.read_bytes()
    server = start_server(
        "-f",
        str(IMAGEMAPS),
        "--shutdown-delay",
        "0",
        "--access-log",
        "--log-level",
        "debug",
        cert_file=pki.cert_file,
        key_file=pki.key_file,
        ca_bundle=pki.ca_file,
        log=tmp_path / "webhook.log",
    )
    review = (IMAGEMAPS.parent / "create-image-form.request.json").read_bytes()
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {CLIENT_SECRETS[0]}",
        "Cookie": f"session={CLIENT_SECRETS[1]}",
        "X-Api-Key": CLIENT_SECRETS[2],
    }
    try:
        for body in (review, b"{}", b"[" * 10_000):
            connection = server.connection()
            connection.request("POST", "/mutate", body=body, headers=headers)
            connection.getresponse().read()
            connection.close()
        # A rotation, written carelessly (the key first): logged, and reloaded.
        cert, key = make_serving_cert(
            pki.ca_file.read_bytes(),
            pki.ca_key_file.read_bytes(),
            ["localhost"],
            ip_addresses=["127.0.0.1"],
            now=dt.datetime.now(dt.UTC),
            validity=dt.timedelta(days=1),
        )
        write_atomically(pki.key_file, key, 0o600)
        _connect(server.port)
        write_atomically(pki.cert_file, cert, 0o644)
        assert server.get("/healthz")[0] == 200
    finally:
        assert server.stop() == 0
    log = (tmp_path / "webhook.log").read_text()
    assert "POST /mutate" in log  # the access log is on
    assert log.count("serving the certificate") == 2
    assert log.count("keeping the current certificate") == 1
    _assert_no_secrets(log, [*CLIENT_SECRETS, *_pem_lines(first_key), *_pem_lines(key)])
    assert "PRIVATE KEY" not in log


def _connect(port: int) -> None:
    """A TLS handshake, whatever its outcome: the server picks its certificate files up."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)) as raw:
        context.wrap_socket(raw).close()


# --- a 403 from the API server ----------------------------------------------------------------

API_SECRETS = ("apiserver-token-3c5e7a9b1d2f", "audit-id-7b6a5c4d3e2f", "body-secret-8e9f0a1b")


class Forbidding(http.server.BaseHTTPRequestHandler):
    """An API server that answers 403 to everything, with headers and a body to leak."""

    def _forbid(self) -> None:
        body = json.dumps(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": f"secrets is forbidden: {API_SECRETS[2]}",
                "reason": "Forbidden",
                "code": 403,
            }
        ).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Audit-Id", API_SECRETS[1])
        self.send_header("X-Echo-Authorization", self.headers.get("Authorization", ""))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = _forbid

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def forbidding_kubeconfig(tmp_path: Path) -> Iterator[Path]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forbidding)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "fake",
                "clusters": [
                    {
                        "name": "fake",
                        "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"},
                    }
                ],
                "users": [{"name": "fake", "user": {"token": API_SECRETS[0]}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            }
        )
    )
    yield kubeconfig
    server.shutdown()
    server.server_close()


def test_a_403_at_tls_bootstrap_is_one_line(forbidding_kubeconfig: Path, tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IMAGE_MAPPER_", "KUBERNETES_")) and k != "KUBECONFIG"
    }
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "image_mapper",
            "serve-webhook",
            "--bootstrap-tls",
            "--kubeconfig",
            str(forbidding_kubeconfig),
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port()),
            "--cert-file",
            str(tmp_path / "tls.crt"),
            "--key-file",
            str(tmp_path / "tls.key"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert finished.returncode == 1
    assert finished.stderr.strip().splitlines() == [
        "image-mapper serve-webhook: error: TLS bootstrap failed: HTTP 403 Forbidden"
    ]
    _assert_no_secrets(finished.stderr + finished.stdout, list(API_SECRETS))


def test_a_403_in_the_rotation_loop_is_one_warning_line(
    forbidding_kubeconfig: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api_client = kube_client(kubeconfig=str(forbidding_kubeconfig))
    store = KubernetesTLSStore(
        api_client,
        namespace="image-mapper",
        secret_name="tls",
        webhook_configuration="image-mapper",
    )
    bootstrap = TLSBootstrap(store, tmp_path / "tls.crt", tmp_path / "tls.key", ["webhook"])
    stopping = threading.Event()
    thread = threading.Thread(target=bootstrap.run, args=(stopping, 0.01, 0.01), daemon=True)
    try:
        with caplog.at_level(logging.WARNING, logger="image_mapper.webhook.tls"):
            thread.start()
            deadline = time.monotonic() + 20
            while not caplog.records and time.monotonic() < deadline:
                time.sleep(0.01)
            stopping.set()
            thread.join(timeout=10)
    finally:
        close(api_client)
    messages = [record.getMessage() for record in caplog.records]
    assert messages
    assert messages[0] == "TLS check failed (HTTP 403 Forbidden); retrying in 0s"
    _assert_no_secrets(caplog.text, list(API_SECRETS))
    assert base64.b64encode(API_SECRETS[0].encode()).decode() not in caplog.text
