"""This package's own control plane, with the CRD and the webhook's RBAC installed."""

from __future__ import annotations

import pytest

from tests.controlplane import ControlPlane
from tests.controlplane.fixtures import control_plane

from .cluster import install_crd_and_webhook_rbac

__all__ = ["control_plane"]  # this package's own control plane


@pytest.fixture(scope="module")
def cluster(control_plane: ControlPlane) -> ControlPlane:
    install_crd_and_webhook_rbac(control_plane)
    return control_plane
