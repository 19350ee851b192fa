"""The Metacontroller hooks by path: read the body, decide, answer (design.md#http): the
ImageMaps' and the ClusterImageMaps' CompositeControllers, and the Namespaces'
DecoratorController.

Shared by the HTTP server (`image_mapper.controller.app`) and `image-mapper hook PATH`, so a
hook run locally answers exactly as the server would. A table, not routing: the app makes one
route of each entry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from image_mapper.controller.cluster_hook import (
    DEFAULT_CLUSTER_NAMESPACE,
    customize_clusterimagemap,
    sync_clusterimagemap,
)
from image_mapper.controller.imagemap_hook import customize_imagemap, sync_imagemap
from image_mapper.controller.memo import Memo
from image_mapper.controller.namespace_hook import customize_namespace, sync_namespace
from image_mapper.controller.protocol import (
    NAMESPACE_KIND,
    HookResponse,
    parse_composite_sync,
    parse_customize,
    parse_decorator_sync,
)
from image_mapper.engine.imagemap import KIND as IMAGEMAP_KIND
from image_mapper.engine.layers import CLUSTER_KIND

Hook = Callable[[object, datetime, Memo | None, str], HookResponse]
"""(decoded JSON body, current time, the server's memo, the project's own namespace, where the
ClusterImageMaps' decision is recorded) -> response; raises BadRequest on a malformed body."""


def _imagemap_customize(body: object, now: datetime, memo: Memo | None,
                        cluster_namespace: str) -> HookResponse:
    return customize_imagemap(parse_customize(body, kind=IMAGEMAP_KIND))


def _imagemap_sync(body: object, now: datetime, memo: Memo | None,
                   cluster_namespace: str) -> HookResponse:
    return sync_imagemap(parse_composite_sync(body, kind=IMAGEMAP_KIND), now=now, memo=memo)


def _clusterimagemap_customize(body: object, now: datetime, memo: Memo | None,
                               cluster_namespace: str) -> HookResponse:
    return customize_clusterimagemap(parse_customize(body, kind=CLUSTER_KIND),
                                     cluster_namespace=cluster_namespace)


def _clusterimagemap_sync(body: object, now: datetime, memo: Memo | None,
                          cluster_namespace: str) -> HookResponse:
    return sync_clusterimagemap(parse_composite_sync(body, kind=CLUSTER_KIND), now=now,
                                memo=memo, cluster_namespace=cluster_namespace)


def _namespace_customize(body: object, now: datetime, memo: Memo | None,
                         cluster_namespace: str) -> HookResponse:
    return customize_namespace(parse_customize(body, kind=NAMESPACE_KIND),
                               cluster_namespace=cluster_namespace)


def _namespace_sync(body: object, now: datetime, memo: Memo | None,
                    cluster_namespace: str) -> HookResponse:
    return sync_namespace(parse_decorator_sync(body, kind=NAMESPACE_KIND), now=now, memo=memo,
                          cluster_namespace=cluster_namespace)


HOOKS: Final[dict[str, Hook]] = {
    "/imagemap/customize": _imagemap_customize,
    "/imagemap/sync": _imagemap_sync,
    "/clusterimagemap/customize": _clusterimagemap_customize,
    "/clusterimagemap/sync": _clusterimagemap_sync,
    "/namespace/customize": _namespace_customize,
    "/namespace/sync": _namespace_sync,
}


def utc_now() -> datetime:
    return datetime.now(UTC)


def run_hook(
    path: str, body: object, *, now: datetime, memo: Memo | None = None,
    cluster_namespace: str = DEFAULT_CLUSTER_NAMESPACE,
) -> HookResponse:
    """Answer `body` as the hook at `path` does; raises KeyError for an unknown path."""
    return HOOKS[path](body, now, memo, cluster_namespace)
