"""The ImageMap resource (SPEC 2): its API names, defined once, and a typed value read once.

An ImageMap reaches the engine as the API server (or Metacontroller, or a YAML file) wrote it:
JSON of any shape, since a hook body is untrusted input. `ImageMap.read` takes what the engine
and the hooks use out of it, once, at the edge; everything after works on the frozen value.
A field of the wrong type reads as absent; `spec.map` and `status.deployedMap` are kept as
written, because checking them (and naming each bad entry) is the engine's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GROUP = "mapper.imagerelocation.pivotal.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ImageMap"
PLURAL = "imagemaps"

READY = "Ready"
"""The type of the condition that says whether an ImageMap is in force."""


@dataclass(frozen=True, slots=True)
class ReadyCondition:
    """The first condition of type Ready in `status.conditions`."""

    status: str | None
    """"True", "False" (or anything else a client wrote)."""
    last_transition_time: str | None
    observed_generation: int | None


@dataclass(frozen=True, slots=True)
class ImageMap:
    name: str
    namespace: str
    """Empty when the object has none (a YAML file may leave it out)."""
    uid: str | None
    resource_version: str | None
    generation: int | None
    creation_timestamp: str | None
    spec_map: object
    """`spec.map` as written: a list of `{from, to}` when well-formed."""
    ready: ReadyCondition | None
    observed_generation: int | None
    """`status.observedGeneration`: the generation the status was written for."""
    deployed_map: object
    """`status.deployedMap` as written: the maplets in force when Ready."""

    @classmethod
    def read(cls, obj: object) -> ImageMap | None:
        """The ImageMap in an object; None when it is not an object with a name."""
        if not isinstance(obj, dict):
            return None
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict):
            return None
        name = metadata.get("name")
        if not isinstance(name, str) or not name:
            return None
        spec = obj.get("spec")
        status = obj.get("status")
        if not isinstance(status, dict):
            status = {}
        return cls(
            name,
            _str(metadata.get("namespace")) or "",
            _str(metadata.get("uid")),
            _str(metadata.get("resourceVersion")),
            _int(metadata.get("generation")),
            _str(metadata.get("creationTimestamp")),
            spec.get("map") if isinstance(spec, dict) else None,
            _ready(status.get("conditions")),
            _int(status.get("observedGeneration")),
            status.get("deployedMap"),
        )

    def in_force_since(self, *, current_generation: bool) -> str | None:
        """`lastTransitionTime` of a `Ready=True` condition; with `current_generation`, only
        when the status was written for the ImageMap's current generation (SPEC 2.4)."""
        ready = self.ready
        if ready is None or ready.status != "True":
            return None
        if current_generation and self.observed_generation != self.generation:
            return None
        return ready.last_transition_time


def read_imagemaps(objects: Iterable[object]) -> list[ImageMap]:
    """The ImageMaps among `objects`, one per name (`unique`); objects without a name are
    left out."""
    return unique(m for m in map(ImageMap.read, objects) if m is not None)


def unique(imagemaps: Iterable[ImageMap]) -> list[ImageMap]:
    """One ImageMap per name: the first copy of a name wins.

    A namespace's ImageMaps can hold a name twice: Metacontroller's `related` lists an object
    once per version or key it was asked for, and the ImageMap hook adds its parent, which is
    newer than the parent's copy in `related`. The caller knows which copy is freshest and puts
    it first; whatever else comes later cannot take its place. Every reader of a namespace's
    ImageMaps (the hooks, `decide`) goes through here, so they all keep the same copy.
    """
    by_name: dict[str, ImageMap] = {}
    for imagemap in imagemaps:
        by_name.setdefault(imagemap.name, imagemap)
    return list(by_name.values())


def is_imagemap(obj: Mapping[str, Any]) -> bool:
    """An ImageMap of our group, whatever version it was asked for in."""
    api_version = obj.get("apiVersion")
    return (obj.get("kind") == KIND and isinstance(api_version, str)
            and api_version.startswith(f"{GROUP}/"))


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _ready(conditions: object) -> ReadyCondition | None:
    if not isinstance(conditions, list):
        return None
    for condition in conditions:
        if isinstance(condition, dict) and condition.get("type") == READY:
            return ReadyCondition(
                _str(condition.get("status")),
                _str(condition.get("lastTransitionTime")),
                _int(condition.get("observedGeneration")),
            )
    return None
