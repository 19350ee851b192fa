"""Consistency and the acceptance walk, table-driven (design.md#consistency, #acceptance)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from image_mapper.engine.acceptance import decide
from image_mapper.engine.cache import DecisionCache
from image_mapper.engine.imagemap import read_imagemaps
from image_mapper.engine.verdicts import Conflict, Verdict
from tests.engine.helpers import imagemap

T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"

# One ImageMap on its own: valid, or InvalidSpec with a message naming each bad entry.
SINGLE = [
    pytest.param(
        [("a.io/x:1", "b.io/x:1"), ("a.io/y:1", "b.io/y:1")], "Accepted", [], id="two-images"
    ),
    pytest.param(
        [("a.io/x:1", "b.io/x:1"), ("a.io/x:1", "b.io/x:1")],
        "Accepted",
        [],
        id="duplicate-entry-is-fine",
    ),
    pytest.param(
        [("a.io/x:1", "b.io/x:1"), ("a.io/x:1", "c.io/x:1")],
        "InvalidSpec",
        ["spec.map[0]", "spec.map[1]", "differently"],
        id="same-from-different-to",
    ),
    pytest.param(
        [("nginx", "b.io/nginx"), ("docker.io/library/nginx", "c.io/nginx")],
        "InvalidSpec",
        ["spec.map[1]"],
        id="same-normalized-from",
    ),
    pytest.param(
        [("nginx:1", "b.io/nginx:1"), ("nginx:1", "b.io/nginx:1")],
        "Accepted",
        [],
        id="same-to-normalized",
    ),
    pytest.param(
        [("a.io/x:1", "b.io/x:1"), ("b.io/x:1", "c.io/x:1")],
        "InvalidSpec",
        ["spec.map[0]", "spec.map[1]", "mapped again"],
        id="chain-a-b-c",
    ),
    pytest.param(
        [("quay.io/", "quay.io/mirror/")],
        "InvalidSpec",
        ["spec.map[0]", "its own 'from'"],
        id="prefix-under-own-from",
    ),
    pytest.param(
        [("gcr.io/", "r.io/gcr/"), ("r.io/", "s.io/")],
        "InvalidSpec",
        ["spec.map[0]", "spec.map[1]"],
        id="prefix-under-other-from",
    ),
    pytest.param(
        [("gcr.io/", "r.io/gcr/"), ("r.io/gcr/x:1", "s.io/x:1")],
        "InvalidSpec",
        ["spec.map[1]"],
        id="image-under-prefix-result",
    ),
    pytest.param(
        [("nginx", "r.io/nginx"), ("r.io/nginx:1", "s.io/nginx:1")],
        "InvalidSpec",
        ["spec.map[0]"],
        id="image-of-repository-result",
    ),
    pytest.param(
        [("gcr.io/", "r.io/gcr/"), ("gcr.io/keep:1", "gcr.io/keep:1")],
        "Accepted",
        [],
        id="identity-is-idempotent",
    ),
    pytest.param(
        [("a.io/x:1", "a.io/x:1"), ("a.io/x:1", "b.io/x:1")],
        "InvalidSpec",
        ["differently"],
        id="identity-still-conflicts-on-same-from",
    ),
    pytest.param([("a.io/x", "b.io/x:1")], "InvalidSpec", ["repository"], id="repository-to-image"),
    pytest.param(
        [("NOPE", "b.io/x")], "InvalidSpec", ["spec.map[0]", "lowercase"], id="bad-reference"
    ),
]


@pytest.mark.parametrize(("entries", "reason", "says"), SINGLE)
def test_single_imagemap(entries: list[tuple[str, str]], reason: str, says: list[str]) -> None:
    verdict = decide(read_imagemaps([imagemap("m", *entries)])).verdicts["m"]
    assert verdict.reason == reason, verdict.message
    for text in says:
        assert text in verdict.message
    assert verdict.ready == (reason == "Accepted")
    assert len(verdict.maplets) == (len(entries) if verdict.ready else 0)


BAD_MAPS = [
    pytest.param(None, "list", id="no-map"),
    pytest.param([], "at least one", id="empty-map"),
    pytest.param(["a"], "spec.map[0]", id="entry-not-object"),
    pytest.param([{"from": "a:1", "to": "b:1", "extra": 1}], "extra", id="unknown-field"),
    pytest.param([{"from": "a:1"}], "'to'", id="missing-to"),
    pytest.param([{"from": ["a"], "to": "b:1"}], "'from'", id="from-wrong-type"),
]


@pytest.mark.parametrize(("spec_map", "says"), BAD_MAPS)
def test_malformed_specs_are_invalid_not_errors(spec_map: Any, says: str) -> None:
    obj = imagemap("m")
    obj["spec"]["map"] = spec_map
    verdict = decide(read_imagemaps([obj])).verdicts["m"]
    assert verdict.reason == "InvalidSpec"
    assert says in verdict.message


def test_newcomer_rejected_naming_the_map_in_force() -> None:
    old = imagemap("old", ("a.io/x:1", "b.io/x:1"), created=T1, ready_since=T1)
    new = imagemap("new", ("a.io/x:1", "c.io/x:1"), created=T0)  # older, but not in force
    decision = decide(read_imagemaps([new, old]))
    assert decision.verdicts["old"].ready
    verdict = decision.verdicts["new"]
    assert verdict.reason == "Conflict"
    assert "'old'" in verdict.message
    assert "spec.map[0]" in verdict.message
    assert verdict.conflicts == (
        Conflict(source="a.io/x:1", target="c.io/x:1", image_map="old", their_target="b.io/x:1"),
    )
    assert decision.mapping.lookup("a.io/x:1").result == "b.io/x:1"  # type: ignore[union-attr]


def test_rejected_map_accepted_once_the_other_is_deleted() -> None:
    new = imagemap("new", ("a.io/x:1", "c.io/x:1"), created=T1)
    assert decide(read_imagemaps([new])).verdicts["new"].ready


def test_rejected_map_accepted_once_the_other_is_fixed() -> None:
    old = imagemap(
        "old",
        ("a.io/y:1", "b.io/y:1"),
        created=T0,
        generation=2,
        ready_since=T0,
        observed_generation=1,
    )
    new = imagemap("new", ("a.io/x:1", "c.io/x:1"), created=T1)
    assert all(v.ready for v in decide(read_imagemaps([old, new])).verdicts.values())


def test_update_that_conflicts_undeploys_entirely() -> None:
    # `upd` was in force at generation 1; generation 2 conflicts with `other`, in force.
    other = imagemap("other", ("a.io/x:1", "b.io/x:1"), created=T1, ready_since=T1)
    upd = imagemap(
        "upd",
        ("a.io/z:1", "b.io/z:1"),
        ("a.io/x:1", "c.io/x:1"),
        created=T0,
        generation=2,
        ready_since=T0,
        observed_generation=1,
    )
    upd["status"]["deployedMap"] = [{"from": "a.io/z:1", "to": "b.io/z:1"}]  # generation 1's
    decision = decide(read_imagemaps([upd, other]))
    assert decision.verdicts["upd"].reason == "Conflict"
    assert decision.verdicts["upd"].maplets == ()
    assert decision.mapping.lookup("a.io/z:1") is None  # none of its maplets stay in force


def test_chain_between_imagemaps_rejects_the_later() -> None:
    first = imagemap("first", ("a.io/x:1", "b.io/x:1"), created=T0)
    second = imagemap("second", ("b.io/x:1", "c.io/x:1"), created=T1)
    decision = decide(read_imagemaps([second, first]))
    assert decision.verdicts["first"].ready
    assert decision.verdicts["second"].reason == "Conflict"
    assert "'first'" in decision.verdicts["second"].message


def test_order_is_in_force_then_created_then_name() -> None:
    maps = [
        imagemap(n, ("a.io/x:1", f"{n}.io/x:1"), created=c, ready_since=r)
        for n, c, r in [("c", T0, None), ("b", T1, T2), ("a", T1, None), ("z", T2, T1)]
    ]
    decision = decide(read_imagemaps(maps))
    assert list(decision.verdicts) == ["z", "b", "c", "a"]
    assert decision.verdicts["z"].ready


def test_message_names_every_offending_entry() -> None:
    old = imagemap("old", ("a.io/x:1", "b.io/x:1"), ("a.io/y:1", "b.io/y:1"), ready_since=T0)
    new = imagemap(
        "new",
        ("a.io/x:1", "c.io/x:1"),
        ("a.io/ok:1", "c.io/ok:1"),
        ("a.io/y:1", "c.io/y:1"),
        created=T1,
    )
    verdict = decide(read_imagemaps([old, new])).verdicts["new"]
    assert "spec.map[0]" in verdict.message
    assert "spec.map[2]" in verdict.message
    assert "spec.map[1]" not in verdict.message
    assert len(verdict.conflicts) == 2


def test_decisions_are_memoized_by_uid_and_resource_version() -> None:
    first = imagemap("first", ("a.io/x:1", "b.io/x:1"), created=T0)
    second = imagemap("second", ("a.io/x:1", "c.io/x:1"), created=T1)
    for number, obj in enumerate((first, second)):
        obj["metadata"].update(uid=f"uid-{number}", resourceVersion="1")
    cache = DecisionCache()
    once = decide(read_imagemaps([first, second]), cache=cache)
    assert decide(read_imagemaps([first, second]), cache=cache) is once
    # In any order: each ImageMap's sync lists its parent first.
    assert decide(read_imagemaps([second, first]), cache=cache) is once
    assert once.verdicts["second"].reason == "Conflict"
    # A new resourceVersion is new content: decided afresh.
    second["spec"]["map"][0]["to"] = "b.io/x:1"
    second["metadata"]["resourceVersion"] = "2"
    assert decide(read_imagemaps([first, second]), cache=cache).verdicts["second"].ready


def test_a_forged_uid_and_resource_version_never_reuse_another_verdict() -> None:
    # A hook body is untrusted: the same uid, resourceVersion and generation with another
    # spec (a forged or fuzzed request) must be judged on its own content.
    cache = DecisionCache()
    valid = imagemap("m", ("a.io/x:1", "b.io/x:1"))
    valid["metadata"].update(uid="uid-forged", resourceVersion="7")
    assert decide(read_imagemaps([valid]), cache=cache).verdicts["m"].ready
    forged = imagemap("m", ("a.io/x:1", "b.io/x:1"), ("", "c.io/y:1"))
    forged["metadata"].update(uid="uid-forged", resourceVersion="7")
    assert decide(read_imagemaps([forged]), cache=cache).verdicts["m"].reason == "InvalidSpec"
    assert decide(read_imagemaps([valid]), cache=cache).verdicts["m"].ready


@pytest.mark.parametrize("forge", ["status", "creationTimestamp"])
def test_a_forged_order_never_reuses_another_verdict(forge: str) -> None:
    # The acceptance order comes from each object's status and creationTimestamp: a body that
    # keeps every uid, resourceVersion and spec but changes those is judged on its own order.
    def pair(forged: bool) -> list[dict[str, Any]]:
        older = imagemap("older", ("a.io/x:1", "b.io/x:1"), created=T0)
        newer = imagemap("newer", ("a.io/x:1", "c.io/x:1"), created=T1,
                         ready_since=T0 if forged and forge == "status" else None)
        if forged and forge == "creationTimestamp":
            newer["metadata"]["creationTimestamp"] = "2025-12-31T00:00:00Z"
        for obj in (older, newer):
            obj["metadata"].update(uid=f"uid-{obj['metadata']['name']}", resourceVersion="9")
        return [older, newer]

    def verdicts(forged: bool) -> Mapping[str, Verdict]:
        return decide(read_imagemaps(pair(forged)), cache=cache).verdicts

    cache = DecisionCache()
    assert verdicts(forged=False)["newer"].reason == "Conflict"
    assert verdicts(forged=True)["older"].reason == "Conflict"
    assert verdicts(forged=False)["newer"].reason == "Conflict"
