"""`image-mapper serve-webhook` over real TLS on 127.0.0.1: rotation and graceful shutdown.

The server runs as a subprocess (it installs signal handlers), serving the
golden ImageMaps with `-f`, so no API server is needed here.
"""

from __future__ import annotations

import datetime as dt
import http.client
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509

from image_mapper.webhook.tls.certificates import make_ca
from tests.golden import ADMISSION_FIXTURES, IMAGEMAPS
from tests.support.waiting import wait_for

from .conftest import Pki
from .server import SecretVolume, Server, peer_serial, post_review, start_server

REVIEW = (ADMISSION_FIXTURES / "create-all-container-lists.request.json").read_bytes()


def _close_abandoned_tls_sockets(error: BaseException) -> None:
    """Close the SSLSocket a failed `wrap_socket` leaves open.

    CPython's `SSLSocket._create` (3.11.7) re-raises an error from its pre-handshake
    `getpeername()`/`recv(1)` check without closing the new socket, which already owns the file
    descriptor; a connection the stopping server resets at that moment then leaks it (a
    ResourceWarning, which pytest turns into a failure). Only the traceback still reaches it.
    """
    traceback = error.__traceback__
    while traceback is not None:
        candidate = traceback.tb_frame.f_locals.get("self")
        if isinstance(candidate, ssl.SSLSocket):
            candidate.close()
        traceback = traceback.tb_next


@dataclass
class Load:
    """Clients sending reviews until stopped, on new and on kept-alive connections."""

    server: Server
    stopping: threading.Event = field(default_factory=threading.Event)
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    serials: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def _count(self, what: str, error: BaseException | None = None) -> None:
        with self.lock:
            self.counts[what] += 1
            if error is not None:
                self.errors.append(f"{what}: {type(error).__name__}: {error}")

    def _send(self, connection: http.client.HTTPSConnection) -> bool:
        """One review; False when the connection is no longer usable."""
        try:
            connection.connect() if connection.sock is None else None
        except (OSError, ssl.SSLError) as error:
            connection.close()
            _close_abandoned_tls_sockets(error)
            self._count("not connected", error)  # only expected once the server has stopped
            return False
        with self.lock:
            self.serials.add(peer_serial(connection))
        try:
            review = post_review(connection, REVIEW)
            assert review["response"]["uid"] == "00000001-5a1e-4d3c-9b2a-000000000001"  # type: ignore[index]
        except (OSError, AssertionError, http.client.HTTPException) as error:
            self._count("failed", error)
            return False
        self._count("ok")
        return True

    def _fresh_connections(self) -> None:
        while not self.stopping.is_set():
            connection = self.server.connection(timeout=3)
            ok = self._send(connection)
            connection.close()
            if not ok and self.counts["not connected"]:
                time.sleep(0.05)

    def _kept_alive(self) -> None:
        connection = self.server.connection(timeout=3)
        while not self.stopping.is_set():
            if not self._send(connection) or connection.sock is None:
                connection.close()
                connection = self.server.connection(timeout=3)
                if self.counts["not connected"]:
                    time.sleep(0.05)
        connection.close()

    def start(self, fresh: int = 3, kept_alive: int = 3) -> None:
        targets = [self._fresh_connections] * fresh + [self._kept_alive] * kept_alive
        self.threads = [threading.Thread(target=t, daemon=True) for t in targets]
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(10)

    @property
    def sent(self) -> int:
        return self.counts["ok"] + self.counts["failed"]


