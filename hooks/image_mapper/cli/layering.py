"""The ClusterImageMaps among a command's documents, and the layers they make with a
namespace's ImageMaps, exactly as the webhook applies them (design.md#clusterimagemap).

- ClusterImageMaps are decided together, among themselves (`decide` with their kind), apart from
  every namespace's ImageMaps.
- A namespace's labels are those of a Namespace document among the files, with the label the
  API server puts on every Namespace (`kubernetes.io/metadata.name: NAME`). A ClusterImageMap
  maps a namespace when its `namespaceSelector` selects those labels; for documents in no
  namespace at all (neither their own nor `-n`), every ClusterImageMap in force applies, as a
  preview of what could.
- A pod's image takes its namespace's result when the namespace's ImageMaps match it (pins
  included), else the cluster layer's (`image_mapper.engine.layers.Layered`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from image_mapper.cli.crd import Schema
from image_mapper.cli.documents import read_documents
from image_mapper.cli.errors import CommandError
from image_mapper.engine.acceptance import Decision, decide
from image_mapper.engine.imagemap import API_VERSION, GROUP, VERSION, ImageMap, read_imagemaps
from image_mapper.engine.layers import CLUSTER_KIND, ClusterLayer, Layered
from image_mapper.engine.mapping import Form, Maplet, Mapping
from image_mapper.engine.reference import parse_normalized, repository_ancestors

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""The label the API server puts on every Namespace: its own name."""


@cache
def cluster_schema() -> Schema:
    """The ClusterImageMap CRD's schema, from the packaged CRD."""
    text = files("image_mapper").joinpath("crds", "clusterimagemaps.yaml").read_text(
        encoding="utf-8")
    crd = yaml.safe_load(text)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == VERSION)
    openapi: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return Schema(openapi)


def is_ours(where: str, document: dict[str, Any], kind: str) -> bool:
    """Whether the document is one of our maps of `kind` (another group's is someone else's).
    Raises CommandError for one of ours at another version or without a name."""
    api_version = document.get("apiVersion")
    if document.get("kind") != kind or not str(api_version).startswith(f"{GROUP}/"):
        return False
    if api_version != API_VERSION:
        raise CommandError(f"{where}: a {kind} must have apiVersion {API_VERSION}, "
                           f"not {api_version!r}")
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        raise CommandError(f"{where}: {kind} has no metadata.name")
    return True


