"""Hook version v2 selects related objects in every namespace unless a rule names one: the
ImageMap controller's customize hook asks for the ImageMaps of the parent's namespace only
(and its Namespace by name), so ImageMaps elsewhere neither slow a namespace down nor get
synced when it changes. With `labelSelector: {}` under v2, one delete caused ~145 sync calls
with ~130 ImageMaps elsewhere."""

from __future__ import annotations

import time

import pytest

from tests.e2e.stack import Stack
from tests.support.resources import imagemap_list
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

ELSEWHERE = 6
PER_NAMESPACE = 5


def _maps(prefix: str, count: int) -> str:
    return imagemap_list({f"{prefix}-{i}": [(f"gcr.io/{prefix}/app{i}:v1",
                                             f"registry.example.com/{prefix}/app{i}:v1")]
                          for i in range(count)})


def test_imagemaps_of_other_namespaces_are_not_synced(stack: Stack) -> None:
    for number in range(ELSEWHERE):
        namespace = f"elsewhere-{number}"
        stack.cp.kubectl("create", "namespace", namespace)
        stack.cp.kubectl("apply", "-n", namespace, "-f", "-",
                         input=_maps(namespace, PER_NAMESPACE))
    stack.cp.kubectl("create", "namespace", "scoped")
    stack.cp.kubectl("apply", "-n", "scoped", "-f", "-", input=_maps("scoped", 2))
    for number in range(ELSEWHERE):
        for i in range(PER_NAMESPACE):
            stack.wait_ready(f"elsewhere-{number}", f"elsewhere-{number}-{i}")
    stack.wait_ready("scoped", "scoped-0")
    stack.wait_ready("scoped", "scoped-1")
    # Metacontroller works through its queue at its client's pace (each sync reads the object
    # before comparing its status): wait until it is idle.
    syncs = _idle(stack)

    # Every ImageMap asked only for its own namespace's ImageMaps and its Namespace.
    stack.cp.kubectl("delete", "imagemap", "scoped-1", "-n", "scoped")
    wait_for("the namespace's new decision", lambda: "1 accepted" in (
        stack.get("namespace", "scoped")["metadata"]["annotations"].get(
            "mapper.imagerelocation.pivotal.io/summary", "")))
    caused = _idle(stack) - syncs
    # The one ImageMap left in the namespace is synced again (the delete, the new record);
    # none of the 30 elsewhere is.
    assert 1 <= caused <= 4, caused


def _idle(stack: Stack, quiet: float = 3.0, timeout: float = 120.0) -> int:
    """ImageMap syncs so far, once none has come for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = stack.hook_calls()[("/imagemap/sync", "ok")]
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
        time.sleep(0.2)
    raise TimeoutError("Metacontroller kept syncing ImageMaps")