def _plain_http_get(port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    try:
        connection.request("GET", path)
        return connection.getresponse().read()
    finally:
        connection.close()


def _serial(cert: bytes) -> int:
    return x509.load_pem_x509_certificate(cert).serial_number


def _wait_for_serial(server: Server, serial: int, timeout: float = 5.0) -> float:
    """Seconds until a new connection is served with certificate `serial`."""
    started = time.monotonic()

    def served() -> float | None:
        connection = server.connection()
        try:
            connection.connect()
            return time.monotonic() - started if peer_serial(connection) == serial else None
        finally:
            connection.close()

    return wait_for(f"certificate {serial:x} to be served", served, timeout=timeout,
                    interval=0.02)


def test_serves_https_only_with_the_given_certificate(pki: Pki, tmp_path: Path) -> None:
    server = start_server("-f", str(IMAGEMAPS), cert_file=pki.cert_file,
                          key_file=pki.key_file, ca_bundle=pki.ca_file,
                          log=tmp_path / "server.log")
    try:
        assert server.get("/healthz") == (200, "ok\n")
        assert server.get("/readyz")[0] == 200
        connection = server.connection()
        review = post_review(connection, REVIEW)
        assert review["response"]["patchType"] == "JSONPatch"  # type: ignore[index]
        assert peer_serial(connection) == _serial(pki.cert_file.read_bytes())
        connection.close()
        with pytest.raises((http.client.HTTPException, OSError)):
            _plain_http_get(server.port, "/healthz")
    finally:
        assert server.stop() == 0


def test_certificate_rotation_under_steady_requests_fails_no_request(
    pki: Pki, tmp_path: Path
) -> None:
    now = dt.datetime.now(dt.UTC)
    ca2_cert, ca2_key = make_ca("second CA", now=now, validity=dt.timedelta(days=30))
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.ca_cert + ca2_cert)  # the client trusts both, as caBundle would
    volume = SecretVolume(tmp_path / "volume")
    volume.publish(*pki.issue())
    server = start_server("-f", str(IMAGEMAPS), cert_file=volume.cert_file,
                          key_file=volume.key_file, ca_bundle=bundle,
                          log=tmp_path / "server.log")
    load = Load(server)
    load.start()
    rotations: list[tuple[str, float]] = []
    try:
        time.sleep(0.5)
        for round_ in range(6):
            kind = ("kubelet swap", "torn write", "kubelet swap, new CA")[round_ % 3]
            cert, key = (pki.issue(ca_cert=ca2_cert, ca_key=ca2_key) if "new CA" in kind
                         else pki.issue())
            if kind == "torn write":
                volume.write_torn(cert, key, gap=0.3)
            else:
                volume.publish(cert, key)
            rotations.append((kind, _wait_for_serial(server, _serial(cert))))
            time.sleep(0.7)
    finally:
        load.stop()
        exit_code = server.stop()
    log = server.log.read_text()
    print(f"\nrotation under load: {load.sent} requests sent, {load.counts['failed']} failed, "
          f"{len(load.serials)} certificates seen; rotations (kind, seconds until served): "
          f"{[(k, round(s, 3)) for k, s in rotations]}")
    assert load.counts["failed"] == 0, load.errors[:5]
    assert load.counts["not connected"] == 0, load.errors[:5]
    assert load.sent >= 200
    assert len(load.serials) == 7  # the first and six rotations, each served
    assert "keeping the current certificate" in log  # the torn write was ridden out
    assert "Traceback" not in log
    assert exit_code == 0


def test_sigterm_goes_unready_finishes_requests_and_exits(pki: Pki, tmp_path: Path) -> None:
    server = start_server("-f", str(IMAGEMAPS), "--shutdown-delay", "2",
                          cert_file=pki.cert_file, key_file=pki.key_file,
                          ca_bundle=pki.ca_file, log=tmp_path / "server.log")
    load = Load(server)
    load.start(fresh=1, kept_alive=3)
    time.sleep(0.5)
    served_before = load.counts["ok"]
    server.process.terminate()
    started = time.monotonic()
    readiness: list[int] = []
    while time.monotonic() - started < 1.5:
        readiness.append(server.get("/readyz")[0])
        time.sleep(0.1)
    served_while_draining = load.counts["ok"] - served_before
    exit_code = server.process.wait(30)
    stopped_after = time.monotonic() - started
    load.stop()
    print(f"\nshutdown: {load.sent} requests sent, {load.counts['failed']} failed, "
          f"{served_while_draining} served while unready; exited after {stopped_after:.1f}s")
    assert exit_code == 0
    # Unready at once (a probe sent in the instant before the signal is handled may still
    # see 200), and unready until the end: never ready again while draining.
    assert 503 in readiness, readiness
    first = readiness.index(503)
    assert first <= 2, readiness
    assert set(readiness[first:]) == {503}, readiness
    assert served_while_draining > 0
    assert load.counts["failed"] == 0, load.errors[:5]
    assert 2 <= stopped_after < 10
    log = server.log.read_text()
    assert "SIGTERM: not ready" in log
    assert "Traceback" not in log


def test_stop_accepting_closes_uvicorns_listeners_and_keeps_serving() -> None:
    """The one uvicorn internal the webhook uses: `uvicorn.Server.servers`, the asyncio servers
    its startup listens with. Closing them refuses new connections; the server runs on."""
    import asyncio
    import socket as socket_module

    import uvicorn

    from image_mapper.webhook.server import stop_accepting

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        return None

    async def scenario() -> None:
        sock = socket_module.create_server(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, lifespan="off", log_level="critical")
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        assert server.servers, "uvicorn.Server.servers is empty after startup"
        assert all(isinstance(s, asyncio.base_events.Server) for s in server.servers)
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        stop_accepting(server)
        await asyncio.sleep(0.1)
        assert not any(s.is_serving() for s in server.servers)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        await server.shutdown()

    asyncio.run(scenario())
