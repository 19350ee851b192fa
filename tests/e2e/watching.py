"""Observers for concurrency tests: every status write of a namespace's ImageMaps, as a watch
sees them, and a stream of dry-run pods admitted meanwhile."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from tests.controlplane.cluster import ControlPlane

IMAGEMAPS = "/apis/mapper.imagerelocation.pivotal.io/v1alpha1"


@dataclass(frozen=True)
class StatusEvent:
    at: float
    """time.monotonic() when the watch delivered it."""
    name: str
    generation: int
    ready: str | None
    """The Ready condition's status, None without one."""
    deleted: bool = False
    reason: str | None = None
    message: str | None = None


class StatusWatch:
    """Watches a namespace's ImageMaps (or, with no namespace, the cluster's ClusterImageMaps)
    and keeps each change of one's status."""

    def __init__(self, cp: ControlPlane, namespace: str) -> None:
        self.cp = cp
        self.namespace = namespace
        """Empty: the ClusterImageMaps."""
        self.events: list[StatusEvent] = []
        self.writes: dict[str, int] = {}
        """Status changes per ImageMap, after its creation."""
        self._last: dict[str, Any] = {}
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="status-watch")
        self._socket: socket.socket | None = None

    def __enter__(self) -> StatusWatch:
        self._thread.start()
        if not self._started.wait(10):
            raise TimeoutError("the ImageMap watch did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._socket is not None:
            # Closing the response from here would wait for the reader's lock: shutting the
            # socket down ends the blocked read instead.
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        self._thread.join(10)

    def _run(self) -> None:
        where = (f"namespaces/{self.namespace}/imagemaps" if self.namespace
                 else "clusterimagemaps")
        path = f"{IMAGEMAPS}/{where}?watch=1&allowWatchBookmarks=false&timeoutSeconds=300"
        request = urllib.request.Request(self.cp.server + path)
        request.add_header("Authorization", f"Bearer {self.cp.admin_token}")
        context = ssl.create_default_context(cafile=str(self.cp.ca_file))
        with urllib.request.urlopen(request, timeout=310, context=context) as response:
            self._socket = response.fp.raw._sock
            self._started.set()
            try:
                for line in response:
                    if self._stop.is_set():
                        return
                    self._record(json.loads(line))
            except (OSError, ValueError, AttributeError):
                if not self._stop.is_set():
                    raise

    def _record(self, event: dict[str, Any]) -> None:
        obj = event["object"]
        name = obj["metadata"]["name"]
        status = obj.get("status")
        deleted = event["type"] == "DELETED"
        if not deleted and name in self._last and self._last[name] == status:
            return  # a change of something else (spec, metadata)
        if not deleted and name in self._last:
            self.writes[name] = self.writes.get(name, 0) + 1
        self._last[name] = status
        ready = reason = message = None
        for condition in (status or {}).get("conditions") or []:
            if condition.get("type") == "Ready":
                ready, reason, message = (condition.get("status"), condition.get("reason"),
                                          condition.get("message"))
        self.events.append(StatusEvent(time.monotonic(), name, obj["metadata"]["generation"],
                                       ready, deleted, reason, message))


@dataclass(frozen=True)
class Admitted:
    at: float
    image: str


@dataclass
class PodStream:
    """Dry-run pods created one after another (server-side, nothing stored) until stopped."""

    cp: ControlPlane
    namespace: str
    image: str
    max_requests: int = 2000
    interval: float = 0.02
    """Seconds between two pods: a steady stream that leaves the two cores to the product."""
    admitted: list[Admitted] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="pod-stream")

    def __enter__(self) -> PodStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/pods?dryRun=All"
        for number in range(self.max_requests):
            if self._stop.is_set():
                return
            body = {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"probe-{number}"},
                "spec": {"containers": [{"name": "app", "image": self.image}]},
            }
            status, answer = self.cp.request("POST", path, body=body)
            if status != 201:
                self.failures.append(f"HTTP {status}: {answer[:200]!r}")
                continue
            pod = json.loads(answer)
            self.admitted.append(Admitted(time.monotonic(), pod["spec"]["containers"][0]["image"]))
            self._stop.wait(self.interval)
