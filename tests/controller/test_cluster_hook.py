"""ClusterImageMaps decided by one decider for the cluster (the namespace hook, on the project's
own Namespace), and their CompositeController's hooks following that record; driven as
Metacontroller drives them (hook version v2), each returned status and annotation written back."""

from __future__ import annotations

import copy
import itertools
import uuid
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import yaml

from image_mapper.cli.cluster_crd import cluster_crd, imagemap_crd
from image_mapper.controller.cluster_hook import (
    CLUSTER_DECISION_ANNOTATION,
    CLUSTER_SUMMARY_ANNOTATION,
    customize_clusterimagemap,
    sync_clusterimagemap,
)
from image_mapper.controller.dispatch import HOOKS, run_hook
from image_mapper.controller.namespace_hook import (
    DECISION_ANNOTATION,
    customize_namespace,
    sync_namespace,
)
from image_mapper.controller.protocol import CompositeSyncRequest, DecoratorSyncRequest
from image_mapper.engine.record import Record
from tests.golden import FIXTURE_NOW
from tests.manifests.test_crd_and_hooks import re2_anchors

API = "mapper.imagerelocation.pivotal.io/v1alpha1"
PROJECT = "image-mapper"
HUB = ("docker.io/", "mirror.example.com/hub/")
OTHER_HUB = ("docker.io/", "other.example.com/hub/")
QUAY = ("quay.io/", "mirror.example.com/quay/")


