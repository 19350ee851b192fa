"""The product installed as docs/install.md installs it, on this package's own control plane: the
pages' own blocks are run against it, the uninstall last (it removes everything)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.fixtures import control_plane
from tests.e2e.stack import Stack, running_stack

__all__ = ["control_plane"]  # this package's own control plane


@pytest.fixture(scope="package")
def stack(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(control_plane, tmp_path_factory.mktemp("stack")) as running:
        yield running
