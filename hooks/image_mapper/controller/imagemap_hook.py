"""The ImageMap hooks of the CompositeController: the namespace's decision as status
(design.md#one-decider, #status).

The ImageMap hook decides nothing on its own: Metacontroller syncs ImageMaps concurrently, each
from its own cache, and a status write lands even when the view it was decided on is stale. It
reports what the namespace hook recorded on the Namespace (`image_mapper.engine.acceptance.follow`),
explaining a rejection from its view of the other ImageMaps. Until the record judges the
ImageMap's current generation, its status stays as it is (and with it the `deployedMap` of the
generation in force).

`sync_imagemap` is a pure function of its request (and the current time, used only when the
Ready condition flips): syncing again with the status it returned yields the same status, byte
for byte, so a namespace's ImageMaps settle instead of re-syncing each other forever. An
ImageMap has no children; its status (`image_mapper.controller.status`) is its only output.
"""

from __future__ import annotations

import logging
from datetime import datetime

from image_mapper.controller.memo import Memo, reader
from image_mapper.controller.namespace_hook import namespace_record
from image_mapper.controller.protocol import (
    CompositeSyncRequest,
    CompositeSyncResponse,
    CustomizeRequest,
    CustomizeResponse,
    namespace_imagemaps,
    namespace_of,
    read_parent,
    related_namespace,
)
from image_mapper.controller.status import sync_response
from image_mapper.engine.acceptance import follow
from image_mapper.engine.imagemap import API_VERSION, PLURAL
from image_mapper.engine.verdicts import Verdict

log = logging.getLogger(__name__)


def customize_imagemap(request: CustomizeRequest) -> CustomizeResponse:
    """Ask for the parent's Namespace (where the decision is recorded) and every ImageMap of its
    namespace (to explain a rejection), as `related`: a change to either syncs the ImageMap.

    `namespace` keeps the ImageMaps to the parent's own namespace under hook version v2 too,
    where a rule without it selects ImageMaps of every namespace. Metacontroller caches customize
    responses by the parent's uid and generation, so no parent is handed another's rule.
    """
    namespace = namespace_of(request["parent"])
    return {
        "relatedResources": [
            {"apiVersion": "v1", "resource": "namespaces", "names": [namespace]},
            {"apiVersion": API_VERSION, "resource": PLURAL, "namespace": namespace},
        ]
    }


def sync_imagemap(
    request: CompositeSyncRequest, *, now: datetime, memo: Memo | None = None
) -> CompositeSyncResponse:
    """The parent ImageMap's status, as its namespace's decision record has it; with the
    server's `memo`, the ImageMaps of `related` are read through its readings."""
    parent = read_parent(request["parent"])
    namespace = namespace_of(request["parent"])
    target = related_namespace(request["related"], namespace)
    verdict: Verdict | None = None
    since = None
    if target is None:
        # Hook version v1: Metacontroller leaves the Namespace (cluster-scoped) out of a
        # namespaced parent's request, so the record cannot be read. The namespace hook alone
        # decides: without its record, the status stays as it is.
        log.error("ImageMap %s/%s: its sync came without its Namespace among the related "
                  "objects, so its status is left as it is; set version: v2 on both hooks "
                  "(customize and sync) of the ImageMap CompositeController: under version v1 "
                  "Metacontroller sends no cluster-scoped object to a namespaced ImageMap's "
                  "hooks", namespace, parent.name,
                  extra={"event": "imagemap_without_namespace", "namespace": namespace,
                         "imagemap": parent.name})
    else:
        # `related` holds the parent too (it matches its own rule), possibly older than
        # `parent`: the parent comes first, so it is the copy followed.
        imagemaps = [parent, *namespace_imagemaps(request["related"], namespace,
                                                  read=reader(memo))]
        record = namespace_record(target)
        verdict = follow(record, parent, imagemaps)
        judged = record.judged(parent.name, parent.uid or "") if record is not None else None
        since = judged[1].since if judged is not None else None

    return sync_response(request, parent, verdict, now=now, since=since)

