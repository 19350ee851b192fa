"""Mode and pull secrets in the engine (design.md#relocation-settings): `spec.mode` and
`spec.imagePullSecrets` are accepted and deployed with the maplets, never judged for
consistency, and every answer of the mapping carries them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from image_mapper.engine.acceptance import compile_recorded, decide
from image_mapper.engine.imagemap import read_imagemaps
from image_mapper.engine.mapping import Mapping, compile_maplet
from image_mapper.engine.record import Entry, Record
from image_mapper.engine.settings import AUDIT, DEFAULT, Settings, read_settings
from tests.support.resources import imagemap

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


def with_settings(obj: dict[str, Any], mode: str | None = None,
                  *secrets: str) -> dict[str, Any]:
    if mode is not None:
        obj["spec"]["mode"] = mode
    if secrets:
        obj["spec"]["imagePullSecrets"] = [{"name": name} for name in secrets]
    return obj


# --- reading --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "secrets", "expected"),
    [
        pytest.param(None, None, DEFAULT, id="absent"),
        pytest.param("Enforce", [], Settings(), id="enforce"),
        pytest.param("Audit", None, Settings("Audit"), id="audit"),
        pytest.param(None, [{"name": "a"}, {"name": "b.c"}], Settings("Enforce", ("a", "b.c")),
                     id="secrets-in-order"),
        pytest.param(None, [{"name": "a"}, {"name": "a"}], Settings("Enforce", ("a",)),
                     id="secret-twice-once"),
    ],
)
def test_settings_as_written(mode: object, secrets: object, expected: Settings) -> None:
    assert read_settings(mode, secrets) == expected


def test_every_problem_is_named_not_just_the_first() -> None:
    problems = read_settings("enforce", [{"name": "ok"}, {"name": "Not OK"}, 7])
    assert isinstance(problems, list)
    assert [p.split(" ")[0] for p in problems] == [
        "spec.mode", "spec.imagePullSecrets[1].name:", "spec.imagePullSecrets[2]"]


def test_a_huge_value_is_quoted_short() -> None:
    problems = read_settings("x" * 10_000, [{"name": "y" * 10_000}])
    assert isinstance(problems, list)
    assert all(len(p) < 300 for p in problems)


# --- acceptance -----------------------------------------------------------------------------


@pytest.mark.parametrize("first_mode", ["Enforce", "Audit"])
@pytest.mark.parametrize("second_mode", ["Enforce", "Audit"])
def test_audit_maps_take_part_in_acceptance_like_enforce_ones(first_mode: str,
                                                             second_mode: str) -> None:
    first = with_settings(imagemap("first", ("a.io/x:1", "b.io/x:1"), created=T0), first_mode)
    second = with_settings(imagemap("second", ("a.io/x:1", "c.io/x:1"), created=T1),
                           second_mode)
    decision = decide(read_imagemaps([first, second]))
    assert decision.verdicts["first"].ready
    assert decision.verdicts["second"].reason == "Conflict"
    assert "'first'" in decision.verdicts["second"].message
    assert dict(decision.settings) == {"first": Settings(first_mode)}  # type: ignore[arg-type]


def test_invalid_settings_make_the_imagemap_invalid_and_leave_the_others_alone() -> None:
    bad = with_settings(imagemap("bad", ("a.io/x:1", "b.io/x:1"), created=T0), "Audit", "NO")
    good = imagemap("good", ("a.io/x:1", "c.io/x:1"), created=T1)
    decision = decide(read_imagemaps([bad, good]))
    assert decision.verdicts["bad"].reason == "InvalidSpec"
    assert "spec.imagePullSecrets[0].name: 'NO' is not a valid Secret name" in (
        decision.verdicts["bad"].message)
    assert decision.verdicts["good"].ready


def test_a_bad_map_and_bad_settings_are_both_named() -> None:
    bad = with_settings(imagemap("bad"), "Sometimes")
    bad["spec"]["map"] = "nope"
    verdict = decide(read_imagemaps([bad])).verdicts["bad"]
    assert verdict.reason == "InvalidSpec"
    assert "spec.map must be a list" in verdict.message
    assert "spec.mode must be Enforce or Audit, not 'Sometimes'" in verdict.message


def test_a_settled_namespace_follows_a_mode_switch_without_a_new_walk() -> None:
    objs = [imagemap(f"m{i}", (f"a.io/x{i}:1", f"b.io/x{i}:1")) for i in range(3)]
    decision = None
    for mode in ["Enforce", "Audit", "Enforce"]:
        objs = copy.deepcopy(objs)  # an edited ImageMap is a new object
        with_settings(objs[1], mode)
        decision = decide(read_imagemaps(objs), prior=decision)
        assert all(v.ready for v in decision.verdicts.values())
        assert decision.mapping.lookup("a.io/x1:1").audit is (mode == "Audit")  # type: ignore[union-attr]


# --- the mapping ----------------------------------------------------------------------------


def test_a_match_tells_the_result_the_imagemap_its_mode_and_pull_secrets() -> None:
    mapping = decide(read_imagemaps([
        with_settings(imagemap("trial", ("nginx", "r.io/nginx"), created=T0), "Audit", "t"),
        with_settings(imagemap("private", ("quay.io/", "r.io/quay/"), created=T1), None,
                      "regcred", "mirror"),
    ])).mapping
    audited = mapping.lookup("nginx:1.25")
    assert audited is not None
    assert (audited.result, audited.image_map, audited.audit, audited.pull_secrets) == (
        "r.io/nginx:1.25", "trial", True, ("t",))
    enforced = mapping.lookup("quay.io/a/b:1")
    assert enforced is not None
    assert (enforced.result, enforced.image_map, enforced.audit, enforced.pull_secrets) == (
        "r.io/quay/a/b:1", "private", False, ("regcred", "mirror"))


def test_an_audit_winner_hides_a_lower_precedence_enforce_maplet() -> None:
    mapping = Mapping.build(
        [compile_maplet("quay.io/", "r.io/quay/", "enforced"),
         compile_maplet("quay.io/coreos/etcd:v3.5", "r.io/quay/coreos/etcd:v3.5", "trial")],
        {"trial": Settings(AUDIT), "enforced": Settings()})
    winner = mapping.lookup("quay.io/coreos/etcd:v3.5")
    assert winner is not None
    assert (winner.image_map, winner.audit) == ("trial", True)
    other = mapping.lookup("quay.io/coreos/etcd:v3.6")
    assert other is not None
    assert (other.image_map, other.audit) == ("enforced", False)


@pytest.mark.parametrize("order", [("trial", "enforced"), ("enforced", "trial")])
def test_of_two_equal_maplets_the_enforced_one_rewrites(order: tuple[str, str]) -> None:
    mapping = Mapping.build(
        [compile_maplet("nginx", "r.io/nginx", name) for name in order],
        {"trial": Settings(AUDIT, ("t",)), "enforced": Settings("Enforce", ("e",))})
    match = mapping.lookup("nginx:1")
    assert match is not None
    assert (match.image_map, match.audit, match.pull_secrets) == ("enforced", False, ("e",))


def test_pull_secrets_come_in_the_order_the_imagemaps_are_in_force() -> None:
    mapping = Mapping.build([], {"a": Settings("Enforce", ("x", "y")),
                                 "b": Settings("Enforce", ("z", "x")),
                                 "c": Settings("Enforce", ("w",))})
    assert mapping.pull_secrets_for({("ImageMap", n) for n in "cba"}) == ["x", "y", "z", "w"]
    assert mapping.pull_secrets_for({("ImageMap", "b")}) == ["z", "x"]
    assert mapping.pull_secrets_for(set()) == []
    # Names are unique within a kind only: a ClusterImageMap "a" is another map.
    assert mapping.pull_secrets_for({("ClusterImageMap", "a")}) == []


# --- the webhook's mapping, from the record ---------------------------------------------------


def test_while_a_new_generation_waits_its_deployed_settings_stay_in_force() -> None:
    # Audit -> Enforce and a new pull secret in generation 2, not yet decided.
    moved = with_settings(imagemap("m", ("a.io/x:1", "b.io/x:1"), generation=2, ready_since=T0,
                                   observed_generation=2), "Enforce", "new-creds")
    moved["metadata"]["uid"] = "uid-m"
    moved["status"]["conditions"][0]["observedGeneration"] = 1
    moved["status"]["deployedMode"] = "Audit"
    moved["status"]["deployedImagePullSecrets"] = [{"name": "old-creds"}]
    waiting = compile_recorded(Record((Entry("m", "uid-m", 1),)), read_imagemaps([moved]))
    assert waiting is not None
    match = waiting.lookup("a.io/x:1")
    assert match is not None
    assert (match.audit, match.pull_secrets) == (True, ("old-creds",))
    decided = compile_recorded(Record((Entry("m", "uid-m", 2),)), read_imagemaps([moved]))
    assert decided is not None
    match = decided.lookup("a.io/x:1")
    assert match is not None
    assert (match.audit, match.pull_secrets) == (False, ("new-creds",))


def test_a_status_without_deployed_settings_is_enforce_without_pull_secrets() -> None:
    # Written before mode and pull secrets existed: deployedMap only.
    moved = imagemap("m", ("a.io/x:1", "b.io/x:1"), generation=2, ready_since=T0,
                     observed_generation=2)
    moved["metadata"]["uid"] = "uid-m"
    moved["status"]["conditions"][0]["observedGeneration"] = 1
    mapping = compile_recorded(Record((Entry("m", "uid-m", 1),)), read_imagemaps([moved]))
    assert mapping is not None
    assert mapping.lookup("a.io/x:1").settings == DEFAULT  # type: ignore[union-attr]


def test_unreadable_deployed_settings_build_nothing() -> None:
    moved = imagemap("m", ("a.io/x:1", "b.io/x:1"), generation=2, ready_since=T0,
                     observed_generation=2)
    moved["metadata"]["uid"] = "uid-m"
    moved["status"]["conditions"][0]["observedGeneration"] = 1
    moved["status"]["deployedMode"] = "Sometimes"
    assert compile_recorded(Record((Entry("m", "uid-m", 1),)), read_imagemaps([moved])) is None


# --- switching modes never changes a verdict, with the decision record ---------------------


def _recorded_pair(trial_mode: str, trial_map: tuple[str, str] = ("a.io/x:1", "b.io/x:1")
                   ) -> tuple[Record, list[Any]]:
    """`trial` in force at generation 1 (status written), now at generation 2 in
    `trial_mode`; `aaa` (a name that sorts first, created in the same second) rejected."""
    trial = with_settings(imagemap("trial", trial_map, created=T0, generation=2,
                                   ready_since=T0, observed_generation=2), trial_mode)
    trial["status"]["deployedMap"] = [{"from": "a.io/x:1", "to": "b.io/x:1"}]
    trial["status"]["conditions"][0]["observedGeneration"] = 1
    rival = imagemap("aaa", ("a.io/x:1", "c.io/x:1"), created=T0)
    for obj in (trial, rival):
        obj["metadata"]["uid"] = f"uid-{obj['metadata']['name']}"
    record = Record((Entry("trial", "uid-trial", 1, T0),), (Entry("aaa", "uid-aaa", 1, T0),))
    return record, [trial, rival]


@pytest.mark.parametrize("mode", ["Enforce", "Audit"])
def test_an_update_of_the_settings_only_keeps_its_place_in_force(mode: str) -> None:
    record, objs = _recorded_pair(mode)
    decision = decide(read_imagemaps(objs), record=record)
    assert decision.verdicts["trial"].ready
    assert decision.verdicts["aaa"].reason == "Conflict"
    assert decision.settings["trial"].mode == mode


def test_an_update_of_the_maplets_is_judged_afresh() -> None:
    # The same spec with another maplet: judged afresh, a newcomer again, after `aaa` by name.
    record, objs = _recorded_pair("Audit", ("a.io/x:1", "d.io/x:1"))
    decision = decide(read_imagemaps(objs), record=record)
    assert decision.verdicts["aaa"].ready
    assert decision.verdicts["trial"].reason == "Conflict"


def test_without_a_record_the_order_of_the_statuses_keeps_it_in_force_too() -> None:
    _, objs = _recorded_pair("Enforce")
    decision = decide(read_imagemaps(objs))
    assert decision.verdicts["trial"].ready
    assert decision.verdicts["aaa"].reason == "Conflict"
