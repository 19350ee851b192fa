"""The Namespace hooks of the DecoratorController: the one decider of a namespace's ImageMaps,
the `active` label and the summary (design.md#one-decider, #namespaces).

The namespace sync walks all of the namespace's ImageMaps at once and records the outcome on the
Namespace (`image_mapper.engine.record`), in the same update as the `active` label. Metacontroller
writes that update with the resourceVersion the sync read, so a decision made on a stale view
of the Namespace, and of the record on it, is refused by the API server and made again. The
ImageMap statuses and the webhook follow the record.

The record lists every ImageMap judged (in force or rejected) at the generation judged: the
webhook holds a pod that an ImageMap not listed yet could change until it is
(design.md#no-escape). The `active` label narrows the webhook's scope only in the install option
that serves active namespaces alone.
"""

from __future__ import annotations

import logging
from datetime import datetime

from image_mapper.controller.cluster_hook import (
    CLUSTERIMAGEMAPS_RULE,
    DEFAULT_CLUSTER_NAMESPACE,
    decide_cluster,
)
from image_mapper.controller.memo import Memo, reader
from image_mapper.controller.protocol import (
    CustomizeRequest,
    CustomizeResponse,
    DecoratorSyncRequest,
    DecoratorSyncResponse,
    KubeObject,
    ResourceRule,
    name_of,
    namespace_imagemaps,
)
from image_mapper.controller.status import rfc3339
from image_mapper.engine.acceptance import behind, decide, record_of
from image_mapper.engine.imagemap import API_VERSION, GROUP, PLURAL
from image_mapper.engine.record import ANNOTATION, Record, RecordError, read_record

log = logging.getLogger(__name__)

ACTIVE_LABEL = f"{GROUP}/active"
"""Set to "true" while at least one ImageMap of the namespace is in force."""
SUMMARY_ANNOTATION = f"{GROUP}/summary"
"""One line: ImageMaps accepted and rejected, maplets in force."""
DECISION_ANNOTATION = ANNOTATION
"""The decision record: the ImageMaps in force in their order, and those rejected."""
RESYNC_REJECTED_SECONDS = 60.0
"""A namespace with rejected ImageMaps is decided again after this long (a safety net)."""


def customize_namespace(request: CustomizeRequest, *,
                        cluster_namespace: str = DEFAULT_CLUSTER_NAMESPACE
                        ) -> CustomizeResponse:
    """Ask for the ImageMaps of the namespace being decorated; for the project's own
    namespace, every ClusterImageMap too (it is the cluster's decider:
    `image_mapper.controller.cluster_hook`)."""
    namespace = name_of(request["parent"])
    rules: list[ResourceRule] = [
        {"apiVersion": API_VERSION, "resource": PLURAL, "namespace": namespace}]
    if namespace == cluster_namespace:
        rules.append(CLUSTERIMAGEMAPS_RULE)
    return {"relatedResources": rules}


def sync_namespace(
    request: DecoratorSyncRequest, *, now: datetime, memo: Memo | None = None,
    cluster_namespace: str = DEFAULT_CLUSTER_NAMESPACE,
) -> DecoratorSyncResponse:
    """Decide the namespace's ImageMaps; the record, the `active` label (null removes it) and
    the summary annotation; no attachments. With the server's `memo`, a decision on the same
    content is found again, and a new one starts from the namespace's last. For the project's
    own namespace, the ClusterImageMaps' decision too, in the same update (each decision on its
    own: neither reads the other)."""
    target = request["object"]
    namespace = name_of(target)
    imagemaps = namespace_imagemaps(request["related"], namespace, read=reader(memo))
    record = namespace_record(target)
    response: DecoratorSyncResponse
    late = behind(record, imagemaps) if record is not None else []
    if late:
        # This view of the ImageMaps is older than the record: no decision on it. Its informer
        # catching up syncs the namespace again; nothing changes meanwhile.
        log.info("namespace %s: view of ImageMap(s) %s is behind the decision record; "
                 "deciding once it has caught up", namespace, ", ".join(sorted(late)))
        response = {"labels": {}, "annotations": {}, "attachments": []}
    else:
        decision = (memo.decide(imagemaps, record=record) if memo is not None
                    else decide(imagemaps, record=record))
        accepted = sum(1 for verdict in decision.verdicts.values() if verdict.ready)
        rejected = len(decision.verdicts) - accepted
        response = {
            "labels": {ACTIVE_LABEL: "true" if accepted else None},
            "annotations": {
                SUMMARY_ANNOTATION: summary(accepted, rejected, maplets=len(decision.mapping)),
                DECISION_ANNOTATION: (record_of(decision, imagemaps, previous=record,
                                                now=rfc3339(now)).encode()
                                      if decision.verdicts else None),
            },
            "attachments": [],
        }
        if rejected:
            response["resyncAfterSeconds"] = RESYNC_REJECTED_SECONDS
    if namespace == cluster_namespace:
        annotations, rejected_maps = decide_cluster(target, request["related"], now=now,
                                                    memo=memo)
        response.setdefault("annotations", {}).update(annotations)
        if rejected_maps:
            response["resyncAfterSeconds"] = RESYNC_REJECTED_SECONDS
    if request["finalizing"]:
        response["finalized"] = True
    return response


def namespace_record(namespace: KubeObject) -> Record | None:
    """The decision record on a Namespace; None without one, or with one that cannot be read
    (logged: the next decision then starts afresh, in the order of the ImageMaps' statuses)."""
    try:
        return read_record(namespace)
    except RecordError as error:
        log.warning("namespace %s: ignoring its %s annotation: %s", name_of(namespace),
                    DECISION_ANNOTATION, error)
        return None


def summary(accepted: int, rejected: int, *, maplets: int) -> str:
    """E.g. `ImageMaps: 2 accepted, 1 rejected; maplets in force: 7`."""
    return f"ImageMaps: {accepted} accepted, {rejected} rejected; maplets in force: {maplets}"
