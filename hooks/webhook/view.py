"""The webhook's view of the ImageMaps: one compiled mapping per namespace (SPEC 4).

The webhook never decides acceptance itself. Per namespace, it compiles the `status.deployedMap`
of the Ready ImageMaps with `hooks.engine.acceptance.compile_deployed`, which applies the order
of SPEC 2.4 if two statuses transiently disagree. What the admission app needs of a view is
`View`; `ClusterView` is the cluster's, kept by the watcher (`hooks.webhook.watcher`), and
`StaticView` one mapping for every namespace (`serve-webhook -f` and tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Literal, Protocol

from hooks.engine.acceptance import compile_deployed
from hooks.engine.imagemap import ImageMap
from hooks.engine.mapping import Mapping

Change = Literal["ADDED", "MODIFIED", "DELETED"]


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
    """The ImageMaps of the cluster by namespace, and `dict[namespace, Mapping]` compiled from
    them, replaced atomically: a namespace's mapping always comes from one state of its
    ImageMaps, never from two.

    Only the watcher writes (`replace`, `apply`, `confirm`); readers take the mappings as they
    are at that moment. Not ready until the first list is in (`confirm`).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._imagemaps: dict[str, dict[str, ImageMap]] = {}
        self._mappings: dict[str, Mapping] = {}
        self._confirmed_at: float | None = None

    # --- what readers see --------------------------------------------------------------

    def mapping_for(self, namespace: str) -> Mapping:
        return self._mappings.get(namespace, Mapping.EMPTY)

    @property
    def synced(self) -> bool:
        return self._confirmed_at is not None

    def age(self) -> float | None:
        confirmed = self._confirmed_at
        return None if confirmed is None else max(0.0, self._clock() - confirmed)

    def readiness(self) -> tuple[bool, str]:
        age = self.age()
        if age is None:
            return False, "ImageMaps not yet listed"
        mappings = self._mappings
        maplets = sum(len(m) for m in mappings.values())
        return True, (f"{maplets} maplets in force in {len(mappings)} namespaces; "
                      f"view confirmed {age:.0f}s ago")

    def namespaces(self) -> Sequence[str]:
        return sorted(self._mappings)

    # --- what the watcher does ---------------------------------------------------------

    def replace(self, imagemaps: Iterable[ImageMap]) -> None:
        """Every ImageMap of the cluster, as a list returned them."""
        by_namespace: dict[str, dict[str, ImageMap]] = {}
        for imagemap in imagemaps:
            by_namespace.setdefault(imagemap.namespace, {})[imagemap.name] = imagemap
        self._imagemaps = by_namespace
        self._mappings = {ns: compile_deployed(maps.values())
                          for ns, maps in by_namespace.items()}

    def apply(self, change: Change, imagemap: ImageMap) -> None:
        """One ImageMap added, modified or deleted: its namespace is compiled again."""
        namespace = imagemap.namespace
        maps = self._imagemaps.setdefault(namespace, {})
        if change == "DELETED":
            maps.pop(imagemap.name, None)
        else:
            maps[imagemap.name] = imagemap
        mappings = dict(self._mappings)
        if maps:
            mappings[namespace] = compile_deployed(maps.values())
        else:
            del self._imagemaps[namespace]
            mappings.pop(namespace, None)
        self._mappings = mappings

    def confirm(self) -> None:
        """The API server has just confirmed the view (a list, an event, a watch's end)."""
        self._confirmed_at = self._clock()
