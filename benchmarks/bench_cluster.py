"""ClusterImageMaps in the webhook (design.md#clusterimagemap): what the cluster layer costs in
memory as namespaces grow, and the admission handler with both layers against the floor.

- Memory: a `ClusterView` holding 3 ClusterImageMaps in force (1,000 maplets each; one for
  every namespace, one selecting `team=a`, one excluding `tier=legacy`) and N Namespaces with
  labels; every namespace asked for its mapping once (as its first pod would). tracemalloc
  counts what the cluster layer keeps beyond the Namespaces' own labels: the compiled layer,
  one mapping per distinct selection, and each namespace's reference to its selection. Taken
  for 100 and 10,000 namespaces.
- The handler: the sample review of `benchmarks.bench_admission` (three images), its namespace
  with an ImageMap matching two of them and the cluster layer the third, through the same
  `AdmissionEndpoint`, against the same floor.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from benchmarks import bench_admission
from image_mapper.engine.acceptance import decide
from image_mapper.engine.imagemap import read_imagemaps
from image_mapper.engine.layers import CLUSTER_KIND, ClusterLayer, Layered
from image_mapper.engine.mapping import Mapping
from image_mapper.webhook.app import AdmissionEndpoint, WebhookMetrics
from image_mapper.webhook.view import ClusterView, Pending

API = "mapper.imagerelocation.pivotal.io/v1alpha1"
PROJECT = "image-mapper"


def _clusterimagemap(name: str, maplets: list[dict[str, str]],
                     selector: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"map": maplets}
    if selector is not None:
        spec["namespaceSelector"] = selector
    return {"apiVersion": API, "kind": "ClusterImageMap",
            "metadata": {"name": name, "uid": f"uid-{name}", "generation": 1,
                         "resourceVersion": "1", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": spec}


CLUSTER_MAPS = [
    ("hub", None),
    ("team-a", {"matchLabels": {"team": "a"}}),
    ("modern", {"matchExpressions": [{"key": "tier", "operator": "NotIn",
                                      "values": ["legacy"]}]}),
]


def _maps(per_map: int) -> list[dict[str, Any]]:
    return [_clusterimagemap(name, [{"from": f"r{index}.example.com/{name}/p{i}/",
                                     "to": f"mirror.example.com/{name}/p{i}/"}
                                    for i in range(per_map)], selector)
            for index, (name, selector) in enumerate(CLUSTER_MAPS)]


def _project() -> dict[str, Any]:
    record = {"inForce": [[name, f"uid-{name}", 1, "2026-01-01T00:00:00Z"]
                          for name, _ in CLUSTER_MAPS], "rejected": []}
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": PROJECT, "labels": {}, "annotations": {
                "mapper.imagerelocation.pivotal.io/cluster-decision": json.dumps(record)}}}


def _namespace(index: int) -> dict[str, Any]:
    name = f"ns-{index}"
    labels = {"kubernetes.io/metadata.name": name, "team": "ab"[index % 2],
              "tier": ("legacy", "web", "batch")[index % 3]}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


@dataclass(frozen=True)
class MemoryResult:
    namespaces: int
    cluster_bytes: int
    """The cluster layer and the namespaces' selections of it."""
    selections: int
    """Distinct mappings the layer made for the namespaces' selections."""


def bench_memory(namespaces: int, per_map: int = 1000) -> MemoryResult:
    view = ClusterView(resources=("imagemaps", "namespaces", "clusterimagemaps"))
    view.namespaces.replace([_project(), *(_namespace(i) for i in range(namespaces))])
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        view.clusterimagemaps.replace(_maps(per_map))
        for index in range(namespaces):
            view.mapping_for(f"ns-{index}")
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert isinstance(view.mapping_for("ns-0"), Layered)
    return MemoryResult(namespaces, after - before, len(view._cluster._mappings) + 1)


class _LayeredView:
    """One layered mapping for every namespace, always ready (as StaticView is for one)."""

    def __init__(self, layered: Layered) -> None:
        self.layered = layered

    def mapping_for(self, namespace: str) -> Layered:
        return self.layered

    def pending_anywhere(self) -> bool:
        return False

    def settled(self, namespace: str, *, holds: Any, timeout: float
                ) -> tuple[Layered, tuple[Pending, ...]]:
        return self.layered, ()

    def first_decisions(self) -> dict[tuple[str, str], float]:
        return {}

    def readiness(self) -> tuple[bool, str]:
        return True, "layered"

    def age(self) -> float | None:
        return 0.0


@dataclass(frozen=True)
class LayeredResult:
    floor_s: float
    handler_s: float
    patched_alike: bool
    """The layered handler writes the same images as the floor."""


def bench_layered(*, rounds: int = 7, seconds: float = 0.25) -> LayeredResult:
    body = bench_admission.sample_review()
    maplets = bench_admission.SAMPLE_MAPLETS
    own = bench_admission.sample_imagemaps(10)
    own[0]["spec"]["map"] = own[0]["status"]["deployedMap"] = maplets[:2]  # image, repository
    namespace_mapping: Mapping = bench_admission.webhook_mapping(read_imagemaps(own[:1]))
    cluster = read_imagemaps([_clusterimagemap("quay", maplets[2:])])
    layer = ClusterLayer.of(decide(cluster, kind=CLUSTER_KIND), cluster)
    layered = Layered(namespace_mapping, layer.mapping_for({"team": "a"}))
    view = _LayeredView(layered)
    endpoint = AdmissionEndpoint(view, WebhookMetrics(CollectorRegistry(), view))  # type: ignore[arg-type]
    status, answer = endpoint(body)
    patch = json.loads(answer)["response"]["patch"]
    alike = status == 200 and patch == json.loads(
        bench_admission.floor(body))["response"]["patch"]
    best = bench_admission.best_of(
        {"floor": lambda: bench_admission.floor(body), "handler": lambda: endpoint(body)},
        rounds=rounds, seconds=seconds)
    return LayeredResult(best["floor"], best["handler"], alike)
