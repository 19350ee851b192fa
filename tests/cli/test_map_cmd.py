"""`image-mapper map` as a user runs it: a real subprocess, real files (design.md#commands)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "bootcamp-imagemap.yaml"
BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"


def image_mapper(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "image_mapper", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )


def test_sample_json() -> None:
    done = image_mapper("map", "-f", str(SAMPLE), "-o", "json", BOOTCAMP, "nginx")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "images": [
            {
                "image": BOOTCAMP,
                "result": "registry.example.com/kubernetes-bootcamp:v1",
                "imageMap": "bootcamp-sample",
            },
            {"image": "nginx", "result": "nginx", "imageMap": None},
        ],
        "imageMaps": [
            {
                "name": "bootcamp-sample",
                "ready": True,
                "reason": "Accepted",
                "message": "1 maplet in force",
            }
        ],
    }


SETTINGS_MAPS = """\
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ImageMap
metadata: {name: private}
spec:
  imagePullSecrets: [{name: regcred}, {name: mirror-creds}]
  map: [{from: "ghcr.io/", to: "private.example.com/ghcr/"}]
---
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ImageMap
metadata: {name: trial}
spec:
  mode: Audit
  imagePullSecrets: [{name: trial-creds}]
  map: [{from: nginx, to: registry.example.com/nginx}]
"""


def test_audit_results_and_pull_secrets_in_text(tmp_path: Path) -> None:
    (tmp_path / "maps.yaml").write_text(SETTINGS_MAPS)
    done = image_mapper("map", "-f", str(tmp_path), "ghcr.io/acme/app:1", "nginx:1.25", "redis")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "ghcr.io/acme/app:1 -> private.example.com/ghcr/acme/app:1  (ImageMap private; "
        "pull secrets: regcred, mirror-creds)",
        "nginx:1.25 would map registry.example.com/nginx:1.25  (ImageMap trial, Audit: not "
        "rewritten)",
        "redis -> redis  (no maplet matched)",
        "",
        "ImageMap private: Accepted: 1 maplet in force; pull secrets: regcred, mirror-creds",
        "ImageMap trial (Audit): Accepted: 1 maplet in force; pull secrets: trial-creds",
    ]


def test_audit_results_and_pull_secrets_in_json_add_keys_only(tmp_path: Path) -> None:
    (tmp_path / "maps.yaml").write_text(SETTINGS_MAPS)
    done = image_mapper("map", "-f", str(tmp_path), "-o", "json", "ghcr.io/acme/app:1",
                        "nginx:1.25", "redis")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "images": [
            {"image": "ghcr.io/acme/app:1", "result": "private.example.com/ghcr/acme/app:1",
             "imageMap": "private", "imagePullSecrets": ["regcred", "mirror-creds"]},
            # An Audit ImageMap leaves the image as it is, and says what it would make of it.
            {"image": "nginx:1.25", "result": "nginx:1.25", "imageMap": "trial",
             "mode": "Audit", "wouldMap": "registry.example.com/nginx:1.25",
             "imagePullSecrets": ["trial-creds"]},
            {"image": "redis", "result": "redis", "imageMap": None},
        ],
        "imageMaps": [
            {"name": "private", "ready": True, "reason": "Accepted",
             "message": "1 maplet in force", "imagePullSecrets": ["regcred", "mirror-creds"]},
            {"name": "trial", "ready": True, "reason": "Accepted",
             "message": "1 maplet in force", "mode": "Audit",
             "imagePullSecrets": ["trial-creds"]},
        ],
    }


def test_a_switch_to_audit_changes_no_verdict(tmp_path: Path) -> None:
    conflicting = SETTINGS_MAPS + """---
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ImageMap
metadata: {name: zz-later}
spec:
  map: [{from: nginx, to: other.example.com/nginx}]
