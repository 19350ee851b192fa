"""`helm install` with the chart's defaults, on this package's own control plane; the hooks
and the webhook run as local processes that the installed objects are pointed at
(tests/e2e/stack.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.fixtures import control_plane
from tests.e2e.stack import Stack, running_stack
from tests.rendering import CHART, RELEASE, helm, helm_binary

NAMESPACE = "image-mapper"

__all__ = ["control_plane"]  # this package's own control plane


@pytest.fixture(scope="package")
def helm_path() -> Path:
    return helm_binary()


@pytest.fixture(scope="package")
def stack(
    control_plane: ControlPlane, helm_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    def install(cp: ControlPlane) -> None:
        # As docs/install.md gives it: the release, its record and its objects in one
        # namespace, which Helm creates.
        helm(helm_path, "install", RELEASE, str(CHART), f"--kubeconfig={cp.kubeconfig}",
             "-n", NAMESPACE, "--create-namespace")

    with running_stack(control_plane, tmp_path_factory.mktemp("stack"),
                       install_with=install) as running:
        yield running
