"""The installation in `platform`, on this package's own control plane."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.fixtures import control_plane
from tests.e2e import thirdparty
from tests.e2e.stack import Stack, create_hooks_token, running_stack
from tests.rendering import Settings, kustomization

__all__ = ["control_plane"]  # this package's own control plane

SETTINGS = Settings("platform", ("hooks-token", "metrics"))


@pytest.fixture(scope="package")
def token(control_plane: ControlPlane) -> str:
    """The Secret the hooks-token component tells the operator to create, in the namespace
    of the install."""
    return create_hooks_token(control_plane, SETTINGS.namespace)


@pytest.fixture(scope="package")
def stack(
    control_plane: ControlPlane, token: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    thirdparty.install(control_plane, thirdparty.PROMETHEUS_OPERATOR)
    own = kustomization(SETTINGS, tmp_path_factory.mktemp("my-install"))
    with running_stack(control_plane, tmp_path_factory.mktemp("stack"), own,
                       namespace=SETTINGS.namespace) as running:
        yield running
