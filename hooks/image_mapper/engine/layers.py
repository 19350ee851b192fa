"""The two layers of a pod's mapping: its namespace's ImageMaps, then the cluster's
ClusterImageMaps (design.md#clusterimagemap).

- An image that the namespace's ImageMaps in force match (pins included: a maplet onto itself
  matches) takes the namespace's result. Only an image that no ImageMap of the namespace
  matches is looked up in the ClusterImageMaps in force whose `namespaceSelector` selects the
  namespace. A result is final: it is never looked up again, in either layer.
- ClusterImageMaps are judged among themselves (the same walk as a namespace's ImageMaps, by
  one decider for the cluster), never against a namespace's ImageMaps, and the reverse: neither
  layer's verdicts depend on the other. Selectors take no part in the walk either: the maps in
  force are consistent with each other, so any selection of them is.
- The cluster layer (`ClusterLayer`) is compiled once, for every namespace: a namespace holds
  only which of its maps select it, and the mapping of that selection is shared by every
  namespace with the same selection. Its memory does not grow with the number of namespaces.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping
from typing import ClassVar

from image_mapper.engine.acceptance import Decision
from image_mapper.engine.consistency import compile_map
from image_mapper.engine.imagemap import ImageMap, unique
from image_mapper.engine.mapping import Maplet, Match
from image_mapper.engine.mapping import Mapping as MapletMapping
from image_mapper.engine.record import Record
from image_mapper.engine.selector import EVERYTHING, NOTHING, Selector, read_selector
from image_mapper.engine.settings import Settings

CLUSTER_KIND = "ClusterImageMap"
CLUSTER_PLURAL = "clusterimagemaps"
CLUSTER_SHORT_NAME = "cimap"

SELECTIONS = 256
"""Mappings of distinct selections a ClusterLayer keeps (least recently used go first): one for
all its maps, and one per other selection that namespaces' labels make."""


def selector_of(clusterimagemap: ImageMap) -> Selector | list[str]:
    """A ClusterImageMap's `spec.namespaceSelector`, checked; the problems when it is not a
    valid label selector (the ClusterImageMap is then invalid)."""
    return read_selector(clusterimagemap.namespace_selector)


