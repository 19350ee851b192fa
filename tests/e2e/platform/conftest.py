"""The installation in `platform`, on this package's own control plane."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.fixtures import control_plane
from tests.e2e import thirdparty
from tests.e2e.stack import Stack, running_stack
from tests.rendering import Settings, kustomization

__all__ = ["control_plane"]  # this package's own control plane

SETTINGS = Settings("platform", ("hooks-token", "metrics"))
TOKEN_SECRET = "image-mapper-hooks-token"


@pytest.fixture(scope="package")
def token(control_plane: ControlPlane) -> str:
    """The Secret the hooks-token component tells the operator to create, in the namespace
    of the install."""
    value = secrets.token_urlsafe(32)
    control_plane.kubectl("create", "namespace", SETTINGS.namespace)
    control_plane.kubectl("create", "secret", "generic", TOKEN_SECRET, "-n", SETTINGS.namespace,
                          f"--from-literal=token={value}")
    return value


@pytest.fixture(scope="package")
def stack(
    control_plane: ControlPlane, token: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    thirdparty.install(control_plane, thirdparty.PROMETHEUS_OPERATOR)
    own = kustomization(SETTINGS, tmp_path_factory.mktemp("my-install"))
    with running_stack(control_plane, tmp_path_factory.mktemp("stack"), own,
                       namespace=SETTINGS.namespace) as running:
        yield running
