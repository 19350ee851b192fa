"""The rotation plan: a pure decision of what the TLS Secret should hold now.

Given what the Secret holds and the time, `plan` returns the material it should hold instead,
or None. The CA is renewed well before it expires by adding a new CA to the bundle first; the
serving certificate moves to the new CA only once the bundle has had time to reach the API
server (the webhook configuration's caBundle), so no moment exists where the API server does
not trust the certificate served.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from image_mapper.webhook.tls.certificates import (
    CLOCK_SKEW,
    Material,
    cert_pem,
    make_ca,
    make_serving_cert,
)


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    ca_validity: dt.timedelta = dt.timedelta(days=5 * 365)
    cert_validity: dt.timedelta = dt.timedelta(days=365)
    renew_fraction: float = 1 / 3
    """Renew when less than this fraction of a certificate's lifetime is left."""
    propagation: dt.timedelta = dt.timedelta(minutes=10)
    """How long a new CA sits in the bundle before the serving certificate moves to it."""


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
        ca_bundle = b"".join(cert_pem(c) for c in cas)
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
        serving_cert, serving_key = material.cert, material.key
    else:
        reasons.append(cert_reason)
        serving_cert, serving_key = make_serving_cert(cert_pem(newest), ca_key, dns_names,
                                                      now=now, validity=policy.cert_validity)

    # Then the CA: a new one joins the bundle, the old one stays until it expires.
    if _remaining_fraction(newest, now) < policy.renew_fraction:
        new_cert, ca_key = make_ca(ca_name, now=now, validity=policy.ca_validity)
        ca_bundle = new_cert + ca_bundle
        reasons.append("renewed the CA (the old one stays in the bundle)")
    if not reasons:
        return None
    return Plan(Material(ca_bundle, ca_key, serving_cert, serving_key), "; ".join(reasons))

