"""The two ways to install, rendered for the same settings: a kustomization of the user's own
(outside the clone) over `metacontroller/` with components, and the Helm chart with values.

- `Settings`: a namespace and the optional parts (cert-manager, hooks-token, metrics);
- `kustomization(settings, folder)` writes the user's kustomization into `folder`, naming the
  base, components and transformer by relative path (kustomize refuses absolute ones), as a
  remote `github.com/...//metacontroller?ref=` would name them;
- `render_kustomize` / `render_chart` build them with `kubectl kustomize` and `helm template`;
- `helm_binary()` builds helm from the Go module proxy on first use (tests/helm/build.sh).
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "metacontroller"
COMPONENTS = ROOT / "components"
FOLLOW_NAMESPACE = ROOT / "transformers" / "follow-namespace"
CHART = ROOT / "charts" / "image-mapper"
HELM_BUILD = ROOT / "tests" / "helm" / "build.sh"
OPTIONAL = ("cert-manager", "hooks-token", "metrics", "active-namespaces-only")
RELEASE = "image-mapper"

# The chart's values for each component.
_VALUES = {
    "cert-manager": "webhook.tls.mode=cert-manager",
    "hooks-token": "hooks.token.enabled=true",
    "metrics": "metrics.serviceMonitor.enabled=true",
    "active-namespaces-only": "webhook.namespaces=active",
}


@dataclass(frozen=True)
class Settings:
    namespace: str = "image-mapper"
    parts: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return "+".join([self.namespace, *self.parts])

    def helm_set(self) -> list[str]:
        """The arguments of `helm template` / `helm install`: the release's namespace (where
        the chart puts every namespaced object) and `--set` for each part."""
        values = [_VALUES[part] for part in self.parts]
        return [f"--namespace={self.namespace}",
                *(arg for value in values for arg in ("--set", value))]


def every_combination(namespace: str = "image-mapper") -> Iterator[Settings]:
    for size in range(len(OPTIONAL) + 1):
        for parts in itertools.combinations(OPTIONAL, size):
            yield Settings(namespace, parts)


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kustomization(settings: Settings, folder: Path) -> Path:
    """The user's kustomization for `settings`, in `folder` (outside the clone)."""
    folder.mkdir(parents=True, exist_ok=True)

    def relative(path: Path) -> str:
        return os.path.relpath(path, folder.resolve())

    content = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": settings.namespace,
        "resources": [relative(BASE)],
        "components": [relative(COMPONENTS / part) for part in settings.parts],
        "transformers": [relative(FOLLOW_NAMESPACE)],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(content, sort_keys=False))
    return folder


def kubectl_kustomize(folder: Path) -> list[dict[str, Any]]:
    done = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    return documents(done.stdout)


def render_kustomize(settings: Settings, folder: Path) -> list[dict[str, Any]]:
    return kubectl_kustomize(kustomization(settings, folder))


def helm_binary() -> Path:
    """helm, built once from the Go module proxy and cached under ~/.cache/image-mapper."""
    done = subprocess.run(["bash", str(HELM_BUILD)], stdout=subprocess.PIPE, text=True,
                          check=False)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0, f"{HELM_BUILD} failed ({done.returncode})"
    assert lines, f"{HELM_BUILD} printed no path"
    return Path(lines[-1])


def helm(binary: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(binary), *args], capture_output=True, text=True, check=False,
                          timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def render_chart(binary: Path, settings: Settings, *extra: str) -> list[dict[str, Any]]:
    """`helm template` with the CRD (what `helm install` creates)."""
    return documents(helm(binary, "template", RELEASE, str(CHART), "--include-crds",
                          *settings.helm_set(), *extra).stdout)
