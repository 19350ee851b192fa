"""Metacontroller's hook wire formats, typed once, and the checks that turn a body into them.

Shapes follow Metacontroller's API docs (docs/src/api/compositecontroller.md,
decoratorcontroller.md, customize.md) for hook versions v1 and v2:

- customize: `{controller, parent}` -> `{relatedResources}`;
- composite sync: `{controller, parent, children, related, finalizing}` ->
  `{status, children, resyncAfterSeconds}`;
- decorator sync, v1: `{controller, object, attachments, related, finalizing}`; v2 renames
  `object`/`attachments` to `parent`/`children`. Both are read into the v1 names here ->
  `{labels, annotations, attachments, resyncAfterSeconds}` (a label or annotation set to null is
  removed).

`children`, `attachments` and `related` map `<Kind>.<apiVersion>` to objects keyed by `name` (v1,
same scope) or `namespace/name` (v1 under a cluster-scoped parent, and always in v2). Those keys
are never relied on: `namespace_imagemaps` reads the objects themselves, into the engine's
typed `ImageMap` (`read_parent` does the same for a parent ImageMap).

v2 hooks unmarshal responses strictly, so responses carry only the documented fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, Required, TypedDict

from image_mapper.engine.imagemap import ImageMap, is_imagemap, unique

NAMESPACE_KIND = "Namespace"

KubeObject = dict[str, Any]
"""An object as the API server returns it: apiVersion, kind, metadata, spec, status..."""

ObjectMap = dict[str, dict[str, KubeObject]]
"""`<Kind>.<apiVersion>` -> (`name` or `namespace/name`) -> object."""


class ResourceRule(TypedDict, total=False):
    """A related-resource rule of a customize response: a label selector, or namespace/names."""

    apiVersion: Required[str]
    resource: Required[str]
    labelSelector: dict[str, Any]
    namespace: str
    names: list[str]


class CustomizeRequest(TypedDict):
    controller: KubeObject
    parent: KubeObject


class CustomizeResponse(TypedDict):
    relatedResources: list[ResourceRule]


class CompositeSyncRequest(TypedDict):
    controller: KubeObject
    parent: KubeObject
    children: ObjectMap
    related: ObjectMap
    finalizing: bool


class CompositeSyncResponse(TypedDict, total=False):
    status: Required[dict[str, Any]]
    """Replaces the parent's whole `status`."""
    children: Required[list[KubeObject]]
    """Every child wanted; children left out are deleted."""
    resyncAfterSeconds: float
    finalized: bool


class DecoratorSyncRequest(TypedDict):
    """A decorator sync in v1 names; v2's `parent`/`children` are read into them."""

    controller: KubeObject
    object: KubeObject
    attachments: ObjectMap
    related: ObjectMap
    finalizing: bool


class DecoratorSyncResponse(TypedDict, total=False):
    labels: Required[dict[str, str | None]]
    """Labels to set on the target; None removes the label."""
    annotations: Required[dict[str, str | None]]
    """Annotations to set on the target; None removes the annotation."""
    attachments: Required[list[KubeObject]]
    """Every attachment wanted; attachments left out are deleted."""
    resyncAfterSeconds: float
    finalized: bool


HookResponse = CustomizeResponse | CompositeSyncResponse | DecoratorSyncResponse

DecoratorVersion = Literal["v1", "v2"]


class BadRequest(ValueError):
    """A hook body that is not the documented request; the message names the field and why."""


# --- reading requests ---------------------------------------------------------------------


def parse_customize(body: object, *, kind: str) -> CustomizeRequest:
    """A customize request whose `parent` is a `kind` object."""
    request = _body(body)
    return {
        "controller": _controller(request),
        "parent": _object(request.get("parent"), "parent", kind=kind),
    }


def parse_composite_sync(body: object, *, kind: str) -> CompositeSyncRequest:
    """A CompositeController sync (or finalize) request whose `parent` is a `kind` object."""
    request = _body(body)
    return {
        "controller": _controller(request),
        "parent": _object(request.get("parent"), "parent", kind=kind),
        "children": _object_map(request.get("children"), "children"),
        "related": _object_map(request.get("related"), "related"),
        "finalizing": _finalizing(request),
    }


