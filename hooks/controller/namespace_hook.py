"""The Namespace hooks of the DecoratorController: the `active` label and the summary (SPEC 3).

The webhook's namespaceSelector requires the `active` label, so pods in a namespace without
ImageMaps in force never reach the webhook. Acceptance comes from the same `decide()` the
ImageMap hook uses, over the same ImageMaps, so both agree.
"""

from __future__ import annotations

from hooks.controller.protocol import (
    CustomizeRequest,
    CustomizeResponse,
    DecoratorSyncRequest,
    DecoratorSyncResponse,
    name_of,
    namespace_imagemaps,
)
from hooks.engine.acceptance import decide
from hooks.engine.cache import DecisionCache
from hooks.engine.imagemap import API_VERSION, GROUP, PLURAL

ACTIVE_LABEL = f"{GROUP}/active"
"""Set to "true" while at least one ImageMap of the namespace is in force."""
SUMMARY_ANNOTATION = f"{GROUP}/summary"
"""One line: ImageMaps accepted and rejected, maplets in force."""


def customize_namespace(request: CustomizeRequest) -> CustomizeResponse:
    """Ask for the ImageMaps of the namespace being decorated."""
    return {
        "relatedResources": [
            {"apiVersion": API_VERSION, "resource": PLURAL,
             "namespace": name_of(request["parent"])},
        ]
    }


def sync_namespace(
    request: DecoratorSyncRequest, *, cache: DecisionCache | None = None
) -> DecoratorSyncResponse:
    """The namespace's `active` label (null removes it) and summary annotation; no attachments."""
    namespace = name_of(request["object"])
    decision = decide(namespace_imagemaps(request["related"], namespace), cache=cache)
    accepted = sum(1 for verdict in decision.verdicts.values() if verdict.ready)
    rejected = len(decision.verdicts) - accepted
    response: DecoratorSyncResponse = {
        "labels": {ACTIVE_LABEL: "true" if accepted else None},
        "annotations": {
            SUMMARY_ANNOTATION: summary(accepted, rejected, maplets=len(decision.mapping)),
        },
        "attachments": [],
    }
    if request["finalizing"]:
        response["finalized"] = True
    return response


def summary(accepted: int, rejected: int, *, maplets: int) -> str:
    """E.g. `ImageMaps: 2 accepted, 1 rejected; maplets in force: 7`."""
    return f"ImageMaps: {accepted} accepted, {rejected} rejected; maplets in force: {maplets}"
