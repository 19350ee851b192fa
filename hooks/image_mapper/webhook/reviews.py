"""The AdmissionReview wire format (admission.k8s.io/v1), typed once, and its validation.

Only the envelope is checked here: what the API server always sends. The pod inside is
untrusted but not validated (mutating admission runs before validation), so the rewrite rule
in `image_mapper.webhook.admission` reads it defensively instead.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, NotRequired, TypedDict

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
OPERATIONS: frozenset[str] = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT"})


NAMESPACE_RE = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?", re.ASCII)
"""A namespace name: a DNS-1123 label, as the API server validates it."""


class ReviewError(ValueError):
    """A body that is not a valid AdmissionReview; the message names the problem."""


class GroupVersionKind(TypedDict):
    group: str
    version: str
    kind: str


class GroupVersionResource(TypedDict):
    group: str
    version: str
    resource: str


class AdmissionRequest(TypedDict):
    uid: str
    kind: GroupVersionKind
    resource: GroupVersionResource
    operation: Operation
    subResource: NotRequired[str]
    requestKind: NotRequired[GroupVersionKind]
    requestResource: NotRequired[GroupVersionResource]
    requestSubResource: NotRequired[str]
    name: NotRequired[str]
    namespace: NotRequired[str]
    userInfo: NotRequired[dict[str, Any]]
    object: NotRequired[dict[str, Any] | None]
    oldObject: NotRequired[dict[str, Any] | None]
    dryRun: NotRequired[bool]
    options: NotRequired[dict[str, Any] | None]


class Status(TypedDict, total=False):
    code: int
    message: str
    reason: str


class AdmissionResponse(TypedDict):
    uid: str
    allowed: bool
    patchType: NotRequired[Literal["JSONPatch"]]
    patch: NotRequired[str]
    """base64 of the JSON-encoded JSONPatch operations."""
    status: NotRequired[Status]
    warnings: NotRequired[list[str]]
    auditAnnotations: NotRequired[dict[str, str]]


class AdmissionReview(TypedDict):
    apiVersion: str
    kind: str
    request: NotRequired[AdmissionRequest]
    response: NotRequired[AdmissionResponse]


def _require_dict(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        found = "missing" if value is None else f"a {type(value).__name__}"
        raise ReviewError(f"{where} must be an object, but it is {found}")
    return value


def _require_str(container: dict[str, Any], key: str, where: str) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        found = "missing" if value is None else f"{value!r}"
        raise ReviewError(f"{where}.{key} must be a non-empty string, but it is {found}")
    return value


def parse_review(body: bytes | str) -> AdmissionRequest:
    """The request of an AdmissionReview body; raises ReviewError naming what is wrong."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        # JSONDecodeError and UnicodeDecodeError are ValueErrors; RecursionError is JSON
        # nested deeper than the interpreter's recursion limit (`[[[[...`).
        raise ReviewError(f"body is not JSON: {error}") from None
    return validate_review(document)


def validate_review(document: object) -> AdmissionRequest:
    """Check the envelope of a decoded AdmissionReview and return its request."""
    review = _require_dict(document, "the AdmissionReview")
    api_version = review.get("apiVersion")
    if api_version != API_VERSION:
        raise ReviewError(f"apiVersion must be {API_VERSION!r}, not {api_version!r} "
                          "(the webhook is registered for admissionReviewVersions v1 only)")
    if review.get("kind") != KIND:
        raise ReviewError(f"kind must be {KIND!r}, not {review.get('kind')!r}")
    request = _require_dict(review.get("request"), "request")
    _require_str(request, "uid", "request")
    operation = _require_str(request, "operation", "request")
    if operation not in OPERATIONS:
        raise ReviewError(f"request.operation must be one of {', '.join(sorted(OPERATIONS))}, "
                          f"not {operation!r}")
    _require_str(_require_dict(request.get("kind"), "request.kind"), "kind", "request.kind")
    _require_str(_require_dict(request.get("resource"), "request.resource"), "resource",
                 "request.resource")
    if not isinstance(request.get("subResource", ""), str):
        raise ReviewError("request.subResource must be a string")
    namespace = request.get("namespace", "")
    if not isinstance(namespace, str):
        raise ReviewError("request.namespace must be a string")
    # The namespace becomes a metrics label: only what the API server can send is taken.
    if namespace and NAMESPACE_RE.fullmatch(namespace) is None:
        shown = namespace if len(namespace) <= 80 else namespace[:77] + "..."
        raise ReviewError(f"request.namespace must be a namespace name (a DNS-1123 label of "
                          f"at most 63 characters), not {shown!r}")
    # CREATE and UPDATE always carry the object, UPDATE also the old one.
    if operation in ("CREATE", "UPDATE"):
        _require_dict(request.get("object"), "request.object")
    if operation == "UPDATE":
        _require_dict(request.get("oldObject"), "request.oldObject")
    return request  # type: ignore[return-value]  # checked above, field by field


def review_response(response: AdmissionResponse) -> AdmissionReview:
    """The AdmissionReview that answers a request."""
    return {"apiVersion": API_VERSION, "kind": KIND, "response": response}
