"""Fixtures: real registries on loopback (tests/registry/registries.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.registry.registries import Certificates, Registry, TokenServer, running

USERS = {"alice": "wonderland"}


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA, and a serving certificate for 127.0.0.1 that the registries and the token
    server share."""
    return Certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Plain HTTP, anonymous: named with --insecure-registry."""
    yield from running(tmp_path_factory.mktemp("plain"))


@pytest.fixture(scope="module")
def tls_basic(tmp_path_factory: pytest.TempPathFactory,
              certificates: Certificates) -> Iterator[Registry]:
    """TLS with a private CA, htpasswd basic authentication."""
    yield from running(tmp_path_factory.mktemp("tls-basic"), tls=certificates, users=USERS)


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory,
                 certificates: Certificates) -> Iterator[TokenServer]:
    server = TokenServer(tmp_path_factory.mktemp("token"), USERS, certificates,
                         identity_tokens={"refresh-me": "alice"})
    yield server
    server.close()


@pytest.fixture(scope="module")
def tls_token(tmp_path_factory: pytest.TempPathFactory, certificates: Certificates,
              token_server: TokenServer) -> Iterator[Registry]:
    """TLS, token authentication against the test's token server."""
    yield from running(tmp_path_factory.mktemp("tls-token"), tls=certificates, users=USERS,
                       token=token_server)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
