"""What a hooks server remembers between syncs, so that a namespace is not walked again and
again: an object the server makes once and passes to `decide` (the engine keeps no state).

- Decisions by content. Metacontroller syncs every ImageMap of a namespace with the same
  related objects, so the walk over 1,000 ImageMaps is done once, not 1,000 times. A decision
  is found by the identity of each ImageMap (name, uid, resourceVersion) and reused only when
  everything the walk reads of each is equal too (a comparison done in C): a hook body is
  untrusted input, and a forged or edited object must never get another object's verdict by
  reusing its uid and resourceVersion. Objects without a uid and resourceVersion (files,
  fixtures) are never remembered.
- The last settled walk of a few namespaces: a walk in which no ImageMap was rejected for a
  conflict, from which the next decision judges only what changed
  (`image_mapper.engine.acceptance`).
- `Readings`: the ImageMap read from each object that its owner promises never to change (the
  hooks server's body decoder hands every sync the same objects for the same bytes), so that
  1,000 ImageMaps are not read again at every sync.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from operator import attrgetter
from typing import TYPE_CHECKING

from image_mapper.engine.imagemap import KIND, ImageMap
from image_mapper.engine.record import Record

if TYPE_CHECKING:
    from image_mapper.engine.acceptance import Settled
    from image_mapper.engine.verdicts import Decision

Key = tuple[tuple[tuple[str, str, str], ...], object]
"""(name, uid, resourceVersion) of each ImageMap, and the in-force order of the record with the
kind decided."""
Read = list[tuple[object, ...]]
"""What the walk reads of each ImageMap besides its name (`read`)."""

DECISIONS = 64
SETTLED_NAMESPACES = 32
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

    Taken in name order: the decision does not depend on the order they come in (the ImageMap
    hook puts its parent first, so every ImageMap's sync lists them in another order)."""
    ordered = sorted(imagemaps, key=_BY_NAME)
    key = []
    for imagemap in ordered:
        if not imagemap.uid or not imagemap.resource_version:
            return None
        key.append((imagemap.name, imagemap.uid, imagemap.resource_version))
    in_force = record.in_force if record is not None else None
    # The kind too: a ClusterImageMap's verdict names ClusterImageMaps.
    return (tuple(key), (in_force, kind)), list(map(read, ordered))


class DecisionCache:
    """Decisions and settled walks, bounded, behind one lock.

    `decide` holds `lock` while it looks up, decides and remembers, so that concurrent syncs
    of one namespace walk it once; the methods expect it held.
    """

    def __init__(self, *, decisions: int = DECISIONS,
                 settled_namespaces: int = SETTLED_NAMESPACES, readings: int = READINGS) -> None:
        self.lock = threading.Lock()
        self.readings = Readings(readings)
        self._decisions: OrderedDict[Key, tuple[Read, Decision]] = OrderedDict()
        self._settled: OrderedDict[str, Settled] = OrderedDict()
        self._decisions_size = decisions
        self._settled_size = settled_namespaces

    def decision(self, key: Key, read: Read) -> Decision | None:
        """The decision kept under `key`, if it was made on what `read` says."""
        kept = self._decisions.get(key)
        if kept is None or kept[0] != read:
            return None
        self._decisions.move_to_end(key)
        return kept[1]

    def remember(self, key: Key, read: Read, decision: Decision) -> None:
        self._decisions[key] = (read, decision)
        self._decisions.move_to_end(key)
        while len(self._decisions) > self._decisions_size:
            self._decisions.popitem(last=False)

    def take_settled(self, namespace: str) -> Settled | None:
        """The namespace's last settled walk, taken out: it is changed in place while used."""
        return self._settled.pop(namespace, None)

    def keep_settled(self, namespace: str, settled: Settled) -> None:
        self._settled[namespace] = settled
        while len(self._settled) > self._settled_size:
            self._settled.popitem(last=False)


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
