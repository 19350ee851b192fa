"""The watches that keep the webhook's view (`image_mapper.webhook.view`) current: one of the
ImageMaps, one of the Namespaces (which hold the decision records).

Each watch follows the Kubernetes list-then-watch protocol: list, watch from the list's
resourceVersion, resume from the last seen resourceVersion after a dropped connection
(with backoff), and list again when the server answers 410 Gone. The view is not ready until
both first lists are in; after that it keeps serving the last known state when the API server goes
away, and reports its age. A failing list or watch is logged at warning at most once per kind of
error per `log_repeat_interval` seconds (`image_mapper.serving.logs.RateLimitedLog`): an API server
that refuses every watch would otherwise fill the log.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypedDict

from image_mapper.serving.errors import describe_error, error_kind
from image_mapper.serving.logs import RateLimitedLog, RateLimiter
from image_mapper.webhook.view import RESOURCES, ClusterView, Sink

log = logging.getLogger(__name__)

EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]


class WatchEvent(TypedDict):
    type: EventType
    object: dict[str, Any]


class Gone(Exception):
    """The resourceVersion to watch from is too old (HTTP 410): list again."""


class Source(Protocol):
    """Where the objects of one resource come from: the API server, or a fake in unit tests."""

    def list(self) -> tuple[list[dict[str, Any]], str]:
        """All objects of the cluster and the list's resourceVersion."""
        ...

    def watch(self, resource_version: str, *, timeout_seconds: int) -> Iterator[WatchEvent]:
        """Changes after `resource_version`; raises Gone when it is too old. Ends when the
        server closes the watch (after about `timeout_seconds`)."""
        ...

    def interrupt(self) -> None:
        """Make a blocked `watch` return soon (called from another thread on stop)."""
        ...


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


class Watcher:
    """Lists and watches one resource in a thread, and hands what it sees to `sink`."""

    def __init__(
        self,
        source: Source,
        sink: Sink,
        *,
        resource: str,
        watch_timeout_seconds: int = 300,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        log_repeat_interval: float = 60.0,
    ) -> None:
        self._source = source
        self._sink = sink
        self.resource = resource
        self._watch_timeout = watch_timeout_seconds
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._failures = RateLimitedLog(log, RateLimiter(log_repeat_interval, clock=clock))
        self._resource_version: str | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"{self.resource}-watcher",
                                        daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Make the watch end soon (a blocked watch returns at once)."""
        self._stopping.set()
        self._source.interrupt()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the watch; whether its thread ended within `timeout` seconds."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def run(self) -> None:
        """List and watch until stopped."""
        while not self._stopping.is_set():
            try:
                if self._resource_version is None:
                    self._list()
                self._watch()
            except Gone:
                log.info("%s watch expired at resourceVersion %s; listing again",
                         self.resource, self._resource_version)
                self._resource_version = None
            except Exception as error:  # the API server went away, or answered nonsense
                if self._stopping.is_set():
                    break
                delay = self._backoff.next()
                operation = "list" if self._resource_version is None else "watch"
                self._failures.limited_warning(
                    (operation, error_kind(error)),
                    "%s %s failed (%s); retrying in %.1fs, serving the last known state",
                    self.resource, operation, describe_error(error), delay,
                    extra={"event": "api_error", "resource": self.resource,
                           "operation": operation, "error": describe_error(error)})
                self._stopping.wait(delay)

    def _list(self) -> None:
        items, resource_version = self._source.list()
        self._sink.replace(items)
        self._resource_version = resource_version
        self._confirm()
        log.info("listed %d %s at resourceVersion %s", len(items), self.resource,
                 resource_version)

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
        change = event["type"]
        if change != "BOOKMARK" and isinstance(obj, dict):
            self._sink.apply(change, obj)
        if isinstance(resource_version, str) and resource_version:
            self._resource_version = resource_version

    def _confirm(self) -> None:
        self._backoff.reset()
        self._sink.confirm()


class ClusterWatch:
    """The two watches of a `ClusterView`: ImageMaps and Namespaces."""

    def __init__(self, imagemaps: Source, namespaces: Source, view: ClusterView | None = None,
                 clusterimagemaps: Source | None = None, **options: Any) -> None:
        resources = RESOURCES if clusterimagemaps is not None else RESOURCES[:2]
        self.view = view if view is not None else ClusterView(
            resources=resources, **({"clock": options["clock"]} if "clock" in options else {}))
        watchers = [
            Watcher(imagemaps, self.view.imagemaps, resource="imagemaps", **options),
            Watcher(namespaces, self.view.namespaces, resource="namespaces", **options),
        ]
        if clusterimagemaps is not None:
            watchers.append(Watcher(clusterimagemaps, self.view.clusterimagemaps,
                                    resource="clusterimagemaps", **options))
        self.watchers = tuple(watchers)

    def start(self) -> None:
        for watcher in self.watchers:
            watcher.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop both watches; whether both threads ended within `timeout` seconds."""
        for watcher in self.watchers:
            watcher.request_stop()
        stopped = [watcher.stop(timeout) for watcher in self.watchers]  # join both, always
        return all(stopped)

