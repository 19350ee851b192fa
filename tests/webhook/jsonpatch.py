"""A strict RFC 6902 applier for the operations the webhook emits (tests only)."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any


def decode(patch: str) -> list[dict[str, Any]]:
    """The operations of an AdmissionResponse's `patch`: base64 of a JSON array."""
    operations: list[dict[str, Any]] = json.loads(base64.b64decode(patch, validate=True))
    return operations


def _tokens(pointer: str) -> list[str]:
    assert pointer.startswith("/"), pointer
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _child(parent: Any, token: str) -> Any:
    if isinstance(parent, list):
        return parent[int(token)]
    return parent[token]


def apply_patch(document: Any, operations: list[dict[str, Any]]) -> Any:
    """The patched copy of `document`; raises on a path that does not exist as required."""
    result = copy.deepcopy(document)
    for operation in operations:
        *parents, last = _tokens(operation["path"])
        target = result
        for token in parents:
            target = _child(target, token)
        op = operation["op"]
        if op == "add":
            if isinstance(target, list):
                target.insert(int(last), operation["value"])
            else:
                assert isinstance(target, dict), operation
                target[last] = operation["value"]
        elif op == "replace":
            _child(target, last)  # must exist
            if isinstance(target, list):
                target[int(last)] = operation["value"]
            else:
                target[last] = operation["value"]
        elif op == "remove":
            _child(target, last)
            del target[int(last) if isinstance(target, list) else last]
        else:
            raise AssertionError(f"unexpected operation {op!r}")
    return result
