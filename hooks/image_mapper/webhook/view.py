"""The webhook's view: one compiled mapping per namespace, from exactly one decision
(design.md#admission).

The webhook never decides acceptance. The namespace hook records on each Namespace which
ImageMaps are in force, at which generation (`image_mapper.engine.record`); the webhook watches
Namespaces and ImageMaps and compiles, per namespace, the maplets of the ImageMaps the record
has in force, each at the generation judged (`image_mapper.engine.acceptance.compile_recorded`).
When its view cannot build the newest decision yet (an ImageMap deleted, or updated, before the
Namespace's new record arrives), it keeps the mapping of the decision before: a namespace's
mapping never mixes maplets of two decisions, and a conflicting pair never leaves a gap with
neither in force. What the admission app needs of a view is `View`; `ClusterView` is the
cluster's, kept by the watches (`image_mapper.webhook.watcher`), and `StaticView` one mapping
for every namespace (`serve-webhook -f` and tests).

ClusterImageMaps (design.md#clusterimagemap): the view also watches them, and reads the cluster's
decision record from the project's Namespace (annotation
`mapper.imagerelocation.pivotal.io/cluster-decision`), compiling one cluster layer for the whole
cluster (`image_mapper.engine.layers.ClusterLayer`), kept whole like a namespace's mapping. It
keeps each Namespace's labels, so that relabelling a namespace changes its next pod. A pod's
mapping (`mapping_for`) is its namespace's, then the cluster layer's selection for the
namespace: one decision of each, each read once.

Pending maps (design.md#no-escape): an ImageMap that the view holds at a generation the
namespace's record has not judged yet is pending. A pod that a pending Enforce map could change
must not be admitted before the decision that judges it: `settled` waits for the namespace's
next change (a new record, an ImageMap changed or deleted) on a condition of that namespace,
for at most the time it is given, and answers with the mapping then in force and what is still
pending. Waiting blocks only the caller's thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from image_mapper.engine.acceptance import compile_imagemap, compile_recorded
from image_mapper.engine.imagemap import GROUP, KIND, ImageMap
from image_mapper.engine.layers import (
    CLUSTER_KIND,
    ClusterLayer,
    Layered,
    compile_recorded_layer,
    selector_of,
)
from image_mapper.engine.mapping import Mapping
from image_mapper.engine.record import Record, RecordError, read_record
from image_mapper.engine.selector import EVERYTHING, Selector

log = logging.getLogger(__name__)

Change = Literal["ADDED", "MODIFIED", "DELETED"]
RESOURCES = ("imagemaps", "namespaces", "clusterimagemaps")
"""What the view is built from, each listed and watched on its own."""
CLUSTER_DECISION = f"{GROUP}/cluster-decision"
"""The annotation of the project's Namespace that records the ClusterImageMaps in force."""
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


class Sink(Protocol):
    """Where a watch hands what it sees of one resource."""

    def replace(self, objects: Iterable[dict[str, Any]]) -> None:
        """Every object, as a list returned them."""
        ...

    def apply(self, change: Change, obj: dict[str, Any]) -> None: ...

    def confirm(self) -> None:
        """The API server has just confirmed this resource's view (a list, an event, a
        watch's end)."""
        ...


@dataclass(frozen=True, slots=True)
class Pending:
    """An ImageMap in Enforce mode that the namespace's decision record has not judged at its
    generation: what it would rewrite if it were in force alone."""

    name: str
    uid: str
    generation: int
    mapping: Mapping
    kind: str = KIND
    """ImageMap, or ClusterImageMap (pending in the cluster's record, design.md#clusterimagemap)."""
    unknown: bool = False
    """What it rewrites is not known yet (the cluster's record has it in force, the view's
    watch has not brought it yet): it holds every pod until the view has it."""


NOTHING_PENDING: tuple[Pending, ...] = ()


