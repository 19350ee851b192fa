"""Helpers for the webhook's end-to-end tests against the local control plane."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.controlplane import ControlPlane

ROOT = Path(__file__).resolve().parents[3]
NAMESPACE = "image-mapper"
SERVICE_ACCOUNT = "image-mapper-webhook"
DECISION = "mapper.imagerelocation.pivotal.io/decision"
RBAC_KINDS = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
              "RoleBinding"}


def built_manifests() -> list[dict[str, Any]]:
    """`kubectl kustomize metacontroller/`, as objects."""
    out = subprocess.run(["kubectl", "kustomize", str(ROOT / "metacontroller")],
                         capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def manifest(kind: str, name: str) -> dict[str, Any]:
    for obj in built_manifests():
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise LookupError(f"{kind} {name} is not in the manifests")


def apply(cp: ControlPlane, *objects: dict[str, Any]) -> None:
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


def install_crd_and_webhook_rbac(cp: ControlPlane) -> None:
    """The CRDs, the project namespace, and the webhook's ServiceAccount and RBAC, exactly as
    the manifests have them (the webhook then runs with no more access than in a cluster)."""
    cp.kubectl("apply", "-k", str(ROOT / "crds"))  # ImageMaps and ClusterImageMaps
    cp.kubectl("wait", "--for=condition=Established", "--timeout=60s",
               "crd/imagemaps.mapper.imagerelocation.pivotal.io",
               "crd/clusterimagemaps.mapper.imagerelocation.pivotal.io")
    wanted = [o for o in built_manifests() if o["kind"] in RBAC_KINDS
              and (o["kind"] == "Namespace" or "webhook" in o["metadata"]["name"])]
    apply(cp, *wanted)


def service_account_kubeconfig(cp: ControlPlane, path: Path) -> Path:
    """A kubeconfig that authenticates as the webhook's ServiceAccount."""
    token = cp.service_account_token(NAMESPACE, SERVICE_ACCOUNT, duration="2h")
    config = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "cp", "cluster": {"server": cp.server,
                                                "certificate-authority": str(cp.ca_file)}}],
        "users": [{"name": "webhook", "user": {"token": token}}],
        "contexts": [{"name": "webhook", "context": {"cluster": "cp", "user": "webhook"}}],
        "current-context": "webhook",
    }
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def put_imagemap(
    cp: ControlPlane, namespace: str, name: str, entries: list[tuple[str, str]], *,
    ready: bool = True, since: str = "2026-01-01T00:00:00Z",
) -> None:
    """An ImageMap, the status the hooks would give it and its place in the namespace's
    decision record.

    This package tests the webhook's watches alone against a real API server (restarts, 410
    Gone, its RBAC), so no Metacontroller runs here: the test writes what the hooks would, to
    know exactly what the webhook saw. The product with the real Metacontroller is tested in
    `tests/e2e/installed` and `tests/e2e/hooks_token`."""
    entries_json = [{"from": f, "to": t} for f, t in entries]
    apply(cp, {"apiVersion": "mapper.imagerelocation.pivotal.io/v1alpha1", "kind": "ImageMap",
               "metadata": {"name": name, "namespace": namespace},
               "spec": {"map": entries_json}})
    generation = int(cp.kubectl("get", "imagemap", name, "-n", namespace, "-o",
                                "jsonpath={.metadata.generation}").stdout)
    condition = {"type": "Ready", "status": "True" if ready else "False",
                 "reason": "Accepted" if ready else "Conflict", "message": "set by the test",
                 "lastTransitionTime": since, "observedGeneration": generation}
    status: dict[str, Any] = {"observedGeneration": generation,
                              "mappings": len(entries) if ready else 0,
                              "conditions": [condition]}
    if ready:
        status["deployedMap"] = entries_json
    cp.kubectl("patch", "imagemap", name, "-n", namespace, "--subresource=status",
               "--type=merge", "-p", json.dumps({"status": status}))
    uid = cp.kubectl("get", "imagemap", name, "-n", namespace, "-o",
                     "jsonpath={.metadata.uid}").stdout
    record = _record(cp, namespace)
    for key in ("inForce", "rejected"):
        record[key] = [row for row in record[key] if row[0] != name]
    record["inForce" if ready else "rejected"].append([name, uid, generation])
    _put_record(cp, namespace, record)


def delete_imagemap(cp: ControlPlane, namespace: str, name: str) -> None:
    """Delete an ImageMap, then take it out of the namespace's decision record."""
    cp.kubectl("delete", "imagemap", name, "-n", namespace)
    record = _record(cp, namespace)
    for key in ("inForce", "rejected"):
        record[key] = [row for row in record[key] if row[0] != name]
    _put_record(cp, namespace, record)


def _record(cp: ControlPlane, namespace: str) -> dict[str, Any]:
    annotations = cp.kubectl_json("get", "namespace", namespace)["metadata"].get(  # type: ignore[union-attr]
        "annotations") or {}
    text = annotations.get(DECISION)
    return json.loads(text) if text else {"inForce": [], "rejected": []}


def _put_record(cp: ControlPlane, namespace: str, record: dict[str, Any]) -> None:
    cp.kubectl("annotate", "namespace", namespace, "--overwrite",
               f"{DECISION}={json.dumps(record)}")
