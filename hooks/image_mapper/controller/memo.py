"""What the hooks server remembers between syncs, so that a namespace is not walked again and
again: one `Memo` per server, shared by its threads (the engine keeps nothing between calls).

- Decisions by content. Metacontroller syncs a namespace again and again with the same objects,
  so a walk over 1,000 ImageMaps is done once, not at every sync. A decision is found by the
  identity of each ImageMap (name, uid, resourceVersion) and reused only when everything the
  walk reads of each is equal too (a comparison done in C): a hook body is untrusted input, and
  a forged or edited object must never get another object's verdict by reusing its uid and
  resourceVersion. Objects without a uid and resourceVersion (files, fixtures) are never
  remembered.
- The last decision on each of a few namespaces, the `prior` of the next
  (`image_mapper.engine.acceptance.decide`): what changed since is compiled and, when that
  decision rejected no ImageMap for a conflict, judged; nothing else.
- `Readings`: the ImageMap read from each object that its owner promises never to change (the
  server's body decoder, `image_mapper.controller.bodies`, hands every sync the same objects for
  the same bytes), so that 1,000 ImageMaps are not read again at every sync.

All bounded: the least recently used are forgotten.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import TypeVar

from image_mapper.engine.acceptance import Decision, decide
from image_mapper.engine.imagemap import KIND, ImageMap, unique
from image_mapper.engine.record import Record

Key = tuple[tuple[tuple[str, str, str], ...], object]
"""(name, uid, resourceVersion) of each ImageMap, and the in-force order of the record."""
Read = list[tuple[object, ...]]
"""What the walk reads of each ImageMap besides its name (`read`)."""

DECISIONS = 64
NAMESPACES = 32
READINGS = 20_000


read = attrgetter("spec_map", "mode", "pull_secrets", "creation_timestamp", "generation",
                  "observed_generation", "ready", "deployed_map", "namespace_selector")
"""Everything of an ImageMap the walk reads besides its name: its spec (its settings too, which
the decision carries), and what orders it (design.md#acceptance; `deployedMap` says whether an
update changed only its settings, design.md#relocation-settings)."""

_BY_NAME = attrgetter("name")


def fingerprint(imagemaps: Iterable[ImageMap], record: Record | None = None,
                kind: str = KIND) -> tuple[Key, Read] | None:
    """The key a decision on `imagemaps` (one per name, under `record`) is kept under, and what
    to compare on a hit; None for ImageMaps that are not all versioned objects of an API server.

    Taken in name order: the decision does not depend on the order they come in."""
    ordered = sorted(imagemaps, key=_BY_NAME)
    key = []
    for imagemap in ordered:
        if not imagemap.uid or not imagemap.resource_version:
            return None
        key.append((imagemap.name, imagemap.uid, imagemap.resource_version))
    in_force = record.in_force if record is not None else None
    # The kind too: a ClusterImageMap's verdict names ClusterImageMaps.
    return (tuple(key), (in_force, kind)), list(map(read, ordered))


class Memo:
    """Decisions and readings, bounded; `decide` is safe from any thread."""

    def __init__(self, *, decisions: int = DECISIONS, namespaces: int = NAMESPACES,
                 readings: int = READINGS) -> None:
        self.readings = Readings(readings)
        self._lock = threading.Lock()
        """Held while deciding: concurrent syncs of one namespace walk it once."""
        self._decisions: OrderedDict[Key, tuple[Read, Decision]] = OrderedDict()
        self._last: OrderedDict[str, Decision] = OrderedDict()
        self._decisions_size = decisions
        self._namespaces_size = namespaces

    def decide(self, imagemaps: Iterable[ImageMap], *, record: Record | None = None,
               kind: str = KIND) -> Decision:
        """`image_mapper.engine.acceptance.decide(imagemaps, record=record)`: the same
        verdicts, found again for the same content, else decided from the namespace's last
        decision. The decision returned carries no `basis` (it is kept here)."""
        given = unique(imagemaps)
        content = fingerprint(given, record, kind)
        if content is None:
            return decide(given, record=record, kind=kind)
        key, read = content
        # The cluster's ClusterImageMaps are decided apart from every namespace's ImageMaps.
        namespace = f"{kind}/{given[0].namespace}" if given else ""
        with self._lock:
            kept = self._decisions.get(key)
            if kept is not None and kept[0] == read:
                self._decisions.move_to_end(key)
                return kept[1]
            decision = decide(given, record=record, prior=self._last.get(namespace), kind=kind)
            _keep(self._last, namespace, decision, self._namespaces_size)
            # Kept without its basis: 64 walks of 1,000 ImageMaps would be a lot of memory.
            lean = dataclasses.replace(decision, basis=None)
            _keep(self._decisions, key, (read, lean), self._decisions_size)
        return lean


K = TypeVar("K")
V = TypeVar("V")


def _keep(kept: OrderedDict[K, V], key: K, value: V, size: int) -> None:
    kept[key] = value
    kept.move_to_end(key)
    while len(kept) > size:
        kept.popitem(last=False)


class Readings:
    """What `ImageMap.read` gives for objects that never change, remembered by identity.

    Only the owner of such objects keeps readings (`keep`), and only for objects nobody
    changes; `read` of any other object reads it. Each kept object is held, so its identity
    cannot pass to another object while remembered. Bounded: the oldest are forgotten.
    """

    def __init__(self, size: int = READINGS) -> None:
        self._size = size
        self._kept: OrderedDict[int, tuple[object, ImageMap | None]] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, obj: object) -> None:
        """Read `obj` now, and give that reading for it from now on."""
        imagemap = ImageMap.read(obj)
        with self._lock:
            self._kept[id(obj)] = (obj, imagemap)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)

    def forget(self, obj: object) -> None:
        with self._lock:
            kept = self._kept.get(id(obj))
            if kept is not None and kept[0] is obj:
                del self._kept[id(obj)]

    def read(self, obj: object) -> ImageMap | None:
        """`ImageMap.read(obj)`, remembered when `obj` was kept."""
        kept = self._kept.get(id(obj))
        if kept is not None and kept[0] is obj:
            return kept[1]
        return ImageMap.read(obj)


def reader(memo: Memo | None) -> Callable[[object], ImageMap | None]:
    """How to read a request's ImageMaps: through the server's memo, which knows those its
    body decoder read already."""
    return memo.readings.read if memo is not None else ImageMap.read
