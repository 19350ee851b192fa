"""The webhook's TLS over real connections on loopback: TLS 1.2 at least, modern ciphers only.

Against `image-mapper serve-webhook` (uvicorn, its context from `CertificateReloader`, which
applies `image_mapper.webhook.tls.reloader.apply_server_policy`):
- TLS 1.0 and 1.1 clients are refused. The same client first completes a TLS 1.0/1.1
  handshake with a permissive server in this process, so the refusal is the webhook's doing,
  not the client's inability.
- TLS 1.2 and TLS 1.3 clients are served.
- Over TLS 1.2, of every cipher suite this OpenSSL can offer, the webhook accepts exactly the
  ECDHE + AEAD suites: NULL, CBC (SHA-1, SHA-256, SHA-384 MACs), CCM, CAMELLIA, ARIA,
  anonymous, PSK and static-RSA suites are refused. RC4, 3DES and export suites are no longer
  built into OpenSSL 3, so no client here can offer them; the server's own cipher list is
  checked for them instead.
"""

from __future__ import annotations

import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from image_mapper.webhook.tls.reloader import MINIMUM_TLS_VERSION, apply_server_policy
from tests.webhook.server import Server

from .servers import make_pki

ALLOWED_TLS12 = {
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
}
"""What the webhook's ECDSA certificate can be served with over TLS 1.2."""

OLD_VERSIONS = [
    pytest.param("TLSv1", id="tls1.0"),
    pytest.param("TLSv1_1", id="tls1.1"),
]


def _old_client(version: str) -> ssl.SSLContext:
    """A client that speaks only `version` (Python deprecates asking for it; that is fine)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = getattr(ssl.TLSVersion, version)
        context.maximum_version = getattr(ssl.TLSVersion, version)
    context.set_ciphers("ALL:@SECLEVEL=0")
    return context


def _handshake(port: int, context: ssl.SSLContext) -> tuple[str | None, str | None]:
    """(TLS version, cipher) of a completed handshake with 127.0.0.1:`port`."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        cipher = tls.cipher()
        return tls.version(), cipher[0] if cipher else None


@pytest.fixture(scope="module")
def permissive_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A TLS server that takes TLS 1.0 and up, to show the old clients work at all."""
    pki = make_pki(tmp_path_factory.mktemp("permissive"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("ALL:@SECLEVEL=0")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(5)
            try:
                with context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stopping.set()
    thread.join(timeout=5)
    listener.close()


@pytest.mark.parametrize("version", OLD_VERSIONS)
def test_old_tls_clients_work_against_a_permissive_server(
    permissive_server: int, version: str
) -> None:
    negotiated, _ = _handshake(permissive_server, _old_client(version))
    assert negotiated == {"TLSv1": "TLSv1", "TLSv1_1": "TLSv1.1"}[version]


@pytest.mark.parametrize("version", OLD_VERSIONS)
def test_the_webhook_refuses_tls_1_0_and_1_1(webhook: Server, version: str) -> None:
    # The refusal is OpenSSL's; asyncio's TLS (uvloop's, like the standard library's) closes
    # the connection without flushing the protocol_version alert, so the client may see EOF.
    with pytest.raises(ssl.SSLError, match=r"PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION"
                                           r"|UNEXPECTED_EOF"):
        _handshake(webhook.port, _old_client(version))
    assert webhook.get("/healthz")[0] == 200


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_the_webhook_serves_tls_1_2_and_1_3(webhook: Server, version: str) -> None:
    context = ssl.create_default_context(cafile=str(_ca_file(webhook)))
    context.minimum_version = context.maximum_version = getattr(ssl.TLSVersion, version)
    negotiated, cipher = _handshake(webhook.port, context)
    assert negotiated == version.replace("_", ".")
    if version == "TLSv1_2":
        assert cipher in ALLOWED_TLS12


def _ca_file(webhook: Server) -> Path:
    return Path(webhook.log).parent / "pki" / "ca.crt"


def _tls12_client(cipher: str, ca_file: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(ca_file))
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(f"{cipher}:@SECLEVEL=0")
    return context


def _offerable_tls12_suites() -> list[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    return sorted(c["name"] for c in context.get_ciphers() if c["protocol"] != "TLSv1.3")


def test_over_tls_1_2_only_ecdhe_aead_suites_are_accepted(webhook: Server) -> None:
    accepted, refused = set(), set()
    for cipher in _offerable_tls12_suites():
        try:
            _handshake(webhook.port, _tls12_client(cipher, _ca_file(webhook)))
        except ssl.SSLError:
            refused.add(cipher)
        else:
            accepted.add(cipher)
    assert accepted == ALLOWED_TLS12
    # The weak kinds this OpenSSL can still offer were among those tried, and refused.
    for weak in (
        "ECDHE-ECDSA-NULL-SHA",
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA",
        "ECDHE-ECDSA-AES128-SHA256",
        "ECDHE-ECDSA-AES256-SHA384",
        "NULL-SHA",
        "AECDH-AES128-SHA",
        "ECDHE-ECDSA-AES128-CCM",
    ):
        assert weak in refused


@pytest.mark.parametrize(
    "cipher",
    ["RC4-SHA", "DES-CBC3-SHA", "EXP-RC4-MD5", "ECDHE-ECDSA-DES-CBC3-SHA", "ECDHE-ECDSA-RC4-SHA"],
)
def test_rc4_3des_and_export_are_not_in_the_server_cipher_list(cipher: str) -> None:
    """OpenSSL 3 cannot offer these at all; the policy must not list them either."""
    context = apply_server_policy(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    served = {c["name"] for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"}
    assert cipher not in served
    assert served <= ALLOWED_TLS12 | {n.replace("ECDSA", "RSA") for n in ALLOWED_TLS12}


def test_the_policy_sets_the_version_floor_and_options() -> None:
    context = apply_server_policy(ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
    assert context.minimum_version is MINIMUM_TLS_VERSION is ssl.TLSVersion.TLSv1_2
    for option in (ssl.OP_NO_COMPRESSION, ssl.OP_NO_RENEGOTIATION, ssl.OP_CIPHER_SERVER_PREFERENCE):
        assert context.options & option
