"""The product on this package's own control plane, with the hooks and the webhook running as
the built image (podman), not as processes of the venv."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.fixtures import control_plane
from tests.e2e.stack import Stack, running_stack
from tests.image.podman import OPT_OUT, build_image

__all__ = ["control_plane"]  # this package's own control plane


@pytest.fixture(scope="package")
def stack(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if os.environ.get(OPT_OUT) == "1":
        pytest.skip(f"{OPT_OUT}=1: the image check was turned off")
    image = build_image()
    with running_stack(control_plane, tmp_path_factory.mktemp("stack"), image=image) as running:
        yield running
