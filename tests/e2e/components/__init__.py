"""Every combination of the kustomize components, applied to the real API server."""
