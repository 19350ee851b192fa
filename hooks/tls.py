"""TLS for the webhook without prerequisites: a CA and a serving certificate, kept fresh.

Three parts:
- `plan`: a pure decision. Given what the Secret holds and the time, the material it should
  hold instead, or None. The CA is renewed well before it expires by adding a new CA to the
  bundle first; the serving certificate moves to the new CA only once the bundle has had time
  to reach the API server (the webhook configuration's caBundle), so no moment exists where
  the API server does not trust the certificate served.
- `TLSBootstrap`: the I/O around it. Create-if-absent of the Secret, so replicas agree (on 409
  AlreadyExists the winner's Secret is read and used); updates with the resourceVersion read,
  so concurrent rotations do not overwrite each other; the files the server reads; and the
  caBundle of the project's MutatingWebhookConfiguration.
- `CertificateReloader`: the server's SSL context, rebuilt when the certificate files change
  (mtime, size or inode: a kubelet Secret volume swaps a symlink), kept as it was when the
  files are half-written (a key that does not match its certificate yet).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import logging
import os
import ssl
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

UTC = dt.UTC
CLOCK_SKEW = dt.timedelta(minutes=5)
"""Certificates are valid from a little before they are made: clocks in a cluster differ."""

SECRET_TYPE = "kubernetes.io/tls"  # noqa: S105 - a Secret type, not a password
CA_BUNDLE_KEY = "ca.crt"
CA_KEY_KEY = "ca.key"
CERT_KEY = "tls.crt"
KEY_KEY = "tls.key"


class TLSError(Exception):
    """TLS material cannot be made, stored or read; the message says which and why."""


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    ca_validity: dt.timedelta = dt.timedelta(days=5 * 365)
    cert_validity: dt.timedelta = dt.timedelta(days=365)
    renew_fraction: float = 1 / 3
    """Renew when less than this fraction of a certificate's lifetime is left."""
    propagation: dt.timedelta = dt.timedelta(minutes=10)
    """How long a new CA sits in the bundle before the serving certificate moves to it."""


@dataclass(frozen=True, slots=True)
class Material:
    """What the Secret holds, as PEM."""

    ca_bundle: bytes
    """Every CA the API server should trust, newest first."""
    ca_key: bytes
    """The key of the newest CA."""
    cert: bytes
    key: bytes

    def to_secret_data(self) -> dict[str, str]:
        return {k: base64.b64encode(v).decode("ascii") for k, v in self._by_key().items()}

    @classmethod
    def from_secret_data(cls, data: dict[str, str] | None) -> Material | None:
        """None when a field is missing or not base64: the Secret is then made anew."""
        try:
            decoded = {k: base64.b64decode(data[k], validate=True) for k in
                       (CA_BUNDLE_KEY, CA_KEY_KEY, CERT_KEY, KEY_KEY)} if data else None
        except (KeyError, ValueError):
            return None
        if decoded is None:
            return None
        return cls(decoded[CA_BUNDLE_KEY], decoded[CA_KEY_KEY], decoded[CERT_KEY],
                   decoded[KEY_KEY])

    def _by_key(self) -> dict[str, bytes]:
        return {CA_BUNDLE_KEY: self.ca_bundle, CA_KEY_KEY: self.ca_key, CERT_KEY: self.cert,
                KEY_KEY: self.key}


# --- making certificates -------------------------------------------------------------------


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(common_name: str, *, now: dt.datetime, validity: dt.timedelta) -> tuple[bytes, bytes]:
    """A self-signed CA that can only sign leaf certificates: (cert PEM, key PEM)."""
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                         f"{common_name} {now:%Y-%m-%dT%H:%M:%SZ}")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return _cert_pem(cert), _key_pem(key)


