"""The Namespace sync hook: the `active` label and the summary annotation (design.md#namespaces)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from image_mapper.controller.namespace_hook import (
    ACTIVE_LABEL,
    DECISION_ANNOTATION,
    SUMMARY_ANNOTATION,
    customize_namespace,
    sync_namespace,
)
from image_mapper.controller.protocol import DecoratorSyncRequest
from tests.golden import FIXTURE_NOW
from tests.support.resources import imagemap, namespace

from .simulation import GROUP_KEY, Namespace

NOW = "2026-01-01T12:00:00Z"  # FIXTURE_NOW, as written in the record

API = "mapper.imagerelocation.pivotal.io/v1alpha1"



def decorate(*imagemaps: dict[str, Any], finalizing: bool = False) -> dict[str, Any]:
    request: DecoratorSyncRequest = {
        "controller": {},
        "object": namespace("apps"),
        "attachments": {},
        "related": {GROUP_KEY: {f"{m['metadata']['namespace']}/{m['metadata']['name']}": m
                                for m in imagemaps}},
        "finalizing": finalizing,
    }
    return dict(sync_namespace(request, now=FIXTURE_NOW))


NGINX = ("nginx", "registry.example.com/nginx")
NGINX_ELSEWHERE = ("nginx", "mirror.example.org/nginx")
QUAY = ("quay.io/", "registry.example.com/quay/")

CASES = [
    ("no-imagemaps", (), None, "ImageMaps: 0 accepted, 0 rejected; maplets in force: 0"),
    ("one-accepted", (imagemap("a", NGINX, QUAY),), "true",
     "ImageMaps: 1 accepted, 0 rejected; maplets in force: 2"),
    ("only-invalid", (imagemap("a", ("Bad/Repo", "x")),), None,
     "ImageMaps: 0 accepted, 1 rejected; maplets in force: 0"),
    ("accepted-and-conflicting", (imagemap("a", NGINX), imagemap("bb", NGINX_ELSEWHERE, QUAY)),
     "true", "ImageMaps: 1 accepted, 1 rejected; maplets in force: 1"),
    ("same-maplet-twice", (imagemap("a", NGINX), imagemap("bb", NGINX)), "true",
     "ImageMaps: 2 accepted, 0 rejected; maplets in force: 1"),
    ("other-namespace-ignored", (imagemap("a", NGINX, namespace="elsewhere"),), None,
     "ImageMaps: 0 accepted, 0 rejected; maplets in force: 0"),
]


@pytest.mark.parametrize(("imagemaps", "label", "summary"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_label_and_summary(
    imagemaps: tuple[dict[str, Any], ...], label: str | None, summary: str
) -> None:
    response = decorate(*imagemaps)
    assert response["labels"] == {ACTIVE_LABEL: label}
    assert response["annotations"][SUMMARY_ANNOTATION] == summary
    assert response["attachments"] == []
    # Without a namespace's ImageMaps there is nothing to record: the annotation goes away.
    assert (response["annotations"][DECISION_ANNOTATION] is None) == (not [
        m for m in imagemaps if m["metadata"]["namespace"] == "apps"])


def test_the_decision_is_recorded_in_walk_order() -> None:
    response = decorate(imagemap("a", NGINX), imagemap("bb", NGINX_ELSEWHERE, QUAY),
                        imagemap("c", QUAY))
    assert json.loads(response["annotations"][DECISION_ANNOTATION]) == {
        "inForce": [["a", "uid-apps-a", 1, NOW], ["c", "uid-apps-c", 1, NOW]],
        "rejected": [["bb", "uid-apps-bb", 1, NOW]]}
    assert response["resyncAfterSeconds"] == 60  # a rejected ImageMap: decided again later


def test_finalizing_is_answered_finalized() -> None:
    assert decorate(finalizing=True)["finalized"] is True


def test_customize_asks_for_the_imagemaps_of_the_namespace() -> None:
    assert customize_namespace({"controller": {}, "parent": namespace("team-x")}) == {
        "relatedResources": [{"apiVersion": API, "resource": "imagemaps",
                              "namespace": "team-x"}]}


POOL = [NGINX, NGINX_ELSEWHERE, QUAY, ("quay.io/team/", "mirror.example.org/team/"),
        ("redis:7", "registry.example.com/redis:7"), ("registry.example.com/x", "quay.io/x"),
        ("Bad/Ref", "x")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(POOL), min_size=1, max_size=3), max_size=5),
       st.booleans())
def test_the_namespace_hook_agrees_with_the_imagemap_hook(
    specs: list[list[tuple[str, str]]], reverse: bool
) -> None:
    ns = Namespace(reverse=reverse)
    for index, maplets in enumerate(specs):
        ns.apply(f"map-{index}", *maplets)
    ns.settle()
    ready = [name for name in ns.imagemaps if ns.ready(name)["status"] == "True"]
    label, summary = ns.decorate()
    assert label == ("true" if ready else None)
    assert summary is not None
    assert summary.startswith(
        f"ImageMaps: {len(ready)} accepted, {len(specs) - len(ready)} rejected;")
