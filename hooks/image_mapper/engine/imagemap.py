"""The ImageMap resource (design.md#imagemap): its API names (`image_mapper.engine.names`), and a
typed value read once.

An ImageMap reaches the engine as the API server (or Metacontroller, or a YAML file) wrote it:
JSON of any shape, since a hook body is untrusted input. `ImageMap.read` takes what the engine
and the hooks use out of it, once, at the edge; everything after works on the frozen value.
A field of the wrong type reads as absent; `spec.map`, `spec.mode`, `spec.imagePullSecrets` and
their deployed copies in the status are kept as written, because checking them (and naming each
bad entry) is the engine's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from image_mapper.engine.names import API_VERSION, GROUP, KIND, PLURAL, VERSION
from image_mapper.engine.record import Entry
from image_mapper.engine.settings import DEPLOYED_FIELDS, Settings, read_settings

__all__ = [
    # The API's names, re-exported: the resource's own module is where a reader looks first.
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "READY",
    "VERSION",
    "ImageMap",
    "ReadyCondition",
    "is_imagemap",
    "read_imagemaps",
    "unique",
]

READY = "Ready"
"""The type of the condition that says whether an ImageMap is in force."""


class ReadyCondition(NamedTuple):
    """The first condition of type Ready in `status.conditions`."""

    status: str | None
    """"True", "False" (or anything else a client wrote)."""
    last_transition_time: str | None
    observed_generation: int | None


class ImageMap(NamedTuple):
    """An ImageMap as the engine and the hooks read it.

    Immutable and typed like the engine's frozen dataclasses, but a NamedTuple: every ImageMap
    of a namespace is read at every hook call, and a tuple is built (and compared, by the
    decision cache) in C, four times faster than a frozen dataclass.
    """

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
    mode: object = None
    """`spec.mode` as written (design.md#relocation-settings); None when absent (Enforce)."""
    pull_secrets: object = None
    """`spec.imagePullSecrets` as written: a list of `{name}` when well-formed."""
    deployed_mode: object = None
    """`status.deployedMode` as written: the mode in force when Ready."""
    deployed_pull_secrets: object = None
    """`status.deployedImagePullSecrets` as written."""
    namespace_selector: object = None
    """`spec.namespaceSelector` as written: a ClusterImageMap's (design.md#clusterimagemap);
    None when absent (every namespace)."""
    deployed_namespace_selector: object = None
    """`status.deployedNamespaceSelector` as written: the selector in force when Ready."""

    @classmethod
    def read(cls, obj: object) -> ImageMap | None:
        """The ImageMap in an object; None when it is not an object with a name."""
        # Every ImageMap of a namespace is read at every hook call: written out, not helped.
        if not isinstance(obj, dict):
            return None
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict):
            return None
        name = metadata.get("name")
        if not isinstance(name, str) or not name:
            return None
        namespace = metadata.get("namespace")
        uid = metadata.get("uid")
        version = metadata.get("resourceVersion")
        generation = metadata.get("generation")
        created = metadata.get("creationTimestamp")
        spec = obj.get("spec")
        status = obj.get("status")
        ready = observed = deployed = deployed_mode = deployed_secrets = None
        deployed_selector = None
        if isinstance(status, dict):
            conditions = status.get("conditions")
            if isinstance(conditions, list):
                ready = _ready(conditions)
            observed = status.get("observedGeneration")
            deployed = status.get("deployedMap")
            deployed_mode = status.get("deployedMode")
            deployed_secrets = status.get("deployedImagePullSecrets")
            deployed_selector = status.get("deployedNamespaceSelector")
        if isinstance(spec, dict):
            spec_map, mode, secrets = spec.get("map"), spec.get("mode"), spec.get(
                "imagePullSecrets")
            selector = spec.get("namespaceSelector")
        else:
            spec_map = mode = secrets = selector = None
        return cls(
            name,
            namespace if isinstance(namespace, str) else "",
            uid if isinstance(uid, str) else None,
            version if isinstance(version, str) else None,
            generation if isinstance(generation, int) else None,
            created if isinstance(created, str) else None,
            spec_map,
            ready,
            observed if isinstance(observed, int) else None,
            deployed,
            mode,
            secrets,
            deployed_mode,
            deployed_secrets,
            selector,
            deployed_selector,
        )

    def settings(self) -> Settings | list[str]:
        """`spec.mode` and `spec.imagePullSecrets`, checked (design.md#relocation-settings); the
        problems when they are not valid."""
        return read_settings(self.mode, self.pull_secrets)

    def deployed_settings(self) -> Settings | list[str]:
        """The mode and pull secrets of the generation in force, as its status records them."""
        return read_settings(self.deployed_mode, self.deployed_pull_secrets,
                             fields=DEPLOYED_FIELDS)

    def in_force_since(self, *, current_generation: bool) -> str | None:
        """`lastTransitionTime` of a `Ready=True` condition; with `current_generation`, only
        when the status was written for the ImageMap's current generation (design.md#acceptance)."""
        ready = self.ready
        if ready is None or ready.status != "True":
            return None
        if (current_generation and self.judged_generation != self.generation
                and not self.maplets_unchanged):
            return None
        return ready.last_transition_time

    def judged_as(self, entry: Entry) -> bool:
        """Whether this is the object a record entry names, at the generation it judged."""
        return (self.name, self.uid, self.generation) == (entry.name, entry.uid,
                                                          entry.generation)

    def in_force_as(self, entry: Entry) -> bool:
        """Whether this is the ImageMap a record entry has in force, at the generation judged,
        or at a later one whose maplets are those in force: an update of its settings only
        (mode, pull secrets) keeps its place, since switching modes never changes a verdict
        (design.md#relocation-settings)."""
        if self.judged_as(entry):
            return True
        ready = self.ready
        return ((self.name, self.uid) == (entry.name, entry.uid)
                and self.generation is not None and self.generation > entry.generation
                and ready is not None and ready.status == "True"
                and self.judged_generation == entry.generation and self.maplets_unchanged)

    @property
    def maplets_unchanged(self) -> bool:
        """`spec.map` is the `status.deployedMap` of the generation in force: what changed
        since, if anything, is not the maplets."""
        return self.deployed_map is not None and self.deployed_map == self.spec_map

    @property
    def judged_generation(self) -> int | None:
        """The generation the Ready condition was written for: its own `observedGeneration`,
        else the status's. Metacontroller sets the status's to the current generation on every
        status write, also while a new generation waits and the condition is the old one's."""
        if self.ready is not None and self.ready.observed_generation is not None:
            return self.ready.observed_generation
        return self.observed_generation


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


def _ready(conditions: list[object]) -> ReadyCondition | None:
    for condition in conditions:
        if isinstance(condition, dict) and condition.get("type") == READY:
            status = condition.get("status")
            since = condition.get("lastTransitionTime")
            observed = condition.get("observedGeneration")
            return ReadyCondition(
                status if isinstance(status, str) else None,
                since if isinstance(since, str) else None,
                observed if isinstance(observed, int) else None,
            )
    return None
