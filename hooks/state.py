"""The webhook's view of the ImageMaps: one compiled mapping per namespace (SPEC 4).

The webhook never decides acceptance itself. It watches ImageMaps and compiles, per namespace,
the `status.deployedMap` of the Ready ones with `hooks.acceptance.compile_deployed`, which
applies the order of SPEC 2.4 if two statuses transiently disagree.

The watch follows the Kubernetes list-then-watch protocol: list, watch from the list's
resourceVersion, resume from the last seen resourceVersion after a dropped connection
(with backoff), and list again when the server answers 410 Gone. The view is not ready until
the first list is in; after that it keeps serving the last known state when the API server goes
away, and reports its age.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, TypedDict

from hooks.engine.acceptance import compile_deployed
from hooks.engine.imagemap import ImageMap
from hooks.engine.mapping import Mapping

log = logging.getLogger(__name__)

EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]


class WatchEvent(TypedDict):
    type: EventType
    object: dict[str, Any]


class Gone(Exception):
    """The resourceVersion to watch from is too old (HTTP 410): list again."""


class ImageMapSource(Protocol):
    """Where ImageMaps come from: the API server, or a fake in unit tests."""

    def list(self) -> tuple[list[dict[str, Any]], str]:
        """All ImageMaps of the cluster and the list's resourceVersion."""
        ...

    def watch(self, resource_version: str, *, timeout_seconds: int) -> Iterator[WatchEvent]:
        """Changes after `resource_version`; raises Gone when it is too old. Ends when the
        server closes the watch (after about `timeout_seconds`)."""
        ...

    def interrupt(self) -> None:
        """Make a blocked `watch` return soon (called from another thread on stop)."""
        ...


class View(Protocol):
    """What the admission app needs of the state."""

    def mapping_for(self, namespace: str) -> Mapping: ...

    def readiness(self) -> tuple[bool, str]: ...

    def age(self) -> float | None:
        """Seconds since the view was last confirmed by the API server; None before that."""
        ...


class StaticView:
    """One mapping for every namespace, always ready: `serve-webhook -f` and tests."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping

    def mapping_for(self, namespace: str) -> Mapping:
        return self.mapping

    def readiness(self) -> tuple[bool, str]:
        return True, f"static mapping of {len(self.mapping)} maplets"

    def age(self) -> float | None:
        return 0.0


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with full jitter, capped."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    _attempt: int = 0

    def next(self) -> float:
        ceiling = min(self.maximum, self.initial * self.factor**self._attempt)
        self._attempt += 1
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography

    def reset(self) -> None:
        self._attempt = 0


def _read(obj: dict[str, Any]) -> ImageMap | None:
    """What `compile_deployed` reads of an ImageMap; None if it has no name or namespace."""
    imagemap = ImageMap.read(obj)
    if imagemap is None or not imagemap.namespace:
        return None
    return replace(imagemap, spec_map=None)  # the status is what counts here: keep no spec


class ImageMapWatcher:
    """Watches ImageMaps in a thread and holds `dict[namespace, Mapping]`, replaced atomically.

    Only the watcher thread writes; readers take `self._mappings` as it is at that moment.
    """

    def __init__(
        self,
        source: ImageMapSource,
        *,
        watch_timeout_seconds: int = 300,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._watch_timeout = watch_timeout_seconds
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._imagemaps: dict[str, dict[str, ImageMap]] = {}
        self._mappings: dict[str, Mapping] = {}
        self._resource_version: str | None = None
        self._confirmed_at: float | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.relists = 0
        """Lists done after the first one (410 Gone)."""
        self.failures = 0
        """Lists or watches that failed with an error."""

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

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="imagemap-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._source.interrupt()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """List and watch until stopped."""
        while not self._stopping.is_set():
            try:
                if self._resource_version is None:
                    self._list()
                self._watch()
            except Gone:
                log.info("ImageMap watch expired at resourceVersion %s; listing again",
                         self._resource_version)
                self._resource_version = None
                self.relists += 1
            except Exception as error:  # the API server went away, or answered nonsense
                if self._stopping.is_set():
                    break
                self.failures += 1
                delay = self._backoff.next()
                log.warning("ImageMap %s failed (%s); retrying in %.1fs, serving the last "
                            "known state",
                            "list" if self._resource_version is None else "watch",
                            _describe(error), delay)
                self._stopping.wait(delay)

    def _list(self) -> None:
        items, resource_version = self._source.list()
        imagemaps: dict[str, dict[str, ImageMap]] = {}
        for item in items:
            imagemap = _read(item)
            if imagemap is not None:
                imagemaps.setdefault(imagemap.namespace, {})[imagemap.name] = imagemap
        self._imagemaps = imagemaps
        self._mappings = {ns: compile_deployed(maps.values()) for ns, maps in imagemaps.items()}
        self._resource_version = resource_version
        self._confirm()
        log.info("listed %d ImageMaps in %d namespaces at resourceVersion %s",
                 len(items), len(imagemaps), resource_version)

    def _watch(self) -> None:
        assert self._resource_version is not None
        started = self._clock()
        events = 0
        for event in self._source.watch(self._resource_version,
                                        timeout_seconds=self._watch_timeout):
            if self._stopping.is_set():
                return
            events += 1
            self._apply(event)
            self._confirm()
        # The server ended the watch (its timeout): resume at once, unless it did so instantly.
        if not events and self._clock() - started < 1.0:
            self._stopping.wait(self._backoff.next())
        else:
            self._confirm()

    def _apply(self, event: WatchEvent) -> None:
        obj = event["object"]
        metadata = obj.get("metadata") if isinstance(obj, dict) else None
        resource_version = metadata.get("resourceVersion") if isinstance(metadata, dict) else None
        if event["type"] != "BOOKMARK":
            imagemap = _read(obj)
            if imagemap is not None:
                self._update(event["type"], imagemap)
        if isinstance(resource_version, str) and resource_version:
            self._resource_version = resource_version

    def _update(self, kind: str, imagemap: ImageMap) -> None:
        namespace = imagemap.namespace
        maps = self._imagemaps.setdefault(namespace, {})
        if kind == "DELETED":
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

    def _confirm(self) -> None:
        self._backoff.reset()
        self._confirmed_at = self._clock()


def _describe(error: BaseException) -> str:
    status = getattr(error, "status", None)
    reason = getattr(error, "reason", None)
    if status is not None:
        return f"HTTP {status} {reason or ''}".strip()
    return f"{type(error).__name__}: {error}"
