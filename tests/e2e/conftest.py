"""The product running on a real control plane, for the whole session."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.fixtures import control_plane
from tests.e2e.stack import Stack, running_stack

_numbers = itertools.count(1)

__all__ = ["control_plane"]  # this package's own control plane


@pytest.fixture(scope="package")
def stack(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(control_plane, tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture
def namespace(stack: Stack, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (without waiting)."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    name = f"t{next(_numbers)}-{slug}"[:60].rstrip("-")
    stack.cp.kubectl("create", "namespace", name)
    yield name
    stack.cp.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
