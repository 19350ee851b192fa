"""The ImageMap hooks of the CompositeController: acceptance as status (SPEC 2.4, 2.5).

`sync_imagemap` is a pure function of its request (and the current time, used only when the
Ready condition flips): syncing again with the status it returned yields the same status, byte
for byte, so a namespace's ImageMaps settle instead of re-syncing each other forever. An
ImageMap has no children; its status is its only output.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hooks.acceptance import Verdict, decide
from hooks.metacontroller import (
    IMAGEMAP_API_VERSION,
    IMAGEMAP_RESOURCE,
    CompositeSyncRequest,
    CompositeSyncResponse,
    CustomizeRequest,
    CustomizeResponse,
    KubeObject,
    name_of,
    namespace_imagemaps,
    namespace_of,
)

READY = "Ready"
RESYNC_REJECTED_SECONDS = 60.0
"""A rejected ImageMap asks to be synced again after this long (SPEC 2.4, a safety net)."""


def customize_imagemap(request: CustomizeRequest) -> CustomizeResponse:
    """Ask for every ImageMap of the parent's namespace as `related`.

    An empty label selector under a namespaced parent selects its own namespace. It is used
    rather than `namespace:` because some Metacontroller versions cache customize responses
    by parent name alone, which would hand one namespace's rule to a same-named ImageMap in
    another namespace.
    """
    del request  # the same rule for every ImageMap
    return {
        "relatedResources": [
            {"apiVersion": IMAGEMAP_API_VERSION, "resource": IMAGEMAP_RESOURCE,
             "labelSelector": {}},
        ]
    }


def sync_imagemap(request: CompositeSyncRequest, *, now: datetime) -> CompositeSyncResponse:
    """The parent ImageMap's status, decided with every ImageMap of its namespace."""
    parent = request["parent"]
    # `related` holds the parent too (it matches its own rule), possibly older than `parent`.
    imagemaps = namespace_imagemaps(request["related"], namespace_of(parent))
    imagemaps[name_of(parent)] = parent
    verdict = decide(imagemaps.values()).verdicts[name_of(parent)]

    response: CompositeSyncResponse = {
        "status": imagemap_status(parent, verdict, now=now),
        "children": [],
    }
    if not verdict.ready:
        response["resyncAfterSeconds"] = RESYNC_REJECTED_SECONDS
    if request["finalizing"]:
        # No finalize hook is configured; if one is, nothing is left to clean up.
        response["finalized"] = True
    return response


def imagemap_status(imagemap: KubeObject, verdict: Verdict, *, now: datetime) -> dict[str, Any]:
    """SPEC 2.5: the status of `imagemap` under `verdict`, in the spec's field order."""
    generation = imagemap["metadata"].get("generation")
    status: dict[str, Any] = {}
    if isinstance(generation, int):
        status["observedGeneration"] = generation
    status["mappings"] = len(verdict.maplets) if verdict.ready else 0
    if verdict.ready:
        status["deployedMap"] = verdict.deployed_map()
    if verdict.reason == "Conflict":
        status["conflicts"] = [conflict.to_status() for conflict in verdict.conflicts]

    condition_status = "True" if verdict.ready else "False"
    condition: dict[str, Any] = {
        "type": READY,
        "status": condition_status,
        "reason": verdict.reason,
        "message": verdict.message,
        "lastTransitionTime": _transition_time(imagemap, condition_status, now),
    }
    if isinstance(generation, int):
        condition["observedGeneration"] = generation
    status["conditions"] = [condition]
    return status


def ready_condition(imagemap: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The Ready condition of an ImageMap's status, if it has a well-formed one."""
    status = imagemap.get("status")
    conditions = status.get("conditions") if isinstance(status, dict) else None
    if not isinstance(conditions, list):
        return None
    for condition in conditions:
        if isinstance(condition, dict) and condition.get("type") == READY:
            return condition
    return None


def _transition_time(imagemap: KubeObject, condition_status: str, now: datetime) -> str:
    """Kept while the Ready status does not flip; `now` when it does (or there was none)."""
    previous = ready_condition(imagemap)
    if previous is not None and previous.get("status") == condition_status:
        kept = previous.get("lastTransitionTime")
        if isinstance(kept, str) and kept:
            return kept
    return rfc3339(now)


def rfc3339(moment: datetime) -> str:
    """Kubernetes' metav1.Time format: UTC, whole seconds, `Z`."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no defined UTC time")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
