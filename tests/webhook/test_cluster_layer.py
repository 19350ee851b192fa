"""The webhook's cluster layer over fake list/watch sources: the ClusterImageMaps the cluster's
record (on the project's Namespace) has in force, selected by each namespace's labels, under
the namespace's own ImageMaps (design.md#clusterimagemap)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from image_mapper.engine.acceptance import decide
from image_mapper.engine.imagemap import read_imagemaps
from image_mapper.engine.layers import CLUSTER_KIND, ClusterLayer, Layered
from image_mapper.webhook.admission import admit
from image_mapper.webhook.app import WebhookMetrics
from image_mapper.webhook.view import StaticView
from image_mapper.webhook.watcher import Backoff, ClusterWatch
from tests.support.resources import imagemap, namespace
from tests.support.waiting import wait_for

from .fakes import FakeSource

HUB = ("docker.io/", "mirror.example.com/hub/")
OTHER_HUB = ("docker.io/", "other.example.com/hub/")
PIN = ("redis", "redis")
QUAY = ("quay.io/", "mirror.example.com/quay/")


def clusterimagemap(name: str, *entries: tuple[str, str], generation: int = 1,
                    selector: dict[str, Any] | None = None,
                    secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    obj = imagemap(name, *entries, namespace=None, uid=f"uid-cluster-{name}",
                   generation=generation, ready_since="2026-01-01T00:00:00Z",
                   kind="ClusterImageMap")
    if selector is not None:
        obj["spec"]["namespaceSelector"] = selector
    if secrets:
        obj["spec"]["imagePullSecrets"] = [{"name": s} for s in secrets]
    return obj


def project(*in_force: str | tuple[str, int], labels: dict[str, str] | None = None
            ) -> dict[str, Any]:
    """The project's Namespace, with the cluster's record."""
    def row(entry: str | tuple[str, int]) -> list[object]:
        name, generation = entry if isinstance(entry, tuple) else (entry, 1)
        return [name, f"uid-cluster-{name}", generation]

    obj = namespace("image-mapper")
    obj["metadata"]["annotations"] = {
        "mapper.imagerelocation.pivotal.io/cluster-decision": json.dumps(
            {"inForce": [row(e) for e in in_force], "rejected": []})}
    obj["metadata"]["labels"] = labels or {}
    return obj


def labelled(name: str, labels: dict[str, str], *in_force: str) -> dict[str, Any]:
    obj = namespace(name, *in_force)
    obj["metadata"]["labels"] = {"kubernetes.io/metadata.name": name, **labels}
    return obj


@pytest.fixture
def sources() -> tuple[FakeSource, FakeSource, FakeSource]:
    return FakeSource(), FakeSource(), FakeSource()


@pytest.fixture
def watch(sources: tuple[FakeSource, FakeSource, FakeSource]) -> Iterator[ClusterWatch]:
    imagemaps, namespaces, clusterimagemaps = sources
    watch = ClusterWatch(imagemaps, namespaces, clusterimagemaps=clusterimagemaps,
                         watch_timeout_seconds=30, backoff=Backoff(initial=0.01, maximum=0.02))
    yield watch
    watch.stop()


def result(watch: ClusterWatch, namespace_: str, image: str) -> tuple[str, str] | None:
    match = watch.view.mapping_for(namespace_).lookup(image)
    return None if match is None else (match.result, match.describe_source())


def test_not_ready_until_the_clusterimagemaps_are_listed(
        sources: tuple[FakeSource, FakeSource, FakeSource], watch: ClusterWatch) -> None:
    _, _, clusterimagemaps = sources
    clusterimagemaps.list_failures = [ConnectionError("refused")]
    assert "clusterimagemaps" in watch.view.readiness()[1]
    watch.start()
    wait_for("the first lists", lambda: watch.view.synced)


def test_a_namespace_without_imagemaps_gets_the_cluster_layer(
        sources: tuple[FakeSource, FakeSource, FakeSource], watch: ClusterWatch) -> None:
    _imagemaps, namespaces, clusterimagemaps = sources
    clusterimagemaps.apply(clusterimagemap("hub", HUB))
    namespaces.apply(project("hub"))
    namespaces.apply(labelled("fresh", {}))
    watch.start()
    wait_for("the cluster layer", lambda: result(watch, "fresh", "nginx:1") is not None)
    assert result(watch, "fresh", "nginx:1") == ("mirror.example.com/hub/library/nginx:1",
                                                 "ClusterImageMap hub")
    # A namespace the view has not seen yet (created a moment ago) too.
    assert result(watch, "brand-new", "nginx:1") is not None


def test_the_namespace_s_imagemaps_come_first_pins_included(
        sources: tuple[FakeSource, FakeSource, FakeSource], watch: ClusterWatch) -> None:
    imagemaps, namespaces, clusterimagemaps = sources
    clusterimagemaps.apply(clusterimagemap("hub", HUB))
    imagemaps.apply(imagemap("pin", PIN, namespace="shop"))
    namespaces.apply(project("hub"))
    namespaces.apply(labelled("shop", {}, "pin"))
    watch.start()
    wait_for("the layers", lambda: result(watch, "shop", "redis:7") is not None)
    assert result(watch, "shop", "redis:7") == ("redis:7", "ImageMap pin")
    assert result(watch, "shop", "nginx:1") == ("mirror.example.com/hub/library/nginx:1",
                                                "ClusterImageMap hub")


def test_relabelling_a_namespace_changes_the_next_pod(
        sources: tuple[FakeSource, FakeSource, FakeSource], watch: ClusterWatch) -> None:
    _, namespaces, clusterimagemaps = sources
    clusterimagemaps.apply(clusterimagemap("hub", HUB, selector={"matchLabels": {"mirror": "on"}}))
    namespaces.apply(project("hub"))
    namespaces.apply(labelled("shop", {}))
    watch.start()
    wait_for("the first lists", lambda: watch.view.synced)
    assert result(watch, "shop", "nginx:1") is None  # not selected
    namespaces.apply(labelled("shop", {"mirror": "on"}))
    wait_for("the new labels", lambda: result(watch, "shop", "nginx:1") is not None)
    namespaces.apply(labelled("shop", {"mirror": "off"}))
    wait_for("the labels again", lambda: result(watch, "shop", "nginx:1") is None)


def test_only_what_the_cluster_record_has_in_force_counts(
        sources: tuple[FakeSource, FakeSource, FakeSource], watch: ClusterWatch) -> None:
    _, namespaces, clusterimagemaps = sources
    clusterimagemaps.apply(clusterimagemap("hub", HUB))
    clusterimagemaps.apply(clusterimagemap("other", OTHER_HUB))  # rejected: not in the record
    namespaces.apply(project("hub"))
    watch.start()
    wait_for("the cluster layer", lambda: result(watch, "shop", "nginx:1") is not None)
    assert result(watch, "shop", "nginx:1")[1] == "ClusterImageMap hub"  # type: ignore[index]
    # Deleting it and its record (the decider's next decision): the mapping stops.
    clusterimagemaps.delete("", "hub")
    namespaces.apply(project())
    wait_for("the mapping to stop", lambda: result(watch, "shop", "nginx:1") is None)


def test_a_new_generation_waiting_for_its_decision_keeps_the_layer_in_force(
        sources: tuple[FakeSource, FakeSource, FakeSource], watch: ClusterWatch) -> None:
    _, namespaces, clusterimagemaps = sources
    clusterimagemaps.apply(clusterimagemap("hub", HUB))
    namespaces.apply(project("hub"))
    watch.start()
    wait_for("the cluster layer", lambda: result(watch, "x", "nginx:1") is not None)
    changed = clusterimagemap("hub", OTHER_HUB, generation=2)
    changed["status"] = clusterimagemap("hub", HUB)["status"]  # still the old one's
    clusterimagemaps.apply(changed)
    clusterimagemaps.apply(clusterimagemap("marker", QUAY))  # seen after the change
    wait_for("both events", lambda: "marker" in watch.view._clusterimagemaps)
    assert result(watch, "x", "nginx:1")[0].startswith("mirror.example.com/")  # type: ignore[index]


def test_admission_adds_the_clusterimagemap_s_pull_secrets_and_names_it(
        sources: tuple[FakeSource, FakeSource, FakeSource], watch: ClusterWatch) -> None:
    _, namespaces, clusterimagemaps = sources
    clusterimagemaps.apply(clusterimagemap("hub", HUB, secrets=("mirror-pull",)))
    namespaces.apply(project("hub"))
    watch.start()
    wait_for("the cluster layer", lambda: result(watch, "shop", "nginx:1") is not None)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
           "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}
    request = {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
               "resource": {"group": "", "version": "v1", "resource": "pods"},
               "namespace": "shop", "operation": "CREATE", "object": pod}
    admission = admit(review_request=request,  # type: ignore[arg-type]
                      mapping=watch.view.mapping_for("shop"))
    assert admission.pull_secrets == ("mirror-pull",)
    assert admission.response["warnings"] == [
        "image-mapper: web: nginx:1 -> mirror.example.com/hub/library/nginx:1 "
        "(ClusterImageMap hub)"]


def test_metrics_tell_a_clusterimagemap_from_an_imagemap_of_the_same_name() -> None:
    own = read_imagemaps([imagemap("hub", PIN, namespace="shop")])
    cluster = read_imagemaps([clusterimagemap("hub", HUB)])
    layered = Layered(decide(own).mapping,
                      ClusterLayer.of(decide(cluster, kind=CLUSTER_KIND), cluster).mapping_for({}))
    registry = CollectorRegistry()
    metrics = WebhookMetrics(registry, StaticView(decide(own).mapping))
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "a", "image": "nginx:1"},
                                   {"name": "b", "image": "quay.io/x:1"}]}}
    request = {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
               "resource": {"group": "", "version": "v1", "resource": "pods"},
               "namespace": "shop", "operation": "CREATE", "object": pod}
    metrics.count("shop", admit(review_request=request,  # type: ignore[arg-type]
                                mapping=layered))
    assert registry.get_sample_value("image_mapper_images_rewritten_total", {
        "namespace": "shop", "imagemap": "ClusterImageMap/hub"}) == 1.0
    assert registry.get_sample_value("image_mapper_images_rewritten_total", {
        "namespace": "shop", "imagemap": "hub"}) is None


def _pod_request(namespace_: str, image: str) -> dict[str, Any]:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "web", "image": image}]}}
    return {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace_, "operation": "CREATE", "object": pod}


def _holds(request: dict[str, Any]) -> Any:
    return lambda pending: bool(admit(review_request=request,  # type: ignore[arg-type]
                                      mapping=pending.mapping).rewritten)


def test_a_clusterimagemap_not_decided_yet_holds_the_pods_it_could_change(
        sources: tuple[FakeSource, FakeSource, FakeSource], watch: ClusterWatch) -> None:
    _, namespaces, clusterimagemaps = sources
    namespaces.apply(project())
    namespaces.apply(labelled("shop", {"mirror": "on"}))
    namespaces.apply(labelled("other", {}))
    clusterimagemaps.apply(clusterimagemap("hub", HUB,
                                           selector={"matchLabels": {"mirror": "on"}}))
    watch.start()
    wait_for("the pending ClusterImageMap", watch.view.pending_anywhere)
    nginx = _pod_request("shop", "nginx:1")
    # Not decided within the wait: still pending, named with its kind.
    _, undecided = watch.view.settled("shop", holds=_holds(nginx), timeout=0.05)
    assert [(p.name, p.kind) for p in undecided] == [("hub", "ClusterImageMap")]
    # A pod it could not change, or in a namespace it does not select, is not held.
    assert watch.view.settled("shop", holds=_holds(_pod_request("shop", "quay.io/x:1")),
                              timeout=0.05)[1] == ()
    assert watch.view.settled("other", holds=_holds(_pod_request("other", "nginx:1")),
                              timeout=0.05)[1] == ()
    # The decision arrives while a pod waits: it is answered under it.
    answered: list[Any] = []
    waiting = threading.Thread(target=lambda: answered.append(
        watch.view.settled("shop", holds=_holds(nginx), timeout=5)))
    waiting.start()
    namespaces.apply(project("hub"))
    waiting.join(5)
    mapping, still = answered[0]
    assert still == ()
    assert mapping.lookup("nginx:1").result == "mirror.example.com/hub/library/nginx:1"
    assert not watch.view.pending_anywhere()
