"""Invariants of the engine, with generated ImageMaps drawn from a small universe so that
overlaps, chains and conflicts are common."""

from __future__ import annotations

import copy
import itertools
import random
from collections.abc import Iterable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from image_mapper.engine.acceptance import decide
from image_mapper.engine.consistency import Walk, compile_map
from image_mapper.engine.imagemap import read_imagemaps
from image_mapper.engine.mapping import Form, Maplet, Mapping, image_key
from image_mapper.engine.patterns import ConflictIndex
from image_mapper.engine.reference import ReferenceError, parse_normalized
from tests.support.resources import imagemap

DOMAINS = ["docker.io", "gcr.io", "quay.io", "localhost:5000", "r.example.com", "index.docker.io"]
PATHS = ["a", "b", "a/b", "team/x", "library/nginx", "team/y/z"]
TAGS = ["v1", "v2", "latest"]
DIGESTS = ["sha256:" + "a" * 64, "sha256:" + "b" * 64]
PREFIXES = [
    "docker.io/",
    "gcr.io/",
    "gcr.io/team/",
    "quay.io/",
    "r.example.com/",
    "r.example.com/team/",
    "localhost:5000/",
    "team/",
]

repositories = st.builds(lambda d, p: f"{d}/{p}", st.sampled_from(DOMAINS), st.sampled_from(PATHS))
short_names = st.sampled_from(["nginx", "a", "team/x"])
any_repository = st.one_of(repositories, short_names)
images = st.builds(
    lambda r, t, d: r + (f":{t}" if t else "") + (f"@{d}" if d else ""),
    any_repository,
    st.sampled_from([*TAGS, None]),
    st.sampled_from([*DIGESTS, None]),
).filter(lambda s: ":" in s.rsplit("/", 1)[-1] or "@" in s)
tagged_images = st.builds(lambda r, t: f"{r}:{t}", any_repository, st.sampled_from(TAGS))

image_maplets = st.tuples(images, tagged_images)
repository_maplets = st.tuples(any_repository, any_repository)
prefix_maplets = st.tuples(st.sampled_from(PREFIXES), st.sampled_from(PREFIXES))
maplets = st.one_of(image_maplets, repository_maplets, prefix_maplets)

TIMES = ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]


@st.composite
def namespaces(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=1, max_value=6))
    maps = []
    for index in range(count):
        entries = draw(st.lists(maplets, min_size=1, max_size=4))
        maps.append(
            imagemap(
                f"m{index}",
                *entries,
                created=draw(st.sampled_from(TIMES)),
                ready_since=draw(st.sampled_from([None, *TIMES])),
            )
        )
    return maps


pod_images = st.one_of(images, any_repository)
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@SETTINGS
@given(namespaces(), st.lists(pod_images, min_size=1, max_size=10))
def test_accepted_mapping_is_idempotent(maps: list[dict[str, Any]], pods: list[str]) -> None:
    assert_idempotent(decide(read_imagemaps(maps)).mapping, pods)


def assert_idempotent(mapping: Mapping, images: Iterable[str]) -> None:
    """map(map(x)) = map(x) for each image x."""
    for image in images:
        match = mapping.lookup(image)
        if match is None:
            continue
        again = mapping.lookup(match.result)
        assert again is None or again.result == match.result, (image, match, again)


@SETTINGS
@given(namespaces(), st.randoms(use_true_random=False))
def test_verdicts_do_not_depend_on_input_order(
    maps: list[dict[str, Any]], rnd: random.Random
) -> None:
    first = decide(read_imagemaps(maps))
    shuffled = list(maps)
    rnd.shuffle(shuffled)
    second = decide(read_imagemaps(shuffled))
    assert first.verdicts == second.verdicts


@SETTINGS
@given(namespaces())
def test_the_walks_set_check_agrees_with_the_pairwise_rule(maps: list[dict[str, Any]]) -> None:
    """The walk judges a newcomer by set operations over key summaries (`Walk`); the
    consistency rule written out pair by pair (`ConflictIndex`, design.md#consistency) must find
    a conflict exactly then, and the same conflicts, in the same order, from the culprits the
    walk picks out."""
    walk, pairwise = Walk(), ConflictIndex()
    for imagemap_ in maps:
        compiled = compile_map(imagemap_["metadata"]["name"], imagemap_["spec"]["map"])
        if isinstance(compiled, str) or compiled.problems:
            continue
        expected = pairwise.conflicts_with(compiled.maplets)
        assert walk.consistent(compiled) == (not expected)
        assert walk.conflicts_with(compiled) == expected
        if not expected:
            walk.add(compiled)
            pairwise.add(compiled.maplets)


