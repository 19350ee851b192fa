"""Fixtures shared by every test folder."""

from tests.controlplane.fixtures import control_plane

__all__ = ["control_plane"]
