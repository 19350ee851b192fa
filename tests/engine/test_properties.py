"""Invariants of the engine, with generated ImageMaps drawn from a small universe so that
overlaps, chains and conflicts are common."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hooks.acceptance import decide
from hooks.reference import ReferenceError, parse_normalized
from tests.engine.helpers import imagemap

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
    mapping = decide(maps).mapping
    for image in pods:
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
    first = decide(maps)
    shuffled = list(maps)
    rnd.shuffle(shuffled)
    second = decide(shuffled)
    assert first.verdicts == second.verdicts


@SETTINGS
@given(namespaces())
def test_no_two_accepted_imagemaps_conflict(maps: list[dict[str, Any]]) -> None:
    decision = decide(maps)
    accepted = [m for m in maps if decision.verdicts[m["metadata"]["name"]].ready]
    for i, one in enumerate(accepted):
        for other in accepted[i + 1 :]:
            pair = decide([one, other])
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
