"""charts/image-mapper: `helm lint`, `helm template`, the CRD from its single source, values
checked, and the same objects as the kustomize install for the same settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.rendering import (
    CHART,
    ROOT,
    Settings,
    documents,
    every_combination,
    helm,
    helm_binary,
    render_chart,
    render_kustomize,
)

# The default; each part alone and all together; another namespace, alone and with all.
SETTINGS = [
    *every_combination(),
    Settings("platform"),
    Settings("platform", ("cert-manager", "hooks-token", "metrics")),
]
# The chart's own labels, on metadata only (never on selectors or pod templates).
CHART_LABELS = {"helm.sh/chart", "app.kubernetes.io/managed-by"}
CLUSTER_SCOPED_CUSTOM = {"CompositeController", "DecoratorController"}


@pytest.fixture(scope="module")
def binary() -> Path:
    return helm_binary()


def comparable(obj: dict[str, Any]) -> tuple[tuple[str, str, str], str]:
    """An object as both installs must render it, without the chart's own labels."""
    obj = json.loads(json.dumps(obj))
    labels = obj["metadata"].get("labels") or {}
    for label in CHART_LABELS:
        labels.pop(label, None)
    if not labels:
        obj["metadata"].pop("labels", None)
    if obj["kind"] in CLUSTER_SCOPED_CUSTOM:
        # kustomize cannot know a custom kind's scope and gives it the namespace; the API
        # server drops it from cluster-scoped objects.
        obj["metadata"].pop("namespace", None)
    key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
    return key, json.dumps(obj, sort_keys=True, indent=1)


@pytest.mark.parametrize("settings", SETTINGS, ids=[s.name for s in SETTINGS])
def test_the_chart_renders_what_kustomize_renders(binary: Path, settings: Settings,
                                                  tmp_path: Path) -> None:
    chart = dict(map(comparable, render_chart(binary, settings)))
    # The chart leaves the namespace to Helm (`-n NAMESPACE --create-namespace`).
    kustomize = dict(map(comparable, (o for o in render_kustomize(settings, tmp_path)
                                      if o["kind"] != "Namespace")))
    assert sorted(chart) == sorted(kustomize)
    for key, rendered in chart.items():
        assert rendered == kustomize[key], key


def test_every_object_carries_the_chart_labels(binary: Path) -> None:
    for obj in render_chart(binary, Settings(parts=("cert-manager", "metrics"))):
        if obj["kind"] == "CustomResourceDefinition":
            continue
        assert set(obj["metadata"]["labels"]) >= CHART_LABELS, obj["metadata"]["name"]


@pytest.mark.parametrize("values", [[], ["--set", "webhook.tls.mode=cert-manager",
                                         "--set", "hooks.token.enabled=true",
                                         "--set", "metrics.serviceMonitor.enabled=true",
                                         "--set", "logFormat=json"]],
                         ids=["defaults", "every-option"])
def test_helm_lint_passes(binary: Path, values: list[str]) -> None:
    done = helm(binary, "lint", "--strict", str(CHART), *values)
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("name", ["imagemaps.yaml", "clusterimagemaps.yaml"])
def test_the_crd_is_the_packaged_one(binary: Path, name: str) -> None:
    """One source: the chart's crds/ holds a link to hooks/crds/NAME, and helm follows it
    when it renders (and packages) the chart."""
    link = CHART / "crds" / name
    packaged = ROOT / "hooks" / "image_mapper" / "crds" / name
    assert link.is_symlink()
    assert link.resolve() == packaged.resolve()
    (source,) = documents(packaged.read_text())
    (crd,) = [o for o in render_chart(binary, Settings())
              if o["kind"] == "CustomResourceDefinition"
              and o["metadata"]["name"] == source["metadata"]["name"]]
    assert crd == source


