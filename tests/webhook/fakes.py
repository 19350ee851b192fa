"""In-memory sources of ImageMaps and Namespaces with the list/watch semantics of the API
server."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from typing import Any

from image_mapper.webhook.watcher import Gone, WatchEvent


class FakeSource:
    """Objects of one resource with resourceVersions, a compactable history and breakable
    watches."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._history: list[tuple[int, WatchEvent]] = []
        self._rv = 100
        self._oldest = 0  # watches from before this resourceVersion get 410
        self._generation = 0  # bumped to break open watches
        self._break_with: BaseException | None = None
        self._interrupted = False
        self.list_failures: list[BaseException] = []
        self.lists: list[str] = []
        self.watches: list[str] = []

    # --- changes, as a user of the API server makes them ------------------------------

    def _record(self, kind: str, obj: dict[str, Any]) -> None:
        self._rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self._rv)
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if kind == "DELETED":
            self._objects.pop(key, None)
        else:
            self._objects[key] = obj
        self._history.append((self._rv, {"type": kind, "object": obj}))  # type: ignore[typeddict-item]
        self._lock.notify_all()

    def apply(self, obj: dict[str, Any]) -> None:
        with self._lock:
            key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            self._record("MODIFIED" if key in self._objects else "ADDED", obj)

    def delete(self, namespace: str, name: str) -> None:
        with self._lock:
            self._record("DELETED", self._objects[(namespace, name)])

    def bookmark(self) -> None:
        with self._lock:
            self._rv += 1
            self._history.append((self._rv, {"type": "BOOKMARK", "object": {
                "kind": "ImageMap", "metadata": {"resourceVersion": str(self._rv)}}}))
            self._lock.notify_all()

    def compact(self) -> None:
        """Forget the history: watches from an older resourceVersion now get 410 Gone."""
        with self._lock:
            self._oldest = self._rv + 1
            self._history.clear()

    def break_watches(self, error: BaseException) -> None:
        """Open watches fail with `error` (the API server went away)."""
        with self._lock:
            self._break_with = error
            self._generation += 1
            self._lock.notify_all()

    @property
    def resource_version(self) -> int:
        return self._rv

    # --- the Source protocol ------------------------------------------------------

    def list(self) -> tuple[list[dict[str, Any]], str]:
        with self._lock:
            if self.list_failures:
                raise self.list_failures.pop(0)
            self.lists.append(str(self._rv))
            return copy.deepcopy(list(self._objects.values())), str(self._rv)

    def watch(self, resource_version: str, *, timeout_seconds: int) -> Iterator[WatchEvent]:
        with self._lock:
            self.watches.append(resource_version)
            if int(resource_version) + 1 < self._oldest:
                raise Gone("too old resource version")
            generation = self._generation
        position = int(resource_version)
        deadline = time.monotonic() + timeout_seconds
        while True:
            with self._lock:
                while True:
                    if self._interrupted:
                        return
                    if self._generation != generation:
                        error, self._break_with = self._break_with, None
                        if error is not None:
                            raise error
                        return
                    pending = [e for rv, e in self._history if rv > position]
                    if pending:
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return
                    self._lock.wait(min(left, 0.05))
            for event in pending:
                position = int(event["object"]["metadata"]["resourceVersion"])
                yield copy.deepcopy(event)

    def interrupt(self) -> None:
        with self._lock:
            self._interrupted = True
            self._lock.notify_all()
