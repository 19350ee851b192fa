"""`image-mapper images` and `image-mapper import`: what manifests run, and ImageMaps from a
relocation tool's record (the registry side, `verify`, is tested in tests/registry)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

IMAGE_MAPPER = [sys.executable, "-m", "image_mapper"]
API = "mapper.imagerelocation.pivotal.io/v1alpha1"

MANIFESTS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      initContainers: [{name: init, image: "busybox:1.36"}]
      containers:
      - {name: web, image: "nginx:1.25"}
      - {name: exporter, image: "quay.io/prometheus/node-exporter:v1.8.0"}
---
apiVersion: v1
kind: List
items:
- apiVersion: batch/v1
  kind: CronJob
  metadata: {name: nightly, namespace: shop}
  spec:
    jobTemplate:
      spec:
        template:
          spec:
            containers: [{name: job, image: "nginx:1.25"}]
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: not-a-workload}
  data: {image: "ignored:1"}
"""


def image_mapper(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IMAGE_MAPPER, *map(str, args)], input=stdin, capture_output=True,
                          text=True, timeout=60, check=False)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_images_are_listed_once_in_the_order_first_used(tmp_path: Path) -> None:
    done = image_mapper("images", "-f", write(tmp_path / "app.yaml", MANIFESTS))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["busybox:1.36", "nginx:1.25",
                                        "quay.io/prometheus/node-exporter:v1.8.0"]


def test_helm_template_on_stdin_and_where_each_is_used(tmp_path: Path) -> None:
    done = image_mapper("images", "-f", "-", "-o", "json", stdin=MANIFESTS)
    entries = json.loads(done.stdout)["images"]
    nginx = next(e for e in entries if e["image"] == "nginx:1.25")
    assert nginx["result"] == "nginx:1.25"
    assert nginx["imageMap"] is None
    assert [(u["where"], u["kind"], u["name"], u["container"]) for u in nginx["uses"]] == [
        ("standard input, document 1", "Deployment", "web", "web"),
        ("standard input, document 2, item 1", "CronJob", "nightly", "job")]


def test_what_each_becomes_under_the_layers(tmp_path: Path) -> None:
    """The namespace's ImageMaps first; the ClusterImageMaps only for what they leave."""
    maps = write(tmp_path / "maps.yaml", f"""\
apiVersion: {API}
kind: ImageMap
metadata: {{name: shop-map, namespace: shop}}
spec:
  map: [{{from: "nginx:1.25", to: "mirror.corp/shop/nginx:1.25"}}]
---
apiVersion: {API}
kind: ClusterImageMap
metadata: {{name: everything}}
spec:
  map: [{{from: "docker.io/", to: "mirror.corp/hub/"}}]
""")
    done = image_mapper("images", "-f", write(tmp_path / "app.yaml", MANIFESTS), maps)
    assert done.stdout.splitlines() == [
        "busybox:1.36 mirror.corp/hub/library/busybox:1.36",
        "nginx:1.25 mirror.corp/shop/nginx:1.25",
        "quay.io/prometheus/node-exporter:v1.8.0"]
    unmapped = image_mapper("images", "-f", tmp_path / "app.yaml", maps, "--unmapped")
    assert unmapped.stdout.splitlines() == ["quay.io/prometheus/node-exporter:v1.8.0"]
    entries = json.loads(image_mapper("images", "-f", tmp_path / "app.yaml", maps,
                                      "-o", "json").stdout)["images"]
    assert [(e["imageMap"], e.get("kind")) for e in entries] == [
        ("everything", "ClusterImageMap"), ("shop-map", "ImageMap"), (None, None)]


def test_a_namespace_selector_limits_the_cluster_layer(tmp_path: Path) -> None:
    maps = write(tmp_path / "maps.yaml", f"""\
apiVersion: {API}
kind: ClusterImageMap
metadata: {{name: elsewhere}}
spec:
  namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: other}}}}
  map: [{{from: "docker.io/", to: "mirror.corp/hub/"}}]
""")
    done = image_mapper("images", "-f", write(tmp_path / "app.yaml", MANIFESTS), maps,
                        "--unmapped")
    assert "nginx:1.25" in done.stdout.split()