def test_a_packaged_chart_holds_the_crd(binary: Path, tmp_path: Path) -> None:
    helm(binary, "package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("image-mapper-*.tgz")
    rendered = documents(helm(binary, "template", "image-mapper", str(archive),
                              "--include-crds").stdout)
    assert "CustomResourceDefinition" in {o["kind"] for o in rendered}


def test_values_pass_through(binary: Path) -> None:
    objects = {(o["kind"], o["metadata"]["name"]): o for o in render_chart(
        binary, Settings(), "--set", "logFormat=json", "--set", "webhook.replicas=3",
        "--set", "hooks.replicas=4", "--set", "webhook.failurePolicy=Ignore",
        "--set", "image.repository=registry.example.com/image-mapper",
        "--set", "image.digest=sha256:" + "a" * 64,
        "--set", "webhook.resources.limits.memory=1Gi")}
    webhook = objects[("Deployment", "image-mapper-webhook")]
    hooks = objects[("Deployment", "image-mapper-hooks")]
    assert webhook["spec"]["replicas"] == 3
    assert hooks["spec"]["replicas"] == 4
    for deployment in (webhook, hooks):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert {"name": "IMAGE_MAPPER_LOG_FORMAT", "value": "json"} in container["env"]
        assert container["image"] == "registry.example.com/image-mapper@sha256:" + "a" * 64
    (container,) = webhook["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["memory"] == "1Gi"
    (rule,) = objects[("MutatingWebhookConfiguration", "image-mapper")]["webhooks"]
    assert rule["failurePolicy"] == "Ignore"


BAD_VALUES = [
    ("webhook.tls.mode=self", "at '/webhook/tls/mode': value must be one of 'bootstrap', "
     "'cert-manager'"),
    ("webhook.failurepolicy=Ignore", "at '/webhook': additional properties 'failurepolicy' not "
     "allowed"),
    ("webhook.failurePolicy=Never", "at '/webhook/failurePolicy': value must be one of 'Fail', "
     "'Ignore'"),
    ("namespace=platform", "additional properties 'namespace' not allowed"),
    ("createNamespace=true", "additional properties 'createNamespace' not allowed"),
    ("logFormat=xml", "at '/logFormat': value must be one of '', 'text', 'json'"),
    ("hooks.replicas=0", "at '/hooks/replicas': minimum: got 0, want 1"),
    ("image.digest=latest", "at '/image/digest': 'latest' does not match pattern"),
]


@pytest.mark.parametrize(("value", "message"), BAD_VALUES, ids=[v for v, _ in BAD_VALUES])
def test_a_bad_value_is_refused_by_name(binary: Path, value: str, message: str) -> None:
    """values.schema.json: nothing is rendered (so nothing installed), and the error names
    the value."""
    done = helm(binary, "template", "image-mapper", str(CHART), "--set", value, check=False)
    assert done.returncode != 0
    assert done.stdout == ""
    assert message in done.stderr


def test_every_object_is_in_the_release_namespace(binary: Path) -> None:
    """`helm install image-mapper charts/image-mapper -n platform`: every namespaced object in
    `platform`, no Namespace object (Helm's --create-namespace makes it, and the release record
    lies beside the objects), and the webhook keeps away from the release's own pods."""
    objects = render_chart(binary, Settings("platform", ("cert-manager", "hooks-token",
                                                          "metrics")))
    assert "Namespace" not in {o["kind"] for o in objects}
    namespaced = [o for o in objects if "namespace" in o["metadata"]]
    assert len(namespaced) > 10
    assert {o["metadata"]["namespace"] for o in namespaced} == {"platform"}
    (configuration,) = [o for o in objects if o["kind"] == "MutatingWebhookConfiguration"]
    (webhook,) = configuration["webhooks"]
    assert webhook["clientConfig"]["service"]["namespace"] == "platform"
    assert {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
            "values": ["kube-system", "platform", "metacontroller"]} in (
        webhook["namespaceSelector"]["matchExpressions"])