def make_serving_cert(
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    dns_names: Sequence[str],
    *,
    now: dt.datetime,
    validity: dt.timedelta,
    ip_addresses: Sequence[str] = (),
) -> tuple[bytes, bytes]:
    """A server certificate for `dns_names`, signed by the CA: (cert PEM, key PEM)."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TLSError("the CA key is not an EC key")
    key = _new_key()
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    not_after = min(now + validity, ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                    (list(dns_names) or ["webhook"])[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return _cert_pem(cert), _key_pem(key)


def service_dns_names(service: str, namespace: str) -> list[str]:
    """The names the API server may use for a webhook Service."""
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc",
            f"{service}.{namespace}.svc.cluster.local"]


# --- the pure decision ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    material: Material
    reason: str


def _remaining_fraction(cert: x509.Certificate, now: dt.datetime) -> float:
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    left = cert.not_valid_after_utc - now
    return left / lifetime if lifetime.total_seconds() > 0 else 0.0


def _load_bundle(pem: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        return []


def _same_public_key(cert: x509.Certificate, key_pem: bytes) -> bool:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return False
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    return bool(
        cert.public_key().public_bytes(encoding, public)
        == key.public_key().public_bytes(encoding, public)
    )


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _serving_cert_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [str(n) for n in san.value.get_values_for_type(x509.DNSName)]


def plan(
    material: Material | None,
    *,
    now: dt.datetime,
    dns_names: Sequence[str],
    policy: RotationPolicy = RotationPolicy(),
    ca_name: str = "image-mapper webhook CA",
) -> Plan | None:
    """The material the Secret should hold now, or None when what it holds is good."""

    def fresh(reason: str) -> Plan:
        ca_cert, ca_key = make_ca(ca_name, now=now, validity=policy.ca_validity)
        cert, key = make_serving_cert(ca_cert, ca_key, dns_names, now=now,
                                      validity=policy.cert_validity)
        return Plan(Material(ca_cert, ca_key, cert, key), reason)

    if material is None:
        return fresh("created a CA and a serving certificate")
    cas = [c for c in _load_bundle(material.ca_bundle) if c.not_valid_after_utc > now]
    if not cas or not _same_public_key(cas[0], material.ca_key):
        return fresh("the stored CA was expired or unreadable: made a new one")
    reasons: list[str] = []
    ca_bundle, ca_key = material.ca_bundle, material.ca_key
    if len(cas) != len(_load_bundle(material.ca_bundle)):
        ca_bundle = b"".join(_cert_pem(c) for c in cas)
        reasons.append("dropped expired CAs from the bundle")
    newest = cas[0]

    # The serving certificate first, from the CA in the Secret: a CA renewed below is not yet
    # in the API server's caBundle, so it signs nothing until it has had time to get there.
    try:
        cert: x509.Certificate | None = x509.load_pem_x509_certificate(material.cert)
    except ValueError:
        cert = None
    newest_propagated = now - newest.not_valid_before_utc - CLOCK_SKEW >= policy.propagation
    cert_reason = None
    if cert is None or not _same_public_key(cert, material.key):
        cert_reason = "the serving certificate was unreadable"
    elif not any(_issued_by(cert, ca) for ca in cas):
        cert_reason = "the serving certificate was not issued by a CA in the bundle"
    elif _remaining_fraction(cert, now) < policy.renew_fraction:
        cert_reason = "renewed the serving certificate before it expires"
    elif sorted(_serving_cert_names(cert)) != sorted(dns_names):
        cert_reason = "the serving certificate was for other names"
    elif not _issued_by(cert, newest) and newest_propagated:
        cert_reason = "moved the serving certificate to the newest CA"
    if cert_reason is None:
        cert_pem, key_pem = material.cert, material.key
    else:
        reasons.append(cert_reason)
        cert_pem, key_pem = make_serving_cert(_cert_pem(newest), ca_key, dns_names, now=now,
                                              validity=policy.cert_validity)

    # Then the CA: a new one joins the bundle, the old one stays until it expires.
    if _remaining_fraction(newest, now) < policy.renew_fraction:
        new_cert, ca_key = make_ca(ca_name, now=now, validity=policy.ca_validity)
        ca_bundle = new_cert + ca_bundle
        reasons.append("renewed the CA (the old one stays in the bundle)")
    if not reasons:
        return None
    return Plan(Material(ca_bundle, ca_key, cert_pem, key_pem), "; ".join(reasons))


# --- the files the server reads ---------------------------------------------------------------


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_files(material: Material, cert_file: Path, key_file: Path) -> bool:
    """Write the serving certificate and key where the server reads them; True if changed.

    The key goes first: until the certificate follows, the reloader keeps the old context.
    """
    try:
        unchanged = (cert_file.read_bytes(), key_file.read_bytes()) == (material.cert,
                                                                        material.key)
    except OSError:
        unchanged = False
    if unchanged:
        return False
    _write_atomically(key_file, material.key, 0o600)
    _write_atomically(cert_file, material.cert, 0o644)
    return True


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


class CertificateReloader:
    """The server's SSL context, rebuilt when its certificate or key file changes.

    Gunicorn calls its `ssl_context` hook for every new connection; this returns the cached
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
        self.reloads = 0

    def _signature_now(self) -> FileSignature | None:
        try:
            stats = [os.stat(p) for p in self._paths]
        except OSError:
            return None
        return tuple((s.st_mtime_ns, s.st_size, s.st_ino, s.st_dev) for s in stats)

    def context(self, build: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
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
            if self._context is not None:
                self.reloads += 1
            self._context, self._signature, self._failed = context, signature, None
            log.info("serving the certificate in %s (%s)", self._paths[0],
                     describe_certificate_file(self._paths[0]))
            return context


def describe_certificate_file(path: str) -> str:
    try:
        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError) as error:
        return f"unreadable: {error}"
    return (f"serial {cert.serial_number:x}, expires "
            f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}")


