"""Consistency and the acceptance walk, table-driven (design.md#consistency, #acceptance)."""

from __future__ import annotations

from typing import Any

import pytest

from image_mapper.engine.acceptance import decide
from image_mapper.engine.imagemap import read_imagemaps
from image_mapper.engine.verdicts import Conflict
from tests.support.resources import imagemap

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


def test_a_decision_from_a_prior_one_agrees_and_leaves_the_prior_as_it_was() -> None:
    maps = [imagemap(f"m{i}", (f"a.io/x{i}:1", f"b.io/x{i}:1"), created=T0) for i in range(3)]
    prior = decide(read_imagemaps(maps))
    assert prior.basis is not None
    assert prior.basis.walk is not None  # settled: all accepted
    walk = prior.basis.walk
    before = (dict(walk.exact), dict(walk.exact_count), dict(walk.sources.own),
              dict(walk.targets.reach), list(walk.accepted))
    # One ImageMap now conflicts with another: judged from the prior, as a walk from scratch.
    maps[2]["spec"]["map"] = [{"from": "a.io/x0:1", "to": "c.io/x0:1"}]
    maps[2]["metadata"]["generation"] = 2
    conflicting = decide(read_imagemaps(maps), prior=prior)
    assert conflicting.verdicts["m2"].reason == "Conflict"
    assert conflicting == decide(read_imagemaps(maps))
    # One changed without a conflict, from the same prior: only what changed is judged.
    maps[2]["spec"]["map"] = [{"from": "a.io/y:1", "to": "b.io/y:1"}]
    settled = decide(read_imagemaps(maps), prior=prior)
    assert all(v.ready for v in settled.verdicts.values())
    assert settled == decide(read_imagemaps(maps))
    assert settled.mapping.lookup("a.io/y:1") is not None
    assert settled.mapping.lookup("a.io/x2:1") is None
    # The prior is as it was: its walk and its answers.
    assert before == (dict(walk.exact), dict(walk.exact_count), dict(walk.sources.own),
                      dict(walk.targets.reach), list(walk.accepted))
    assert prior.mapping.lookup("a.io/x2:1") is not None


