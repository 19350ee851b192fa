"""The rewrite rule of pod admission (design.md#admission): one pure function, `admit`.

Which images a review looks at:
- CREATE of a pod: every container, init container and ephemeral container.
- UPDATE of a pod: only containers whose image differs from `oldObject`'s container of the same
  name (names are unique across the three lists), or that `oldObject` does not have.
- UPDATE through the `pods/ephemeralcontainers` subresource (`kubectl debug`): the same, for
  ephemeral containers only; the API server keeps nothing else from that request, so the
  original-images annotation is not written there.
- Mirror pods (annotation `kubernetes.io/config.mirror`) and anything that is not a pod: none.

An image the mapper itself wrote is never mapped again: the annotation
`mapper.imagerelocation.pivotal.io/original-images` records, for each rewritten container, the
image it had before, and an image is ours when it is what the mapping makes of that original.
So a reinvocation (`reinvocationPolicy: IfNeeded`), a repeated update or a pod re-created from
its own dump is a no-op. After an admission, the annotation holds exactly the containers whose
image the mapper wrote.

What an ImageMap adds (design.md#relocation-settings), from the settings each match carries:
- Pull secrets: on CREATE, the pull secrets of every ImageMap that rewrote at least one of the
  pod's images are added to `spec.imagePullSecrets` when missing, after the pod's own, in the
  order the ImageMaps are in force (`Mapping.pull_secrets_for`); none is ever removed. Not on
  UPDATE: the API server forbids changing them there.
- Audit mode: an image whose match is in an Audit ImageMap is not rewritten (no patch for it);
  it is reported instead, with a `would map` warning.
- Warnings: one per image rewritten or audited, bounded (`image_mapper.webhook.reporting`).

The response always allows the pod, echoes the request's uid and carries a patch only when
something changed. Patch operations are built directly: no copy of the pod, no diff.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from image_mapper.engine.imagemap import GROUP
from image_mapper.engine.layers import Layered
from image_mapper.engine.mapping import Mapping
from image_mapper.webhook import patches
from image_mapper.webhook.reporting import Rewrite, warnings_for
from image_mapper.webhook.reviews import AdmissionRequest, AdmissionResponse

ORIGINAL_IMAGES = f"{GROUP}/original-images"
"""Annotation: JSON object from container name to the image it had before the mapper."""

MIRROR_POD = "kubernetes.io/config.mirror"
"""Annotation of a mirror pod: its spec must match the static pod file on the node."""

CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")
EPHEMERAL_SUBRESOURCE = "ephemeralcontainers"

_ANNOTATIONS = patches.pointer("metadata", "annotations")
_CONTAINER_LISTS = {field: patches.pointer("spec", field) for field in CONTAINER_FIELDS}
"""The pointer of each container list, to which `/<index>/image` is appended."""
_ORIGINAL_IMAGES = patches.pointer("metadata", "annotations", ORIGINAL_IMAGES)
_PULL_SECRETS = patches.pointer("spec", "imagePullSecrets")


@dataclass(frozen=True, slots=True)
class Admission:
    """The response to send, and what happened, for metrics and logs."""

    response: AdmissionResponse
    reported: tuple[Rewrite, ...] = ()
    """Images rewritten, or that an ImageMap in Audit mode would have rewritten, in the pod's
    order; `match.source` names the ImageMap (or ClusterImageMap), `match.audit` says
    which."""
    unmatched: tuple[str, ...] = ()
    """Images looked at that no maplet matched."""
    pull_secrets: tuple[str, ...] = ()
    """Names added to the pod's `spec.imagePullSecrets`."""

    @property
    def rewritten(self) -> tuple[Rewrite, ...]:
        return tuple(r for r in self.reported if not r.match.audit)

    @property
    def audited(self) -> tuple[Rewrite, ...]:
        return tuple(r for r in self.reported if r.match.audit)


