"""The server's SSL context, rebuilt when the certificate files change, with the project's TLS
policy.

The files change when the bootstrap rotates them (`image_mapper.webhook.tls.bootstrap`), or when the
kubelet updates a Secret volume (cert-manager): mtime, size or inode change (a Secret volume
swaps a symlink). A pair that does not load yet (a key that does not match its certificate,
half-written) leaves the previous context in place.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from collections.abc import Callable
from functools import partial

from image_mapper.webhook.tls.certificates import describe_certificate_file

log = logging.getLogger(__name__)

MINIMUM_TLS_VERSION = ssl.TLSVersion.TLSv1_2
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
"""TLS 1.2 suites with forward secrecy and authenticated encryption only: no RSA key exchange,
no CBC (so no SHA-1 MAC), and none of RC4, 3DES, NULL, export. The API server's Go client
offers these. TLS 1.3 suites are all of that kind and keep OpenSSL's defaults."""


def apply_server_policy(context: ssl.SSLContext) -> ssl.SSLContext:
    """TLS 1.2 at least, the ciphers above, no compression and no client renegotiation."""
    context.minimum_version = MINIMUM_TLS_VERSION
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= (ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
                        | ssl.OP_CIPHER_SERVER_PREFERENCE)
    return context


FileSignature = tuple[tuple[int, int, int, int], ...]


def load_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server context for the pair of files (the policy is applied by the reloader)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


class CertificateReloader:
    """The server's SSL context, rebuilt when its certificate or key file changes.

    `serving_context` asks it for a context on every TLS handshake; it returns the cached
    context after two `stat` calls. A pair that fails to load (a rotation halfway written)
    keeps the previous context until the files change again. Every context it serves has
    the project's TLS policy (`apply_server_policy`), whatever built it.
    """

    def __init__(self, cert_file: str | os.PathLike[str], key_file: str | os.PathLike[str]) -> None:
        self._paths = (os.fspath(cert_file), os.fspath(key_file))
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self._signature: FileSignature | None = None
        self._failed: FileSignature | None = None

    def _signature_now(self) -> FileSignature | None:
        try:
            stats = [os.stat(p) for p in self._paths]
        except OSError:
            return None
        return tuple((s.st_mtime_ns, s.st_size, s.st_ino, s.st_dev) for s in stats)

    def context(self, build: Callable[[], ssl.SSLContext] | None = None) -> ssl.SSLContext:
        """The current context; `build` makes one from the files (default `load_context`)."""
        if build is None:
            build = partial(load_context, *self._paths)
        signature = self._signature_now()
        context = self._context
        if context is not None and (signature is None or signature == self._signature):
            return context
        with self._lock:
            if self._context is not None and signature == self._signature:
                return self._context
            try:
                context = apply_server_policy(build())
            except (OSError, ssl.SSLError, ValueError) as error:
                if self._context is None:
                    raise
                if signature != self._failed:
                    self._failed = signature
                    log.warning("keeping the current certificate: %s and %s do not load as a "
                                "pair yet (%s)", *self._paths, error)
                return self._context
            self._context, self._signature, self._failed = context, signature, None
            log.info("serving the certificate in %s (%s)", self._paths[0],
                     describe_certificate_file(self._paths[0]))
            return context



def serving_context(reloader: CertificateReloader) -> ssl.SSLContext:
    """The context a server listens with: on every handshake, its ClientHello callback (called
    with or without SNI) hands the connection the reloader's current context, so a rotated
    certificate is served on the next new connection, without a restart; kept-alive
    connections keep theirs."""
    listening = reloader.context()

    def current(connection: ssl.SSLObject | ssl.SSLSocket, _name: str | None,
                offered: ssl.SSLContext) -> None:
        latest = reloader.context()
        if latest is not offered:
            connection.context = latest

    listening.sni_callback = current
    return listening
