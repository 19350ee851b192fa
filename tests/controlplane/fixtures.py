"""Pytest fixtures for the local control plane.

Import into a conftest to use them::

    from tests.controlplane.fixtures import control_plane  # noqa: F401
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from .cluster import ControlPlane


@pytest.fixture(scope="package")
def control_plane() -> Iterator[ControlPlane]:
    """A started control plane for each test package that imports this fixture into its
    conftest.py (tests/e2e/installed, tests/e2e/hooks_token, tests/e2e/webhook,
    tests/controlplane): packages install different things (the real Metacontroller,
    test webhooks) and must not meet.

    The first run builds the binaries (10-20 minutes); later runs reuse the cache.
    Set ``IMAGE_MAPPER_KEEP_CP=1`` to keep its temp dir (logs, certs) after the run.
    """
    keep = os.environ.get("IMAGE_MAPPER_KEEP_CP") == "1"
    with ControlPlane(keep_workdir=keep) as cp:
        timings = ", ".join(f"{k}={v:.1f}s" for k, v in cp.timings.items())
        print(
            f"\ncontrol plane up at {cp.server} ({timings}); workdir {cp.workdir}", file=sys.stderr
        )
        yield cp
