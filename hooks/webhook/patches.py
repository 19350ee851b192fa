"""JSONPatch (RFC 6902) operations and JSON pointers (RFC 6901), built directly.

The webhook never copies a pod to diff it: it knows which fields it changes and writes the
operations for them.
"""

from __future__ import annotations

import base64
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