class View(Protocol):
    """What the admission app needs of the state."""

    def mapping_for(self, namespace: str) -> Mapping | Layered: ...

    def pending_anywhere(self) -> bool:
        """Whether any namespace has a pending map (cheap: asked for every admission)."""
        ...

    def settled(self, namespace: str, *, holds: Callable[[Pending], bool], timeout: float
                ) -> tuple[Mapping | Layered, tuple[Pending, ...]]:
        """The namespace's mapping (over the cluster's layer) once no pending map that `holds`
        is left, or after `timeout` seconds; and the pending maps that still hold."""
        ...

    def first_decisions(self) -> dict[tuple[str, str], float]:
        """Seconds from an ImageMap's creation to its first decision, by (namespace, name)."""
        ...

    def readiness(self) -> tuple[bool, str]: ...

    def age(self) -> float | None:
        """Seconds since the view was last confirmed by the API server; None before that."""
        ...


class StaticView:
    """One mapping for every namespace, always ready."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping

    def mapping_for(self, namespace: str) -> Mapping:
        return self.mapping

    def pending_anywhere(self) -> bool:
        return False

    def settled(self, namespace: str, *, holds: Callable[[Pending], bool], timeout: float
                ) -> tuple[Mapping | Layered, tuple[Pending, ...]]:
        return self.mapping, NOTHING_PENDING

    def first_decisions(self) -> dict[tuple[str, str], float]:
        return {}

    def readiness(self) -> tuple[bool, str]:
        return True, f"static mapping of {len(self.mapping)} maplets"

    def age(self) -> float | None:
        return 0.0


class ClusterView:
    """The cluster's ImageMaps and decision records by namespace, and `dict[namespace,
    Mapping]` compiled from them, replaced atomically.

    Two watches write, through `imagemaps` and `namespaces`, one at a time (a lock); readers
    take the mappings as they are at that moment. Not ready until both have listed.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 resources: tuple[str, ...] = RESOURCES[:2],
                 cluster_namespace: str | None = None) -> None:
        self._clock = clock
        self._resources = resources
        """What must be listed before the view is ready (the ClusterImageMaps only when they
        are watched)."""
        self._cluster_namespace = cluster_namespace
        """The Namespace whose annotation records the ClusterImageMaps; None: any that has
        one (only the hooks write it, on the project's own Namespace)."""
        self._lock = threading.Lock()
        self._imagemaps: dict[str, dict[str, ImageMap]] = {}
        self._records: dict[str, Record] = {}
        self._mappings: dict[str, Mapping] = {}
        self._labels: dict[str, dict[str, str]] = {}
        self._clusterimagemaps: dict[str, ImageMap] = {}
        self._cluster_records: dict[str, Record] = {}
        """By Namespace: the cluster's decision record (one Namespace holds it)."""
        self._cluster = ClusterLayer.EMPTY
        """Replaced whole, read without the lock."""
        self._cluster_pending: tuple[tuple[Pending, Selector], ...] = ()
        """ClusterImageMaps the cluster's record has not judged at their generation, with the
        namespaces they would select; replaced whole, read without the lock."""
        self._selections: dict[str, tuple[ClusterLayer, dict[str, str] | None, Mapping]] = {}
        """By namespace: the cluster layer's mapping for it, with the layer and the labels it
        was selected for."""
        self._pending: dict[str, tuple[Pending, ...]] = {}
        """By namespace, only those with some; replaced whole, read without the lock."""
        self._compiled_pending: dict[tuple[str, str, int], Pending | None] = {}
        """By (namespace, uid, generation): a pending map's mapping is compiled once."""
        self._changed: dict[str, tuple[threading.Condition, int]] = {}
        """By namespace, while an admission waits on it: notified when it is compiled again."""
        self._first_seen: dict[str, float] = {}
        """By uid: when an ImageMap created after the first list was first seen pending."""
        self._first_decision: dict[tuple[str, str], float] = {}
        """By (namespace, name): seconds from first seen to first judged."""
        self._deleting: set[str] = set()
        """Uids of ImageMaps with a deletionTimestamp (held by a finalizer)."""
        self._confirmed_at: dict[str, float] = {}
        self.imagemaps: Sink = _ImageMaps(self)
        self.namespaces: Sink = _Namespaces(self)
        self.clusterimagemaps: Sink = _ClusterImageMaps(self)

    # --- what readers see --------------------------------------------------------------

    def mapping_for(self, namespace: str) -> Mapping | Layered:
        mapping = self._mappings.get(namespace, Mapping.EMPTY)
        cluster = self._cluster  # one decision of each, each read once
        if not cluster:
            return mapping
        return Layered(mapping, self._selection(cluster, namespace))

    def _selection(self, cluster: ClusterLayer, namespace: str) -> Mapping:
        """The cluster layer's mapping for the namespace's labels, remembered for this layer
        and these labels (each label change stores a new dict: a selection made from labels
        read before the change is never taken for the new ones)."""
        labels = self._labels.get(namespace)
        kept = self._selections.get(namespace)
        if kept is not None and kept[0] is cluster and kept[1] is labels:
            return kept[2]
        selected = cluster.mapping_for(labels or {NAMESPACE_NAME_LABEL: namespace})
        self._selections[namespace] = (cluster, labels, selected)
        return selected

    @property
    def synced(self) -> bool:
        return all(resource in self._confirmed_at for resource in self._resources)

    def age(self) -> float | None:
        """Seconds since the less recently confirmed of the two watches was confirmed."""
        if not self.synced:
            return None
        oldest = min(self._confirmed_at.values())
        return max(0.0, self._clock() - oldest)

    def readiness(self) -> tuple[bool, str]:
        age = self.age()
        if age is None:
            missing = [r for r in self._resources if r not in self._confirmed_at]
            return False, f"{' and '.join(missing)} not yet listed"
        mappings = self._mappings
        maplets = sum(len(m) for m in mappings.values())
        return True, (f"{maplets} maplets in force in {len(mappings)} namespaces, "
                      f"{len(self._cluster)} in the cluster's layer; "
                      f"view confirmed {age:.0f}s ago")

    def pending_anywhere(self) -> bool:
        return bool(self._pending) or bool(self._cluster_pending)

    def pending_for(self, namespace: str) -> tuple[Pending, ...]:
        return self._pending.get(namespace, NOTHING_PENDING)

    def settled(self, namespace: str, *, holds: Callable[[Pending], bool], timeout: float
                ) -> tuple[Mapping | Layered, tuple[Pending, ...]]:
        if namespace not in self._pending and not self._cluster_pending_for(namespace):
            return self.mapping_for(namespace), NOTHING_PENDING  # the common case: no wait
        deadline = time.monotonic() + timeout
        with self._lock:
            changed, waiting = self._changed.get(namespace) or (threading.Condition(self._lock), 0)
            self._changed[namespace] = changed, waiting + 1
            try:
                while True:
                    holding = tuple(p for p in (*self._pending.get(namespace, ()),
                                                *self._cluster_pending_for(namespace))
                                    if p.unknown or holds(p))
                    left = deadline - time.monotonic()
                    if not holding or left <= 0:
                        return self.mapping_for(namespace), holding
                    changed.wait(left)
            finally:
                changed, waiting = self._changed[namespace]
                if waiting > 1:
                    self._changed[namespace] = changed, waiting - 1
                else:
                    del self._changed[namespace]

    def _cluster_pending_for(self, namespace: str) -> tuple[Pending, ...]:
        """The pending ClusterImageMaps that would select the namespace."""
        if not self._cluster_pending:
            return NOTHING_PENDING
        labels = self._labels.get(namespace) or {NAMESPACE_NAME_LABEL: namespace}
        return tuple(p for p, selector in self._cluster_pending if selector.matches(labels))

    def first_decisions(self) -> dict[tuple[str, str], float]:
        """Seconds from when the view first saw each ImageMap (created after the first list)
        to the first record that judged it, by (namespace, name)."""
        return dict(self._first_decision)

    def imagemaps_of(self, namespace: str) -> list[ImageMap]:
        """The ImageMaps of a namespace, as kept."""
        return list(self._imagemaps.get(namespace, {}).values())

    # --- what the watches do -----------------------------------------------------------

    def _replace_imagemaps(self, imagemaps: Iterable[ImageMap], deleting: set[str]) -> None:
        by_namespace: dict[str, dict[str, ImageMap]] = {}
        for imagemap in imagemaps:
            by_namespace.setdefault(imagemap.namespace, {})[imagemap.name] = imagemap
        with self._lock:
            for namespace, maps in self._imagemaps.items():
                for name, gone in maps.items():
                    kept = by_namespace.get(namespace, {}).get(name)
                    if kept is None or kept.uid != gone.uid:
                        self._forget(namespace, name, gone.uid or "")
            before = set(self._imagemaps)
            self._imagemaps = by_namespace
            self._deleting = deleting
            self._compile(before | set(by_namespace) | set(self._records))

    def _apply_imagemap(self, change: Change, imagemap: ImageMap, *, deleting: bool) -> None:
        namespace = imagemap.namespace
        with self._lock:
            if deleting and change != "DELETED":
                self._deleting.add(imagemap.uid or "")
            else:
                self._deleting.discard(imagemap.uid or "")
            maps = self._imagemaps.setdefault(namespace, {})
            if change == "DELETED":
                maps.pop(imagemap.name, None)
                self._forget(namespace, imagemap.name, imagemap.uid or "")
            else:
                maps[imagemap.name] = imagemap
            if not maps:
                del self._imagemaps[namespace]
            self._compile({namespace})

    def _replace_records(self, records: dict[str, Record]) -> None:
        with self._lock:
            before = set(self._records)
            self._records = records
            self._compile(before | set(records) | set(self._mappings) | set(self._imagemaps))

    def _apply_record(self, namespace: str, record: Record | None) -> None:
        with self._lock:
            if record is None:
                self._records.pop(namespace, None)
            else:
                self._records[namespace] = record
            self._compile({namespace})

    def _compile(self, namespaces: Iterable[str]) -> None:
        """Compile these namespaces again from their records, find their pending maps, and wake
        the admissions that wait on them (the lock is held)."""
        mappings = dict(self._mappings)
        pending = dict(self._pending)
        for namespace in namespaces:
            record = self._records.get(namespace)
            found = self._find_pending(namespace, record)
            if found:
                pending[namespace] = found
            else:
                pending.pop(namespace, None)
            waiters = self._changed.get(namespace)
            if waiters is not None:
                waiters[0].notify_all()
            if record is None or not record.in_force:
                mappings.pop(namespace, None)
                continue
            built = compile_recorded(record, self._imagemaps.get(namespace, {}).values())
            if built is None:
                # The view cannot build this decision yet: keep the one before, whole.
                log.debug("namespace %s: waiting for the ImageMaps of its newest decision",
                          namespace)
                continue
            mappings[namespace] = built
        self._mappings = mappings
        self._pending = pending

    def _find_pending(self, namespace: str, record: Record | None) -> tuple[Pending, ...]:
        """The ImageMaps of `namespace` that `record` has not judged at their generation and
        that could rewrite an image: valid, in Enforce mode. An ImageMap being deleted is not
        pending (it will never be in force); a view behind the record is not either."""
        found = []
        for imagemap in self._imagemaps.get(namespace, {}).values():
            uid, generation = imagemap.uid or "", imagemap.generation
            if generation is None or uid in self._deleting:
                continue
            judged = record.judged(imagemap.name, uid) if record is not None else None
            if judged is not None and judged[1].generation >= generation:
                self._decided(namespace, imagemap.name, uid)
                continue
            if self.synced:
                self._first_seen.setdefault(uid, self._clock())
            key = (namespace, uid, generation)
            if key not in self._compiled_pending:
                self._compiled_pending[key] = _pending(imagemap, uid, generation)
            entry = self._compiled_pending[key]
            if entry is not None:
                found.append(entry)
        return tuple(found)

    def _forget(self, namespace: str, name: str, uid: str) -> None:
        """What was kept of an ImageMap that is gone (the lock is held)."""
        self._first_decision.pop((namespace, name), None)
        self._first_seen.pop(uid, None)
        for key in [k for k in self._compiled_pending if k[1] == uid]:
            del self._compiled_pending[key]

    def _decided(self, namespace: str, name: str, uid: str) -> None:
        seen = self._first_seen.pop(uid, None)
        if seen is not None:
            self._first_decision.setdefault((namespace, name), self._clock() - seen)
        for key in [k for k in self._compiled_pending if k[1] == uid]:
            del self._compiled_pending[key]

    def _replace_labels(self, labels: dict[str, dict[str, str]]) -> None:
        with self._lock:
            self._labels = labels
            self._selections = {}

    def _apply_labels(self, namespace: str, labels: dict[str, str] | None) -> None:
        with self._lock:
            if labels is None:
                self._labels.pop(namespace, None)
            else:
                self._labels[namespace] = labels
            self._selections.pop(namespace, None)  # the next pod sees the new labels

    def _replace_cluster_records(self, records: dict[str, Record]) -> None:
        with self._lock:
            self._cluster_records = records
            self._compile_cluster()

    def _apply_cluster_record(self, namespace: str, record: Record | None) -> None:
        with self._lock:
            if record is None:
                if self._cluster_records.pop(namespace, None) is None:
                    return
            else:
                self._cluster_records[namespace] = record
            self._compile_cluster()

    def _replace_clusterimagemaps(self, clusterimagemaps: Iterable[ImageMap]) -> None:
        with self._lock:
            self._clusterimagemaps = {m.name: m for m in clusterimagemaps}
            self._compile_cluster()

    def _apply_clusterimagemap(self, change: Change, clusterimagemap: ImageMap) -> None:
        with self._lock:
            if change == "DELETED":
                self._clusterimagemaps.pop(clusterimagemap.name, None)
            else:
                self._clusterimagemaps[clusterimagemap.name] = clusterimagemap
            self._compile_cluster()

    def _compile_cluster(self) -> None:
        """Compile the cluster layer again from its record, find the pending ClusterImageMaps,
        and wake every admission that waits (the lock is held)."""
        records = self._cluster_records
        record = (records.get(self._cluster_namespace) if self._cluster_namespace is not None
                  else records[min(records)] if records else None)
        self._cluster_pending = self._find_cluster_pending(record)
        for waiters, _ in self._changed.values():
            waiters.notify_all()
        if record is None or not record.in_force:
            self._cluster = ClusterLayer.EMPTY
            return
        built = compile_recorded_layer(record, self._clusterimagemaps.values())
        if built is None:
            # The record is ahead of the ClusterImageMaps' watch: the layer before stays,
            # whole, and every pod waits until the view can build the newest decision (the
            # maps it has in force could change any pod; the watch is a moment behind).
            log.debug("waiting for the ClusterImageMaps of the cluster's newest decision")
            self._cluster_pending = (*self._cluster_pending, *(
                (Pending(entry.name, entry.uid, entry.generation, Mapping.EMPTY, CLUSTER_KIND,
                         unknown=True), EVERYTHING) for entry in record.in_force
                if not self._holds(entry.name, entry.uid)))
            return
        self._cluster = built

    def _holds(self, name: str, uid: str) -> bool:
        """Whether the view has this ClusterImageMap (this object, at whatever generation)."""
        held = self._clusterimagemaps.get(name)
        return held is not None and held.uid == uid

    def _find_cluster_pending(self, record: Record | None
                              ) -> tuple[tuple[Pending, Selector], ...]:
        """The ClusterImageMaps that `record` has not judged at their generation and that could
        rewrite an image (valid, in Enforce mode), with their selectors. Before the first
        ClusterImageMap is decided there is no record at all: every one is then pending."""
        found = []
        for clusterimagemap in self._clusterimagemaps.values():
            uid, generation = clusterimagemap.uid or "", clusterimagemap.generation
            if generation is None:
                continue
            judged = record.judged(clusterimagemap.name, uid) if record is not None else None
            if judged is not None and judged[1].generation >= generation:
                continue
            selector = selector_of(clusterimagemap)
            pending = _pending(clusterimagemap, uid, generation, CLUSTER_KIND)
            if pending is not None and isinstance(selector, Selector):
                found.append((pending, selector))
        return tuple(found)

    def _confirm(self, resource: str) -> None:
        self._confirmed_at[resource] = self._clock()


class _ImageMaps:
    def __init__(self, view: ClusterView) -> None:
        self._view = view

    def replace(self, objects: Iterable[dict[str, Any]]) -> None:
        imagemaps, deleting = [], set()
        for obj in objects:
            imagemap = _imagemap(obj)
            if imagemap is not None:
                imagemaps.append(imagemap)
                if _deleting(obj):
                    deleting.add(imagemap.uid or "")
        self._view._replace_imagemaps(imagemaps, deleting)

    def apply(self, change: Change, obj: dict[str, Any]) -> None:
        imagemap = _imagemap(obj)
        if imagemap is not None:
            self._view._apply_imagemap(change, imagemap, deleting=_deleting(obj))

    def confirm(self) -> None:
        self._view._confirm("imagemaps")


class _Namespaces:
    def __init__(self, view: ClusterView) -> None:
        self._view = view

    def replace(self, objects: Iterable[dict[str, Any]]) -> None:
        records, cluster_records, labels = {}, {}, {}
        for obj in objects:
            name, record = _record(obj)
            if name and record is not None:
                records[name] = record
            if name:
                labels[name] = _labels(obj)
                cluster_record = _cluster_record(obj)
                if cluster_record is not None:
                    cluster_records[name] = cluster_record
        self._view._replace_labels(labels)
        self._view._replace_cluster_records(cluster_records)
        self._view._replace_records(records)

    def apply(self, change: Change, obj: dict[str, Any]) -> None:
        name, record = _record(obj)
        if name:
            deleted = change == "DELETED"
            self._view._apply_labels(name, None if deleted else _labels(obj))
            self._view._apply_cluster_record(name, None if deleted else _cluster_record(obj))
            self._view._apply_record(name, None if deleted else record)

    def confirm(self) -> None:
        self._view._confirm("namespaces")


class _ClusterImageMaps:
    def __init__(self, view: ClusterView) -> None:
        self._view = view

    def replace(self, objects: Iterable[dict[str, Any]]) -> None:
        self._view._replace_clusterimagemaps(
            m for m in map(ImageMap.read, objects) if m is not None)

    def apply(self, change: Change, obj: dict[str, Any]) -> None:
        clusterimagemap = ImageMap.read(obj)
        if clusterimagemap is not None:
            self._view._apply_clusterimagemap(change, clusterimagemap)

    def confirm(self) -> None:
        self._view._confirm("clusterimagemaps")


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    metadata = obj.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    if not isinstance(labels, dict):
        return {}
    return {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)}


def _cluster_record(obj: dict[str, Any]) -> Record | None:
    """The cluster's decision record on a Namespace; None without one, or with one that
    cannot be read (logged)."""
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    text = annotations.get(CLUSTER_DECISION) if isinstance(annotations, dict) else None
    if not isinstance(text, str):
        return None
    try:
        return Record.decode(text)
    except RecordError as error:
        log.warning("ignoring the cluster's decision record: %s", error)
        return None

def _pending(imagemap: ImageMap, uid: str, generation: int, kind: str = KIND
             ) -> Pending | None:
    """What a pending ImageMap (or ClusterImageMap) would rewrite; None when it could rewrite
    nothing (invalid, or in Audit mode: an Audit map never holds a pod)."""
    compiled, settings = compile_imagemap(imagemap, kind)
    if isinstance(compiled, str) or compiled.problems or settings.audit:
        return None
    return Pending(imagemap.name, uid, generation,
                   Mapping.build(compiled.maplets, {imagemap.name: settings}, kind=kind), kind)


def _deleting(obj: dict[str, Any]) -> bool:
    metadata = obj.get("metadata")
    return isinstance(metadata, dict) and bool(metadata.get("deletionTimestamp"))


def _imagemap(obj: dict[str, Any]) -> ImageMap | None:
    imagemap = ImageMap.read(obj)
    return imagemap if imagemap is not None and imagemap.namespace else None


def _record(obj: dict[str, Any]) -> tuple[str, Record | None]:
    """A Namespace's name and decision record (None without one, or with one that cannot be
    read: logged, and then nothing of that namespace is in force until the next record)."""
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str):
        return "", None
    try:
        return name, read_record(obj)
    except RecordError as error:
        log.warning("namespace %s: ignoring its decision record: %s", name, error)
        return name, None
