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
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal, Protocol

from image_mapper.engine.acceptance import compile_recorded
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


class View(Protocol):
    """What the admission app needs of the state."""

    def mapping_for(self, namespace: str) -> Mapping: ...

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

    def imagemaps_of(self, namespace: str) -> list[ImageMap]:
        """The ImageMaps of a namespace, as kept."""
        return list(self._imagemaps.get(namespace, {}).values())

    # --- what the watches do -----------------------------------------------------------

    def _replace_imagemaps(self, imagemaps: Iterable[ImageMap]) -> None:
        by_namespace: dict[str, dict[str, ImageMap]] = {}
        for imagemap in imagemaps:
            by_namespace.setdefault(imagemap.namespace, {})[imagemap.name] = imagemap
        with self._lock:
            self._imagemaps = by_namespace
            self._compile(set(by_namespace) | set(self._records))

    def _apply_imagemap(self, change: Change, imagemap: ImageMap) -> None:
        namespace = imagemap.namespace
        with self._lock:
            maps = self._imagemaps.setdefault(namespace, {})
            if change == "DELETED":
                maps.pop(imagemap.name, None)
            else:
                maps[imagemap.name] = imagemap
            if not maps:
                del self._imagemaps[namespace]
            self._compile({namespace})

    def _replace_records(self, records: dict[str, Record]) -> None:
        with self._lock:
            self._records = records
            self._compile(set(records) | set(self._mappings))

    def _apply_record(self, namespace: str, record: Record | None) -> None:
        with self._lock:
            if record is None:
                self._records.pop(namespace, None)
            else:
                self._records[namespace] = record
            self._compile({namespace})

    def _compile(self, namespaces: Iterable[str]) -> None:
        """Compile these namespaces again from their records (the lock is held)."""
        mappings = dict(self._mappings)
        for namespace in namespaces:
            record = self._records.get(namespace)
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

    def _confirm(self, resource: str) -> None:
        self._confirmed_at[resource] = self._clock()


class _ImageMaps:
    def __init__(self, view: ClusterView) -> None:
        self._view = view

    def replace(self, objects: Iterable[dict[str, Any]]) -> None:
        self._view._replace_imagemaps(m for m in map(_imagemap, objects) if m is not None)

    def apply(self, change: Change, obj: dict[str, Any]) -> None:
        imagemap = _imagemap(obj)
        if imagemap is not None:
            self._view._apply_imagemap(change, imagemap)

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
