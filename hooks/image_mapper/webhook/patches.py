"""JSONPatch (RFC 6902) operations and JSON pointers (RFC 6901), built directly.

The webhook never copies a pod to diff it: it knows which fields it changes and writes the
operations for them.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any, Literal, TypedDict


class AddOperation(TypedDict):
    op: Literal["add"]
    path: str
    value: Any


class ReplaceOperation(TypedDict):
    op: Literal["replace"]
    path: str
    value: Any


class RemoveOperation(TypedDict):
    op: Literal["remove"]
    path: str


Operation = AddOperation | ReplaceOperation | RemoveOperation


def escape(token: str) -> str:
    """A reference token of a JSON pointer: `~` becomes `~0`, then `/` becomes `~1`."""
    return token.replace("~", "~0").replace("/", "~1")


def pointer(*tokens: str | int) -> str:
    """The JSON pointer to a location, e.g. pointer("metadata", "annotations", key)."""
    return "".join("/" + (str(t) if isinstance(t, int) else escape(t)) for t in tokens)


def add(path: str, value: Any) -> AddOperation:
    """Add a member (or replace it, if present: RFC 6902 4.1)."""
    return {"op": "add", "path": path, "value": value}


def replace(path: str, value: Any) -> ReplaceOperation:
    return {"op": "replace", "path": path, "value": value}


def remove(path: str) -> RemoveOperation:
    return {"op": "remove", "path": path}


def encode(operations: list[Operation]) -> str:
    """The `patch` field of an AdmissionResponse: base64 of the JSON array."""
    text = json.dumps(operations, separators=(",", ":"), ensure_ascii=False)
    try:
        data = text.encode()
    except UnicodeEncodeError:
        # A lone surrogate (`"\ud800"` in the request's JSON, e.g. in a container name) has no
        # UTF-8 form; escaped, it reaches the API server as the request wrote it.
        data = json.dumps(operations, separators=(",", ":")).encode()
    return base64.b64encode(data).decode("ascii")


def decode(patch: str) -> list[Operation]:
    """The operations of an AdmissionResponse's `patch` (the inverse of `encode`)."""
    operations: list[Operation] = json.loads(base64.b64decode(patch, validate=True))
    return operations


class PatchError(ValueError):
    """An operation whose path does not exist as the operation requires."""


def _tokens(path: str) -> list[str]:
    if not path.startswith("/"):
        raise PatchError(f"{path!r} is not a JSON pointer (it must start with '/')")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _index(target: list[Any], step: str, path: str, *, end: bool) -> int:
    # RFC 6901: decimal digits without leading zeros; `-` (past the end) only where adding.
    if end and step == "-":
        return len(target)
    if not (step.isascii() and step.isdigit()) or (step != "0" and step.startswith("0")):
        raise PatchError(f"{path}: {step!r} is not an array index")
    index = int(step)
    if index > len(target) or (index == len(target) and not end):
        raise PatchError(f"{path}: index {index} is out of range")
    return index


def _child(parent: Any, token: str, path: str) -> Any:
    if isinstance(parent, list):
        return parent[_index(parent, token, path, end=False)]
    if isinstance(parent, dict) and token in parent:
        return parent[token]
    raise PatchError(f"{path}: no such location")


def apply(document: Any, operations: list[Operation]) -> Any:
    """The patched copy of `document` (RFC 6902 add, replace and remove: what `encode`d
    patches hold); `document` is left as it was. Raises PatchError on a path that does not
    exist as its operation requires."""
    result = copy.deepcopy(document)
    for operation in operations:
        path = operation["path"]
        *parents, last = _tokens(path)
        target = result
        for token in parents:
            target = _child(target, token, path)
        if operation["op"] == "add":
            if isinstance(target, list):
                target.insert(_index(target, last, path, end=True), operation["value"])
            elif isinstance(target, dict):
                target[last] = operation["value"]
            else:
                raise PatchError(f"{path}: the parent is not an object or array")
            continue
        _child(target, last, path)  # replace and remove need the location to exist
        key: int | str = int(last) if isinstance(target, list) else last
        if operation["op"] == "remove":
            del target[key]
        elif operation["op"] == "replace":
            target[key] = operation["value"]
        else:
            raise PatchError(f"{path}: unsupported operation {operation['op']!r}")
    return result