_namespace_numbers = itertools.count()


@st.composite
def histories(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """A namespace's ImageMaps as the API server returns them (uid, resourceVersion), then
    after each of a few changes: a spec edited, one deleted or created, a status written."""
    namespace = f"history-{next(_namespace_numbers)}"
    versions = itertools.count(1)
    maps = draw(namespaces())
    for index, obj in enumerate(maps):
        obj["metadata"].update(namespace=namespace, uid=f"{namespace}-{index}",
                               resourceVersion=str(next(versions)))
    states = [copy.deepcopy(maps)]
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        change = draw(st.sampled_from(["edit", "delete", "create", "status"]))
        if change == "create" or not maps:
            index = len(states) + 100
            obj = imagemap(f"n{index}", *draw(st.lists(maplets, min_size=1, max_size=4)))
            obj["metadata"].update(namespace=namespace, uid=f"{namespace}-n{index}")
            maps.append(obj)
        else:
            obj = draw(st.sampled_from(maps))
            if change == "delete":
                maps.remove(obj)
            elif change == "edit":
                obj["spec"]["map"] = [{"from": f, "to": t} for f, t in
                                      draw(st.lists(maplets, min_size=1, max_size=4))]
                obj["metadata"]["generation"] += 1
            else:
                obj["status"] = {"observedGeneration": obj["metadata"]["generation"],
                                 "conditions": [{"type": "Ready", "status": "True",
                                                 "lastTransitionTime": draw(
                                                     st.sampled_from(TIMES))}]}
        obj["metadata"]["resourceVersion"] = str(next(versions))
        states.append(copy.deepcopy(maps))
    return states


@SETTINGS
@given(histories())
def test_deciding_what_changed_agrees_with_deciding_afresh(
    history: list[list[dict[str, Any]]],
) -> None:
    """From the prior decision, `decide` compiles only what changed and, when the prior
    rejected nothing for a conflict, judges only what changed; it must decide as a walk from
    scratch does, and leave every prior as it was: each earlier decision, taken again as the
    prior of the last state, still gives the walk's answers."""
    decisions = []
    prior = None
    for maps in history:
        decision = decide(read_imagemaps(maps), prior=prior)
        afresh = decide(read_imagemaps(maps))
        assert decision.verdicts == afresh.verdicts
        assert list(decision.verdicts) == list(afresh.verdicts)
        assert decision.maplets == afresh.maplets
        decisions.append(decision)
        prior = decision
    for earlier in decisions:
        again = decide(read_imagemaps(history[-1]), prior=earlier)
        assert list(again.verdicts.items()) == list(afresh.verdicts.items())
        assert again.maplets == afresh.maplets


@SETTINGS
@given(namespaces())
def test_no_two_accepted_imagemaps_conflict(maps: list[dict[str, Any]]) -> None:
    decision = decide(read_imagemaps(maps))
    accepted = [m for m in maps if decision.verdicts[m["metadata"]["name"]].ready]
    for i, one in enumerate(accepted):
        for other in accepted[i + 1 :]:
            pair = decide(read_imagemaps([one, other]))
            assert all(v.ready for v in pair.verdicts.values()), pair.verdicts


@SETTINGS
@given(pod_images)
def test_normalizing_a_normalized_reference_changes_nothing(image: str) -> None:
    try:
        once = str(parse_normalized(image))
    except ReferenceError:
        return
    assert str(parse_normalized(once)) == once


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_fails_other_than_with_reference_error(text: str) -> None:
    try:
        reference = parse_normalized(text)
    except ReferenceError as error:
        assert str(error).startswith("invalid image reference")
    else:
        assert str(parse_normalized(str(reference))) == str(reference)


def _variants(maplet_text: str) -> list[str]:
    """Images around one side of a maplet: the reference itself and its repository with other
    tags, digests and deeper paths (the lookups of design.md#references: full, @digest, :tag;
    prefixes)."""
    digest = DIGESTS[0]
    if maplet_text.endswith("/"):
        names = [maplet_text + "p", maplet_text + "p/q"]
    else:
        try:
            names = [parse_normalized(maplet_text).name]
        except ReferenceError:
            return []
        names.append(names[0] + "/sub")
    found = [maplet_text] if not maplet_text.endswith("/") else []
    for name in names:
        found += [name, f"{name}:v1", f"{name}:v2", f"{name}@{digest}", f"{name}:v1@{digest}"]
    return found


@SETTINGS
@given(namespaces())
def test_every_accepted_mapping_is_idempotent_on_every_variant(
    maps: list[dict[str, Any]],
) -> None:
    """Idempotence (design.md#consistency): map(map(x)) = map(x) for x drawn from every maplet's
    `from` and `to`, with tag, digest and path variants."""
    entries = [e for m in maps for e in m["spec"]["map"]]
    assert_idempotent(decide(read_imagemaps(maps)).mapping,
                      (image for e in entries
                       for image in (*_variants(e["from"]), *_variants(e["to"]))))


@SETTINGS
@given(namespaces())
def test_every_idempotence_rejection_names_a_witness(maps: list[dict[str, Any]]) -> None:
    """A rejection for idempotence shows an image mapped twice (`x -> y -> z`): by the pair
    of maplets it names, and, where the result is one image (the exact rule), by the mapping
    of the ImageMaps in force before it and its own."""
    decision = decide(read_imagemaps(maps))
    by_name = {m.name: m for m in read_imagemaps(maps)}
    before: list[Maplet] = []
    for name, verdict in decision.verdicts.items():
        if verdict.ready:
            before.extend(verdict.maplets)
            continue
        compiled = compile_map(name, by_name[name].spec_map)
        for conflict in verdict.conflicts:
            if conflict.example is None:
                # Only two maplets of one source that disagree need no example.
                assert any(m.key == conflict.source and m.target == conflict.their_target
                           for m in before), conflict
                continue
            x, y, z = conflict.example.split(" -> ")
            assert y != z, conflict
            if (isinstance(compiled, str) or compiled.problems
                    or any(c.example is None for c in verdict.conflicts)):
                continue  # with two targets for one source, "were it in force" is undefined
            ours = [m for m in compiled.maplets if m.key == conflict.source]
            if any(m.form is Form.IMAGE and m.target_key == image_key(parse_normalized(y))
                   for m in ours):
                # Were it in force beside the other ImageMap, their mapping would map x, then
                # map the result again.
                theirs = [m for m in before if m.image_map == conflict.image_map]
                merged = Mapping.build((*theirs, *compiled.maplets))
                once = merged.lookup(x)
                assert once is not None, conflict
                again = merged.lookup(once.result)
                assert again is not None, conflict
                assert again.result != once.result, conflict


# --- settings never change verdicts (design.md#relocation-settings) --------------------------


@SETTINGS
@given(namespaces(), st.data())
def test_switching_modes_and_pull_secrets_never_changes_a_verdict(
    maps: list[dict[str, Any]], data: st.DataObject
) -> None:
    before = decide(read_imagemaps(maps))
    switched = copy.deepcopy(maps)
    for obj in switched:
        obj["spec"]["mode"] = data.draw(st.sampled_from(["Enforce", "Audit"]))
        obj["spec"]["imagePullSecrets"] = [
            {"name": n} for n in data.draw(st.lists(st.sampled_from(["a", "b", "c"]),
                                                    max_size=2))]
    after = decide(read_imagemaps(switched))
    assert [(v.name, v.reason, v.message) for v in after.verdicts.values()] == [
        (v.name, v.reason, v.message) for v in before.verdicts.values()]
    assert after.maplets == before.maplets
    # Every answer names the mode of its own ImageMap.
    modes = {obj["metadata"]["name"]: obj["spec"]["mode"] for obj in switched}
    for maplet in after.mapping.maplets():
        match = after.mapping.lookup(maplet.source) if maplet.form is Form.IMAGE else None
        if match is not None and match.maplet is maplet:
            assert match.settings.mode == modes[maplet.image_map]
