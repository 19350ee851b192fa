"""The CRDs of the operators the optional parts use, from their own sources: the Go modules of
prometheus-operator (ServiceMonitor, PodMonitor) and cert-manager (Certificate, Issuer), served
by the Go module proxy and kept in the Go module cache (`go mod download`), applied to the real
API server so that the components' and the chart's objects are validated by their schemas."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.controlplane.cluster import ControlPlane


@dataclass(frozen=True)
class CRDSource:
    module: str
    version: str
    folder: str
    files: tuple[str, ...]

    def paths(self) -> list[Path]:
        done = subprocess.run(["go", "mod", "download", "-json", f"{self.module}@{self.version}"],
                              capture_output=True, text=True, check=False, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        root = Path(json.loads(done.stdout)["Dir"])
        return [root / self.folder / name for name in self.files]


PROMETHEUS_OPERATOR = CRDSource(
    "github.com/prometheus-operator/prometheus-operator", "v0.85.0",
    "example/prometheus-operator-crd",
    ("monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_podmonitors.yaml"))
CERT_MANAGER = CRDSource(
    "github.com/cert-manager/cert-manager", "v1.21.2", "deploy/crds",
    ("cert-manager.io_certificates.yaml", "cert-manager.io_issuers.yaml"))


def install(cp: ControlPlane, *sources: CRDSource) -> None:
    """Apply the CRDs and wait until the API server serves them."""
    for source in sources:
        for path in source.paths():
            cp.kubectl("apply", "--server-side", "-f", str(path))
            cp.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(path))
