"""This package's own control plane (each test package gets one: see fixtures.py)."""

from tests.controlplane.fixtures import control_plane

__all__ = ["control_plane"]
