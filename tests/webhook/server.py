"""`image-mapper serve-webhook` in a subprocess on 127.0.0.1, and HTTPS clients for it."""

from __future__ import annotations

import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from image_mapper.webhook.tls.bootstrap import write_atomically
from tests.support.ports import free_port
from tests.support.waiting import wait_for


def client_context(ca_bundle: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_bundle))
    context.check_hostname = True
    return context


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    context: ssl.SSLContext

    def connection(self, timeout: float = 5.0) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("localhost", self.port, timeout=timeout,
                                           context=self.context)

    def get(self, path: str) -> tuple[int, str]:
        connection = self.connection()
        try:
            connection.request("GET", path)
            reply = connection.getresponse()
            return reply.status, reply.read().decode()
        finally:
            connection.close()

    def wait_ready(self, timeout: float = 20.0) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited:\n{self.log.read_text()}")
            return self.get("/readyz")[0] == 200

        try:
            wait_for(f"the server on port {self.port} to be ready", ready, timeout=timeout)
        except TimeoutError:
            pytest.fail(f"the server did not get ready:\n{self.log.read_text()}")

    def stop(self, timeout: float = 30.0) -> int:
        return stop_process(self.process, timeout)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM, then its exit status; killed, and TimeoutExpired raised, past `timeout`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def start_server(*args: str, cert_file: Path, key_file: Path, ca_bundle: Path,
                 log: Path) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IMAGE_MAPPER_", "KUBERNETES_")) and k != "KUBECONFIG"}
    command = [sys.executable, "-m", "image_mapper", "serve-webhook", "--host", "127.0.0.1",
               "--port", str(port), "--cert-file", str(cert_file), "--key-file", str(key_file),
               *args]
    return start_command(command, port=port, env=env, ca_bundle=ca_bundle, log=log)


def start_command(command: list[str], *, port: int, env: dict[str, str], ca_bundle: Path,
                  log: Path) -> Server:
    """A server's command line, run until it answers /readyz with 200 on `port`."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Server(process, port, log, client_context(ca_bundle))
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def post_review(connection: http.client.HTTPSConnection, body: bytes) -> dict[str, object]:
    connection.request("POST", "/mutate", body=body,
                       headers={"Content-Type": "application/json"})
    reply = connection.getresponse()
    data = reply.read()
    if reply.status != 200:
        raise AssertionError(f"HTTP {reply.status}: {data[:200]!r}")
    review: dict[str, object] = json.loads(data)
    return review


def peer_serial(connection: http.client.HTTPSConnection) -> int:
    sock = connection.sock
    assert isinstance(sock, ssl.SSLSocket)
    der = sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


class SecretVolume:
    """Files laid out as the kubelet lays out a Secret volume: tls.crt -> ..data/tls.crt,
    ..data -> ..<timestamp>/; an update swaps the ..data symlink in one rename."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        self.cert_file = root / "tls.crt"
        self.key_file = root / "tls.key"
        self._versions = 0

    def publish(self, cert: bytes, key: bytes) -> None:
        self._versions += 1
        version = self.root / f"..2026_01_01_00_00_{self._versions:02d}.000000001"
        version.mkdir()
        (version / "tls.crt").write_bytes(cert)
        (version / "tls.key").write_bytes(key)
        temporary = self.root / "..data_tmp"
        temporary.symlink_to(version.name)
        os.replace(temporary, self.root / "..data")
        for name in ("tls.crt", "tls.key"):
            if not (self.root / name).is_symlink():
                (self.root / name).symlink_to(f"..data/{name}")

    def write_torn(self, cert: bytes, key: bytes, gap: float) -> None:
        """Replace the files one after the other, as a careless rotation does: for `gap`
        seconds the key does not match the certificate."""
        data = (self.root / "..data").resolve()
        write_atomically(data / "tls.key", key, 0o600)
        time.sleep(gap)
        write_atomically(data / "tls.crt", cert, 0o644)
