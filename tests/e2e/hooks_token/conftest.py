"""The product installed with `overlays/hooks-token`, on its own control plane."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.fixtures import control_plane
from tests.e2e.stack import (
    HOOKS_TOKEN_OVERLAY,
    HOOKS_TOKEN_SECRET,
    NAMESPACE,
    Stack,
    create_hooks_token,
    running_stack,
)

__all__ = ["control_plane"]  # this package's own control plane

TOKEN_SECRET = HOOKS_TOKEN_SECRET


@pytest.fixture(scope="package")
def token(control_plane: ControlPlane) -> str:
    """The Secret the overlay's comment tells the operator to create, before installing."""
    return create_hooks_token(control_plane, NAMESPACE)


@pytest.fixture(scope="package")
def stack(
    control_plane: ControlPlane, token: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with running_stack(
        control_plane, tmp_path_factory.mktemp("stack"), HOOKS_TOKEN_OVERLAY
    ) as running:
        yield running
