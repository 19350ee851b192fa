"""A namespace as Metacontroller drives it (hook version v2): the Namespace decorated with all of
its ImageMaps as `related` (the decider, whose labels and annotations are written back), then
every ImageMap synced with its Namespace and all the ImageMaps as `related`, each returned status
written back (with a new resourceVersion), until nothing changes."""

from __future__ import annotations

import copy
import itertools
import uuid
from datetime import datetime, timedelta
from typing import Any

from image_mapper.controller.imagemap_hook import sync_imagemap
from image_mapper.controller.namespace_hook import ACTIVE_LABEL, SUMMARY_ANNOTATION, sync_namespace
from image_mapper.controller.protocol import CompositeSyncRequest, DecoratorSyncRequest
from image_mapper.engine.imagemap import API_VERSION as IMAGEMAP_API_VERSION
from image_mapper.engine.imagemap import KIND as IMAGEMAP_KIND
from tests.golden import FIXTURE_NOW

GROUP_KEY = f"{IMAGEMAP_KIND}.{IMAGEMAP_API_VERSION}"


class Namespace:
    def __init__(self, name: str = "apps", *, reverse: bool = False) -> None:
        self.name = name
        self.reverse = reverse
        """Sync in reverse name order: the outcome must not depend on the order."""
        self.imagemaps: dict[str, dict[str, Any]] = {}
        self.namespace: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "uid": str(uuid.uuid4()), "labels": {},
                         "annotations": {}}}
        self.now = FIXTURE_NOW
        self._versions = itertools.count(1000)
        self.syncs = 0

    # --- what users do
    def apply(self, name: str, *maplets: tuple[str, str]) -> None:
        spec = {"map": [{"from": f, "to": t} for f, t in maplets]}
        existing = self.imagemaps.get(name)
        if existing is None:
            self.now += timedelta(seconds=1)
            self.imagemaps[name] = {
                "apiVersion": IMAGEMAP_API_VERSION, "kind": IMAGEMAP_KIND,
                "metadata": {"name": name, "namespace": self.name, "uid": str(uuid.uuid4()),
                             "generation": 1, "resourceVersion": str(next(self._versions)),
                             "creationTimestamp": _time(self.now)},
                "spec": spec,
            }
        elif existing["spec"] != spec:
            existing["spec"] = spec
            existing["metadata"]["generation"] += 1
            existing["metadata"]["resourceVersion"] = str(next(self._versions))

    def delete(self, name: str) -> None:
        del self.imagemaps[name]

    # --- what Metacontroller does
    def settle(self, *, max_rounds: int = 5) -> int:
        """Decide the namespace, then sync every ImageMap, until a whole round writes nothing;
        returns the rounds taken."""
        for rounds in range(1, max_rounds + 1):
            self.now += timedelta(minutes=1)
            changed = self.decide()
            names = sorted(self.imagemaps, reverse=self.reverse)
            for name in names:
                changed |= self.sync(name)
            if not changed:
                return rounds
        raise AssertionError(f"statuses still changing after {max_rounds} rounds")

    def sync(self, name: str) -> bool:
        self.syncs += 1
        parent = self.imagemaps[name]
        request: CompositeSyncRequest = {
            "controller": {}, "parent": copy.deepcopy(parent), "children": {},
            "related": {GROUP_KEY: self._related(),
                        "Namespace.v1": {self.name: copy.deepcopy(self.namespace)}},
            "finalizing": False,
        }
        status = sync_imagemap(request, now=self.now)["status"]
        if parent.get("status") == status:
            return False
        parent["status"] = status
        parent["metadata"]["resourceVersion"] = str(next(self._versions))
        return True

    def decide(self) -> bool:
        """The namespace hook; whether it changed the Namespace."""
        request: DecoratorSyncRequest = {
            "controller": {}, "object": copy.deepcopy(self.namespace), "attachments": {},
            "related": {GROUP_KEY: self._related()}, "finalizing": False,
        }
        response = sync_namespace(request, now=self.now)
        metadata = self.namespace["metadata"]
        before = copy.deepcopy(metadata)
        for field in ("labels", "annotations"):
            for key, value in response[field].items():  # type: ignore[literal-required]
                if value is None:
                    metadata[field].pop(key, None)
                else:
                    metadata[field][key] = value
        return bool(metadata != before)

    def decorate(self) -> tuple[str | None, str | None]:
        self.decide()
        metadata = self.namespace["metadata"]
        return metadata["labels"].get(ACTIVE_LABEL), metadata["annotations"].get(
            SUMMARY_ANNOTATION)

    def _related(self) -> dict[str, dict[str, Any]]:
        """The ImageMaps keyed as v2 keys them."""
        return {f"{self.name}/{name}": obj for name, obj in copy.deepcopy(self.imagemaps).items()}

    # --- what users see
    def ready(self, name: str) -> dict[str, Any]:
        condition: dict[str, Any] = self.imagemaps[name]["status"]["conditions"][0]
        return condition

    def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.imagemaps[name]["status"]
        return status


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