def namespace_labels_of(document: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    """(name, labels) of a Namespace document; None for anything else."""
    if document.get("kind") != "Namespace" or document.get("apiVersion") != "v1":
        return None
    metadata = document.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        return None
    labels = metadata.get("labels")
    given = labels if isinstance(labels, dict) else {}
    return metadata["name"], {str(k): str(v) for k, v in given.items()}


@dataclass
class ClusterMaps:
    """The ClusterImageMaps and Namespaces among some documents, and their decision."""

    located: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(where, document) of each ClusterImageMap, in the order of the files."""
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    """The labels of the Namespaces among the documents, by name."""
    _decision: Decision | None = None
    _layer: ClusterLayer | None = None

    def add(self, where: str, document: dict[str, Any]) -> bool:
        """Take the document if it is a ClusterImageMap or a Namespace; whether it was one.
        Raises CommandError for a ClusterImageMap named twice."""
        if is_ours(where, document, CLUSTER_KIND):
            name = document["metadata"]["name"]
            for other, taken in self.located:
                if taken["metadata"]["name"] == name:
                    raise CommandError(f"{where}: ClusterImageMap {name!r} is also defined in "
                                       f"{other}")
            self.located.append((where, document))
            self._decision = self._layer = None
            return True
        found = namespace_labels_of(document)
        if found is not None:
            self.namespace_labels[found[0]] = found[1]
        return False

    def refuse_unstorable(self) -> None:
        """Raise CommandError (one line) naming the file, document and field of the first
        ClusterImageMap the API server would refuse."""
        schema = cluster_schema() if self.located else None
        for where, document in self.located:
            assert schema is not None
            problems = schema.problems(document)
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise CommandError(f"{where}: {problems[0]}{more}: the API server would refuse "
                                   "this ClusterImageMap (image-mapper validate lists every "
                                   "problem)")

    def __bool__(self) -> bool:
        return bool(self.located)

    def clusterimagemaps(self) -> list[ImageMap]:
        return read_imagemaps(document for _, document in self.located)

    @property
    def decision(self) -> Decision:
        """The ClusterImageMaps decided among themselves."""
        if self._decision is None:
            self._decision = decide(self.clusterimagemaps(), kind=CLUSTER_KIND)
        return self._decision

    @property
    def layer(self) -> ClusterLayer:
        if self._layer is None:
            self._layer = (ClusterLayer.of(self.decision, self.clusterimagemaps())
                           if self.located else ClusterLayer.EMPTY)
        return self._layer

    def labels(self, namespace: str) -> dict[str, str]:
        """A namespace's labels: its Namespace document's, and its name's."""
        return {**self.namespace_labels.get(namespace, {}), NAMESPACE_NAME_LABEL: namespace}

    def mapping_for(self, namespace: str) -> Mapping:
        """The cluster layer of `namespace` ("" for none: every ClusterImageMap in force)."""
        layer = self.layer
        if not namespace:
            return layer.mapping_of(layer.names)
        return layer.mapping_for(self.labels(namespace))

    def layered(self, namespace: str, mapping: Mapping) -> Layered:
        """A pod's mapping in `namespace`, whose ImageMaps' mapping is `mapping`."""
        return Layered(mapping, self.mapping_for(namespace))

    def not_in_force(self) -> Iterator[str]:
        """`ClusterImageMap NAME is not in force: REASON: MESSAGE` for each one rejected."""
        if not self.located:
            return
        for verdict in self.decision.verdicts.values():
            if not verdict.ready:
                yield (f"ClusterImageMap {verdict.name} is not in force: {verdict.reason}: "
                       f"{verdict.message}")


def cluster_maps(paths: Iterable[str]) -> ClusterMaps:
    """The ClusterImageMaps and Namespaces among the documents of `paths`."""
    found = ClusterMaps()
    for where, document in read_documents(list(paths)):
        if isinstance(document, dict):
            found.add(where, document)
    return found


def rematched(first: Mapping, then: Mapping) -> list[tuple[Maplet, Maplet]]:
    """(ours, theirs) for each maplet of `first` whose results a maplet of `then` would map
    again, were they looked up there: `first` is one layer's mapping in force, `then` the
    other's. The layers never do look a result up again; a pod created with such a result
    written into it, though, gets the other layer's answer."""
    found: list[tuple[Maplet, Maplet]] = []
    theirs = [m for m in then.maplets() if not m.is_identity]
    for ours in first.maplets():
        if ours.is_identity:
            continue
        for other in theirs:
            if _reaches(ours, other, then):
                found.append((ours, other))
    return found


def _reaches(ours: Maplet, theirs: Maplet, then: Mapping) -> bool:
    """Whether some result of `ours` is matched by `theirs` (and changed by `then`)."""
    target = ours.target_key
    if ours.form is Form.IMAGE:
        match = then.lookup(target)
        return match is not None and match.maplet is theirs and match.result != ours.target
    if ours.form is Form.REPOSITORY:
        # target + the pod's tag or digest: any image of that repository
        if theirs.form is Form.PREFIX:
            return theirs.key in repository_ancestors(target)
        return _repository_of(theirs) == target
    # ours is a prefix: target + any path + any tag or digest
    if theirs.form is Form.PREFIX:
        return theirs.key.startswith(target) or target.startswith(theirs.key)
    return _repository_of(theirs).startswith(target)


def _repository_of(maplet: Maplet) -> str:
    if maplet.form is Form.REPOSITORY:
        return maplet.key
    return parse_normalized(maplet.key).name
