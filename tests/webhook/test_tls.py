"""TLS bootstrap: certificates, the rotation plan, replicas agreeing, and hot reloading."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from image_mapper.webhook.tls.bootstrap import (
    AlreadyExists,
    Conflict,
    TLSBootstrap,
    write_atomically,
    write_files,
)
from image_mapper.webhook.tls.certificates import (
    Material,
    make_ca,
    make_serving_cert,
    service_dns_names,
)
from image_mapper.webhook.tls.reloader import CertificateReloader
from image_mapper.webhook.tls.rotation import RotationPolicy, plan

from .conftest import Pki

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NAMES = service_dns_names("image-mapper-webhook", "image-mapper")
POLICY = RotationPolicy()


def _certs(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem)


def _trusted(cert_pem: bytes, bundle_pem: bytes, now: dt.datetime) -> bool:
    """Does a client holding `bundle_pem` accept `cert_pem` at `now`?"""
    cert = x509.load_pem_x509_certificate(cert_pem)
    if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
        return False
    for ca in _certs(bundle_pem):
        if ca.not_valid_before_utc <= now < ca.not_valid_after_utc:
            try:
                cert.verify_directly_issued_by(ca)
            except Exception:
                continue
            return True
    return False


def test_certificates_have_what_the_api_server_checks() -> None:
    ca_pem, ca_key = make_ca("test", now=T0, validity=dt.timedelta(days=10))
    cert_pem, _ = make_serving_cert(ca_pem, ca_key, NAMES, now=T0,
                                    validity=dt.timedelta(days=30))
    ca = x509.load_pem_x509_certificate(ca_pem)
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == NAMES
    assert "image-mapper-webhook.image-mapper.svc" in NAMES
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.not_valid_after_utc == ca.not_valid_after_utc  # never outlives its CA
    assert _trusted(cert_pem, ca_pem, T0)


def test_plan_creates_then_leaves_good_material_alone() -> None:
    created = plan(None, now=T0, dns_names=NAMES)
    assert created is not None
    assert created.reason == "created a CA and a serving certificate"
    assert plan(created.material, now=T0, dns_names=NAMES) is None
    assert plan(created.material, now=T0 + dt.timedelta(days=200), dns_names=NAMES) is None


def test_plan_renews_the_serving_certificate_well_before_it_expires() -> None:
    material = plan(None, now=T0, dns_names=NAMES).material  # type: ignore[union-attr]
    later = T0 + dt.timedelta(days=250)  # a third of a year left
    renewed = plan(material, now=later, dns_names=NAMES)
    assert renewed is not None
    assert "renewed the serving certificate" in renewed.reason
    assert renewed.material.ca_bundle == material.ca_bundle
    assert renewed.material.cert != material.cert
    assert _trusted(renewed.material.cert, material.ca_bundle, later)


def test_plan_adds_a_new_ca_first_and_moves_the_certificate_after_propagation() -> None:
    material = plan(None, now=T0, dns_names=NAMES).material  # type: ignore[union-attr]
    ca_renewal = T0 + dt.timedelta(days=4 * 365)  # the CA has a fifth of its life left
    step = plan(material, now=ca_renewal, dns_names=NAMES)
    assert step is not None
    assert step.reason == ("renewed the serving certificate before it expires; "
                           "renewed the CA (the old one stays in the bundle)")
    new_ca, old_ca = _certs(step.material.ca_bundle)
    served = x509.load_pem_x509_certificate(step.material.cert)
    served.verify_directly_issued_by(old_ca)  # the CA the API server already trusts
    assert _trusted(step.material.cert, material.ca_bundle, ca_renewal)
    soon = ca_renewal + POLICY.propagation / 2
    assert plan(step.material, now=soon, dns_names=NAMES) is None
    after = ca_renewal + POLICY.propagation + dt.timedelta(seconds=1)
    moved = plan(step.material, now=after, dns_names=NAMES)
    assert moved is not None
    assert moved.reason == "moved the serving certificate to the newest CA"
    x509.load_pem_x509_certificate(moved.material.cert).verify_directly_issued_by(new_ca)
    assert moved.material.ca_bundle == step.material.ca_bundle


def test_the_api_server_trusts_the_served_certificate_at_every_moment() -> None:
    """Ten years of weekly checks: the served certificate always verifies against the
    caBundle the API server had before this check (it learns the new one a moment later)."""
    material = plan(None, now=T0, dns_names=NAMES).material  # type: ignore[union-attr]
    published = material.ca_bundle
    now = T0
    reasons: list[str] = []
    while now < T0 + dt.timedelta(days=3650):
        now += dt.timedelta(days=7)
        step = plan(material, now=now, dns_names=NAMES)
        if step is not None:
            reasons.append(step.reason)
            material = step.material
        assert _trusted(material.cert, published, now), (now, reasons[-3:])
        published = material.ca_bundle
    assert any("renewed the CA" in r for r in reasons)
    assert any("moved the serving certificate" in r for r in reasons)
    assert any("dropped expired CAs" in r for r in reasons)
    assert not any("created" in r or "made a new one" in r for r in reasons)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        pytest.param(lambda m: Material(b"junk", m.ca_key, m.cert, m.key),
                     "the stored CA was expired or unreadable", id="ca-junk"),
        pytest.param(lambda m: Material(m.ca_bundle, m.key, m.cert, m.key),
                     "the stored CA was expired or unreadable", id="ca-key-mismatch"),
        pytest.param(lambda m: Material(m.ca_bundle, m.ca_key, b"junk", m.key),
                     "the serving certificate was unreadable", id="cert-junk"),
        pytest.param(lambda m: Material(m.ca_bundle, m.ca_key, m.cert, m.ca_key),
                     "the serving certificate was unreadable", id="cert-key-mismatch"),
    ],
)
def test_plan_repairs_damaged_material(
    damage: Callable[[Material], Material], reason: str
) -> None:
    material = plan(None, now=T0, dns_names=NAMES).material  # type: ignore[union-attr]
    repaired = plan(damage(material), now=T0, dns_names=NAMES)
    assert repaired is not None
    assert reason in repaired.reason
    assert plan(repaired.material, now=T0, dns_names=NAMES) is None


def test_plan_reissues_for_other_names() -> None:
    material = plan(None, now=T0, dns_names=NAMES).material  # type: ignore[union-attr]
    other = service_dns_names("renamed", "image-mapper")
    step = plan(material, now=T0, dns_names=other)
    assert step is not None
    assert step.reason == "the serving certificate was for other names"
    assert step.material.ca_bundle == material.ca_bundle


def test_secret_data_round_trip() -> None:
    material = plan(None, now=T0, dns_names=NAMES).material  # type: ignore[union-attr]
    data = material.to_secret_data()
    assert set(data) == {"ca.crt", "ca.key", "tls.crt", "tls.key"}
    assert Material.from_secret_data(data) == material
    assert Material.from_secret_data(None) is None
    assert Material.from_secret_data({"ca.crt": data["ca.crt"]}) is None
    assert Material.from_secret_data({**data, "tls.key": "!!"}) is None


# --- bootstrap against a fake API server ------------------------------------------------------


class FakeStore:
    """A Secret with resourceVersions, and a webhook configuration of two webhooks."""

    def __init__(self, webhooks: Sequence[str] | None = ("pods.mapper", "other.mapper")) -> None:
        self.secret: dict[str, str] | None = None
        self.version = 0
        self.bundles = None if webhooks is None else dict.fromkeys(webhooks, "")
        self.before_write: Callable[[], None] | None = None
        self.bundle_patches = 0

    def read_secret(self) -> tuple[dict[str, str] | None, str] | None:
        return None if self.secret is None else (dict(self.secret), str(self.version))

    def _interfere(self) -> None:
        if self.before_write is not None:
            interfere, self.before_write = self.before_write, None
            interfere()

    def create_secret(self, data: dict[str, str]) -> None:
        self._interfere()
        if self.secret is not None:
            raise AlreadyExists("secrets already exists")
        self.secret, self.version = dict(data), self.version + 1

    def replace_secret(self, data: dict[str, str], resource_version: str) -> None:
        self._interfere()
        if resource_version != str(self.version):
            raise Conflict("the object has been modified")
        self.secret, self.version = dict(data), self.version + 1

    def ca_bundles(self) -> list[tuple[str, str]] | None:
        return None if self.bundles is None else list(self.bundles.items())

    def set_ca_bundles(self, names: Sequence[str], ca_bundle: str) -> None:
        assert self.bundles is not None
        self.bundle_patches += 1
        for name in names:
            self.bundles[name] = ca_bundle


def _bootstrap(store: FakeStore, directory: Path, now: dt.datetime = T0) -> TLSBootstrap:
    return TLSBootstrap(store, directory / "tls.crt", directory / "tls.key", NAMES,
                        clock=lambda: now)


def _ensure(bootstrap: TLSBootstrap) -> None:
    bootstrap.ensure()


def test_bootstrap_creates_the_secret_files_and_ca_bundle(tmp_path: Path) -> None:
    store = FakeStore()
    material = _bootstrap(store, tmp_path).ensure()
    assert store.secret == material.to_secret_data()
    assert (tmp_path / "tls.crt").read_bytes() == material.cert
    assert (tmp_path / "tls.key").read_bytes() == material.key
    assert (tmp_path / "tls.key").stat().st_mode & 0o777 == 0o600
    wanted = base64.b64encode(material.ca_bundle).decode()
    assert store.bundles == {"pods.mapper": wanted, "other.mapper": wanted}
    # A second round changes nothing.
    assert _bootstrap(store, tmp_path).ensure() == material
    assert store.version == 1
    assert store.bundle_patches == 1


def test_replicas_agree_when_they_create_at_once(tmp_path: Path) -> None:
    store = FakeStore()
    first, second = tmp_path / "first", tmp_path / "second"
    # The second replica finds no Secret, but the first creates it before the second does.
    store.before_write = lambda: _ensure(_bootstrap(store, first))
    won = _bootstrap(store, second).ensure()
    assert Material.from_secret_data(store.secret) == won
    assert (first / "tls.crt").read_bytes() == (second / "tls.crt").read_bytes()
    assert store.version == 1


def test_a_lost_update_race_takes_the_winners_material(tmp_path: Path) -> None:
    store = FakeStore()
    _bootstrap(store, tmp_path).ensure()
    later = T0 + dt.timedelta(days=300)  # both replicas want to renew
    store.before_write = lambda: _ensure(_bootstrap(store, tmp_path / "a", later))
    material = _bootstrap(store, tmp_path / "b", later).ensure()
    assert Material.from_secret_data(store.secret) == material
    assert store.version == 2  # one renewal, not two


def test_a_missing_webhook_configuration_is_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FakeStore(webhooks=None)
    with caplog.at_level(logging.WARNING):
        _bootstrap(store, tmp_path).ensure()
    assert "MutatingWebhookConfiguration is absent" in caplog.text
    assert (tmp_path / "tls.crt").exists()


def test_write_files_is_a_no_op_when_unchanged(tmp_path: Path) -> None:
    material = plan(None, now=T0, dns_names=NAMES).material  # type: ignore[union-attr]
    assert write_files(material, tmp_path / "c", tmp_path / "k") is True
    mtime = (tmp_path / "c").stat().st_mtime_ns
    assert write_files(material, tmp_path / "c", tmp_path / "k") is False
    assert (tmp_path / "c").stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "k"]  # no temporary left


# --- the reloading SSL context --------------------------------------------------------------


def _factory(pki: Pki) -> Callable[[], ssl.SSLContext]:
    def build() -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki.cert_file, pki.key_file)
        return context

    return build


def _bump(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def test_reloader_caches_until_the_files_change(pki: Pki) -> None:
    reloader = CertificateReloader(pki.cert_file, pki.key_file)
    calls: list[int] = []
    build = _factory(pki)

    def counting() -> ssl.SSLContext:
        calls.append(1)
        return build()

    first = reloader.context(counting)
    assert reloader.context(counting) is first
    assert len(calls) == 1
    cert, key = pki.issue()
    write_atomically(pki.key_file, key, 0o600)
    write_atomically(pki.cert_file, cert, 0o644)
    second = reloader.context(counting)
    assert second is not first
    assert len(calls) == 2  # one reload


def test_reloader_keeps_the_old_context_while_a_rotation_is_half_written(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    reloader = CertificateReloader(pki.cert_file, pki.key_file)
    first = reloader.context(_factory(pki))
    cert, key = pki.issue()
    write_atomically(pki.cert_file, cert, 0o644)  # the key is not there yet
    with caplog.at_level(logging.WARNING):
        assert reloader.context(_factory(pki)) is first
        assert reloader.context(_factory(pki)) is first
    assert caplog.text.count("keeping the current certificate") == 1
    write_atomically(pki.key_file, key, 0o600)
    assert reloader.context(_factory(pki)) is not first


def test_reloader_fails_when_there_was_never_a_good_pair(pki: Pki) -> None:
    pki.key_file.write_bytes(b"not a key")
    reloader = CertificateReloader(pki.cert_file, pki.key_file)
    with pytest.raises(ssl.SSLError):
        reloader.context(_factory(pki))


def test_rotation_loop_retries_soon_until_the_webhook_configuration_exists(
    tmp_path: Path,
) -> None:
    store = FakeStore(webhooks=None)
    bootstrap = _bootstrap(store, tmp_path)
    bootstrap.ensure()
    assert bootstrap.complete is False
    stopping = threading.Event()
    thread = threading.Thread(target=bootstrap.run, args=(stopping, 3600.0, 0.01))
    thread.start()
    try:
        store.bundles = {"pods.mapper": ""}  # the configuration is applied a moment later
        deadline = time.monotonic() + 5
        while store.bundles["pods.mapper"] == "" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert store.bundles["pods.mapper"] != ""
        assert bootstrap.complete is True
    finally:
        stopping.set()
        thread.join(5)
