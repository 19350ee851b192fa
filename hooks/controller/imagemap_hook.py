"""The ImageMap hooks of the CompositeController: acceptance as status (SPEC 2.4, 2.5).

`sync_imagemap` is a pure function of its request (and the current time, used only when the
Ready condition flips): syncing again with the status it returned yields the same status, byte
for byte, so a namespace's ImageMaps settle instead of re-syncing each other forever. An
ImageMap has no children; its status (`hooks.controller.status`) is its only output.
"""

from __future__ import annotations

from datetime import datetime

from hooks.controller.protocol import (
    CompositeSyncRequest,
    CompositeSyncResponse,
    CustomizeRequest,
    CustomizeResponse,
    namespace_imagemaps,
    namespace_of,
    read_parent,
)
from hooks.controller.status import imagemap_status
from hooks.engine.acceptance import decide
from hooks.engine.cache import DecisionCache
from hooks.engine.imagemap import API_VERSION, PLURAL

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
    parent = read_parent(request["parent"])
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