def test_an_invalid_image_is_named_with_where_it_is_used(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
                "spec: {containers: [{name: c, image: 'Nginx:1'}]}\n")
    done = image_mapper("images", "-f", bad)
    assert done.returncode == 1
    assert done.stderr.startswith(f"image-mapper images: error: {bad}, document 1: Pod/p "
                                  "container c: invalid image reference 'Nginx:1'")


PAIRS = """\
# what crane copied
docker.io/library/nginx:1.25   registry.corp/mirror/library/nginx:1.25
docker.io/library/redis:7      registry.corp/mirror/library/redis:7

docker.io/library/redis:6      registry.corp/mirror/library/redis:6  # old
quay.io/team/app@sha256:{d}    registry.corp/quay/team/app@sha256:{d}
gcr.io/x/tool:1                registry.corp/tools/tool:1.0
""".format(d="a" * 64)


def test_import_pairs_keeps_every_pair_and_passes_validate(tmp_path: Path) -> None:
    done = image_mapper("import", "--format", "pairs", write(tmp_path / "copied.txt", PAIRS),
                        "-n", "shop")
    assert done.returncode == 0, done.stderr
    document = yaml.safe_load(done.stdout)
    assert document["kind"] == "ImageMap"
    assert document["metadata"] == {"name": "copied", "namespace": "shop"}
    assert len(document["spec"]["map"]) == 5
    assert document["spec"]["map"][3] == {"from": f"quay.io/team/app@sha256:{'a' * 64}",
                                          "to": f"registry.corp/quay/team/app@sha256:{'a' * 64}"}
    valid = image_mapper("validate", "-f", "-", stdin=done.stdout)
    assert valid.returncode == 0, valid.stdout


def test_compact_only_where_exact_and_says_what_else(tmp_path: Path) -> None:
    done = image_mapper("import", "--format", "pairs", write(tmp_path / "copied.txt", PAIRS),
                        "--compact", "--cluster", "--name", "mirror")
    assert done.returncode == 0, done.stderr
    document = yaml.safe_load(done.stdout)
    assert document["kind"] == "ClusterImageMap"
    assert document["spec"]["map"] == [
        {"from": "docker.io/library/", "to": "registry.corp/mirror/library/"},
        {"from": "quay.io/team/app", "to": "registry.corp/quay/team/app"},
        {"from": "gcr.io/x/tool:1", "to": "registry.corp/tools/tool:1.0"}]  # tag changed
    assert ("docker.io/library/ -> registry.corp/mirror/library/ replaces 3 image maplets and "
            "also maps every other repository under docker.io/library/ (listed: nginx, redis)"
            ) in done.stderr
    # Every listed pair maps exactly as listed.
    originals = [line.split()[0] for line in PAIRS.splitlines()
                 if line.strip() and not line.startswith("#")]
    mapped = image_mapper("map", "-f", "-", "-o", "json", *originals,
                          stdin=done.stdout.replace("ClusterImageMap", "ImageMap"))
    results = [i["result"] for i in json.loads(mapped.stdout)["images"]]
    assert results == [line.split()[1] for line in PAIRS.splitlines()
                       if line.strip() and not line.startswith("#")]


def test_conflicting_pairs_are_refused_naming_both_lines(tmp_path: Path) -> None:
    record = write(tmp_path / "copied.txt", "nginx:1.25 a.corp/nginx:1.25\n\n"
                   "docker.io/library/nginx:1.25 b.corp/nginx:1.25\n")
    done = image_mapper("import", "--format", "pairs", record)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"image-mapper import: error: docker.io/library/nginx:1.25 is relocated twice: to "
        f"a.corp/nginx:1.25 ({record}:1) and to b.corp/nginx:1.25 ({record}:3)")


