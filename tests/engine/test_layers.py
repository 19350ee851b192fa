"""The two layers of a pod's mapping (design.md#clusterimagemap): the namespace's ImageMaps, then
the ClusterImageMaps that select the namespace; checked against a plain reference
implementation of the rule on random layers, and for what the cluster layer shares."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from image_mapper.engine.acceptance import Decision, decide
from image_mapper.engine.imagemap import read_imagemaps
from image_mapper.engine.layers import CLUSTER_KIND, SELECTIONS, ClusterLayer, Layered
from image_mapper.engine.mapping import Mapping
from image_mapper.engine.reference import (
    ReferenceError,
    parse_normalized,
    parse_prefix,
    repository_ancestors,
)
from tests.engine.test_properties import SETTINGS, TIMES, maplets, pod_images
from tests.support.resources import imagemap

LABELS = {"team": ["a", "b"], "env": ["prod", "dev"]}


# --- a plain reference implementation of the layers ------------------------------------------

def reference_selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get(
            "values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def reference_lookup(entries: list[tuple[str, str]], image: str) -> str | None:
    """What one layer's maplets (in force order) make of `image`, by trying each maplet: image
    maplets by the full reference, then `@digest`, then `:tag`; then the repository; then the
    longest prefix. None when none matches."""
    try:
        pod = parse_normalized(image)
    except ReferenceError:
        return None
    tagged = pod.tag or ("latest" if pod.digest is None else None)
    candidates = []
    if pod.digest is not None and pod.tag is not None:
        candidates.append(f"{pod.name}:{pod.tag}@{pod.digest}")
    if pod.digest is not None:
        candidates.append(f"{pod.name}@{pod.digest}")
    if tagged is not None:
        candidates.append(f"{pod.name}:{tagged}")
    images, repositories, prefixes = {}, {}, {}
    for source, target in entries:
        if source.endswith("/"):
            prefixes.setdefault(parse_prefix(source), (source, target))
            continue
        ref = parse_normalized(source)
        if ref.tag is None and ref.digest is None:
            repositories.setdefault(ref.name, (source, target))
        else:
            images.setdefault(str(ref.with_tag_if_bare()), (source, target))
    for key in candidates:
        if key in images:
            source, target = images[key]
            same = str(parse_normalized(target).with_tag_if_bare()) == key
            return image if same else target
    if pod.name in repositories:
        source, target = repositories[pod.name]
        same = parse_normalized(target).name == pod.name
        return image if same else target + pod.suffix
    for prefix in repository_ancestors(pod.name):
        if prefix in prefixes:
            source, target = prefixes[prefix]
            same = parse_prefix(target) == prefix
            return image if same else target + pod.name[len(prefix):] + pod.suffix
    return None


def in_force(decision: Decision, maps: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The maplets of those of `maps` that `decision` has in force, in force order."""
    by_name = {m["metadata"]["name"]: m for m in maps}
    return [(e["from"], e["to"]) for name, verdict in decision.verdicts.items()
            if verdict.ready and name in by_name for e in by_name[name]["spec"]["map"]]


def reference_layers(namespace: list[tuple[str, str]], cluster: list[dict[str, Any]],
                     cluster_decision: Decision, labels: dict[str, str], image: str
                     ) -> tuple[str | None, str]:
    """(result, layer) of `image`: the namespace's maplets first; only if none matches, the
    ClusterImageMaps in force that select the namespace."""
    result = reference_lookup(namespace, image)
    if result is not None:
        return result, "ImageMap"
    selected = [m for m in cluster
                if cluster_decision.verdicts[m["metadata"]["name"]].ready
                and reference_selects(m["spec"].get("namespaceSelector"), labels)]
    return reference_lookup(in_force(cluster_decision, selected), image), CLUSTER_KIND


# --- random layers ---------------------------------------------------------------------------

expressions = st.one_of(
    st.builds(lambda k, o, v: {"key": k, "operator": o, "values": v},
              st.sampled_from(sorted(LABELS)), st.sampled_from(["In", "NotIn"]),
              st.lists(st.sampled_from(["a", "b", "prod", "dev"]), min_size=1, max_size=2)),
    st.builds(lambda k, o: {"key": k, "operator": o},
              st.sampled_from(sorted(LABELS)), st.sampled_from(["Exists", "DoesNotExist"])),
)
selectors = st.one_of(
    st.none(),
    st.builds(lambda labels, exprs: {"matchLabels": labels, "matchExpressions": exprs},
              st.dictionaries(st.sampled_from(sorted(LABELS)), st.sampled_from(["a", "prod"]),
                              max_size=1),
              st.lists(expressions, max_size=2)),
)
namespace_labels = st.fixed_dictionaries(
    {}, optional={key: st.sampled_from(values) for key, values in LABELS.items()})


