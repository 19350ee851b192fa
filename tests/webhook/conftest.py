"""Fixtures of the webhook tests: mapping → app → client, and TLS material."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from image_mapper.cli.documents import load_imagemaps
from image_mapper.engine.acceptance import decide
from image_mapper.engine.imagemap import read_imagemaps
from image_mapper.engine.mapping import Mapping
from image_mapper.webhook.app import create_app
from image_mapper.webhook.tls.certificates import make_ca, make_serving_cert
from image_mapper.webhook.view import StaticView
from tests.golden import IMAGEMAPS


@pytest.fixture(scope="session")
def golden_mapping() -> Mapping:
    """The mapping of tests/fixtures/admission/imagemaps.yaml."""
    return decide(read_imagemaps(load_imagemaps([str(IMAGEMAPS)]))).mapping


@pytest.fixture
def app(golden_mapping: Mapping) -> Flask:
    return create_app({"TESTING": True}, view=StaticView(golden_mapping))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass(frozen=True)
class Pki:
    """A CA and a serving certificate for localhost and 127.0.0.1, as files."""

    ca_cert: bytes
    ca_key: bytes
    ca_file: Path
    cert_file: Path
    key_file: Path

    def issue(self, *, ca_cert: bytes | None = None, ca_key: bytes | None = None,
              days: int = 1) -> tuple[bytes, bytes]:
        return make_serving_cert(ca_cert or self.ca_cert, ca_key or self.ca_key, ["localhost"],
                                 ip_addresses=["127.0.0.1"], now=dt.datetime.now(dt.UTC),
                                 validity=dt.timedelta(days=days))


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    now = dt.datetime.now(dt.UTC)
    ca_cert, ca_key = make_ca("test CA", now=now, validity=dt.timedelta(days=30))
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca_cert)
    pki = Pki(ca_cert, ca_key, ca_file, tmp_path / "tls" / "tls.crt", tmp_path / "tls" / "tls.key")
    pki.cert_file.parent.mkdir()
    cert, key = pki.issue()
    pki.cert_file.write_bytes(cert)
    pki.key_file.write_bytes(key)
    return pki
