"""TLS material for the webhook: a CA and a serving certificate, made here, and the Secret's
fields that hold them."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
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
    return cert_pem(cert), _key_pem(key)


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
    return cert_pem(cert), _key_pem(key)


def service_dns_names(service: str, namespace: str) -> list[str]:
    """The names the API server may use for a webhook Service."""
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc",
            f"{service}.{namespace}.svc.cluster.local"]


def describe_certificate_file(path: str) -> str:
    try:
        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError) as error:
        return f"unreadable: {error}"
    return (f"serial {cert.serial_number:x}, expires "
            f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}")