@st.composite
def layer(draw: st.DrawFn, *, cluster: bool) -> list[dict[str, Any]]:
    maps = []
    for index in range(draw(st.integers(min_value=0, max_value=4))):
        obj = imagemap(f"{'c' if cluster else 'm'}{index}",
                       *draw(st.lists(maplets, min_size=1, max_size=3)),
                       created=draw(st.sampled_from(TIMES)),
                       namespace=None if cluster else "ns",
                       kind=CLUSTER_KIND if cluster else "ImageMap")
        if cluster:
            selector = draw(selectors)
            if selector is not None:
                obj["spec"]["namespaceSelector"] = selector
        maps.append(obj)
    return maps


def layers_of(namespace_maps: list[dict[str, Any]], cluster_maps: list[dict[str, Any]]
              ) -> tuple[Decision, Decision, ClusterLayer]:
    namespace = decide(read_imagemaps(namespace_maps))
    clusterimagemaps = read_imagemaps(cluster_maps)
    cluster = decide(clusterimagemaps, kind=CLUSTER_KIND)
    return namespace, cluster, ClusterLayer.of(cluster, clusterimagemaps)


@SETTINGS
@given(layer(cluster=False), layer(cluster=True), namespace_labels,
       st.lists(pod_images, min_size=1, max_size=8))
def test_layered_lookup_agrees_with_the_reference(
    namespace_maps: list[dict[str, Any]], cluster_maps: list[dict[str, Any]],
    labels: dict[str, str], images: list[str],
) -> None:
    namespace, cluster, layer_ = layers_of(namespace_maps, cluster_maps)
    layered = Layered(namespace.mapping, layer_.mapping_for(labels))
    for image in images:
        match = layered.lookup(image)
        expected, kind = reference_layers(in_force(namespace, namespace_maps), cluster_maps,
                                          cluster, labels, image)
        if expected is None:
            assert match is None, image
            continue
        assert match is not None, image
        assert (match.result, match.kind) == (expected, kind), image


@SETTINGS
@given(layer(cluster=True))
def test_clusterimagemaps_are_judged_as_a_namespace_judges_its_imagemaps(
        cluster_maps: list[dict[str, Any]]) -> None:
    """The same walk, among themselves alone (the namespaces' ImageMaps take no part): the
    verdicts of the same maps as one namespace's ImageMaps, but for the kind they name.
    Selectors (valid ones) take no part either."""
    as_cluster = decide(read_imagemaps(cluster_maps), kind=CLUSTER_KIND)
    as_namespace = decide(read_imagemaps(copy.deepcopy(cluster_maps)))
    assert [(v.name, v.reason, v.message.replace("ImageMap", CLUSTER_KIND))
            for v in as_namespace.verdicts.values()] == [
        (v.name, v.reason, v.message) for v in as_cluster.verdicts.values()]
    assert as_cluster.maplets == as_namespace.maplets


@SETTINGS
@given(layer(cluster=False), layer(cluster=True), namespace_labels,
       st.lists(pod_images, min_size=1, max_size=8))
def test_a_layered_result_is_final(
    namespace_maps: list[dict[str, Any]], cluster_maps: list[dict[str, Any]],
    labels: dict[str, str], images: list[str],
) -> None:
    """Each layer is idempotent on its own; the layers together need not be (validate warns),
    so the mapper never looks a result up again: admission of the mapped pod changes nothing
    (tests/webhook); here, a lookup is one answer from exactly one layer."""
    namespace, _, layer_ = layers_of(namespace_maps, cluster_maps)
    cluster_mapping = layer_.mapping_for(labels)
    layered = Layered(namespace.mapping, cluster_mapping)
    for image in images:
        match = layered.lookup(image)
        if match is None:
            continue
        own = namespace.mapping.lookup(image)
        assert match == (own if own is not None else cluster_mapping.lookup(image))
        again = (namespace.mapping if match.kind == "ImageMap" else cluster_mapping).lookup(
            match.result)
        assert again is None or again.result == match.result


# --- what the cluster layer shares -----------------------------------------------------------