"""
    verdicts = []
    for mode in ("Audit", "Enforce"):
        (tmp_path / "maps.yaml").write_text(conflicting.replace("mode: Audit", f"mode: {mode}"))
        done = image_mapper("map", "-f", str(tmp_path), "-o", "json", "nginx:1")
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        verdicts.append([(m["name"], m["reason"]) for m in out["imageMaps"]])
        assert out["images"][0]["imageMap"] == "trial"
    assert verdicts[0] == verdicts[1]
    assert ("zz-later", "Conflict") in verdicts[0]


def test_text_output_explains_conflicts(tmp_path: Path) -> None:
    (tmp_path / "maps.yaml").write_text(
        SAMPLE.read_text()
        + """---
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ImageMap
metadata: {name: later-map}
spec:
  map:
    - {from: "gcr.io/google-samples/kubernetes-bootcamp:v1", to: "other.example.com/b:v1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-an-imagemap}
"""
    )
    done = image_mapper("map", "-f", str(tmp_path), BOOTCAMP)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (
        f"{BOOTCAMP} -> registry.example.com/kubernetes-bootcamp:v1  (ImageMap bootcamp-sample)"
    )
    assert any(
        line.startswith("ImageMap later-map: Conflict:") and "'bootcamp-sample'" in line
        for line in lines
    )


BAD = [
    pytest.param("a: [\n", "invalid YAML (line 2", id="bad-yaml"),
    pytest.param(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "no ImageMap", id="no-imagemap"
    ),
    pytest.param(
        "apiVersion: example.com/v1\nkind: ImageMap\nmetadata: {name: x}\nspec: {}\n",
        "apiVersion",
        id="wrong-group",
    ),
    pytest.param(
        "apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1\nkind: ImageMap\nspec: {map: []}\n",
        "metadata.name",
        id="no-name",
    ),
    pytest.param("- 1\n- 2\n", "expected a Kubernetes object", id="not-an-object"),
]


@pytest.mark.parametrize(("content", "says"), BAD)
def test_bad_documents_are_one_line_errors(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    done = image_mapper("map", "-f", str(path), BOOTCAMP)
    assert done.returncode != 0
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_image_argument() -> None:
    done = image_mapper("map", "-f", str(SAMPLE), "Nginx:1")
    assert done.returncode == 1
    assert "'Nginx:1'" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_file() -> None:
    done = image_mapper("map", "-f", "/nonexistent.yaml", BOOTCAMP)
    assert done.returncode == 1
    assert "/nonexistent.yaml: no such file" in done.stderr


def test_a_second_file_after_f_is_not_taken_for_an_image(tmp_path: Path) -> None:
    """`-f` takes one path, in every command, as in kubectl: `-f a.yaml b.yaml IMAGE` is an
    error that says so, not a mapping of the image `b.yaml`."""
    second = tmp_path / "b.yaml"
    second.write_text(SAMPLE.read_text())
    done = image_mapper("map", "-f", str(SAMPLE), str(second), "nginx:1.25")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"image-mapper map: error: {str(second)!r} is a file, not an image: -f takes one file "
        f"or folder, so give each its own -f (-f {SAMPLE} -f {second})\n")
    missing = image_mapper("map", "-f", str(SAMPLE), "other-maps.yaml", "nginx")
    assert missing.returncode == 1
    assert "is a file, not an image" in missing.stderr
    both = image_mapper("map", "-f", str(SAMPLE), "-f", str(second), "nginx:1.25")
    assert both.returncode == 1  # the same name twice: the files were both read
    assert "is also defined in" in both.stderr


def test_an_invalid_reference_in_an_imagemap_reads_as_on_the_command_line(
        tmp_path: Path) -> None:
    maps = tmp_path / "maps.yaml"
    maps.write_text(SAMPLE.read_text().replace("registry.example.com/kubernetes-bootcamp:v1",
                                               "nginx:1 25"))
    done = image_mapper("map", "-f", str(maps), "nginx")
    assert done.returncode == 1
    assert "spec.map[0].to: invalid image reference 'nginx:1 25': invalid reference format" in (
        done.stderr)
    assert "does not match" not in done.stderr
    argument = image_mapper("map", "-f", str(SAMPLE), "nginx:1 25")
    assert "invalid reference format" in argument.stderr


LAYERS = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: a}}
---
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ClusterImageMap
metadata: {name: hub}
spec:
  imagePullSecrets: [{name: mirror-creds}]
  map: [{from: "docker.io/", to: "mirror.example.com/hub/"}]
---
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ClusterImageMap
metadata: {name: team-a-quay}
spec:
  namespaceSelector: {matchLabels: {team: a}}
  map: [{from: "quay.io/", to: "mirror.example.com/quay/"}]
---
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ClusterImageMap
metadata: {name: late-hub}
spec:
  map: [{from: "docker.io/", to: "other.example.com/"}]
---
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ImageMap
metadata: {name: own-redis, namespace: shop}
spec:
  map: [{from: redis, to: registry.shop.example/redis}]
"""


def test_clusterimagemaps_map_what_the_namespace_leaves(tmp_path: Path) -> None:
    (tmp_path / "maps.yaml").write_text(LAYERS)
    done = image_mapper("map", "-f", str(tmp_path), "-n", "shop", "-o", "json", "redis:7",
                        "nginx:1", "quay.io/a/b:1", "gcr.io/x:1")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert [(i["result"], i["imageMap"], i.get("kind")) for i in out["images"]] == [
        ("registry.shop.example/redis:7", "own-redis", None),
        ("mirror.example.com/hub/library/nginx:1", "hub", "ClusterImageMap"),
        ("mirror.example.com/quay/a/b:1", "team-a-quay", "ClusterImageMap"),
        ("gcr.io/x:1", None, None),
    ]
    assert out["images"][1]["imagePullSecrets"] == ["mirror-creds"]
    assert [(m.get("kind"), m["name"], m["reason"]) for m in out["imageMaps"]] == [
        (None, "own-redis", "Accepted"),  # the kind is said only of ClusterImageMaps
        # in walk order: no time in force, the same creationTimestamp, so by name
        ("ClusterImageMap", "hub", "Accepted"),
        ("ClusterImageMap", "late-hub", "Conflict"),
        ("ClusterImageMap", "team-a-quay", "Accepted"),
    ]
    assert "conflicts with ClusterImageMap 'hub'" in out["imageMaps"][2]["message"]


def test_a_namespace_without_imagemaps_gets_the_cluster_layer_alone(tmp_path: Path) -> None:
    (tmp_path / "maps.yaml").write_text(LAYERS)
    done = image_mapper("map", "-f", str(tmp_path), "-n", "other", "redis:7", "quay.io/a/b:1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # `other` has no ImageMap, and no label team=a: only `hub` selects it.
    assert lines[:2] == [
        "redis:7 -> mirror.example.com/hub/library/redis:7  (ClusterImageMap hub; pull "
        "secrets: mirror-creds)",
        "quay.io/a/b:1 -> quay.io/a/b:1  (no maplet matched)",
    ]
    assert "ClusterImageMap late-hub: Conflict: conflicts with ClusterImageMap 'hub'" in (
        done.stdout)


def test_a_clusterimagemap_the_api_server_would_refuse_is_no_preview(tmp_path: Path) -> None:
    (tmp_path / "maps.yaml").write_text(LAYERS.replace("{matchLabels: {team: a}}",
                                                       "{matchLabels: {team: 'a b'}}"))
    done = image_mapper("map", "-f", str(tmp_path), "-n", "shop", "nginx")
    assert done.returncode != 0
    assert "spec.namespaceSelector.matchLabels.team" in done.stderr
    assert "would refuse this ClusterImageMap" in done.stderr
