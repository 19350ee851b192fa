"""One builder per resource: the objects the API server, Metacontroller and the hooks exchange,
as the API server returns them. Each takes what a test means to vary and gives everything else
a realistic default, so that a test's body shows only what is special about it.

`imagemap` is a dict; `json.dumps` it for `kubectl apply -f -` (`imagemap_json`, a List of
several: `imagemap_list`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from image_mapper.engine.imagemap import API_VERSION, KIND
from image_mapper.engine.record import ANNOTATION

CREATED = "2026-01-01T00:00:00Z"
"""The creationTimestamp of an ImageMap built without one."""

Maplet = tuple[str, str]
"""(from, to)"""


def maplets(entries: Iterable[Maplet]) -> list[dict[str, str]]:
    """`spec.map` (or `status.deployedMap`) of `(from, to)` pairs."""
    return [{"from": source, "to": target} for source, target in entries]


def imagemap(
    name: str,
    *entries: Maplet,
    namespace: str | None = "apps",
    uid: str | None = "",
    generation: int | None = 1,
    resource_version: str | None = None,
    created: str | None = CREATED,
    mode: str | None = None,
    pull_secrets: Iterable[str] = (),
    ready_since: str | None = None,
    rejected: str | None = None,
    observed_generation: int | None = None,
    status: Mapping[str, Any] | None = None,
    kind: str = KIND,
) -> dict[str, Any]:
    """An ImageMap with these maplets. Metadata the API server sets (`uid`, by default
    `uid-<namespace>-<name>`; `generation`; `creationTimestamp`) is there unless set to None;
    a manifest as a user writes it is `manifest`.

    Its status, when given: `ready_since`, the time since which it is in force (a status as
    the ImageMap hook writes it, `deployedMap` included); `rejected`, the reason it is not
    (Conflict, InvalidSpec); each written for `observed_generation` (default: its generation);
    or `status` as it is."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if uid is not None:
        metadata["uid"] = uid or f"uid-{namespace or ''}-{name}"
    if generation is not None:
        metadata["generation"] = generation
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    if created is not None:
        metadata["creationTimestamp"] = created
    spec: dict[str, Any] = {"map": maplets(entries)}
    if mode is not None:
        spec["mode"] = mode
    secrets = list(pull_secrets)
    if secrets:
        spec["imagePullSecrets"] = [{"name": secret} for secret in secrets]
    obj: dict[str, Any] = {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata,
                           "spec": spec}
    observed = observed_generation if observed_generation is not None else generation
    if ready_since is not None:
        obj["status"] = accepted_status(entries, since=ready_since, generation=observed)
    elif rejected is not None:
        obj["status"] = rejected_status(rejected, since=created or CREATED,
                                        generation=observed)
    elif status is not None:
        obj["status"] = dict(status)
    return obj


def manifest(name: str, *entries: Maplet, namespace: str | None = None,
             created: str | None = None, mode: str | None = None,
             pull_secrets: Iterable[str] = (), kind: str = KIND) -> dict[str, Any]:
    """An ImageMap as a user writes it: a name (and a namespace, a creationTimestamp, when
    given) and its spec; `kind` another of the group's kinds (ClusterImageMap)."""
    return imagemap(name, *entries, namespace=namespace, uid=None, generation=None,
                    created=created, mode=mode, pull_secrets=pull_secrets, kind=kind)


def imagemap_json(name: str, *entries: Maplet, **options: Any) -> str:
    """`manifest(...)` as JSON, for `kubectl apply -f -`."""
    return json.dumps(manifest(name, *entries, **options))


def imagemap_list(maps: Mapping[str, Iterable[Maplet]]) -> str:
    """ImageMaps by name as one List for one `kubectl apply -f -`: it creates them one after
    the other, in this order."""
    return json.dumps({"apiVersion": "v1", "kind": "List",
                       "items": [manifest(name, *entries) for name, entries in maps.items()]})


def accepted_status(entries: Iterable[Maplet], *, since: str,
                    generation: int | None = 1) -> dict[str, Any]:
    """The status the ImageMap hook writes for an accepted ImageMap."""
    deployed = maplets(entries)
    condition: dict[str, Any] = {"type": "Ready", "status": "True", "reason": "Accepted",
                                 "message": f"{len(deployed)} maplets in force",
                                 "lastTransitionTime": since}
    return _status({"mappings": len(deployed), "deployedMap": deployed}, condition, generation)


def rejected_status(reason: str, *, since: str, generation: int | None = 1,
                    message: str = "rejected") -> dict[str, Any]:
    """The status the ImageMap hook writes for a rejected ImageMap."""
    condition: dict[str, Any] = {"type": "Ready", "status": "False", "reason": reason,
                                 "message": message, "lastTransitionTime": since}
    return _status({"mappings": 0}, condition, generation)


def _status(fields: dict[str, Any], condition: dict[str, Any],
            generation: int | None) -> dict[str, Any]:
    if generation is None:
        return {**fields, "conditions": [condition]}
    condition["observedGeneration"] = generation
    return {"observedGeneration": generation, **fields, "conditions": [condition]}


def namespace(name: str = "apps", *in_force: str | tuple[str, int],
              rejected: Iterable[str | tuple[str, int]] = (),
              labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A Namespace; with ImageMap names (built by `imagemap` with their default uids), a
    decision record that has those in force, in this order, and those rejected, each at
    generation 1 or the one given."""
    def row(entry: str | tuple[str, int]) -> list[object]:
        imagemap_name, generation = entry if isinstance(entry, tuple) else (entry, 1)
        return [imagemap_name, f"uid-{name}-{imagemap_name}", generation]

    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    rejected = list(rejected)
    if in_force or rejected:
        metadata["annotations"] = {ANNOTATION: json.dumps(
            {"inForce": [row(e) for e in in_force], "rejected": [row(e) for e in rejected]})}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
