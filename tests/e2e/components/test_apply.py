"""`kubectl apply -k` of a kustomization of one's own (outside the clone, in its own
namespace) for every combination of the components: the API server accepts every object
(the CRDs' schemas validate the controllers, Certificates, Issuers and ServiceMonitors), and
what it stores follows the namespace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.rendering import Settings, every_combination, kustomization

pytestmark = pytest.mark.e2e

COMBINATIONS = [Settings(f"install-{index}", settings.parts)
                for index, settings in enumerate(every_combination())]


def stored(cp: ControlPlane, *args: str) -> dict[str, Any]:
    return cp.kubectl_json("get", *args)


@pytest.mark.parametrize("settings", COMBINATIONS, ids=[s.name for s in COMBINATIONS])
def test_every_combination_applies(cluster: ControlPlane, settings: Settings,
                                   tmp_path: Path) -> None:
    namespace = settings.namespace
    cluster.kubectl("apply", "-k", str(kustomization(settings, tmp_path / "my-install")))
    composite = stored(cluster, "compositecontroller", "image-mapper-imagemaps")
    for hook in composite["spec"]["hooks"].values():
        assert hook["webhook"]["service"]["namespace"] == namespace
        token = hook["webhook"].get("authorization")
        assert (token is not None) == ("hooks-token" in settings.parts)
        if token is not None:
            assert token["secretRef"]["namespace"] == namespace
    configuration = stored(cluster, "mutatingwebhookconfiguration", "image-mapper")
    (webhook,) = configuration["webhooks"]
    assert webhook["clientConfig"]["service"]["namespace"] == namespace
    binding = stored(cluster, "clusterrolebinding", "image-mapper-webhook")
    assert binding["subjects"][0]["namespace"] == namespace
    deployments = stored(cluster, "deployments", "-n", namespace)["items"]
    assert sorted(d["metadata"]["name"] for d in deployments) == [
        "image-mapper-hooks", "image-mapper-webhook"]
    if "cert-manager" in settings.parts:
        certificate = stored(cluster, "certificate", "image-mapper-webhook", "-n", namespace)
        assert f"image-mapper-webhook.{namespace}.svc" in certificate["spec"]["dnsNames"]
        assert configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == \
            f"{namespace}/image-mapper-webhook"
        assert stored(cluster, "issuers", "-n", namespace)["items"]
    if "metrics" in settings.parts:
        monitor = stored(cluster, "servicemonitor", "image-mapper-webhook", "-n", namespace)
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["tlsConfig"]["serverName"] == f"image-mapper-webhook.{namespace}.svc"
        assert stored(cluster, "servicemonitor", "image-mapper-hooks", "-n", namespace)
