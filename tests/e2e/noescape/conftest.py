"""The product as installed, on this package's own control plane: the tests here stop
Metacontroller and the webhook, which no other package's tests may meet."""

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


@pytest.fixture
def healthy_stack(stack: Stack) -> Iterator[Stack]:
    """The stack with Metacontroller and the webhook running, before and after the test."""
    _restore(stack)
    yield stack
    _restore(stack)


def _restore(stack: Stack) -> None:
    if stack.metacontroller is None or not stack.metacontroller.running:
        stack.start_metacontroller()
    if stack.webhook is None or stack.webhook.process is None or (
            stack.webhook.process.poll() is not None):
        stack.start_webhook()