class Cluster:
    """The project's Namespace and the ClusterImageMaps, synced as Metacontroller would."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": PROJECT, "uid": str(uuid.uuid4()), "labels": {},
                         "annotations": {}}}
        self.maps: dict[str, dict[str, Any]] = {}
        self.imagemaps: dict[str, dict[str, Any]] = {}
        self._versions = itertools.count(1000)

    def apply(self, name: str, *maplets: tuple[str, str], created: str = "2026-01-01T00:00:00Z",
              **spec: Any) -> None:
        obj = self.maps.get(name)
        body = {"map": [{"from": f, "to": t} for f, t in maplets], **spec}
        if obj is None:
            obj = self.maps[name] = {
                "apiVersion": API, "kind": "ClusterImageMap",
                "metadata": {"name": name, "uid": str(uuid.uuid4()), "generation": 0,
                             "creationTimestamp": created}}
        obj["spec"] = body
        obj["metadata"]["generation"] += 1
        obj["metadata"]["resourceVersion"] = str(next(self._versions))

    def related(self) -> dict[str, dict[str, Any]]:
        return {f"ClusterImageMap.{API}": {n: copy.deepcopy(m) for n, m in self.maps.items()},
                f"ImageMap.{API}": {f"{PROJECT}/{n}": copy.deepcopy(m)
                                    for n, m in self.imagemaps.items()}}

    def decide(self) -> dict[str, Any]:
        request: DecoratorSyncRequest = {
            "controller": {}, "object": copy.deepcopy(self.namespace), "attachments": {},
            "related": self.related(), "finalizing": False}
        response = dict(sync_namespace(request, now=FIXTURE_NOW, cluster_namespace=PROJECT))
        annotations = self.namespace["metadata"]["annotations"]
        for key, value in response["annotations"].items():
            if value is None:
                annotations.pop(key, None)
            else:
                annotations[key] = value
        return response

    def sync(self, name: str) -> dict[str, Any]:
        related = self.related()
        related["Namespace.v1"] = {PROJECT: copy.deepcopy(self.namespace)}
        request: CompositeSyncRequest = {
            "controller": {}, "parent": copy.deepcopy(self.maps[name]), "children": {},
            "related": related, "finalizing": False}
        response = dict(sync_clusterimagemap(request, now=FIXTURE_NOW,
                                             cluster_namespace=PROJECT))
        self.maps[name]["status"] = response["status"]
        return response

    def settle(self) -> None:
        for _ in range(3):
            self.decide()
            for name in sorted(self.maps):
                self.sync(name)

    def reason(self, name: str) -> str:
        conditions = self.maps[name].get("status", {}).get("conditions", [])
        return str(conditions[0]["reason"]) if conditions else "(none)"

    def record(self) -> Record:
        return Record.decode(self.namespace["metadata"]["annotations"][
            CLUSTER_DECISION_ANNOTATION])


def test_customize_asks_for_the_project_namespace_and_every_clusterimagemap() -> None:
    parent = {"apiVersion": API, "kind": "ClusterImageMap", "metadata": {"name": "hub"}}
    assert customize_clusterimagemap({"controller": {}, "parent": parent},
                                     cluster_namespace="mapper-system") == {
        "relatedResources": [
            {"apiVersion": "v1", "resource": "namespaces", "names": ["mapper-system"]},
            {"apiVersion": API, "resource": "clusterimagemaps"}]}


def test_only_the_project_namespace_asks_for_the_clusterimagemaps() -> None:
    def rules(name: str) -> list[dict[str, Any]]:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        return list(customize_namespace({"controller": {}, "parent": namespace},
                                        cluster_namespace=PROJECT)["relatedResources"])
    assert {"apiVersion": API, "resource": "clusterimagemaps"} in rules(PROJECT)
    assert rules("apps") == [{"apiVersion": API, "resource": "imagemaps", "namespace": "apps"}]


def test_two_conflicting_at_once_the_first_by_creation_and_name_wins() -> None:
    cluster = Cluster()
    cluster.apply("b-hub", OTHER_HUB)
    cluster.apply("a-hub", HUB, QUAY)
    cluster.settle()
    assert (cluster.reason("a-hub"), cluster.reason("b-hub")) == ("Accepted", "Conflict")
    status = cluster.maps["b-hub"]["status"]
    assert status["conflicts"] == [{"from": "docker.io/", "to": "other.example.com/hub/",
                                    "clusterImageMap": "a-hub",
                                    "theirTo": "mirror.example.com/hub/"}]
    assert "conflicts with ClusterImageMap 'a-hub'" in status["conditions"][0]["message"]
    assert cluster.maps["a-hub"]["status"]["mappings"] == 2
    assert [e.name for e in cluster.record().in_force] == ["a-hub"]
    assert cluster.namespace["metadata"]["annotations"][CLUSTER_SUMMARY_ANNOTATION] == (
        "1 ClusterImageMap accepted, 1 rejected; maplets in force: 2")


def test_no_displacement_by_an_older_looking_newcomer() -> None:
    cluster = Cluster()
    cluster.apply("late", HUB, created="2026-03-01T00:00:00Z")
    cluster.settle()
    assert cluster.reason("late") == "Accepted"
    cluster.apply("early", OTHER_HUB, created="2026-01-01T00:00:00Z")
    cluster.settle()
    assert (cluster.reason("late"), cluster.reason("early")) == ("Accepted", "Conflict")


def test_a_status_is_not_written_before_the_record_judges_it() -> None:
    cluster = Cluster()
    cluster.apply("hub", HUB)
    response = cluster.sync("hub")  # no decision yet
    assert response["status"] == {}
    cluster.decide()
    first = cluster.sync("hub")["status"]
    assert first["conditions"][0]["reason"] == "Accepted"
    assert cluster.sync("hub")["status"] == first  # byte for byte, synced again


def test_the_layers_are_judged_apart() -> None:
    """ImageMaps of the project's namespace that contradict the ClusterImageMaps change no
    verdict of theirs, nor the reverse."""
    cluster = Cluster()
    cluster.apply("hub", HUB)
    cluster.imagemaps["own"] = {
        "apiVersion": API, "kind": "ImageMap",
        "metadata": {"name": "own", "namespace": PROJECT, "uid": "u-own", "generation": 1,
                     "resourceVersion": "1", "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {"map": [{"from": OTHER_HUB[0], "to": OTHER_HUB[1]}]}}
    cluster.settle()
    assert cluster.reason("hub") == "Accepted"
    annotations = cluster.namespace["metadata"]["annotations"]
    assert [e.name for e in Record.decode(annotations[DECISION_ANNOTATION]).in_force] == ["own"]


def test_an_invalid_selector_is_invalid_spec_and_a_valid_one_is_deployed() -> None:
    cluster = Cluster()
    cluster.apply("bad", QUAY, namespaceSelector={"matchExpressions": [
        {"key": "team", "operator": "In"}]})
    selector = {"matchLabels": {"team": "a"}}
    cluster.apply("good", HUB, namespaceSelector=selector)
    cluster.settle()
    assert cluster.reason("bad") == "InvalidSpec"
    assert cluster.maps["good"]["status"]["deployedNamespaceSelector"] == selector


def test_every_status_fits_the_crd() -> None:
    schema = cluster_crd(imagemap_crd())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    validator = jsonschema.Draft7Validator(re2_anchors(schema))
    cluster = Cluster()
    cluster.apply("a-hub", HUB, namespaceSelector={"matchLabels": {"team": "a"}},
                  imagePullSecrets=[{"name": "mirror"}])
    cluster.apply("b-hub", OTHER_HUB)
    cluster.settle()
    for obj in cluster.maps.values():
        validator.validate(obj)


def test_deleting_the_last_clusterimagemap_removes_the_record() -> None:
    cluster = Cluster()
    cluster.apply("hub", HUB)
    cluster.settle()
    assert CLUSTER_DECISION_ANNOTATION in cluster.namespace["metadata"]["annotations"]
    del cluster.maps["hub"]
    cluster.decide()
    assert CLUSTER_DECISION_ANNOTATION not in cluster.namespace["metadata"]["annotations"]


def test_other_namespaces_record_no_cluster_decision() -> None:
    request = {"controller": {}, "object": {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": "apps"}},
               "attachments": {}, "related": {}}
    response = run_hook("/namespace/sync", request, now=FIXTURE_NOW, cluster_namespace=PROJECT)
    assert CLUSTER_DECISION_ANNOTATION not in response.get("annotations", {})
    assert {"/clusterimagemap/customize", "/clusterimagemap/sync"} <= set(HOOKS)


def test_the_hook_paths_answer_through_the_dispatch_table() -> None:
    cluster = Cluster()
    cluster.apply("hub", HUB)
    cluster.decide()
    related = cluster.related()
    related["Namespace.v1"] = {PROJECT: cluster.namespace}
    body = {"controller": {}, "parent": cluster.maps["hub"], "children": {},
            "related": related}
    response = run_hook("/clusterimagemap/sync", yaml.safe_load(yaml.safe_dump(body)),
                        now=FIXTURE_NOW, cluster_namespace=PROJECT)
    assert response["status"]["conditions"][0]["reason"] == "Accepted"
