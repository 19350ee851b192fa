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
from image_mapper.engine.imagemap import ImageMap
from image_mapper.engine.mapping import Mapping
from image_mapper.engine.record import Record, RecordError, read_record

log = logging.getLogger(__name__)

Change = Literal["ADDED", "MODIFIED", "DELETED"]
RESOURCES = ("imagemaps", "namespaces")
"""What the view is built from, each listed and watched on its own."""


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


NOTHING_PENDING: tuple[Pending, ...] = ()


class View(Protocol):
    """What the admission app needs of the state."""

    def mapping_for(self, namespace: str) -> Mapping: ...

    def pending_anywhere(self) -> bool:
        """Whether any namespace has a pending map (cheap: asked for every admission)."""
        ...

    def settled(self, namespace: str, *, holds: Callable[[Pending], bool], timeout: float
                ) -> tuple[Mapping, tuple[Pending, ...]]:
        """The namespace's mapping once no pending map that `holds` is left, or after
        `timeout` seconds; and the pending maps that still hold."""
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
                ) -> tuple[Mapping, tuple[Pending, ...]]:
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

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._imagemaps: dict[str, dict[str, ImageMap]] = {}
        self._records: dict[str, Record] = {}
        self._mappings: dict[str, Mapping] = {}
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

    # --- what readers see --------------------------------------------------------------

    def mapping_for(self, namespace: str) -> Mapping:
        return self._mappings.get(namespace, Mapping.EMPTY)

    @property
    def synced(self) -> bool:
        return all(resource in self._confirmed_at for resource in RESOURCES)

    def age(self) -> float | None:
        """Seconds since the less recently confirmed of the two watches was confirmed."""
        if not self.synced:
            return None
        oldest = min(self._confirmed_at.values())
        return max(0.0, self._clock() - oldest)

    def readiness(self) -> tuple[bool, str]:
        age = self.age()
        if age is None:
            missing = [r for r in RESOURCES if r not in self._confirmed_at]
            return False, f"{' and '.join(missing)} not yet listed"
        mappings = self._mappings
        maplets = sum(len(m) for m in mappings.values())
        return True, (f"{maplets} maplets in force in {len(mappings)} namespaces; "
                      f"view confirmed {age:.0f}s ago")

    def pending_anywhere(self) -> bool:
        return bool(self._pending)

    def pending_for(self, namespace: str) -> tuple[Pending, ...]:
        return self._pending.get(namespace, NOTHING_PENDING)

    def settled(self, namespace: str, *, holds: Callable[[Pending], bool], timeout: float
                ) -> tuple[Mapping, tuple[Pending, ...]]:
        if namespace not in self._pending:  # the common case: no lock, no wait
            return self._mappings.get(namespace, Mapping.EMPTY), NOTHING_PENDING
        deadline = time.monotonic() + timeout
        with self._lock:
            changed, waiting = self._changed.get(namespace) or (threading.Condition(self._lock), 0)
            self._changed[namespace] = changed, waiting + 1
            try:
                while True:
                    holding = tuple(p for p in self._pending.get(namespace, ()) if holds(p))
                    left = deadline - time.monotonic()
                    if not holding or left <= 0:
                        return self._mappings.get(namespace, Mapping.EMPTY), holding
                    changed.wait(left)
            finally:
                changed, waiting = self._changed[namespace]
                if waiting > 1:
                    self._changed[namespace] = changed, waiting - 1
                else:
                    del self._changed[namespace]

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
        records = {}
        for obj in objects:
            name, record = _record(obj)
            if name and record is not None:
                records[name] = record
        self._view._replace_records(records)

    def apply(self, change: Change, obj: dict[str, Any]) -> None:
        name, record = _record(obj)
        if name:
            self._view._apply_record(name, None if change == "DELETED" else record)

    def confirm(self) -> None:
        self._view._confirm("namespaces")


def _pending(imagemap: ImageMap, uid: str, generation: int) -> Pending | None:
    """What a pending ImageMap would rewrite; None when it could rewrite nothing (invalid, or
    in Audit mode: an Audit map never holds a pod)."""
    compiled, settings = compile_imagemap(imagemap)
    if isinstance(compiled, str) or compiled.problems or settings.audit:
        return None
    return Pending(imagemap.name, uid, generation,
                   Mapping.build(compiled.maplets, {imagemap.name: settings}))


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
