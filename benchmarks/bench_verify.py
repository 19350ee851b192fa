"""`image-mapper verify` on 1,000 relocated references, against a real registry on loopback
(distribution's, built by tests/registry/build.sh; images pushed by crane, then tagged over the
distribution API): the wall time of the whole command, Python's start included.

    .venv/bin/python -m benchmarks.bench_verify
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.registry.registries import Registry, start

REFERENCES = 1000
REPOSITORIES = 20
GOAL_SECONDS = 5.0
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def populate(registry: Registry) -> list[str]:
    """REFERENCES tags over REPOSITORIES repositories."""
    references = []
    per_repository = REFERENCES // REPOSITORIES
    session = requests.Session()
    for number in range(REPOSITORIES):
        repository = f"bench/app-{number}"
        registry.push(repository, "t0")
        url = f"{registry.url}/v2/{repository}/manifests"
        manifest = session.get(f"{url}/t0", headers={"Accept": MANIFEST}, timeout=10)
        manifest.raise_for_status()
        for tag in range(per_repository):
            if tag:
                session.put(f"{url}/t{tag}", data=manifest.content,
                            headers={"Content-Type": manifest.headers["Content-Type"]},
                            timeout=10).raise_for_status()
            references.append(f"{registry.host}/{repository}:t{tag}")
    return references


def measure() -> float:
    """Seconds `image-mapper verify` takes on REFERENCES references (median of three runs)."""
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as scratch:
        folder = Path(scratch)
        registry = start(folder / "registry")
        try:
            return _timed(folder, registry.host, populate(registry))
        finally:
            registry.stop()


def _timed(folder: Path, host: str, references: list[str]) -> float:
    """The median of three runs of `image-mapper verify` on the references."""
    maplets = "".join(f"  - {{from: 'upstream.example/app:{i}', to: '{r}'}}\n"
                      for i, r in enumerate(references))
    maps = folder / "map.yaml"
    maps.write_text("apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1\n"
                    "kind: ImageMap\nmetadata: {name: bench}\nspec:\n  map:\n" + maplets)
    runs = []
    for _ in range(3):
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "image_mapper", "verify", "-f",
                               str(maps), "--insecure-registry", host],
                              capture_output=True, text=True, check=False)
        runs.append(time.perf_counter() - began)
        if done.returncode != 0 or "1000 relocated references" not in done.stdout:
            raise RuntimeError(f"verify failed: {done.stdout[-500:]}{done.stderr[-500:]}")
    return sorted(runs)[1]

if __name__ == "__main__":
    seconds = measure()
    print(f"verify {REFERENCES} references: {seconds:.2f} s (goal <= {GOAL_SECONDS:g} s)")
