"""The images a set of manifests would run, and what the ImageMaps among them make of each: what
`image-mapper images` lists and `image-mapper verify` checks.

The documents are those `preview` reads (`image_mapper.cli.documents`): files, folders, `-` for
`helm template` on standard input, multi-document files and Lists. A pod's images are found
where the webhook finds them (`image_mapper.cli.manifests.template_path`): every container of
the Pods and of the pod templates of the built-in workloads.

What an image becomes is decided in two layers, as the webhook decides it: the ImageMaps of the
pod's namespace (grouped by `metadata.namespace` and decided together, as `preview` groups
them), and only for an image that none of them matches, the ClusterImageMaps among the
documents that select that namespace. A result is final: it is never looked up again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from image_mapper.cli.documents import namespace_of, read_documents
from image_mapper.cli.errors import CommandError
from image_mapper.cli.manifests import template_path
from image_mapper.cli.preview_cmd import mapping_for
from image_mapper.engine.acceptance import Decision, decide
from image_mapper.engine.imagemap import API_VERSION, GROUP, KIND, read_imagemaps
from image_mapper.engine.layers import CLUSTER_KIND, ClusterLayer
from image_mapper.engine.mapping import Mapping, Match

CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""The label the API server puts on every Namespace: its own name."""


@dataclass(frozen=True, slots=True)
class Use:
    """One container that runs an image."""

    where: str
    """`FILE, document N` (`, item K` inside a List)."""
    kind: str
    name: str
    namespace: str
    """The workload's namespace: its own, else `-n`; empty when neither names one."""
    container: str

    def line(self) -> str:
        return f"{self.where}: {self.kind}/{self.name} container {self.container}"


@dataclass(slots=True)
class UsedImage:
    """An image reference as the manifests write it, with every container that runs it."""

    image: str
    uses: list[Use] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Documents:
    """The workloads' images, and the ImageMaps and ClusterImageMaps, of some documents."""

    images: list[UsedImage]
    imagemaps: list[tuple[str, dict[str, Any]]]
    cluster_imagemaps: list[tuple[str, dict[str, Any]]]
    namespace_labels: dict[str, dict[str, str]]
    """The labels of the Namespaces among the documents, by name."""


def _ours(where: str, document: dict[str, Any], kind: str) -> bool:
    """Whether the document is one of our ImageMap kinds (another group's is someone else's)."""
    api_version = document.get("apiVersion")
    if document.get("kind") != kind or not str(api_version).startswith(f"{GROUP}/"):
        return False
    if api_version != API_VERSION:
        raise CommandError(f"{where}: a {kind} must have apiVersion {API_VERSION}, "
                           f"not {api_version!r}")
    metadata = document.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        raise CommandError(f"{where}: {kind} has no metadata.name")
    return True


def _name(document: dict[str, Any]) -> str:
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else "(no name)"


def _pod_spec(document: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    node: object = document
    for key in (*path, "spec"):
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def read(paths: Sequence[str], namespace: str = "") -> Documents:
    """Every image the workloads of the documents run (in the order first met), and the
    ImageMaps and ClusterImageMaps among them. Raises CommandError (one line) for unreadable
    files, invalid YAML, a document that is not an object, or a malformed ImageMap."""
    found: dict[str, UsedImage] = {}
    imagemaps: list[tuple[str, dict[str, Any]]] = []
    cluster: list[tuple[str, dict[str, Any]]] = []
    labels: dict[str, dict[str, str]] = {}
    for where, document in read_documents(paths):
        if not isinstance(document, dict):
            raise CommandError(
                f"{where}: expected a Kubernetes object, got {type(document).__name__}")
        if _ours(where, document, KIND):
            imagemaps.append((where, document))
            continue
        if _ours(where, document, CLUSTER_KIND):
            cluster.append((where, document))
            continue
        if document.get("kind") == "Namespace" and document.get("apiVersion") == "v1":
            metadata = document.get("metadata")
            given = metadata.get("labels") if isinstance(metadata, dict) else None
            labels[_name(document)] = {str(k): str(v) for k, v in (given or {}).items()}
            continue
        path = template_path(document)
        spec = _pod_spec(document, path) if path is not None else None
        if spec is None:
            continue
        use_namespace = namespace_of(document) or namespace
        for field_name in CONTAINER_FIELDS:
            containers = spec.get(field_name)
            for container in containers if isinstance(containers, list) else []:
                image = container.get("image") if isinstance(container, dict) else None
                if not isinstance(image, str) or not image:
                    continue
                name = container.get("name")
                use = Use(where, str(document.get("kind")), _name(document), use_namespace,
                          name if isinstance(name, str) else "(no name)")
                found.setdefault(image, UsedImage(image)).uses.append(use)
    return Documents(list(found.values()), imagemaps, cluster, labels)


class Layers:
    """What an image becomes in a namespace: its ImageMaps first, then the ClusterImageMaps
    that select it."""

    def __init__(self, documents: Documents) -> None:
        groups: dict[str, list[dict[str, Any]]] = {}
        for _, document in documents.imagemaps:
            groups.setdefault(namespace_of(document), []).append(document)
        self.namespaces: dict[str, Decision] = {
            namespace: decide(read_imagemaps(group)) for namespace, group in groups.items()}
        # Decided among themselves, and selected by labels, as the webhook does
        # (image_mapper.engine.layers).
        clusterimagemaps = read_imagemaps(d for _, d in documents.cluster_imagemaps)
        self.cluster: Decision | None = (
            decide(clusterimagemaps, kind=CLUSTER_KIND) if clusterimagemaps else None)
        self._layer = (ClusterLayer.of(self.cluster, clusterimagemaps)
                       if self.cluster is not None else ClusterLayer.EMPTY)
        self._labels = documents.namespace_labels

    def namespace_mapping(self, namespace: str) -> Mapping:
        decision = mapping_for(namespace, self.namespaces)
        return decision.mapping if decision is not None else Mapping.EMPTY

    def cluster_mapping(self, namespace: str) -> Mapping:
        """The maplets in force of the ClusterImageMaps that select `namespace` (all of them
        when the namespace is not known: a manifest without one)."""
        if not namespace:
            return self._layer.mapping_of(self._layer.names)
        return self._layer.mapping_for(
            {**self._labels.get(namespace, {}), NAMESPACE_NAME_LABEL: namespace})

    def lookup(self, image: str, namespace: str) -> tuple[Match | None, str]:
        """The match, and the kind of the ImageMap that gave it (KIND or CLUSTER_KIND)."""
        match = self.namespace_mapping(namespace).lookup(image)
        if match is not None:
            return match, KIND
        return self.cluster_mapping(namespace).lookup(image), CLUSTER_KIND

    def not_in_force(self) -> Iterable[str]:
        """A line for each ImageMap or ClusterImageMap that would be rejected."""
        for namespace, decision in self.namespaces.items():
            for verdict in decision.verdicts.values():
                if not verdict.ready:
                    name = f"{namespace}/{verdict.name}" if namespace else verdict.name
                    yield (f"ImageMap {name} is not in force: {verdict.reason}: "
                           f"{verdict.message}")
        if self.cluster is not None:
            for verdict in self.cluster.verdicts.values():
                if not verdict.ready:
                    yield (f"ClusterImageMap {verdict.name} is not in force: {verdict.reason}: "
                           f"{verdict.message}")
