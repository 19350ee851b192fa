"""Both servers on 127.0.0.1, started as the other test folders start them, and a client.

- The hooks: `HooksServer` (waitress) in a thread, as tests/controller/conftest.py does.
- The webhook: `image-mapper serve-webhook -f ...` (uvicorn, TLS) in a subprocess, through
  tests/webhook/server.py, with a CA and a serving certificate made here.
"""

from __future__ import annotations

import datetime as dt
import http.client
import logging
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from image_mapper.controller.app import create_app
from image_mapper.controller.server import HooksServer
from image_mapper.webhook.tls.certificates import make_ca, make_serving_cert
from tests.webhook.server import Server, start_server

from .corpus import ADMISSION_FIXTURES

IMAGEMAPS = ADMISSION_FIXTURES / "imagemaps.yaml"


@dataclass(frozen=True)
class Pki:
    """A CA and a serving certificate for localhost and 127.0.0.1, as files."""

    ca_file: Path
    ca_key_file: Path
    cert_file: Path
    key_file: Path


def make_pki(directory: Path) -> Pki:
    now = dt.datetime.now(dt.UTC)
    ca_cert, ca_key = make_ca("hardening test CA", now=now, validity=dt.timedelta(days=2))
    cert, key = make_serving_cert(
        ca_cert,
        ca_key,
        ["localhost"],
        ip_addresses=["127.0.0.1"],
        now=now,
        validity=dt.timedelta(days=1),
    )
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(
        directory / "ca.crt", directory / "ca.key", directory / "tls.crt", directory / "tls.key"
    )
    pki.ca_file.write_bytes(ca_cert)
    pki.ca_key_file.write_bytes(ca_key)
    pki.ca_key_file.chmod(0o600)
    pki.cert_file.write_bytes(cert)
    pki.key_file.write_bytes(key)
    pki.key_file.chmod(0o600)
    return pki


REQUESTS_IN_ERROR = {"imagemap_without_namespace"}
"""Errors that are the answer to a request, not a failure: an ImageMap sync without its
Namespace (hook version v1) is logged as an error that says what to configure."""


class LogCounter(logging.Handler):
    """Counts the records of a logger by level, and keeps the errors' messages (save those
    that answer a request: `REQUESTS_IN_ERROR`)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.levels: Counter[str] = Counter()
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.levels[record.levelname] += 1
        if (record.levelno >= logging.ERROR and len(self.errors) < 20
                and getattr(record, "event", None) not in REQUESTS_IN_ERROR):
            self.errors.append(record.getMessage()[:500])


@dataclass
class HooksHandle:
    host: str
    port: int
    log: LogCounter


@contextmanager
def hooks_server(**config: Any) -> Iterator[HooksHandle]:
    """The hooks app on waitress in a thread, on a free port of 127.0.0.1."""
    counter = LogCounter()
    logger = logging.getLogger("image_mapper")
    logger.addHandler(counter)
    server = HooksServer(create_app(config), host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.serve, kwargs={"shutdown_timeout": 2.0}, daemon=True)
    thread.start()
    try:
        host, port = server.addresses[0]
        yield HooksHandle(host, port, counter)
    finally:
        server.stop()
        thread.join(timeout=10)
        logger.removeHandler(counter)
        assert not thread.is_alive(), "the hooks server did not stop"


@contextmanager
def webhook_server(workdir: Path, *args: str) -> Iterator[Server]:
    """`image-mapper serve-webhook -f imagemaps.yaml` over TLS, in a subprocess."""
    pki = make_pki(workdir / "pki")
    server = start_server(
        "-f",
        str(IMAGEMAPS),
        "--shutdown-delay",
        "0",
        *args,
        cert_file=pki.cert_file,
        key_file=pki.key_file,
        ca_bundle=pki.ca_file,
        log=workdir / "webhook.log",
    )
    try:
        yield server
    finally:
        server.stop()


RETRYABLE = (ConnectionError, http.client.HTTPException, ssl.SSLError, TimeoutError)


class Client:
    """One kept-alive HTTP(S) connection, reopened when the server closes it."""

    def __init__(
        self, host: str, port: int, context: ssl.SSLContext | None = None, timeout: float = 60.0
    ) -> None:
        self.host, self.port, self.context, self.timeout = host, port, context, timeout
        self._connection: http.client.HTTPConnection | None = None
        self.reconnects = 0

    def _connect(self) -> http.client.HTTPConnection:
        if self.context is not None:
            self._connection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self.context
            )
        else:
            self._connection = http.client.HTTPConnection(
                self.host, self.port, timeout=self.timeout
            )
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def post(
        self,
        path: str,
        body: bytes,
        *,
        chunked: bool = False,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str, bytes]:
        """(status, Content-Type, body); a connection closed under it is reopened once."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        for attempt in (1, 2):
            connection = self._connection or self._connect()
            try:
                if chunked:
                    half = len(body) // 2
                    connection.request(
                        "POST",
                        path,
                        body=iter((body[:half], body[half:])),
                        headers=sent,
                        encode_chunked=True,
                    )
                else:
                    connection.request("POST", path, body=body, headers=sent)
                reply = connection.getresponse()
                data = reply.read()
            except RETRYABLE:
                self.close()
                if attempt == 2:
                    raise
                self.reconnects += 1
                continue
            if reply.will_close:
                self.close()
            return reply.status, reply.getheader("Content-Type") or "", data
        raise AssertionError("unreachable")
