"""docs/relocating.md's control plane, with Image Mapper installed: this package's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.fixtures import control_plane
from tests.e2e.stack import Stack, running_stack

__all__ = ["control_plane"]


@pytest.fixture(scope="package")
def stack(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(control_plane, tmp_path_factory.mktemp("stack")) as running:
        yield running
