"""This package's own control plane, with the CRDs every component's objects need."""

from __future__ import annotations

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.fixtures import control_plane
from tests.controlplane.metacontroller import install_crds
from tests.e2e import thirdparty

__all__ = ["control_plane"]  # this package's own control plane


@pytest.fixture(scope="package")
def cluster(control_plane: ControlPlane) -> ControlPlane:
    """Metacontroller's, prometheus-operator's and cert-manager's CRDs installed."""
    install_crds(control_plane)
    thirdparty.install(control_plane, thirdparty.PROMETHEUS_OPERATOR, thirdparty.CERT_MANAGER)
    return control_plane
