"""The servers the hardening tests talk to: one of each per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.webhook.server import Server

from .servers import HooksHandle, hooks_server, webhook_server


@pytest.fixture(scope="module")
def hooks() -> Iterator[HooksHandle]:
    """The hooks app on waitress on 127.0.0.1, no token."""
    with hooks_server() as handle:
        yield handle


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`image-mapper serve-webhook -f tests/fixtures/admission/imagemaps.yaml` over TLS."""
    with webhook_server(tmp_path_factory.mktemp("webhook")) as server:
        yield server