def admit(*, review_request: AdmissionRequest, mapping: Mapping | Layered) -> Admission:
    """Map the images of the pod in `review_request` under its namespace's `mapping` (with the
    cluster's layer under it, `Layered`: design.md#clusterimagemap)."""
    uid = review_request["uid"]
    if not _is_pod(review_request):
        return Admission({"uid": uid, "allowed": True})
    operation = review_request["operation"]
    subresource = review_request.get("subResource") or ""
    if operation in ("CREATE", "UPDATE") and not subresource:
        fields: tuple[str, ...] = CONTAINER_FIELDS
    elif operation == "UPDATE" and subresource == EPHEMERAL_SUBRESOURCE:
        fields = ("ephemeralContainers",)
    else:
        return Admission({"uid": uid, "allowed": True})

    pod: dict[str, Any] = review_request.get("object") or {}
    metadata = pod.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict):
        annotations = None
    if annotations is not None and MIRROR_POD in annotations:
        return Admission({"uid": uid, "allowed": True})
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return Admission({"uid": uid, "allowed": True})

    old_images = (
        _images_by_name(review_request.get("oldObject")) if operation == "UPDATE" else None
    )
    recorded = _recorded(annotations)
    record = dict(recorded)
    operations: list[patches.Operation] = []
    reported: list[Rewrite] = []
    unmatched: list[str] = []
    for field in fields:
        containers = spec.get(field)
        if not isinstance(containers, list):
            continue
        for index, container in enumerate(containers):
            if not isinstance(container, dict):
                continue
            name = container.get("name")
            image = container.get("image")
            if not isinstance(name, str) or not isinstance(image, str) or not image:
                continue  # the API server's validation, after us, rejects such a pod
            if old_images is not None and old_images.get(name) == image:
                continue
            original = recorded.get(name)
            if original is not None and original != image and _maps_to(mapping, original, image):
                continue  # ours
            match = mapping.lookup(image)
            if match is None or match.result == image or match.audit:
                if match is None:
                    unmatched.append(image)
                elif match.result != image:
                    reported.append(Rewrite(name, match))  # Audit: reported, not rewritten
                record.pop(name, None)
                continue
            operations.append(patches.replace(
                f"{_CONTAINER_LISTS[field]}/{index}/image", match.result))
            reported.append(Rewrite(name, match))
            record[name] = image

    if not subresource and record != recorded:
        operations.append(_record_operation(metadata, annotations, record))
    added: list[str] = []
    if operation == "CREATE" and mapping.has_pull_secrets and operations:
        rewriters = {r.match.source for r in reported if not r.match.audit}
        added = _add_pull_secrets(spec, mapping.pull_secrets_for(rewriters), operations)
    response: AdmissionResponse = {"uid": uid, "allowed": True}
    if operations:
        response["patchType"] = "JSONPatch"
        response["patch"] = patches.encode(operations)
    if reported:
        response["warnings"] = warnings_for(reported)
    return Admission(response, tuple(reported), tuple(unmatched), tuple(added))


def _is_pod(review_request: AdmissionRequest) -> bool:
    resource = review_request["resource"]
    return (
        resource.get("group", "") == ""
        and resource["resource"] == "pods"
        and review_request["kind"]["kind"] == "Pod"
    )


def _add_pull_secrets(spec: dict[str, Any], wanted: list[str],
                      operations: list[patches.Operation]) -> list[str]:
    """Add to `operations` what puts the `wanted` pull secrets the pod lacks after its own;
    the names added. A pod whose `imagePullSecrets` is not a list is left to the API server's
    validation, which refuses it."""
    if not wanted:
        return []
    own = spec.get("imagePullSecrets")
    if own is None:
        operations.append(patches.add(_PULL_SECRETS, [{"name": name} for name in wanted]))
        return wanted
    if not isinstance(own, list):
        return []
    present = {entry["name"] for entry in own
               if isinstance(entry, dict) and isinstance(entry.get("name"), str)}
    missing = [name for name in wanted if name not in present]
    operations.extend(patches.add(f"{_PULL_SECRETS}/{len(own) + offset}", {"name": name})
                      for offset, name in enumerate(missing))
    return missing


def _maps_to(mapping: Mapping | Layered, original: str, image: str) -> bool:
    match = mapping.lookup(original)
    return match is not None and match.result == image


def _images_by_name(pod: object) -> dict[str, str]:
    images: dict[str, str] = {}
    spec = pod.get("spec") if isinstance(pod, dict) else None
    if not isinstance(spec, dict):
        return images
    for field in CONTAINER_FIELDS:
        containers = spec.get(field)
        if not isinstance(containers, list):
            continue
        for container in containers:
            if isinstance(container, dict):
                name = container.get("name")
                image = container.get("image")
                if isinstance(name, str) and isinstance(image, str):
                    images[name] = image
    return images


def _recorded(annotations: dict[str, Any] | None) -> dict[str, str]:
    """The original-images annotation; anything unreadable counts as no record."""
    text = annotations.get(ORIGINAL_IMAGES) if annotations is not None else None
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested past the recursion limit
        return {}
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(v, str)}


def _record_operation(
    metadata: object, annotations: dict[str, Any] | None, record: dict[str, str]
) -> patches.Operation:
    if not record:
        return patches.remove(_ORIGINAL_IMAGES)
    value = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if annotations is not None:
        return patches.add(_ORIGINAL_IMAGES, value)
    if isinstance(metadata, dict):
        return patches.add(_ANNOTATIONS, {ORIGINAL_IMAGES: value})
    return patches.add(patches.pointer("metadata"), {"annotations": {ORIGINAL_IMAGES: value}})
