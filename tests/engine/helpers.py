"""Building ImageMap objects the way the API server returns them."""

from __future__ import annotations

from typing import Any


def imagemap(
    name: str,
    *entries: tuple[str, str],
    created: str = "2026-01-01T00:00:00Z",
    generation: int = 1,
    ready_since: str | None = None,
    observed_generation: int | None = None,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "mapper.imagerelocation.pivotal.io/v1alpha1",
        "kind": "ImageMap",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "creationTimestamp": created,
            "generation": generation,
        },
        "spec": {"map": [{"from": f, "to": t} for f, t in entries]},
    }
    if ready_since is not None:
        obj["status"] = {
            "observedGeneration": generation
            if observed_generation is None
            else observed_generation,
            "deployedMap": [{"from": f, "to": t} for f, t in entries],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Accepted",
                    "message": "",
                    "lastTransitionTime": ready_since,
                }
            ],
        }
    return obj
