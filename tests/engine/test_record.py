"""One decider per namespace (design.md#one-decider): the record, the walk in its order, and
those who follow it (the ImageMap hook's `follow`, the webhook's `compile_recorded`)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from image_mapper.engine.acceptance import behind, compile_recorded, decide, follow, record_of
from image_mapper.engine.imagemap import ImageMap, read_imagemaps
from image_mapper.engine.record import Entry, Record, RecordError, read_record
from tests.support.resources import imagemap

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


def obj(name: str, *entries: tuple[str, str], uid: str | None = None, generation: int = 1,
        created: str = T0, **kwargs: Any) -> dict[str, Any]:
    made = imagemap(name, *entries, created=created, generation=generation, **kwargs)
    made["metadata"]["uid"] = uid or f"uid-{name}"
    return made


def one(raw: dict[str, Any]) -> ImageMap:
    (read,) = read_imagemaps([raw])
    return read


# --- the record itself --------------------------------------------------------------------


def test_the_record_round_trips_compactly() -> None:
    record = Record((Entry("a", "uid-a", 3, T0), Entry("b", "uid-b", 1, T1)),
                    (Entry("c", "uid-c", 2, T1),))
    text = record.encode()
    assert text == (f'{{"inForce":[["a","uid-a",3,"{T0}"],["b","uid-b",1,"{T1}"]],'
                    f'"rejected":[["c","uid-c",2,"{T1}"]]}}')
    assert Record.decode(text) == record
    assert record.judged("a", "uid-a") == (True, Entry("a", "uid-a", 3, T0))
    assert record.judged("c", "uid-c") == (False, Entry("c", "uid-c", 2, T1))
    assert record.judged("a", "another-uid") is None  # deleted and created again: unknown


@pytest.mark.parametrize(("text", "problem"), [
    pytest.param("nope", "not JSON", id="not-json"),
    pytest.param("[" * 100_000, "not JSON", id="nested-too-deep"),
    pytest.param("[]", "not a JSON object", id="not-an-object"),
    pytest.param('{"inForce": {}}', "inForce is not a list", id="in-force-not-a-list"),
    pytest.param('{"inForce": [["a", "u"]]}', "inForce[0]", id="short-row"),
    pytest.param('{"inForce": [["a", "u", 1, 5]]}', "inForce[0]", id="since-not-a-string"),
    pytest.param('{"rejected": [["a", "u", true]]}', "rejected[0]", id="boolean-generation"),
    pytest.param('{"inForce": [["a", 1, 1]]}', "inForce[0]", id="uid-not-a-string"),
])
def test_a_malformed_record_is_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(RecordError, match=re.escape(problem)):
        Record.decode(text)


def test_the_record_is_read_from_the_namespace_annotation() -> None:
    namespace = {"metadata": {"name": "apps", "annotations": {
        "mapper.imagerelocation.pivotal.io/decision": '{"inForce":[["a","u",1]]}'}}}
    assert read_record(namespace) == Record((Entry("a", "u", 1),))
    assert read_record({"metadata": {"name": "apps"}}) is None


# --- the decider's walk -------------------------------------------------------------------

A = ("a.io/x:1", "b.io/x:1")
B = ("a.io/x:1", "c.io/x:1")  # conflicts with A


def test_newcomers_seen_together_are_taken_by_creation_then_name() -> None:
    # Two conflicting ImageMaps created in the same second: the name decides, whatever order
    # the view lists them in.
    b, a = obj("b-map", B), obj("a-map", A)
    decision = decide(read_imagemaps([b, a]))
    assert decision.verdicts["a-map"].ready
    assert not decision.verdicts["b-map"].ready
    record = record_of(decision, read_imagemaps([b, a]))
    assert record == Record((Entry("a-map", "uid-a-map", 1),), (Entry("b-map", "uid-b-map", 1),))
    # The time each got its verdict: kept while the verdict holds, whatever the generation.
    later = record_of(decision, read_imagemaps([b, a]), now=T0)
    assert [e.since for e in later.entries()] == [T0, T0]
    changed = obj("a-map", A, generation=2)
    again = decide(read_imagemaps([b, changed]), record=later)
    kept = record_of(again, read_imagemaps([b, changed]), previous=later, now=T1)
    assert kept.in_force == (Entry("a-map", "uid-a-map", 2, T0),)
    flipped = record_of(decide(read_imagemaps([b])), read_imagemaps([b]), previous=later, now=T1)
    assert flipped.in_force == (Entry("b-map", "uid-b-map", 1, T1),)


def test_what_the_record_has_in_force_stays_in_force() -> None:
    # The decider saw `b-map` first: it is in force, and a newcomer that sorts before it
    # (older, and first by name) never displaces it.
    b = obj("b-map", B, created=T1)
    a = obj("a-map", A, created=T0)
    record = Record((Entry("b-map", "uid-b-map", 1),))
    decision = decide(read_imagemaps([a, b]), record=record)
    assert decision.verdicts["b-map"].ready
    assert decision.verdicts["a-map"].reason == "Conflict"
    assert list(decision.verdicts) == ["b-map", "a-map"]
    # Without the record, timestamps would have decided the other way.
    assert decide(read_imagemaps([a, b])).verdicts["a-map"].ready


def test_an_update_is_judged_afresh_and_a_delete_lets_the_next_in() -> None:
    record = Record((Entry("b-map", "uid-b-map", 1),), (Entry("a-map", "uid-a-map", 1),))
    # b-map changed its spec (generation 2): the record's entry no longer holds it, so the
    # older a-map comes first and wins; b-map's new generation is rejected.
    changed = obj("b-map", B, created=T1, generation=2)
    decision = decide(read_imagemaps([obj("a-map", A), changed]), record=record)
    assert decision.verdicts["a-map"].ready
    assert not decision.verdicts["b-map"].ready
    # b-map deleted: a-map is accepted.
    assert decide(read_imagemaps([obj("a-map", A)]), record=record).verdicts["a-map"].ready
    # A new object with the same name (another uid) is a newcomer, not the one in force.
    again = obj("b-map", B, uid="uid-b-map-2", created=T1)
    decision = decide(read_imagemaps([obj("a-map", A), again]), record=record)
    assert decision.verdicts["a-map"].ready
    assert not decision.verdicts["b-map"].ready


def test_a_view_older_than_the_record_is_behind() -> None:
    record = Record((Entry("a-map", "uid-a-map", 2),))
    assert behind(record, read_imagemaps([obj("a-map", A, generation=1)])) == ["a-map"]
    assert behind(record, read_imagemaps([obj("a-map", A, generation=2)])) == []
    assert behind(record, read_imagemaps([obj("a-map", A, generation=3)])) == []
    assert behind(record, read_imagemaps([obj("a-map", A, uid="other", generation=1)])) == []


# --- the ImageMap hook follows the record -------------------------------------------------


def test_follow_reports_the_recorded_verdict_and_explains_a_rejection() -> None:
    a, b = obj("a-map", A), obj("b-map", B)
    record = Record((Entry("a-map", "uid-a-map", 1),), (Entry("b-map", "uid-b-map", 1),))
    view = read_imagemaps([a, b])
    accepted = follow(record, one(a), view)
    assert accepted is not None
    assert accepted.ready
    rejected = follow(record, one(b), view)
    assert rejected is not None
    assert rejected.reason == "Conflict"
    assert "'a-map'" in rejected.message
    assert [c.image_map for c in rejected.conflicts] == ["a-map"]


def test_follow_waits_for_a_judgement_of_the_current_generation() -> None:
    record = Record((Entry("a-map", "uid-a-map", 1),))
    updated = obj("a-map", A, generation=2)
    assert follow(record, one(updated), read_imagemaps([updated])) is None
    assert follow(None, one(updated), read_imagemaps([updated])) is None
    newcomer = obj("n-map", ("a.io/n:1", "b.io/n:1"))
    assert follow(record, one(newcomer), read_imagemaps([newcomer])) is None


def test_follow_leaves_a_rejection_it_cannot_explain_yet() -> None:
    # The record rejected b-map against a-map, which this (stale) view does not hold yet.
    b = obj("b-map", B)
    record = Record((Entry("a-map", "uid-a-map", 1),), (Entry("b-map", "uid-b-map", 1),))
    assert follow(record, one(b), read_imagemaps([b])) is None


def test_an_invalid_spec_needs_no_record() -> None:
    bad = obj("bad", ("a.io/x:1", "b.io/y/"))
    verdict = follow(None, one(bad), read_imagemaps([bad]))
    assert verdict is not None
    assert verdict.reason == "InvalidSpec"


# --- the webhook follows the record -------------------------------------------------------


def test_the_webhook_maps_what_the_record_has_in_force_at_the_judged_generation() -> None:
    a, b = obj("a-map", A), obj("b-map", B)
    record = Record((Entry("a-map", "uid-a-map", 1),), (Entry("b-map", "uid-b-map", 1),))
    mapping = compile_recorded(record, read_imagemaps([a, b]))
    assert mapping is not None
    assert mapping.lookup("a.io/x:1").result == "b.io/x:1"  # type: ignore[union-attr]


def test_a_new_generation_waiting_for_its_decision_keeps_the_deployed_map() -> None:
    # a-map's spec moved to generation 2; its status still holds generation 1's deployedMap.
    moved = obj("a-map", ("a.io/x:1", "z.io/x:1"), generation=2, ready_since=T0,
                observed_generation=2)
    moved["status"]["deployedMap"] = [{"from": "a.io/x:1", "to": "b.io/x:1"}]
    moved["status"]["conditions"][0]["observedGeneration"] = 1
    record = Record((Entry("a-map", "uid-a-map", 1),))
    mapping = compile_recorded(record, read_imagemaps([moved]))
    assert mapping is not None
    assert mapping.lookup("a.io/x:1").result == "b.io/x:1"  # type: ignore[union-attr]


def test_a_view_that_cannot_build_the_decision_builds_nothing() -> None:
    record = Record((Entry("a-map", "uid-a-map", 1), Entry("c-map", "uid-c-map", 1)))
    a = obj("a-map", A)
    assert compile_recorded(record, read_imagemaps([a])) is None  # c-map deleted, or not seen
    moved = obj("c-map", ("a.io/c:1", "b.io/c:1"), generation=2)  # no status for generation 1
    assert compile_recorded(record, read_imagemaps([a, moved])) is None
    assert compile_recorded(Record(), read_imagemaps([a])) is not None  # nothing in force


# --- exact idempotence (design.md#consistency) -----------------------------------------------

D = "sha256:" + "d" * 64


@pytest.mark.parametrize("maps", [
    pytest.param([[(f"gcr.io/x:1@{D}", "m.example/x:1")], [("quay.io/y:2", f"gcr.io/x:7@{D}")]],
                 id="digest-with-another-tag-is-not-looked-up"),
    pytest.param([[("nginx:1.25", f"nginx:1.25@{D}")]], id="pin-a-tag-to-its-digest"),
    pytest.param([[("a.io/x:1", "b.io/y:1"), ("b.io/y:1", "b.io/y:1")],
                  [("b.io/y", "c.io/y")]], id="its-own-pin-shadows-the-repository"),
])
def test_no_false_conflicts_on_results_the_lookup_leaves_alone(
    maps: list[list[tuple[str, str]]],
) -> None:
    raw = [obj(f"m{i}", *entries) for i, entries in enumerate(maps)]
    decision = decide(read_imagemaps(raw))
    assert all(v.ready for v in decision.verdicts.values()), decision.verdicts


@pytest.mark.parametrize("maps", [
    pytest.param([[("a.io/x:1", "b.io/y:1")], [("b.io/y:1", "c.io/y:1")]], id="chain"),
    pytest.param([[("a.io/x:1", "b.io/y:1")], [("b.io/y", "c.io/y")]], id="into-a-repository"),
    pytest.param([[("a.io/x:1", f"b.io/y:1@{D}")], [(f"b.io/y@{D}", "c.io/y:1")]],
                 id="result-looked-up-by-digest"),
    pytest.param([[("a.io/x", "b.io/y")], [("b.io/y:3", "c.io/y:3")]],
                 id="repository-results-reach-an-image"),
    # Only the pair counts, not a third ImageMap's pin: were the pin deleted, the two would
    # be inconsistent while both in force.
    pytest.param([[("a.io/x:1", "b.io/y:1")], [("b.io/y", "c.io/y")], [("b.io/y:1", "b.io/y:1")]],
                 id="another-imagemap-s-pin-does-not-count"),
])
def test_a_result_that_would_be_mapped_again_is_a_conflict(
    maps: list[list[tuple[str, str]]],
) -> None:
    raw = [obj(f"m{i}", *entries, created=f"2026-01-0{i + 1}T00:00:00Z")
           for i, entries in enumerate(maps)]
    decision = decide(read_imagemaps(raw))
    assert decision.verdicts["m0"].ready
    assert decision.verdicts["m1"].reason == "Conflict", decision.verdicts["m1"]


entries = st.lists(st.builds(Entry, st.sampled_from("abc"), st.sampled_from(["u1", "u2"]),
                             st.integers(1, 3)), max_size=6)


@given(entries, entries)
def test_judged_finds_the_first_entry_in_force_then_rejected(in_force: list[Entry],
                                                              rejected: list[Entry]) -> None:
    record = Record(tuple(in_force), tuple(rejected))
    for name in "abc":
        for uid in ("u1", "u2"):
            first = next(((accepted, entry) for accepted, group in ((True, in_force),
                                                                    (False, rejected))
                          for entry in group if (entry.name, entry.uid) == (name, uid)), None)
            assert record.judged(name, uid) == first
    assert record == Record(tuple(in_force), tuple(rejected))  # asking changes nothing
