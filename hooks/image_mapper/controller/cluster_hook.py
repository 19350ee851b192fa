"""ClusterImageMaps: one decider for the cluster, and the hooks of their CompositeController
(design.md#clusterimagemap).

ClusterImageMaps are judged among themselves, by the rules that judge a namespace's ImageMaps,
and by one decider: the namespace hook, when it syncs the project's own Namespace (the one the
hooks run in), also walks every ClusterImageMap and records the outcome on that Namespace
(annotation `CLUSTER_DECISION_ANNOTATION`), in the same update the DecoratorController writes
with the resourceVersion it read. A decision made on a stale view is refused by the API server
and made again: the guarantees of design.md#one-decider, for the cluster.

The ClusterImageMap hooks (a CompositeController whose parent is the cluster-scoped
ClusterImageMap) decide nothing: each sync reports, as the parent's status, the verdict that
record holds (`image_mapper.engine.acceptance.follow`), explaining a rejection from its view of
the other ClusterImageMaps, as the ImageMap hooks do for a namespace. Neither layer reads the
other: a namespace's ImageMaps never change a ClusterImageMap's verdict, nor the reverse.
"""

from __future__ import annotations

import logging
from datetime import datetime

from image_mapper.controller.memo import Memo, reader
from image_mapper.controller.protocol import (
    CompositeSyncRequest,
    CompositeSyncResponse,
    CustomizeRequest,
    CustomizeResponse,
    KubeObject,
    ObjectMap,
    ResourceRule,
    name_of,
    read_parent,
    related_namespace,
)
from image_mapper.controller.status import rfc3339, sync_response
from image_mapper.engine.acceptance import behind, decide, follow, record_of
from image_mapper.engine.imagemap import API_VERSION, GROUP, ImageMap, unique
from image_mapper.engine.layers import CLUSTER_KIND, CLUSTER_PLURAL
from image_mapper.engine.record import Record, RecordError
from image_mapper.engine.verdicts import Verdict, plural

log = logging.getLogger(__name__)

CLUSTER_DECISION_ANNOTATION = f"{GROUP}/cluster-decision"
"""On the project's own Namespace: the record of the ClusterImageMaps, as a namespace's
decision record is kept for its ImageMaps (`image_mapper.engine.record`)."""
CLUSTER_SUMMARY_ANNOTATION = f"{GROUP}/cluster-summary"
"""One line: ClusterImageMaps accepted and rejected, maplets in force."""
DEFAULT_CLUSTER_NAMESPACE = "image-mapper"
"""The project's own namespace, where the hooks run, unless configured otherwise."""
CLUSTERIMAGEMAPS_RULE: ResourceRule = {"apiVersion": API_VERSION, "resource": CLUSTER_PLURAL}
"""Every ClusterImageMap, as `related` (cluster-scoped: no namespace)."""


def is_clusterimagemap(obj: KubeObject) -> bool:
    api_version = obj.get("apiVersion")
    return (obj.get("kind") == CLUSTER_KIND and isinstance(api_version, str)
            and api_version.startswith(f"{GROUP}/"))


def related_clusterimagemaps(related: ObjectMap, memo: Memo | None = None
                             ) -> list[ImageMap]:
    """The ClusterImageMaps among `related`, one per name, however the map is keyed."""
    read = reader(memo)
    return unique(clusterimagemap for group in related.values() for obj in group.values()
                  if is_clusterimagemap(obj) and (clusterimagemap := read(obj)) is not None)


def cluster_record(namespace: KubeObject) -> Record | None:
    """The ClusterImageMaps' record on the project's Namespace; None without one, or with one
    that cannot be read (logged: the next decision starts afresh)."""
    metadata = namespace.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    text = annotations.get(CLUSTER_DECISION_ANNOTATION) if isinstance(annotations, dict) else None
    if not isinstance(text, str):
        return None
    try:
        return Record.decode(text)
    except RecordError as error:
        log.warning("namespace %s: ignoring its %s annotation: %s", name_of(namespace),
                    CLUSTER_DECISION_ANNOTATION, error)
        return None


def decide_cluster(target: KubeObject, related: ObjectMap, *, now: datetime,
                   memo: Memo | None = None) -> tuple[dict[str, str | None], bool]:
    """The annotations that record the ClusterImageMaps' decision on the project's Namespace
    `target` (empty when this view is behind the record: no decision on it), and whether one
    was rejected."""
    clusterimagemaps = related_clusterimagemaps(related, memo)
    record = cluster_record(target)
    late = behind(record, clusterimagemaps) if record is not None else []
    if late:
        log.info("view of ClusterImageMap(s) %s is behind the cluster's decision record; "
                 "deciding once it has caught up", ", ".join(sorted(late)))
        return {}, False
    decision = (memo.decide(clusterimagemaps, record=record, kind=CLUSTER_KIND)
                if memo is not None else decide(clusterimagemaps, record=record,
                                                kind=CLUSTER_KIND))
    accepted = sum(1 for verdict in decision.verdicts.values() if verdict.ready)
    rejected = len(decision.verdicts) - accepted
    recorded = (record_of(decision, clusterimagemaps, previous=record, now=rfc3339(now))
                .encode() if decision.verdicts else None)
    summary = (f"{plural(accepted, 'ClusterImageMap')} accepted, {rejected} rejected; "
               f"maplets in force: {len(decision.mapping)}" if decision.verdicts else None)
    return {CLUSTER_DECISION_ANNOTATION: recorded, CLUSTER_SUMMARY_ANNOTATION: summary}, bool(
        rejected)


def customize_clusterimagemap(request: CustomizeRequest, *,
                              cluster_namespace: str = DEFAULT_CLUSTER_NAMESPACE
                              ) -> CustomizeResponse:
    """Ask for the project's Namespace (where the cluster's decision is recorded) and every
    ClusterImageMap (to explain a rejection): a change to either syncs the ClusterImageMap."""
    return {
        "relatedResources": [
            {"apiVersion": "v1", "resource": "namespaces", "names": [cluster_namespace]},
            CLUSTERIMAGEMAPS_RULE,
        ]
    }


def sync_clusterimagemap(
    request: CompositeSyncRequest, *, now: datetime, memo: Memo | None = None,
    cluster_namespace: str = DEFAULT_CLUSTER_NAMESPACE,
) -> CompositeSyncResponse:
    """The parent ClusterImageMap's status, as the cluster's decision record has it; left as
    it is until the record judges its current generation."""
    parent = read_parent(request["parent"])
    clusterimagemaps = [parent, *related_clusterimagemaps(request["related"], memo)]
    target = related_namespace(request["related"], cluster_namespace)
    record = cluster_record(target) if target is not None else None
    verdict: Verdict | None = follow(record, parent, clusterimagemaps, kind=CLUSTER_KIND)
    judged = record.judged(parent.name, parent.uid or "") if record is not None else None
    since = judged[1].since if judged is not None else None
    return sync_response(request, parent, verdict, now=now, since=since, kind=CLUSTER_KIND)

