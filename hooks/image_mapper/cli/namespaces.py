"""The ImageMaps a preview decides: those the cluster would store, grouped by namespace.

ImageMaps are grouped by `metadata.namespace`, a missing one counting as one unnamed group, and
each group is decided on its own, as the namespace hook decides each namespace
(design.md#commands, #one-decider). Before that, every ImageMap is checked against the CRD's
schema: one the API server would refuse to store (a 1,001-maplet map) is never previewed as
Accepted.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any, TypeVar

from image_mapper.cli.crd import Schema
from image_mapper.cli.documents import located_imagemaps, namespace_of, read_documents
from image_mapper.cli.errors import CommandError
from image_mapper.cli.layering import ClusterMaps
from image_mapper.engine.imagemap import API_VERSION

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def shown(namespace: str) -> str:
    """A group as a user reads it: `namespace 'team-a'`, or `no namespace`."""
    return f"namespace {namespace!r}" if namespace else "no namespace"


def grouped(items: Iterable[tuple[K, T]]) -> dict[K, list[T]]:
    """(namespace, item) pairs by namespace, in the order the namespaces first come."""
    groups: dict[K, list[T]] = {}
    for namespace, item in items:
        groups.setdefault(namespace, []).append(item)
    return groups


def pick(groups: dict[str, list[T]], namespace: str | None) -> list[T]:
    """The ImageMaps that decide in the namespace `-n namespace` names: that namespace's group,
    else those without a namespace (they land in whichever namespace they are applied to);
    without `-n`, the only group there is."""
    if namespace is None:
        if len(groups) == 1:
            return next(iter(groups.values()))
        raise CommandError(
            f"the ImageMaps are in {len(groups)} namespaces ({_listed(groups)}), each decided "
            "on its own: pick one with -n NAMESPACE (-n '' for those without a namespace)")
    if namespace in groups:
        return groups[namespace]
    if namespace and "" in groups:
        return groups[""]
    raise CommandError(f"no ImageMap in {shown(namespace)}: the ImageMaps are in "
                       f"{_listed(groups)}")


def _listed(groups: dict[str, list[T]]) -> str:
    return ", ".join(repr(n) if n else "(no namespace)" for n in groups)


def stored_maps(paths: Sequence[str]) -> tuple[dict[str, list[dict[str, Any]]], ClusterMaps]:
    """The ImageMaps of the given files and folders by namespace, and the ClusterImageMaps
    and Namespaces among them, each map checked against its CRD's schema. Raises
    CommandError (one line) for the first map the API server would refuse, or when there is
    neither an ImageMap nor a ClusterImageMap."""
    documents = read_documents(paths)
    located = located_imagemaps(paths, required=False, documents=documents)
    cluster = ClusterMaps()
    for where, document in documents:
        if isinstance(document, dict):
            cluster.add(where, document)
    if not located and not cluster:
        raise CommandError(f"no ImageMap or ClusterImageMap ({API_VERSION}) found in "
                           f"{', '.join(paths)}")
    refuse_unstorable(located)
    cluster.refuse_unstorable()
    return grouped((namespace_of(document), document) for _, document in located), cluster


def pick_layer(groups: dict[str, list[T]], namespace: str | None, cluster: ClusterMaps
               ) -> tuple[str, list[T]]:
    """(namespace, its ImageMaps) that `-n namespace` names; `pick` when there are no
    ClusterImageMaps. With ClusterImageMaps, `-n` may name a namespace without ImageMaps
    (only the cluster layer then applies), and without `-n` the only namespace there is, or
    none."""
    if not cluster:
        picked = pick(groups, namespace)
        return (namespace if namespace is not None else next(iter(groups))), picked
    if namespace is not None:
        if namespace in groups:
            return namespace, groups[namespace]
        return namespace, groups[""] if namespace and "" in groups else []
    if len(groups) > 1:
        pick(groups, None)  # raises: which one?
    return next(iter(groups.items()), ("", []))


def stored_imagemaps(paths: Sequence[str],
                     schema: Schema | None = None) -> dict[str, list[dict[str, Any]]]:
    """The ImageMaps of the given files and folders by namespace, each checked against the
    CRD's schema. Raises CommandError (one line) naming the file, document and field of the
    first ImageMap the API server would refuse."""
    located = located_imagemaps(paths)
    refuse_unstorable(located, schema)
    return grouped((namespace_of(document), document) for _, document in located)


def refuse_unstorable(located: Iterable[tuple[str, dict[str, Any]]],
                      schema: Schema | None = None) -> None:
    """Raise CommandError (one line) naming the file, document and field of the first ImageMap
    the API server would refuse (the CRD's schema: its limits among them)."""
    schema = Schema() if schema is None else schema
    for where, document in located:
        problems = schema.problems(document)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise CommandError(f"{where}: {problems[0]}{more}: the API server would refuse "
                               "this ImageMap (image-mapper validate lists every problem)")
