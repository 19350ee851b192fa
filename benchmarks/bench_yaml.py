"""Loading large manifests: `read_documents` (libyaml's loader) against PyYAML's pure-Python
`SafeLoader`, in the same run.

    .venv/bin/python -m benchmarks.bench_yaml [--sizes-mb 1.4 14.6] [--repeat 3]

Generates multi-document files of Deployments of about the given sizes, times
`image_mapper.cli.documents.read_documents` on each (best of `--repeat`), then the same call
with the loader swapped for `yaml.SafeLoader` (once: it is slow), and prints one line per size and
`BENCH {json}`. Asserts nothing; compare the ratio, not the seconds: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml

from image_mapper.cli import documents

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{n}
  namespace: team-{team}
  labels: {{app.kubernetes.io/name: app-{n}, app.kubernetes.io/part-of: shop}}
spec:
  replicas: 3
  selector:
    matchLabels: {{app.kubernetes.io/name: app-{n}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: app-{n}}}
      annotations: {{prometheus.io/scrape: "true", prometheus.io/port: "9090"}}
    spec:
      serviceAccountName: app-{n}
      initContainers:
        - name: migrate
          image: quay.io/shop/migrate:1.{n}
          command: ["/bin/migrate", "--wait", "30s"]
      containers:
        - name: app
          image: gcr.io/shop/app-{n}:v2.{n}
          ports: [{{containerPort: 8080, name: http}}, {{containerPort: 9090, name: metrics}}]
          env:
            - {{name: LOG_LEVEL, value: info}}
            - {{name: DATABASE_URL, valueFrom: {{secretKeyRef: {{name: db, key: url}}}}}}
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{cpu: "1", memory: 512Mi}}
          readinessProbe: {{httpGet: {{path: /ready, port: http}}, periodSeconds: 5}}
          securityContext: {{runAsNonRoot: true, readOnlyRootFilesystem: true}}
        - name: proxy
          image: nginx:1.25
          ports: [{{containerPort: 80}}]
"""


def manifest(size_bytes: int) -> str:
    """Deployments, `---` separated, until the text reaches `size_bytes`."""
    parts: list[str] = []
    total = 0
    n = 0
    while total < size_bytes:
        part = DEPLOYMENT.format(n=n, team=n % 7)
        parts.append(part)
        total += len(part) + 4
        n += 1
    return "---\n".join(parts)


def timed_read(path: Path, loader: type[yaml.SafeLoader], repeat: int) -> tuple[float, int]:
    """Best seconds of `repeat` reads, and the documents read."""
    saved = documents._LOADER
    documents._LOADER = loader
    try:
        best = float("inf")
        count = 0
        for _ in range(repeat):
            start = time.perf_counter()
            count = len(documents.read_documents([str(path)]))
            best = min(best, time.perf_counter() - start)
        return best, count
    finally:
        documents._LOADER = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=float, nargs="+", default=[1.4, 14.6])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    fast = getattr(yaml, "CSafeLoader", None)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes_mb:
            path = Path(folder) / f"deployments-{size}.yaml"
            path.write_text(manifest(int(size * 1_000_000)), encoding="utf-8")
            mb = path.stat().st_size / 1_000_000
            c_seconds, count = (timed_read(path, fast, args.repeat) if fast else (None, 0))
            py_seconds, count = timed_read(path, yaml.SafeLoader, 1)
            ratio = py_seconds / c_seconds if c_seconds else None
            print(f"{mb:.1f} MB, {count} Deployments: read_documents {c_seconds or 0:.2f} s "
                  f"(libyaml), {py_seconds:.2f} s (yaml.SafeLoader), "
                  f"{ratio or 0:.1f}x", flush=True)
            results.append({"mb": round(mb, 2), "documents": count,
                            "c_seconds": c_seconds and round(c_seconds, 3),
                            "python_seconds": round(py_seconds, 3),
                            "ratio": ratio and round(ratio, 1)})
    print("BENCH " + json.dumps({"yaml": results}))


if __name__ == "__main__":
    main()
