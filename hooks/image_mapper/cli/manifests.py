"""Manifests as they would run: the pod template of each workload put through the webhook's own
admission logic, pure functions for `image-mapper preview`.

The rewrite is not reimplemented here: each pod template becomes a Pod in a CREATE
AdmissionRequest, `image_mapper.webhook.admission.admit` answers it as the webhook would, and its
JSONPatch is applied to the template. So the images, the original-images annotation and what is
left alone (mirror pods) are exactly what the webhook does to the pods the workload creates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from image_mapper.engine.layers import Layered
from image_mapper.engine.mapping import Mapping
from image_mapper.webhook import patches
from image_mapper.webhook.admission import Admission, admit
from image_mapper.webhook.reviews import AdmissionRequest

TEMPLATE_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): (),
    ("", "PodTemplate"): ("template",),
    ("", "ReplicationController"): ("spec", "template"),
    ("apps", "Deployment"): ("spec", "template"),
    ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "DaemonSet"): ("spec", "template"),
    ("apps", "ReplicaSet"): ("spec", "template"),
    ("batch", "Job"): ("spec", "template"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template"),
}
"""Where each built-in kind keeps its pod (template): by API group and kind. A kind of the same
name in another group (a custom resource) is not a workload we know, so it passes through."""


@dataclass(frozen=True, slots=True)
class Previewed:
    """A manifest as it would run, and the admission that made it so (None: no pod template)."""

    manifest: object
    admission: Admission | None = None


def template_path(manifest: object) -> tuple[str, ...] | None:
    """The keys leading to the manifest's pod template (`()` for a Pod); None if it has none."""
    if not isinstance(manifest, dict):
        return None
    api_version = manifest.get("apiVersion")
    kind = manifest.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return None
    group = api_version.rpartition("/")[0]
    return TEMPLATE_PATHS.get((group, kind))


def _template(manifest: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    node: object = manifest
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def pod_request(pod: dict[str, Any], namespace: str) -> AdmissionRequest:
    """The AdmissionRequest the API server would send the webhook to create `pod`."""
    request: AdmissionRequest = {
        "uid": "image-mapper-preview",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE",
        "object": pod,
    }
    if namespace:
        request["namespace"] = namespace
    return request


def preview(manifest: object, *, namespace: str, mapping: Mapping | Layered) -> Previewed:
    """`manifest` with the pod it is or holds admitted as the webhook would in `namespace` under
    `mapping`. A manifest without a pod template is returned as it is; one with a template is
    returned as a new object (the given one is never changed)."""
    path = template_path(manifest)
    if path is None:
        return Previewed(manifest)
    assert isinstance(manifest, dict)  # template_path says so
    template = _template(manifest, path)
    if template is None:
        return Previewed(manifest)
    # A Pod is its own template; for the others, the pod the controller would create from it.
    pod: dict[str, Any] = template
    if path:
        pod = {"apiVersion": "v1", "kind": "Pod"}
        pod.update((k, template[k]) for k in ("metadata", "spec") if k in template)
    admission = admit(review_request=pod_request(pod, namespace), mapping=mapping)
    patch = admission.response.get("patch")
    if not patch:
        return Previewed(manifest, admission)
    admitted = patches.apply(pod, patches.decode(patch))
    if not path:
        return Previewed(admitted, admission)
    result = dict(manifest)
    parent: dict[str, Any] = result
    for key in path[:-1]:
        parent[key] = dict(parent[key])  # copied along the path, shared elsewhere
        parent = parent[key]
    # The template's own keys in their order; metadata first when the patch added it.
    added = "metadata" in admitted and "metadata" not in template
    rewritten = {"metadata": admitted["metadata"]} if added else {}
    rewritten.update((k, admitted.get(k, v) if k in ("metadata", "spec") else v)
                     for k, v in template.items())
    parent[path[-1]] = rewritten
    return Previewed(result, admission)