# --- the cluster side ------------------------------------------------------------------------


def describe_error(error: BaseException) -> str:
    """One line for a log or an error message: an API error as its HTTP status and reason.

    The Kubernetes client's ApiException prints the whole response, headers and body, over
    several lines; that belongs to the API server's audit log, not to ours.
    """
    status = getattr(error, "status", None)
    if isinstance(status, int):
        reason = getattr(error, "reason", None)
        return f"HTTP {status} {reason or ''}".strip()
    return " ".join(f"{type(error).__name__}: {error}".split())



class AlreadyExists(Exception):
    """Create lost a race: another replica created the Secret first (HTTP 409)."""


class Conflict(Exception):
    """Update lost a race: the Secret changed since it was read (HTTP 409)."""


class TLSStore(Protocol):
    """Where the material lives and whom it must be told to: the API server, or a fake."""

    def read_secret(self) -> tuple[dict[str, str] | None, str] | None:
        """(data, resourceVersion) of the Secret, or None when there is none."""
        ...

    def create_secret(self, data: dict[str, str]) -> None:
        """Raises AlreadyExists."""
        ...

    def replace_secret(self, data: dict[str, str], resource_version: str) -> None:
        """Raises Conflict."""
        ...

    def ca_bundles(self) -> list[tuple[str, str]] | None:
        """(webhook name, caBundle) of each webhook of the configuration; None if absent."""
        ...

    def set_ca_bundles(self, names: Sequence[str], ca_bundle: str) -> None: ...


@dataclass
class TLSBootstrap:
    """Keeps the Secret, the files and the webhook configuration's caBundle in step."""

    store: TLSStore
    cert_file: Path
    key_file: Path
    dns_names: Sequence[str]
    policy: RotationPolicy = field(default_factory=RotationPolicy)
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(UTC))
    rotations: int = 0
    complete: bool = False
    """The last round reached the webhook configuration."""

    def ensure(self) -> Material:
        """One round: make or renew the Secret as needed, write the files, patch caBundle."""
        material = self._ensure_secret()
        if write_files(material, self.cert_file, self.key_file):
            log.info("wrote %s (%s)", self.cert_file,
                     describe_certificate_file(str(self.cert_file)))
        self._ensure_ca_bundle(material.ca_bundle)
        return material

    def _ensure_secret(self) -> Material:
        stored = self.store.read_secret()
        if stored is None:
            planned = plan(None, now=self.clock(), dns_names=self.dns_names, policy=self.policy)
            assert planned is not None
            try:
                self.store.create_secret(planned.material.to_secret_data())
            except AlreadyExists:
                log.info("another replica created the TLS Secret first; using it")
                return self._read_winner()
            log.info("TLS Secret: %s", planned.reason)
            return planned.material
        data, resource_version = stored
        material = Material.from_secret_data(data)
        planned = plan(material, now=self.clock(), dns_names=self.dns_names, policy=self.policy)
        if planned is None:
            assert material is not None
            return material
        try:
            self.store.replace_secret(planned.material.to_secret_data(), resource_version)
        except Conflict:
            log.info("another replica updated the TLS Secret first; using it")
            return self._read_winner()
        self.rotations += 1
        log.info("TLS Secret: %s", planned.reason)
        return planned.material

    def _read_winner(self) -> Material:
        stored = self.store.read_secret()
        material = Material.from_secret_data(stored[0]) if stored is not None else None
        if material is None:
            raise TLSError("the TLS Secret another replica wrote cannot be read")
        return material

    def _ensure_ca_bundle(self, ca_bundle: bytes) -> None:
        wanted = base64.b64encode(ca_bundle).decode("ascii")
        current = self.store.ca_bundles()
        self.complete = current is not None
        if current is None:
            log.warning("the MutatingWebhookConfiguration is absent: its caBundle will be set "
                        "once it exists")
            return
        stale = [name for name, bundle in current if bundle != wanted]
        if stale:
            self.store.set_ca_bundles(stale, wanted)
            log.info("set the caBundle of webhooks %s", ", ".join(stale))

    def run(self, stopping: threading.Event, interval: float, retry: float = 5.0) -> None:
        """Call `ensure` every `interval` seconds until `stopping` is set; every `retry`
        seconds while the last round failed or found no webhook configuration."""
        while not stopping.wait(interval if self.complete else min(retry, interval)):
            try:
                self.ensure()
            except Exception as error:  # the API server is away: try again soon
                self.complete = False
                log.warning("TLS check failed (%s); retrying in %.0fs", describe_error(error),
                            min(retry, interval))
