"""The CRD and the Metacontroller manifests: they parse, fit together, and the CRD's schema
accepts good ImageMaps and rejects malformed ones (an API server test lives elsewhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from image_mapper.controller.dispatch import HOOKS
from tests.golden import hook_cases

ROOT = Path(__file__).resolve().parents[2]
# The CRD is package data (hooks/crds/), which the CLI reads; crds/ points there.
# crds/imagemaps.yaml is a link to it, for whoever reads it there: counted once.
MANIFESTS = sorted({p.resolve() for p in [*ROOT.glob("crds/*.yaml"),
                                          *ROOT.glob("hooks/crds/*.yaml"),
                                          *ROOT.glob("metacontroller/*.yaml")]})


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def manifest(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [doc for path in MANIFESTS for doc in documents(path)
             if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("path", MANIFESTS, ids=[str(p.relative_to(ROOT)) for p in MANIFESTS])
def test_each_file_parses_to_one_object_with_a_kind(path: Path) -> None:
    docs = documents(path)
    assert len(docs) == 1  # one object per file
    assert isinstance(docs[0]["apiVersion"], str)
    assert isinstance(docs[0]["kind"], str)


def test_the_kustomization_is_a_plain_list_of_every_manifest() -> None:
    kustomization = documents(ROOT / "metacontroller" / "kustomization.yaml")[0]
    assert set(kustomization) == {"apiVersion", "kind", "namespace", "resources"}
    assert kustomization["namespace"] == "image-mapper"
    resources = kustomization["resources"]
    assert "../crds" in resources
    others = {p.name for p in ROOT.glob("metacontroller/*.yaml")} - {"kustomization.yaml"}
    assert others <= set(resources)
    for resource in resources:
        assert (ROOT / "metacontroller" / resource).exists()
    packaged = ROOT / "hooks" / "image_mapper" / "crds"
    assert documents(ROOT / "crds" / "kustomization.yaml")[0]["resources"] == [
        "../hooks/image_mapper/crds"]
    assert documents(packaged / "kustomization.yaml")[0]["resources"] == [
        "imagemaps.yaml", "clusterimagemaps.yaml"]
    assert manifest("Namespace")["metadata"]["name"] == "image-mapper"


# --- the CRD ------------------------------------------------------------------------------------

CRD = manifest("CustomResourceDefinition", "imagemaps.mapper.imagerelocation.pivotal.io")
VERSION = CRD["spec"]["versions"][0]
SCHEMA = VERSION["schema"]["openAPIV3Schema"]


def test_crd_names_and_subresources() -> None:
    assert CRD["metadata"]["name"] == "imagemaps.mapper.imagerelocation.pivotal.io"
    assert CRD["spec"]["scope"] == "Namespaced"
    assert CRD["spec"]["names"]["kind"] == "ImageMap"
    assert "imap" in CRD["spec"]["names"]["shortNames"]
    assert VERSION["name"] == "v1alpha1"
    assert VERSION["subresources"] == {"status": {}}
    columns = [c["name"] for c in VERSION["additionalPrinterColumns"]]
    assert columns == ["Ready", "Reason", "Mappings", "Age"]


def re2_anchors(schema: Any) -> Any:
    """The API server matches `pattern` with Go's RE2, where `$` is the end of the text; in
    Python `$` also matches before a final newline, `\\Z` does not."""
    if isinstance(schema, dict):
        return {key: (value[:-1] + "\\Z" if key == "pattern" and value.endswith("$")
                      else re2_anchors(value)) for key, value in schema.items()}
    if isinstance(schema, list):
        return [re2_anchors(item) for item in schema]
    return schema


VALIDATOR = jsonschema.Draft7Validator(re2_anchors(SCHEMA))


def validate(obj: dict[str, Any]) -> None:
    VALIDATOR.validate(obj)


def sample(*maplets: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "mapper.imagerelocation.pivotal.io/v1alpha1", "kind": "ImageMap",
            "metadata": {"name": "sample"}, "spec": {"map": list(maplets), **spec}}


GOOD = [
    ("image", {"from": "gcr.io/google-samples/kubernetes-bootcamp:v1",
               "to": "registry.example.com/kubernetes-bootcamp:v1"}),
    ("repository", {"from": "nginx", "to": "registry.example.com/mirror/nginx"}),
    ("prefix", {"from": "quay.io/", "to": "registry.example.com/quay/"}),
    ("digest", {"from": "redis@sha256:" + "a" * 64, "to": "registry.example.com/redis@sha256:"
                + "a" * 64}),
    ("ipv6-port-underscores", {"from": "[::1]:5000/a_b/c__d:v1.0_x", "to": "localhost/x:y"}),
]


@pytest.mark.parametrize("maplet", [g[1] for g in GOOD], ids=[g[0] for g in GOOD])
def test_the_schema_accepts_maplets_of_every_form(maplet: dict[str, Any]) -> None:
    validate(sample(maplet))


def test_the_schema_accepts_the_sample_and_every_fixture_imagemap() -> None:
    validate(documents(ROOT / "samples" / "bootcamp-imagemap.yaml")[0])
    for case in hook_cases("/imagemap/sync"):
        validate(case.request()["parent"])


BAD = [
    ("no-spec", {"apiVersion": "x/v1", "kind": "ImageMap", "metadata": {}}),
    ("no-map", sample() | {"spec": {}}),
    ("empty-map", sample()),
    ("map-not-a-list", sample() | {"spec": {"map": {"from": "a", "to": "b"}}}),
    ("too-many", sample(*[{"from": f"a{i}:1", "to": f"b{i}:1"} for i in range(1001)])),
    ("no-to", sample({"from": "nginx"})),
    ("no-from", sample({"to": "nginx"})),
    ("number", sample({"from": "nginx", "to": 5})),
    ("empty-from", sample({"from": "", "to": "x"})),
    ("spaces", sample({"from": "not an image", "to": "x"})),
    ("scheme", sample({"from": "https://gcr.io/x", "to": "y"})),
    ("empty-segment", sample({"from": "gcr.io//x", "to": "y"})),
    ("only-slash", sample({"from": "/", "to": "y/"})),
    ("quote", sample({"from": "nginx\"", "to": "y"})),
    ("newline", sample({"from": "nginx\n", "to": "y"})),
    ("leading-slash", sample({"from": "/nginx", "to": "y"})),
    ("too-long", sample({"from": "a" * 1025, "to": "y"})),
    # mode and pull secrets (design.md#relocation-settings)
    ("mode-lowercase", sample(GOOD[0][1], mode="audit")),
    ("mode-unknown", sample(GOOD[0][1], mode="Dry")),
    ("secrets-not-a-list", sample(GOOD[0][1], imagePullSecrets={"name": "regcred"})),
    ("secret-no-name", sample(GOOD[0][1], imagePullSecrets=[{}])),
    ("secret-name-uppercase", sample(GOOD[0][1], imagePullSecrets=[{"name": "RegCred"}])),
    ("secret-name-underscore", sample(GOOD[0][1], imagePullSecrets=[{"name": "reg_cred"}])),
    ("secret-name-too-long", sample(GOOD[0][1], imagePullSecrets=[{"name": "a" * 254}])),
    ("secret-name-newline", sample(GOOD[0][1], imagePullSecrets=[{"name": "regcred\n"}])),
    ("too-many-secrets", sample(GOOD[0][1],
                                imagePullSecrets=[{"name": f"s{i}"} for i in range(33)])),
]


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"mode": "Enforce"}, id="enforce"),
        pytest.param({"mode": "Audit"}, id="audit"),
        pytest.param({"imagePullSecrets": [{"name": "regcred"}, {"name": "a.b-c"}]},
                     id="secrets"),
        pytest.param({"imagePullSecrets": [{"name": f"s{i}"} for i in range(32)]},
                     id="32-secrets"),
        pytest.param({"imagePullSecrets": [{"name": "a" * 253}]}, id="longest-name"),
    ],
)
def test_the_schema_accepts_modes_and_pull_secrets(spec: dict[str, Any]) -> None:
    validate(sample(GOOD[0][1], **spec))


def test_the_schema_defaults_the_mode_to_enforce() -> None:
    assert SCHEMA["properties"]["spec"]["properties"]["mode"]["default"] == "Enforce"


@pytest.mark.parametrize("obj", [b[1] for b in BAD], ids=[b[0] for b in BAD])
def test_the_schema_rejects_malformed_specs(obj: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate(obj)


def test_every_status_the_hook_writes_fits_the_schema() -> None:
    for case in hook_cases("/imagemap/sync"):
        obj = case.request()["parent"]
        obj["status"] = case.response()["status"]
        validate(obj)


# --- the controllers and the hooks' Deployment ---------------------------------------------------

SERVICE = manifest("Service", "image-mapper-hooks")
DEPLOYMENT = manifest("Deployment", "image-mapper-hooks")
COMPOSITE = manifest("CompositeController", "image-mapper-imagemaps")
CLUSTER_COMPOSITE = manifest("CompositeController", "image-mapper-clusterimagemaps")
DECORATOR = manifest("DecoratorController")


@pytest.mark.parametrize("controller", [COMPOSITE, CLUSTER_COMPOSITE, DECORATOR],
                         ids=["composite", "cluster-composite", "decorator"])
def test_controllers_call_existing_hooks_through_the_service(controller: dict[str, Any]) -> None:
    hooks = controller["spec"]["hooks"]
    assert set(hooks) == {"customize", "sync"}
    for hook in hooks.values():
        webhook = hook["webhook"]
        assert webhook["path"] in HOOKS
        assert webhook["service"] == {"name": SERVICE["metadata"]["name"],
                                      "namespace": "image-mapper",
                                      "port": SERVICE["spec"]["ports"][0]["port"],
                                      "protocol": "http"}
        assert webhook["timeout"]


def test_the_composite_controller() -> None:
    spec = COMPOSITE["spec"]
    assert spec["generateSelector"] is True
    assert spec["parentResource"] == {
        "apiVersion": "mapper.imagerelocation.pivotal.io/v1alpha1", "resource": "imagemaps"}
    assert spec["childResources"] == []
    assert spec["hooks"]["sync"]["webhook"]["path"] == "/imagemap/sync"


def test_the_clusterimagemap_composite_controller() -> None:
    spec = CLUSTER_COMPOSITE["spec"]
    assert spec["generateSelector"] is True
    assert spec["parentResource"] == {
        "apiVersion": "mapper.imagerelocation.pivotal.io/v1alpha1",
        "resource": "clusterimagemaps"}
    assert spec["childResources"] == []
    # v2: the project's Namespace (cluster-scoped) comes among `related`.
    assert {hook["version"] for hook in spec["hooks"].values()} == {"v2"}
    assert spec["hooks"]["sync"]["webhook"]["path"] == "/clusterimagemap/sync"


def test_the_hooks_know_their_namespace_from_the_downward_api() -> None:
    (container,) = DEPLOYMENT["spec"]["template"]["spec"]["containers"]
    assert {"name": "IMAGE_MAPPER_HOOKS_CLUSTER_NAMESPACE",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}} in container["env"]


@pytest.mark.parametrize(("name", "aggregated", "verbs"), [
    ("image-mapper-imagemaps-edit", {"admin", "edit"},
     {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}),
    ("image-mapper-imagemaps-view", {"view"}, {"get", "list", "watch"}),
])
def test_imagemaps_are_aggregated_to_the_built_in_roles(name: str, aggregated: set[str],
                                                        verbs: set[str]) -> None:
    role = manifest("ClusterRole", name)
    labels = role["metadata"]["labels"]
    assert {k.removeprefix("rbac.authorization.k8s.io/aggregate-to-") for k, v in labels.items()
            if k.startswith("rbac.authorization.k8s.io/aggregate-to-") and v == "true"} == (
        aggregated)
    (rule,) = role["rules"]
    assert "clusterimagemaps" not in rule["resources"]  # for cluster administrators only
    assert set(rule["verbs"]) == verbs


def test_the_decorator_controller() -> None:
    spec = DECORATOR["spec"]
    assert spec["resources"] == [{"apiVersion": "v1", "resource": "namespaces"}]
    assert spec["attachments"] == []
    assert spec["hooks"]["sync"]["webhook"]["path"] == "/namespace/sync"


def test_the_deployment_is_locked_down() -> None:
    pod = DEPLOYMENT["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "image-mapper-hooks"
    assert manifest("ServiceAccount", "image-mapper-hooks")["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert set(container["resources"]) == {"requests", "limits"}
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}


def test_the_deployment_serves_what_the_service_and_probes_expect() -> None:
    (container,) = DEPLOYMENT["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["image-mapper"]
    assert container["args"][0] == "serve-hooks"
    (port,) = container["ports"]
    assert f"--port={port['containerPort']}" in container["args"]
    assert SERVICE["spec"]["ports"][0]["targetPort"] == port["name"]
    assert SERVICE["spec"]["selector"] == DEPLOYMENT["spec"]["selector"]["matchLabels"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
