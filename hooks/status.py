"""The ImageMap hooks of the CompositeController: acceptance as status (SPEC 2.4, 2.5).

`sync_imagemap` is a pure function of its request (and the current time, used only when the
Ready condition flips): syncing again with the status it returned yields the same status, byte
for byte, so a namespace's ImageMaps settle instead of re-syncing each other forever. An
ImageMap has no children; its status is its only output.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hooks.engine.acceptance import decide
from hooks.engine.cache import DecisionCache
from hooks.engine.imagemap import API_VERSION, PLURAL, READY, ImageMap
from hooks.engine.verdicts import Conflict, Verdict
from hooks.metacontroller import (
    BadRequest,
    CompositeSyncRequest,
    CompositeSyncResponse,
    CustomizeRequest,
    CustomizeResponse,
    namespace_imagemaps,
    namespace_of,
)

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
            {"apiVersion": API_VERSION, "resource": PLURAL, "labelSelector": {}},
        ]
    }


def sync_imagemap(
    request: CompositeSyncRequest, *, now: datetime, cache: DecisionCache | None = None
) -> CompositeSyncResponse:
    """The parent ImageMap's status, decided with every ImageMap of its namespace."""
    parent = ImageMap.read(request["parent"])
    if parent is None:  # the request's parser checked the name
        raise BadRequest("'parent' must be an ImageMap with a name")
    # `related` holds the parent too (it matches its own rule), possibly older than `parent`:
    # the parent comes first, so it is the copy decided on.
    related = namespace_imagemaps(request["related"], namespace_of(request["parent"]))
    verdict = decide([parent, *related], cache=cache).verdicts[parent.name]

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


def imagemap_status(imagemap: ImageMap, verdict: Verdict, *, now: datetime) -> dict[str, Any]:
    """SPEC 2.5: the status of `imagemap` under `verdict`, in the spec's field order."""
    generation = imagemap.generation
    status: dict[str, Any] = {}
    if generation is not None:
        status["observedGeneration"] = generation
    status["mappings"] = len(verdict.maplets) if verdict.ready else 0
    if verdict.ready:
        status["deployedMap"] = deployed_map(verdict)
    if verdict.reason == "Conflict":
        status["conflicts"] = [conflict_status(conflict) for conflict in verdict.conflicts]

    condition_status = "True" if verdict.ready else "False"
    condition: dict[str, Any] = {
        "type": READY,
        "status": condition_status,
        "reason": verdict.reason,
        "message": verdict.message,
        "lastTransitionTime": _transition_time(imagemap, condition_status, now),
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    status["conditions"] = [condition]
    return status


def deployed_map(verdict: Verdict) -> list[dict[str, str]]:
    """`status.deployedMap`: the accepted maplets, exactly as written."""
    return [{"from": m.source, "to": m.target} for m in verdict.maplets]


def conflict_status(conflict: Conflict) -> dict[str, str]:
    """An entry of `status.conflicts`."""
    return {"from": conflict.source, "to": conflict.target, "imageMap": conflict.image_map,
            "theirTo": conflict.their_target}


def _transition_time(imagemap: ImageMap, condition_status: str, now: datetime) -> str:
    """Kept while the Ready status does not flip; `now` when it does (or there was none)."""
    previous = imagemap.ready
    if previous is not None and previous.status == condition_status:
        kept = previous.last_transition_time
        if kept:
            return kept
    return rfc3339(now)


def rfc3339(moment: datetime) -> str:
    """Kubernetes' metav1.Time format: UTC, whole seconds, `Z`."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no defined UTC time")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