def parse_decorator_sync(body: object, *, kind: str) -> DecoratorSyncRequest:
    """A DecoratorController sync request (v1 or v2) whose target is a `kind` object."""
    request = _body(body)
    version = decorator_version(request)
    target, attached = ("object", "attachments") if version == "v1" else ("parent", "children")
    return {
        "controller": _controller(request),
        "object": _object(request.get(target), target, kind=kind),
        "attachments": _object_map(request.get(attached), attached),
        "related": _object_map(request.get("related"), "related"),
        "finalizing": _finalizing(request),
    }


def decorator_version(request: Mapping[str, Any]) -> DecoratorVersion:
    """v1 sends the target as `object`, v2 as `parent`."""
    if "object" in request:
        return "v1"
    if "parent" in request:
        return "v2"
    raise BadRequest("a decorator sync request needs the target object in 'object' (v1) or "
                     "'parent' (v2); neither is present")


def _body(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(f"the request body must be a JSON object, not {_json_type(body)}")
    return body


def _controller(request: Mapping[str, Any]) -> KubeObject:
    controller = request.get("controller", {})
    if not isinstance(controller, dict):
        raise BadRequest(f"'controller' must be an object, not {_json_type(controller)}")
    return controller


def _finalizing(request: Mapping[str, Any]) -> bool:
    finalizing = request.get("finalizing", False)
    if not isinstance(finalizing, bool):
        raise BadRequest(f"'finalizing' must be true or false, not {_json_type(finalizing)}")
    return finalizing


def _object(value: object, where: str, *, kind: str | None = None) -> KubeObject:
    """A Kubernetes object with at least `kind` and `metadata.name`."""
    if not isinstance(value, dict):
        raise BadRequest(f"'{where}' must be a Kubernetes object, not {_json_type(value)}")
    metadata = value.get("metadata")
    if not isinstance(metadata, dict):
        raise BadRequest(f"'{where}.metadata' must be an object, not {_json_type(metadata)}")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"'{where}.metadata.name' must be a non-empty string, "
                         f"not {_json_type(name)}")
    namespace = metadata.get("namespace", "")
    if not isinstance(namespace, str):
        raise BadRequest(f"'{where}.metadata.namespace' must be a string, "
                         f"not {_json_type(namespace)}")
    found = value.get("kind")
    if not isinstance(found, str):
        raise BadRequest(f"'{where}.kind' must be a string, not {_json_type(found)}")
    if kind is not None and found != kind:
        raise BadRequest(f"'{where}' must be a {kind}, not a {found}: is the controller's "
                         f"hook URL pointing at the right path?")
    return value


def _object_map(value: object, where: str) -> ObjectMap:
    """`children`/`attachments`/`related`; Go marshals an empty map as null, so null is {}."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"'{where}' must be an object of object groups, not {_json_type(value)}")
    for group_key, group in value.items():
        if group is None:
            continue
        if not isinstance(group, dict):
            raise BadRequest(f"'{where}.{group_key}' must be an object keyed by object name, "
                             f"not {_json_type(group)}")
        for key, item in group.items():
            _object(item, f"{where}.{group_key}.{key}")
    return {key: group or {} for key, group in value.items()}


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# --- reading objects ----------------------------------------------------------------------


def name_of(obj: Mapping[str, Any]) -> str:
    name: str = obj["metadata"]["name"]
    return name


def namespace_of(obj: Mapping[str, Any]) -> str:
    namespace: str = obj["metadata"].get("namespace", "")
    return namespace


def read_parent(parent: KubeObject) -> ImageMap:
    """The ImageMap a parsed request is about (`parse_*` checked its name)."""
    imagemap = ImageMap.read(parent)
    if imagemap is None:
        raise BadRequest("'parent' must be an ImageMap with a name")
    return imagemap


def namespace_imagemaps(related: ObjectMap, namespace: str,
                        read: Callable[[object], ImageMap | None] = ImageMap.read
                        ) -> list[ImageMap]:
    """The ImageMaps of `namespace` among `related`, one per name, however the map is keyed;
    each object read by `read` (e.g. the hooks server's `Readings.read`)."""
    return unique(imagemap for group in related.values() for obj in group.values()
                  if is_imagemap(obj) and (imagemap := read(obj)) is not None
                  and imagemap.namespace == namespace)


def related_namespace(related: ObjectMap, name: str) -> KubeObject | None:
    """The Namespace `name` among `related`, however the map is keyed; None when it is not
    there (Metacontroller leaves it out of a namespaced parent's request under hook v1)."""
    for group in related.values():
        for obj in group.values():
            if (obj.get("kind") == NAMESPACE_KIND and obj.get("apiVersion") == "v1"
                    and name_of(obj) == name):
                return obj
    return None
