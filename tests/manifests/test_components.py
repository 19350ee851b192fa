"""The optional parts as kustomize components: every combination builds, from a kustomization
outside the clone, and the namespace set once with `namespace:` is followed by every reference
to it (hook URLs, webhook Service, RBAC subjects, certificate names, token Secret, Prometheus's
server name, the webhook's exclusion of its own namespace)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from image_mapper.webhook.tls.certificates import service_dns_names
from tests.rendering import (
    COMPONENTS,
    OPTIONAL,
    ROOT,
    Settings,
    every_combination,
    kubectl_kustomize,
    render_kustomize,
)

COMBINATIONS = [*every_combination(), *every_combination("platform")]
Objects = dict[tuple[str, str], dict[str, Any]]


def by_id(objects: list[dict[str, Any]]) -> Objects:
    found = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    assert len(found) == len(objects), "two objects of the same kind and name"
    return found


@pytest.fixture(scope="module", params=COMBINATIONS, ids=[s.name for s in COMBINATIONS])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[Settings, Objects]:
    settings: Settings = request.param
    return settings, by_id(render_kustomize(settings, tmp_path_factory.mktemp("my-install")))


def strings(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from strings(value, (*path, index))
    elif isinstance(node, str):
        yield path, node


def test_the_optional_parts_are_components() -> None:
    for part in OPTIONAL:
        (document,) = yaml.safe_load_all((COMPONENTS / part / "kustomization.yaml").read_text())
        assert document["kind"] == "Component"
        assert document["apiVersion"] == "kustomize.config.k8s.io/v1alpha1"


def test_every_combination_builds_outside_the_clone(built: tuple[Settings, Objects]) -> None:
    settings, objects = built
    # The base, and each part's own objects when (and only when) it is included.
    assert ("Deployment", "image-mapper-webhook") in objects
    parts = set(settings.parts)
    assert (("Certificate", "image-mapper-webhook") in objects) == ("cert-manager" in parts)
    assert (("ServiceMonitor", "image-mapper-webhook") in objects) == ("metrics" in parts)
    assert (("Role", "image-mapper-webhook-tls") in objects) != ("cert-manager" in settings.parts)
    hooks = objects[("CompositeController", "image-mapper-imagemaps")]["spec"]["hooks"]
    assert ("authorization" in hooks["sync"]["webhook"]) == ("hooks-token" in settings.parts)
    (webhook,) = objects[("MutatingWebhookConfiguration", "image-mapper")]["webhooks"]
    keys = [e["key"] for e in webhook["namespaceSelector"]["matchExpressions"]]
    assert ("mapper.imagerelocation.pivotal.io/active" in keys) == (
        "active-namespaces-only" in parts)


def test_the_namespace_is_followed_everywhere(built: tuple[Settings, Objects]) -> None:
    settings, objects = built
    namespace = settings.namespace
    assert objects[("Namespace", namespace)]
    for (kind, name), obj in objects.items():
        if kind not in ("Namespace", "CustomResourceDefinition", "ClusterRole",
                        "ClusterRoleBinding", "MutatingWebhookConfiguration",
                        "CompositeController", "DecoratorController"):
            assert obj["metadata"]["namespace"] == namespace, (kind, name)
        # Every field named `namespace` anywhere names the install's.
        for path, value in strings(obj):
            if path[-1] == "namespace":
                assert value == namespace, (kind, name, path)
    for kind, name in (("CompositeController", "image-mapper-imagemaps"),
                       ("DecoratorController", "image-mapper-namespaces")):
        for hook in objects[(kind, name)]["spec"]["hooks"].values():
            assert hook["webhook"]["service"]["namespace"] == namespace
    (webhook,) = objects[("MutatingWebhookConfiguration", "image-mapper")]["webhooks"]
    assert webhook["clientConfig"]["service"]["namespace"] == namespace
    (by_name,) = [e for e in webhook["namespaceSelector"]["matchExpressions"]
                  if e["key"] == "kubernetes.io/metadata.name"]
    assert by_name == {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                       "values": ["kube-system", namespace, "metacontroller"]}
    for kind, name in (("ClusterRoleBinding", "image-mapper-webhook"),
                       ("ClusterRoleBinding", "image-mapper-webhook-tls"),
                       ("RoleBinding", "image-mapper-webhook-tls")):
        if (kind, name) in objects:
            assert [s["namespace"] for s in objects[(kind, name)]["subjects"]] == [namespace]
    if "cert-manager" in settings.parts:
        certificate = objects[("Certificate", "image-mapper-webhook")]
        assert certificate["spec"]["dnsNames"] == service_dns_names("image-mapper-webhook",
                                                                    namespace)
        annotations = objects[("MutatingWebhookConfiguration", "image-mapper")]["metadata"][
            "annotations"]
        assert annotations["cert-manager.io/inject-ca-from"] == f"{namespace}/image-mapper-webhook"
    if "metrics" in settings.parts:
        (endpoint,) = objects[("ServiceMonitor", "image-mapper-webhook")]["spec"]["endpoints"]
        assert endpoint["tlsConfig"]["serverName"] == f"image-mapper-webhook.{namespace}.svc"


def test_nothing_names_the_default_namespace_in_another(built: tuple[Settings, Objects]) -> None:
    """Beyond the fields above: no string anywhere is, or holds as a DNS label or `ns/name`
    part, `image-mapper`, except the names that are not namespaces."""
    settings, objects = built
    if settings.namespace == "image-mapper":
        return
    names = re.compile(r"(^|[./])image-mapper($|[./])")
    not_namespaces = {"name", "app.kubernetes.io/name", "command", "resourceNames",
                      "mountPath", "value", "args"}
    for (kind, name), obj in objects.items():
        for path, value in strings(obj):
            if names.search(value):
                keys = {key for key in path if isinstance(key, str)}
                assert keys & not_namespaces, (kind, name, path, value)
                assert not value.startswith("image-mapper/"), (kind, name, path, value)
                assert ".image-mapper." not in value, (kind, name, path, value)


def test_the_overlays_are_the_base_with_a_component(tmp_path: Path) -> None:
    """overlays/cert-manager and overlays/hooks-token build exactly what the same kustomization
    of one's own builds."""
    for part in ("cert-manager", "hooks-token"):
        overlay = kubectl_kustomize(ROOT / "overlays" / part)
        own = render_kustomize(Settings(parts=(part,)), tmp_path / part)
        assert by_id(overlay) == by_id(own)

