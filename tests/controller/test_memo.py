"""What the hooks server remembers between syncs (`image_mapper.controller.memo`): decisions
found again only for the same content, never for a forged or edited body."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest

from image_mapper.controller.memo import Memo
from image_mapper.engine.acceptance import decide
from image_mapper.engine.imagemap import read_imagemaps
from image_mapper.engine.settings import DEFAULT, Settings
from image_mapper.engine.verdicts import Verdict
from tests.support.resources import imagemap

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


def test_decisions_are_found_again_by_uid_and_resource_version() -> None:
    first = imagemap("first", ("a.io/x:1", "b.io/x:1"), created=T0)
    second = imagemap("second", ("a.io/x:1", "c.io/x:1"), created=T1)
    for number, obj in enumerate((first, second)):
        obj["metadata"].update(uid=f"uid-{number}", resourceVersion="1")
    memo = Memo()
    once = memo.decide(read_imagemaps([first, second]))
    assert memo.decide(read_imagemaps([first, second])) is once
    # In any order: each ImageMap's sync lists its parent first.
    assert memo.decide(read_imagemaps([second, first])) is once
    assert once.verdicts["second"].reason == "Conflict"
    assert once.basis is None  # the memo keeps the basis for the next decision itself
    # A new resourceVersion is new content (a new object, as a hook body has it): decided
    # afresh.
    second = imagemap("second", ("a.io/x:1", "b.io/x:1"), created=T1)
    second["metadata"].update(uid="uid-1", resourceVersion="2")
    assert memo.decide(read_imagemaps([first, second])).verdicts["second"].ready


def test_objects_without_a_uid_and_resource_version_are_never_remembered() -> None:
    memo = Memo()
    obj = imagemap("m", ("a.io/x:1", "b.io/x:1"))
    once = memo.decide(read_imagemaps([obj]))
    assert once.verdicts["m"].ready
    assert memo.decide(read_imagemaps([obj])) is not once


def test_a_forged_uid_and_resource_version_never_reuse_another_verdict() -> None:
    # A hook body is untrusted: the same uid, resourceVersion and generation with another
    # spec (a forged or fuzzed request) must be judged on its own content.
    memo = Memo()
    valid = imagemap("m", ("a.io/x:1", "b.io/x:1"))
    valid["metadata"].update(uid="uid-forged", resourceVersion="7")
    assert memo.decide(read_imagemaps([valid])).verdicts["m"].ready
    forged = imagemap("m", ("a.io/x:1", "b.io/x:1"), ("", "c.io/y:1"))
    forged["metadata"].update(uid="uid-forged", resourceVersion="7")
    assert memo.decide(read_imagemaps([forged])).verdicts["m"].reason == "InvalidSpec"
    assert memo.decide(read_imagemaps([valid])).verdicts["m"].ready


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
        return memo.decide(read_imagemaps(pair(forged))).verdicts

    memo = Memo()
    assert verdicts(forged=False)["newer"].reason == "Conflict"
    assert verdicts(forged=True)["older"].reason == "Conflict"
    assert verdicts(forged=False)["newer"].reason == "Conflict"


def test_a_remembered_decision_is_not_reused_for_another_mode() -> None:
    memo = Memo()
    obj = imagemap("m", ("a.io/x:1", "b.io/x:1"))
    obj["metadata"].update(uid="uid-m", resourceVersion="3")
    assert memo.decide(read_imagemaps([obj])).settings["m"] == DEFAULT
    # The same uid and resourceVersion with another spec (a forged body) is judged afresh.
    obj = copy.deepcopy(obj)
    obj["spec"].update(mode="Audit", imagePullSecrets=[{"name": "regcred"}])
    decision = memo.decide(read_imagemaps([obj]))
    assert decision.settings["m"] == Settings("Audit", ("regcred",))
    assert decision.mapping.lookup("a.io/x:1").audit  # type: ignore[union-attr]


def test_a_namespace_changed_one_imagemap_at_a_time_is_decided_as_afresh() -> None:
    # Each decision starts from the namespace's last: what a walk from scratch decides.
    memo = Memo(decisions=1, namespaces=1)
    objs = [imagemap(f"m{i}", (f"a.io/x{i}:1", f"b.io/x{i}:1")) for i in range(4)]
    for version, target in enumerate(["b.io/x0:1", "c.io/x0:1", "b.io/y:1", "b.io/x0:1"]):
        objs = copy.deepcopy(objs)  # each sync's body is new objects
        objs[3]["spec"]["map"] = [{"from": "a.io/x0:1" if version % 2 else "a.io/y:1",
                                   "to": target}]
        for i, obj in enumerate(objs):
            obj["metadata"].update(uid=f"uid-{i}", resourceVersion=str(version))
        assert memo.decide(read_imagemaps(objs)) == decide(read_imagemaps(objs))
