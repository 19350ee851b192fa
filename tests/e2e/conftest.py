"""Fixtures of every end-to-end package. Each sub-package brings its own control plane
(`tests.controlplane.fixtures.control_plane`, one per package): they install different things
and must not meet.

- `installed/`: the product as `kubectl apply -k metacontroller/` installs it, driven by the
  real Metacontroller (`stack.py`, `tests/controlplane/metacontroller.py`);
- `hooks_token/`: the same with `overlays/hooks-token`;
- `platform/`: the same from a kustomization of one's own in another namespace, with the
  hooks-token and metrics components;
- `helm/`: the same installed with `helm install` of charts/image-mapper;
- `components/`: every combination of the components applied (no Metacontroller running);
- `operating/`: the Install, Verify and Uninstall blocks of docs/install.md and
  docs/operations.md and the README's walk-through, run as written;
- `webhook/`: `serve-webhook` alone against an API server, and its watch.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Stack

_numbers = itertools.count(1)


@pytest.fixture
def namespace(stack: Stack, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (without waiting), in the package's
    `stack`."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    name = f"t{next(_numbers)}-{slug}"[:60].rstrip("-")
    stack.cp.kubectl("create", "namespace", name)
    yield name
    stack.cp.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