def cluster_map(name: str, *entries: tuple[str, str], selector: dict[str, Any] | None = None,
                created: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    obj = imagemap(name, *entries, created=created, namespace=None, kind=CLUSTER_KIND)
    if selector is not None:
        obj["spec"]["namespaceSelector"] = selector
    return obj


def test_namespaces_with_the_same_selection_share_one_mapping() -> None:
    maps = [cluster_map("hub", ("docker.io/", "mirror.corp/hub/")),
            cluster_map("quay", ("quay.io/", "mirror.corp/quay/"),
                        selector={"matchLabels": {"team": "a"}})]
    _, _, layer_ = layers_of([], maps)
    first = layer_.mapping_for({"team": "a", "kubernetes.io/metadata.name": "one"})
    second = layer_.mapping_for({"team": "a", "kubernetes.io/metadata.name": "two"})
    other = layer_.mapping_for({"kubernetes.io/metadata.name": "three"})
    assert first is second
    assert first is not other
    assert first.lookup("quay.io/x/y:1") is not None
    assert other.lookup("quay.io/x/y:1") is None
    assert other.lookup("nginx").result == "mirror.corp/hub/library/nginx"  # type: ignore[union-attr]


def test_the_cluster_layer_keeps_a_bounded_number_of_selections() -> None:
    maps = [cluster_map(f"m{i}", (f"r{i}.example.com/", f"mirror.corp/{i}/"),
                        selector={"matchLabels": {f"k{i}": "x"}}) for i in range(12)]
    _, _, layer_ = layers_of([], maps)
    for bits in range(2 ** 12):
        labels = {f"k{i}": "x" for i in range(12) if bits >> i & 1}
        assert len(layer_.mapping_for(labels)) == len(labels)
    assert len(layer_._mappings) <= SELECTIONS


def test_a_namespace_pin_keeps_the_image_from_the_cluster_layer() -> None:
    namespace, _, layer_ = layers_of(
        [imagemap("pin", ("docker.io/library/nginx", "docker.io/library/nginx"))],
        [cluster_map("hub", ("docker.io/", "mirror.corp/hub/"))])
    layered = Layered(namespace.mapping, layer_.mapping_for({}))
    pinned = layered.lookup("nginx:1.25")
    assert pinned is not None
    assert (pinned.result, pinned.kind) == ("nginx:1.25", "ImageMap")
    moved = layered.lookup("redis:7")
    assert moved is not None
    assert (moved.result, moved.describe_source()) == ("mirror.corp/hub/library/redis:7",
                                                       "ClusterImageMap hub")


def test_pull_secrets_of_both_layers_namespace_first() -> None:
    local = imagemap("local", ("gcr.io/", "registry.team/gcr/"))
    local["spec"]["imagePullSecrets"] = [{"name": "team"}, {"name": "shared"}]
    hub = cluster_map("local", ("docker.io/", "mirror.corp/hub/"))  # the same name, other kind
    hub["spec"]["imagePullSecrets"] = [{"name": "shared"}, {"name": "mirror"}]
    namespace, _, layer_ = layers_of([local], [hub])
    layered = Layered(namespace.mapping, layer_.mapping_for({}))
    assert layered.has_pull_secrets
    both = {("ImageMap", "local"), (CLUSTER_KIND, "local")}
    assert layered.pull_secrets_for(both) == ["team", "shared", "mirror"]
    assert layered.pull_secrets_for({(CLUSTER_KIND, "local")}) == ["shared", "mirror"]
    assert Layered(Mapping.EMPTY, layer_.mapping_for({})).pull_secrets_for(
        {("ImageMap", "local")}) == []


def test_conflicts_between_clusterimagemaps_name_clusterimagemaps() -> None:
    decision = decide(read_imagemaps([
        cluster_map("first", ("docker.io/", "mirror.corp/a/")),
        cluster_map("second", ("docker.io/", "mirror.corp/b/"), created="2026-01-02T00:00:00Z"),
    ]), kind=CLUSTER_KIND)
    verdict = decision.verdicts["second"]
    assert verdict.reason == "Conflict"
    assert verdict.message.startswith("conflicts with ClusterImageMap 'first'")
    assert "of ClusterImageMap 'first'" in verdict.message


def test_an_invalid_selector_makes_a_clusterimagemap_invalid() -> None:
    bad = cluster_map("bad", ("docker.io/", "mirror.corp/a/"),
                      selector={"matchExpressions": [{"key": "team", "operator": "In"}]})
    decision = decide(read_imagemaps([bad]), kind=CLUSTER_KIND)
    verdict = decision.verdicts["bad"]
    assert verdict.reason == "InvalidSpec"
    assert "spec.namespaceSelector.matchExpressions[0].values must be non-empty" in (
        verdict.message)
    # An ImageMap has no selector: the API server prunes the field, and so does the walk.
    assert decide(read_imagemaps([bad])).verdicts["bad"].ready


def test_a_selector_never_makes_a_conflict() -> None:
    """Two ClusterImageMaps that select disjoint namespaces still conflict: they are judged
    among themselves, so that any selection of those in force is consistent."""
    decision = decide(read_imagemaps([
        cluster_map("a", ("docker.io/", "mirror.corp/a/"), selector={"matchLabels": {"t": "a"}}),
        cluster_map("b", ("docker.io/", "mirror.corp/b/"), selector={"matchLabels": {"t": "b"}},
                    created="2026-01-02T00:00:00Z"),
    ]), kind=CLUSTER_KIND)
    assert [v.reason for v in decision.verdicts.values()] == ["Accepted", "Conflict"]