def test_cnab_relocation_mapping_prefers_the_digest_pinned_copy(tmp_path: Path) -> None:
    digest = "sha256:" + "b" * 64
    record = write(tmp_path / "relocation-mapping.json",
                   json.dumps({"nginx:1.25": "registry.corp/nginx:1.25"}))
    done = image_mapper("import", "--format", "cnab", record)
    assert yaml.safe_load(done.stdout)["metadata"]["name"] == "relocation-mapping"
    # The same original twice, by tag and by digest of one copy: the digest is kept.
    text = ('{\n "nginx:1.25": "registry.corp/nginx:1.25",\n'
            f' "nginx:1.25": "registry.corp/nginx@{digest}"\n}}')
    done = image_mapper("import", "--format", "cnab", write(tmp_path / "twice.json", text))
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["spec"]["map"] == [
        {"from": "nginx:1.25", "to": f"registry.corp/nginx@{digest}"}]


def test_imgpkg_locks_are_joined_by_digest(tmp_path: Path) -> None:
    one, two = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    original = write(tmp_path / "images.yml", f"""\
apiVersion: imgpkg.carvel.dev/v1alpha1
kind: ImagesLock
images:
- image: index.docker.io/library/nginx@{one}
  annotations: {{kbld.carvel.dev/id: "nginx:1.25"}}
- image: gcr.io/team/api@{two}
""")
    relocated = write(tmp_path / "relocated.yml", f"""\
apiVersion: imgpkg.carvel.dev/v1alpha1
kind: ImagesLock
images:
- image: registry.corp/bundle@{two}
- image: registry.corp/bundle@{one}
""")
    done = image_mapper("import", "--format", "imgpkg", relocated, "--original", original)
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["spec"]["map"] == [
        {"from": f"gcr.io/team/api@{two}", "to": f"registry.corp/bundle@{two}"},
        {"from": f"index.docker.io/library/nginx@{one}", "to": f"registry.corp/bundle@{one}"}]


@pytest.mark.parametrize(("text", "message"), [
    ("nginx:1.25\n", "copied.txt:1: expected 'ORIGINAL RELOCATED', got 1 field: 'nginx:1.25'"),
    ("nginx:1.25 Bad:1\n", "copied.txt:1: invalid image reference 'Bad:1'"),
    ("# nothing\n", "no pairs to import"),
], ids=["one-column", "invalid-reference", "empty"])
def test_bad_records_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    done = image_mapper("import", "--format", "pairs", write(tmp_path / "copied.txt", text))
    assert done.returncode == 1
    assert message in done.stderr


def test_a_compaction_that_would_be_rejected_is_not_made(tmp_path: Path) -> None:
    """Relocating within one registry: `reg.corp/` -> `reg.corp/mirror/` would map its own
    results again, so repository maplets are made instead."""
    record = write(tmp_path / "copied.txt", "reg.corp/a/x:1 reg.corp/mirror/a/x:1\n"
                   "reg.corp/b/y:1 reg.corp/mirror/b/y:1\n")
    done = image_mapper("import", "--format", "pairs", record, "--compact")
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["spec"]["map"] == [
        {"from": "reg.corp/a/x", "to": "reg.corp/mirror/a/x"},
        {"from": "reg.corp/b/y", "to": "reg.corp/mirror/b/y"}]
    assert "image-mapper import: prefix maplets not made: they would be rejected" in done.stderr


def test_a_digest_the_relocation_drops_is_reported(tmp_path: Path) -> None:
    digest = "sha256:" + "c" * 64
    record = write(tmp_path / "copied.txt", f"nginx@{digest} reg.corp/nginx:pinned\n")
    done = image_mapper("import", "--format", "pairs", record)
    assert done.returncode == 0
    assert (f"copied.txt:1: nginx@{digest} is pinned by digest but reg.corp/nginx:pinned is "
            "not") in done.stderr
