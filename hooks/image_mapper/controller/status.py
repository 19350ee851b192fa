"""The ImageMap status wire format (design.md#status): a verdict of the engine, as the hook
writes it.

```yaml
status:
  observedGeneration: 4
  mappings: 2                     # maplets in force from this ImageMap; 0 when not Ready
  deployedMap: [{from, to}]       # only when Ready
  deployedMode: Enforce | Audit   # only when Ready (design.md#relocation-settings)
  deployedImagePullSecrets: [{name}]   # only when Ready and the ImageMap lists some
  conflicts: [{from, to, imageMap, theirTo}]   # only with reason Conflict
  conditions: [{type: Ready, status, reason, message, lastTransitionTime, observedGeneration}]
```

The deployed fields are what the webhook uses while a new generation waits for its decision;
a Ready verdict is always on the ImageMap's current generation, so they are its spec's.

A status is a pure function of the ImageMap and its verdict, save `lastTransitionTime`, which
is kept while the Ready status does not flip and, when it does, is the time the namespace's
decision record gives the verdict (`since`), or `now` without one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from image_mapper.controller.protocol import CompositeSyncRequest, CompositeSyncResponse
from image_mapper.engine.imagemap import KIND, READY, ImageMap
from image_mapper.engine.settings import Settings
from image_mapper.engine.verdicts import Conflict, Verdict


def imagemap_status(imagemap: ImageMap, verdict: Verdict, *, now: datetime,
                    since: str | None = None, kind: str = KIND) -> dict[str, Any]:
    """The status of `imagemap` under `verdict`, in the spec's field order. A ClusterImageMap's
    (`kind`) names the other one of a conflict `clusterImageMap`, and deploys its
    `namespaceSelector` too (`deployedNamespaceSelector`, when it has one)."""
    generation = imagemap.generation
    status: dict[str, Any] = {}
    if generation is not None:
        status["observedGeneration"] = generation
    status["mappings"] = len(verdict.maplets) if verdict.ready else 0
    if verdict.ready:
        status["deployedMap"] = deployed_map(verdict)
        settings = imagemap.settings()
        if isinstance(settings, Settings):  # always: invalid settings make it InvalidSpec
            status["deployedMode"] = settings.mode
            if settings.pull_secrets:
                status["deployedImagePullSecrets"] = [{"name": name}
                                                      for name in settings.pull_secrets]
        if kind != KIND and imagemap.namespace_selector is not None:
            status["deployedNamespaceSelector"] = imagemap.namespace_selector
    if verdict.reason == "Conflict":
        status["conflicts"] = [conflict_status(conflict, kind) for conflict in verdict.conflicts]

    condition_status = "True" if verdict.ready else "False"
    condition: dict[str, Any] = {
        "type": READY,
        "status": condition_status,
        "reason": verdict.reason,
        "message": verdict.message,
        "lastTransitionTime": _transition_time(imagemap, condition_status,
                                               since or rfc3339(now)),
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    status["conditions"] = [condition]
    return status


def deployed_map(verdict: Verdict) -> list[dict[str, str]]:
    """`status.deployedMap`: the accepted maplets, exactly as written."""
    return [{"from": m.source, "to": m.target} for m in verdict.maplets]


def conflict_status(conflict: Conflict, kind: str = KIND) -> dict[str, str]:
    """An entry of `status.conflicts`; `imageMap` (or `clusterImageMap`) names the other."""
    other = "imageMap" if kind == KIND else "clusterImageMap"
    return {"from": conflict.source, "to": conflict.target, other: conflict.image_map,
            "theirTo": conflict.their_target}


def _transition_time(imagemap: ImageMap, condition_status: str, flipped: str) -> str:
    """Kept while the Ready status does not flip; `flipped` when it does (or there was none)."""
    previous = imagemap.ready
    if previous is not None and previous.status == condition_status:
        kept = previous.last_transition_time
        if kept:
            return kept
    return flipped


def rfc3339(moment: datetime) -> str:
    """Kubernetes' metav1.Time format: UTC, whole seconds, `Z`."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no defined UTC time")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


RESYNC_REJECTED_SECONDS = 60.0
"""A map that is not in force asks to be synced again after this long: a safety net, should
the change that resolves its conflict go unseen (design.md#acceptance)."""


def sync_response(request: CompositeSyncRequest, parent: ImageMap, verdict: Verdict | None, *,
                  now: datetime, since: str | None, kind: str = KIND) -> CompositeSyncResponse:
    """The composite sync's answer for `parent` under `verdict`: its status, or the status it
    has while the record has not judged its current generation (None); a map not in force is
    synced again after `RESYNC_REJECTED_SECONDS`. A flip takes the time the record gives it
    (`since`), so that syncs from caches of different ages write the same status."""
    status: dict[str, Any]
    if verdict is None:
        kept = request["parent"].get("status")
        status = dict(kept) if isinstance(kept, dict) else {}
    else:
        status = imagemap_status(parent, verdict, now=now, since=since or None, kind=kind)
    response: CompositeSyncResponse = {"status": status, "children": []}
    if verdict is not None and not verdict.ready:
        response["resyncAfterSeconds"] = RESYNC_REJECTED_SECONDS
    if request["finalizing"]:
        # No finalize hook is configured; if one is, nothing is left to clean up.
        response["finalized"] = True
    return response
