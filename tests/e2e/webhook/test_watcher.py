"""The webhook's watches (ImageMaps and Namespaces) against a real kube-apiserver: list, watch,
410 Gone and a relist, an API server that goes away; as the webhook's ServiceAccount with the
manifests' RBAC."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from image_mapper.webhook.kube import (
    KubernetesSource,
    close,
    imagemap_source,
    kube_client,
    namespace_source,
)
from image_mapper.webhook.watcher import Backoff, ClusterWatch, Gone
from tests.controlplane import ControlPlane
from tests.support.waiting import wait_for

from .cluster import delete_imagemap, put_imagemap, service_account_kubeconfig

pytestmark = pytest.mark.e2e


@pytest.fixture
def sources(cluster: ControlPlane, tmp_path: Path
            ) -> Iterator[tuple[KubernetesSource, KubernetesSource]]:
    kubeconfig = service_account_kubeconfig(cluster, tmp_path / "webhook.kubeconfig")
    api_client = kube_client(kubeconfig=str(kubeconfig))
    yield imagemap_source(api_client), namespace_source(api_client)
    close(api_client)


def _result(watcher: ClusterWatch, namespace: str, image: str) -> str | None:
    match = watcher.view.mapping_for(namespace).lookup(image)
    return None if match is None else match.result


def test_a_too_old_resource_version_is_gone(
    sources: tuple[KubernetesSource, KubernetesSource],
) -> None:
    source = sources[0]  # the ImageMaps (a resource with no history that old)
    _, resource_version = source.list()
    assert int(resource_version) > 1
    with pytest.raises(Gone, match="too old resource version"):
        next(iter(source.watch("1", timeout_seconds=5)))


def test_list_watch_relist_and_outage(
    cluster: ControlPlane, sources: tuple[KubernetesSource, KubernetesSource],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="image_mapper.webhook.watcher")  # "listing again" is INFO
    cp = cluster
    ns = "state-e2e"
    cp.kubectl("create", "namespace", ns)
    put_imagemap(cp, ns, "mirrors", [("nginx", "registry.example.com/nginx")])
    watcher = ClusterWatch(*sources, watch_timeout_seconds=60,
                           backoff=Backoff(initial=0.2, maximum=2.0))
    assert watcher.view.readiness()[0] is False
    watcher.start()
    try:
        # The list.
        wait_for("the first list", lambda: watcher.view.synced, timeout=30)
        assert _result(watcher, ns, "nginx:1") == "registry.example.com/nginx:1"

        # The watch: a new Ready ImageMap, one that is not Ready, a deletion.
        put_imagemap(cp, ns, "quay", [("quay.io/", "registry.example.com/quay/")])
        wait_for(
            "the new ImageMap through the watch",
            lambda: _result(watcher, ns, "quay.io/a/b:1") is not None,
            timeout=30,
        )
        put_imagemap(cp, ns, "rejected", [("gcr.io/", "elsewhere.example.com/")], ready=False)
        delete_imagemap(cp, ns, "mirrors")
        wait_for(
            "the deletion through the watch",
            lambda: _result(watcher, ns, "nginx") is None,
            timeout=30,
        )
        assert _result(watcher, ns, "gcr.io/x:1") is None
        assert "listing again" not in caplog.text  # no relist yet

        # The API server goes away: the last known state is still served, and ages.
        cp.kubectl("create", "configmap", "moves-the-resource-version", "-n", ns)
        cp.stop_apiserver()
        wait_for("the watch to fail", lambda: "imagemaps watch failed" in caplog.text, timeout=30)
        assert watcher.view.readiness()[0] is True
        assert _result(watcher, ns, "quay.io/a/b:1") == "registry.example.com/quay/a/b:1"

        # It comes back with a new watch cache: resuming from the old resourceVersion gets
        # 410 Gone, and the watcher lists again.
        cp.start_apiserver()
        put_imagemap(cp, ns, "late", [("docker.io/team/", "registry.example.com/team/")])
        wait_for(
            "the ImageMap created after the outage",
            lambda: _result(watcher, ns, "team/app:2") is not None,
            timeout=60,
        )
        assert "listing again" in caplog.text, "no 410 Gone after the API server restarted"
        assert _result(watcher, ns, "quay.io/a/b:1") == "registry.example.com/quay/a/b:1"
        age = watcher.view.age()
        assert age is not None
        assert age < 30
    finally:
        watcher.stop()
