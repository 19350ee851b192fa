"""A real local Kubernetes control plane for e2e tests.

etcd, kube-apiserver and kube-controller-manager, built from the Go module proxy.
"""

from .cluster import (
    ControlPlane,
    ControlPlaneError,
    KubectlError,
    default_bin_dir,
    ensure_binaries,
)

__all__ = [
    "ControlPlane",
    "ControlPlaneError",
    "KubectlError",
    "default_bin_dir",
    "ensure_binaries",
]