class ClusterLayer:
    """The ClusterImageMaps in force, in the order they are in force, with their selectors;
    read-only. `mapping_for(labels)` gives a namespace's cluster mapping."""

    EMPTY: ClassVar[ClusterLayer]
    __slots__ = ("_all", "_maplets", "_mappings", "_selectors", "_settings")

    def __init__(self, maplets: Iterable[Maplet] = (),
                 settings: Mapping[str, Settings] | None = None,
                 selectors: Mapping[str, Selector] | None = None) -> None:
        self._maplets = tuple(maplets)
        self._settings: dict[str, Settings] = dict(settings or {})
        """By name, in the order the maps are in force: the maps of this layer."""
        given = selectors or {}
        self._selectors: tuple[tuple[str, Selector], ...] = tuple(
            (name, given.get(name, EVERYTHING)) for name in self._settings)
        self._all = MapletMapping.build(self._maplets, self._settings, kind=CLUSTER_KIND)
        self._mappings: OrderedDict[tuple[str, ...], MapletMapping] = OrderedDict()

    @classmethod
    def of(cls, decision: Decision, clusterimagemaps: Iterable[ImageMap]) -> ClusterLayer:
        """The layer of a decision on ClusterImageMaps: the maplets and settings it has in
        force, and the selector of each map in force as `clusterimagemaps` hold it. A map in
        force whose selector cannot be read selects nothing (the walk makes such a map
        InvalidSpec, so only a forged decision has one)."""
        selectors: dict[str, Selector] = {}
        by_name = {m.name: m for m in clusterimagemaps}
        for name in decision.settings:
            imagemap = by_name.get(name)
            selector = selector_of(imagemap) if imagemap is not None else EVERYTHING
            selectors[name] = selector if isinstance(selector, Selector) else NOTHING
        return cls(decision.maplets, decision.settings, selectors)

    @property
    def names(self) -> tuple[str, ...]:
        """The maps in force, in the order they are in force."""
        return tuple(self._settings)

    def __len__(self) -> int:
        return len(self._all)

    def __bool__(self) -> bool:
        return bool(self._all)

    def selected(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        """The maps whose selector selects a namespace with these labels, in force order."""
        return tuple(name for name, selector in self._selectors if selector.matches(labels))

    def mapping_for(self, labels: Mapping[str, str]) -> MapletMapping:
        """The cluster mapping of a namespace with these labels: the maplets of the maps that
        select it. Shared by every namespace that the same maps select."""
        return self.mapping_of(self.selected(labels))

    def mapping_of(self, selected: tuple[str, ...]) -> MapletMapping:
        """The mapping of these maps (as `selected` gives them)."""
        if len(selected) == len(self._selectors):
            return self._all
        if not selected:
            return EMPTY_CLUSTER_MAPPING
        mappings = self._mappings
        mapping = mappings.get(selected)
        if mapping is None:
            chosen = set(selected)
            mapping = MapletMapping.build((m for m in self._maplets if m.image_map in chosen),
                                          self._settings, kind=CLUSTER_KIND)
            mappings[selected] = mapping
            while len(mappings) > SELECTIONS:
                mappings.popitem(last=False)
        else:
            mappings.move_to_end(selected)
        return mapping


EMPTY_CLUSTER_MAPPING = MapletMapping({}, {}, {}, kind=CLUSTER_KIND)
ClusterLayer.EMPTY = ClusterLayer()


class Layered:
    """A pod's mapping: its namespace's, then the cluster's (see the module's doc). Quacks like
    a `Mapping` where admission uses one."""

    __slots__ = ("cluster", "namespace")

    def __init__(self, namespace: MapletMapping, cluster: MapletMapping) -> None:
        self.namespace = namespace
        self.cluster = cluster

    def lookup(self, image: str) -> Match | None:
        """What `image` becomes: the namespace's match, else the cluster's; None when neither
        layer matches it. Never looked up again: a result is final."""
        match = self.namespace.lookup(image)
        if match is not None:
            return match
        return self.cluster.lookup(image)

    @property
    def has_pull_secrets(self) -> bool:
        return self.namespace.has_pull_secrets or self.cluster.has_pull_secrets

    def pull_secrets_for(self, sources: Collection[tuple[str, str]]) -> list[str]:
        """The pull secrets of these maps: the namespace's ImageMaps' first, then the
        ClusterImageMaps', each in the order in force, each name once."""
        names = dict.fromkeys(self.namespace.pull_secrets_for(sources))
        names.update(dict.fromkeys(self.cluster.pull_secrets_for(sources)))
        return list(names)

    def __len__(self) -> int:
        return len(self.namespace) + len(self.cluster)

    def __bool__(self) -> bool:
        return bool(self.namespace) or bool(self.cluster)


def compile_recorded_layer(record: Record, clusterimagemaps: Iterable[ImageMap]
                           ) -> ClusterLayer | None:
    """The webhook's cluster layer: the maplets, settings and selectors of the ClusterImageMaps
    that the cluster's `record` has in force, each at the generation judged, from its spec
    (while it is at that generation) or else its status's deployed fields (when its Ready
    condition was written for it), as `compile_recorded` builds a namespace's mapping.

    None when this view holds one of them in neither form: the caller keeps the layer it has,
    so that a layer never mixes maps of two decisions."""
    by_name = {m.name: m for m in unique(clusterimagemaps)}
    maplets: list[Maplet] = []
    settings: dict[str, Settings] = {}
    selectors: dict[str, Selector] = {}
    for entry in record.in_force:
        clusterimagemap = by_name.get(entry.name)
        if clusterimagemap is None or clusterimagemap.uid != entry.uid:
            return None
        ready = clusterimagemap.ready
        if clusterimagemap.generation == entry.generation:
            spec_map, written = clusterimagemap.spec_map, clusterimagemap.settings()
            selector = read_selector(clusterimagemap.namespace_selector)
        elif (ready is not None and ready.status == "True"
              and ready.observed_generation == entry.generation):
            spec_map, written = clusterimagemap.deployed_map, clusterimagemap.deployed_settings()
            selector = read_selector(clusterimagemap.deployed_namespace_selector,
                                     field="status.deployedNamespaceSelector")
        else:
            return None
        compiled = compile_map(entry.name, spec_map)
        if (isinstance(compiled, str) or compiled.problems or not isinstance(written, Settings)
                or not isinstance(selector, Selector)):
            return None
        maplets.extend(compiled.maplets)
        settings[entry.name] = written
        selectors[entry.name] = selector
    return ClusterLayer(maplets, settings, selectors)
