"""In-memory sources of ImageMaps and Namespaces with the list/watch semantics of the API
server."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from image_mapper.webhook.watcher import Gone, WatchEvent


def imagemap(
    name: str,
    *entries: tuple[str, str],
    namespace: str = "demo",
    ready_since: str | None = "2026-01-01T00:00:00Z",
    created: str = "2026-01-01T00:00:00Z",
    generation: int = 1,
) -> dict[str, Any]:
    """An ImageMap as the API server returns it after the hooks accepted it (or not)."""
    obj: dict[str, Any] = {
        "apiVersion": "mapper.imagerelocation.pivotal.io/v1alpha1", "kind": "ImageMap",
        "metadata": {"name": name, "namespace": namespace, "generation": generation,
                     "uid": f"uid-{namespace}-{name}",
                     "creationTimestamp": created, "managedFields": [{"manager": "kubectl"}]},
        "spec": {"map": [{"from": f, "to": t} for f, t in entries]},
    }
    if ready_since is not None:
        obj["status"] = {
            "observedGeneration": 1, "mappings": len(entries),
            "deployedMap": [{"from": f, "to": t} for f, t in entries],
            "conditions": [{"type": "Ready", "status": "True", "reason": "Accepted",
                            "message": "", "lastTransitionTime": ready_since,
                            "observedGeneration": 1}],
        }
    else:
        obj["status"] = {"observedGeneration": 1, "mappings": 0, "conditions": [
            {"type": "Ready", "status": "False", "reason": "Conflict", "message": "x",
             "lastTransitionTime": created, "observedGeneration": 1}]}
    return obj


def namespace(name: str, *in_force: str | tuple[str, int],
              rejected: tuple[str, ...] = ()) -> dict[str, Any]:
    """A Namespace whose decision record has these ImageMaps (of `imagemap`) in force, in
    this order, each at generation 1 or the one given."""
    def row(entry: str | tuple[str, int]) -> list[object]:
        imagemap_name, generation = entry if isinstance(entry, tuple) else (entry, 1)
        return [imagemap_name, f"uid-{name}-{imagemap_name}", generation]

    record = json.dumps({"inForce": [row(e) for e in in_force],
                         "rejected": [row(e) for e in rejected]})
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "annotations": {
                "mapper.imagerelocation.pivotal.io/decision": record}}}


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
