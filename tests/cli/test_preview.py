"""`image-mapper preview` and `image-mapper review -o patch` as a user runs them: a real
subprocess, real files and standard input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.golden import IMAGEMAPS, admission_cases

ROOT = Path(__file__).resolve().parents[2]
ORIGINAL_IMAGES = "mapper.imagerelocation.pivotal.io/original-images"
BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
RELOCATED = "registry.example.com/kubernetes-bootcamp:v1"

MAPS = """\
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ImageMap
metadata: {name: relocated}
spec:
  map:
    - {from: "gcr.io/google-samples/kubernetes-bootcamp:v1",
       to: "registry.example.com/kubernetes-bootcamp:v1"}
    - {from: nginx, to: registry.example.com/hub/nginx}
"""


def image_mapper(*args: str, stdin: str | bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "image_mapper", *args],
        input=stdin.decode() if isinstance(stdin, bytes) else stdin,
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=60,
    )


def pod_spec() -> dict[str, Any]:
    return {
        "initContainers": [{"name": "init", "image": "nginx:1.25"}],
        "containers": [{"name": "app", "image": BOOTCAMP}, {"name": "side", "image": "busybox"}],
        "ephemeralContainers": [{"name": "debug", "image": "nginx"}],
    }


EXPECTED_POD = {
    "initContainers": [{"name": "init", "image": "registry.example.com/hub/nginx:1.25"}],
    "containers": [{"name": "app", "image": RELOCATED}, {"name": "side", "image": "busybox"}],
    "ephemeralContainers": [{"name": "debug", "image": "registry.example.com/hub/nginx"}],
}
EXPECTED_RECORD = {"app": BOOTCAMP, "debug": "nginx", "init": "nginx:1.25"}


def template() -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec()}


WORKLOADS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "Pod": ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
             "spec": pod_spec()}, ()),
    "Deployment": ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                    "spec": {"replicas": 2, "template": template()}}, ("spec", "template")),
    "StatefulSet": ({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
                     "spec": {"serviceName": "db", "template": template()}},
                    ("spec", "template")),
    "DaemonSet": ({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
                   "spec": {"template": template()}}, ("spec", "template")),
    "ReplicaSet": ({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
                    "spec": {"template": template()}}, ("spec", "template")),
    "Job": ({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
             "spec": {"backoffLimit": 1, "template": template()}}, ("spec", "template")),
    "ReplicationController": ({"apiVersion": "v1", "kind": "ReplicationController",
                               "metadata": {"name": "rc"}, "spec": {"template": template()}},
                              ("spec", "template")),
    "PodTemplate": ({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"},
                     "template": template()}, ("template",)),
    "CronJob": ({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
                 "spec": {"schedule": "0 3 * * *",
                          "jobTemplate": {"spec": {"template": template()}}}},
                ("spec", "jobTemplate", "spec", "template")),
}


def at(document: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


def documents(text: str) -> list[Any]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


@pytest.fixture
def maps(tmp_path: Path) -> Path:
    path = tmp_path / "maps.yaml"
    path.write_text(MAPS)
    return path


@pytest.mark.parametrize("kind", WORKLOADS)
def test_each_workload_runs_relocated_with_the_record(
    maps: Path, tmp_path: Path, kind: str
) -> None:
    manifest, path = WORKLOADS[kind]
    (tmp_path / "app.yaml").write_text(yaml.safe_dump(manifest))
    done = image_mapper("preview", "-f", str(maps), str(tmp_path / "app.yaml"))
    assert done.returncode == 0, done.stderr
    # The webhook's warnings, one per image rewritten, as kubectl would show them.
    where = f"image-mapper preview: {tmp_path / 'app.yaml'}, document 1:"
    assert done.stderr.splitlines() == [
        f"{where} init: nginx:1.25 -> registry.example.com/hub/nginx:1.25 (ImageMap relocated)",
        f"{where} app: {BOOTCAMP} -> {RELOCATED} (ImageMap relocated)",
        f"{where} debug: nginx -> registry.example.com/hub/nginx (ImageMap relocated)",
    ]
    [result] = documents(done.stdout)
    pod = at(result, path)
    assert pod["spec"] == EXPECTED_POD
    assert json.loads(pod["metadata"]["annotations"][ORIGINAL_IMAGES]) == EXPECTED_RECORD
    # Everything else is as written.
    pod["spec"] = at(manifest, path)["spec"]
    del pod["metadata"]["annotations"]
    assert result == manifest


def test_the_record_is_written_as_the_webhook_writes_it(maps: Path) -> None:
    manifest = WORKLOADS["Deployment"][0]
    done = image_mapper("preview", "-f", str(maps), "-", stdin=yaml.safe_dump(manifest))
    [result] = documents(done.stdout)
    record = result["spec"]["template"]["metadata"]["annotations"][ORIGINAL_IMAGES]
    assert record == json.dumps(EXPECTED_RECORD, sort_keys=True, separators=(",", ":"))


def test_a_list_multiple_documents_and_pass_through(maps: Path, tmp_path: Path) -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"ports": [{"port": 80, "targetPort": "http"}], "type": "ClusterIP"}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
              "data": {"image": BOOTCAMP, "n": "1", "empty": ""}}
    custom = {"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"name": "x"},
              "spec": {"template": template()}}
    listed = {"apiVersion": "v1", "kind": "List",
              "items": [WORKLOADS["Job"][0], service]}
    (tmp_path / "all.yaml").write_text(
        yaml.safe_dump_all([listed, config, custom, WORKLOADS["Pod"][0]]))
    done = image_mapper("preview", "-f", str(maps), str(tmp_path / "all.yaml"))
    assert done.returncode == 0, done.stderr
    job, service_out, config_out, custom_out, pod = documents(done.stdout)
    assert done.stdout.count("---\n") == 5
    assert job["spec"]["template"]["spec"] == EXPECTED_POD
    assert pod["spec"] == EXPECTED_POD
    # Resources without a (known) pod template pass through as the same YAML data.
    assert (service_out, config_out, custom_out) == (service, config, custom)


def test_helm_template_output_on_stdin_with_the_imagemaps_in_it(tmp_path: Path) -> None:
    deployment = yaml.safe_dump(WORKLOADS["Deployment"][0])
    rendered = ("---\n# Source: web/templates/maps.yaml\n" + MAPS
                + "---\n# Source: web/templates/deployment.yaml\n" + deployment)
    done = image_mapper("preview", "-", stdin=rendered)
    assert done.returncode == 0, done.stderr
    imagemap, deployment = documents(done.stdout)
    assert imagemap == yaml.safe_load(MAPS)
    assert deployment["spec"]["template"]["spec"] == EXPECTED_POD


def test_diff_shows_only_what_changes(maps: Path, tmp_path: Path) -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}
    (tmp_path / "app.yaml").write_text(
        yaml.safe_dump_all([service, WORKLOADS["Deployment"][0]]))
    done = image_mapper("preview", "-o", "diff", "-f", str(maps), str(tmp_path / "app.yaml"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"--- {tmp_path / 'app.yaml'}, document 2: Deployment web (as written)"
    assert lines[1].startswith("+++ ")
    assert lines[1].endswith("(as it would run)")
    removed = [line[1:].strip() for line in lines[2:] if line.startswith("-")]
    added = [line[1:].strip() for line in lines[2:] if line.startswith("+")]
    assert f"- image: {BOOTCAMP}" in removed
    assert f"- image: {RELOCATED}" in added
    assert any(line.startswith(ORIGINAL_IMAGES) for line in added)
    assert "Service" not in done.stdout


def test_nothing_to_change_is_an_empty_diff(maps: Path) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "a", "image": "busybox"}]}}
    done = image_mapper("preview", "-o", "diff", "-f", str(maps), "-", stdin=yaml.safe_dump(pod))
    assert (done.returncode, done.stdout) == (0, "")


def test_a_mirror_pod_is_left_alone(maps: Path) -> None:
    pod = WORKLOADS["Pod"][0] | {"metadata": {"name": "m", "annotations": {
        "kubernetes.io/config.mirror": "abc"}}}
    done = image_mapper("preview", "-f", str(maps), "-", stdin=yaml.safe_dump(pod))
    assert documents(done.stdout) == [pod]


def namespaced_maps(*namespaces: str) -> str:
    """One ImageMap per namespace ("" for none), mapping nginx to `<namespace>.example/nginx`."""
    return "---\n".join(
        "apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1\nkind: ImageMap\n"
        f"metadata: {{name: m-{ns or 'none'}{', namespace: ' + ns if ns else ''}}}\n"
        f"spec: {{map: [{{from: nginx, to: {ns or 'none'}.example/nginx}}]}}\n"
        for ns in namespaces)


def nginx_pods(*namespaces: str) -> str:
    return yaml.safe_dump_all(
        [{"apiVersion": "v1", "kind": "Pod",
          "metadata": {"name": "p", **({"namespace": ns} if ns else {})},
          "spec": {"containers": [{"name": "a", "image": "nginx"}]}} for ns in namespaces])


@pytest.mark.parametrize(
    ("maps", "options", "pods", "images", "note"),
    [
        pytest.param(("red", "blue"), ("-n", "blue"), ("red", "blue", "", "green"),
                     ["red.example/nginx", "blue.example/nginx", "blue.example/nginx", "nginx"],
                     "no ImageMaps for namespace green", id="each-its-own-and-n"),
        pytest.param(("red", ""), (), ("red", "green", ""),
                     ["red.example/nginx", "none.example/nginx", "none.example/nginx"], None,
                     id="without-namespace-for-the-others"),
        pytest.param(("",), (), ("anywhere", ""), ["none.example/nginx"] * 2, None,
                     id="only-without-namespace-maps-all"),
        pytest.param(("red",), (), ("", "blue"), ["red.example/nginx", "nginx"],
                     "no ImageMaps for namespace blue", id="the-only-group-for-no-namespace"),
    ],
)
def test_each_namespace_is_mapped_by_its_own_imagemaps(
    tmp_path: Path, *, maps: tuple[str, ...], options: tuple[str, ...], pods: tuple[str, ...],
    images: list[str], note: str | None
) -> None:
    (tmp_path / "maps.yaml").write_text(namespaced_maps(*maps))
    done = image_mapper("preview", *options, "-f", str(tmp_path / "maps.yaml"), "-",
                        stdin=nginx_pods(*pods))
    assert done.returncode == 0, done.stderr
    assert [d["spec"]["containers"][0]["image"] for d in documents(done.stdout)] == images
    expected = f"image-mapper preview: {note}: its workloads are shown unchanged"
    notes = [line for line in done.stderr.splitlines() if " -> " not in line]
    assert notes == ([expected] if note else [])
    warned = [line for line in done.stderr.splitlines() if " -> " in line]
    assert len(warned) == sum(image != "nginx" for image in images)


def test_maps_in_several_namespaces_and_a_manifest_in_none_ask_for_n(tmp_path: Path) -> None:
    """Which namespace's ImageMaps map it is the user's to say, as `map` asks: not a silent
    preview that maps nothing (exit 0, empty diff)."""
    (tmp_path / "maps.yaml").write_text(namespaced_maps("red", "blue"))
    for output in ("yaml", "diff", "json"):
        done = image_mapper("preview", "-f", str(tmp_path / "maps.yaml"), "-o", output, "-",
                            stdin=nginx_pods(""))
        assert done.returncode == 1
        assert done.stdout == ""  # nothing half-printed
        assert done.stderr == (
            "image-mapper preview: error: the ImageMaps are in 2 namespaces ('red', 'blue'), "
            "each decided on its own: pick one with -n NAMESPACE (-n '' for those without a "
            "namespace)\n")
    # -n means what it means for `map`: the namespace whose ImageMaps decide.
    for command in (("preview", "-o", "json", "-"), ("map", "-o", "json", "nginx")):
        done = image_mapper(command[0], "-f", str(tmp_path / "maps.yaml"), "-n", "blue",
                            *command[1:], stdin=nginx_pods(""))
        assert done.returncode == 0, done.stderr
        assert "blue.example/nginx" in done.stdout
        assert "red.example" not in done.stdout
    done = image_mapper("preview", "-f", str(tmp_path / "maps.yaml"), "-n", "green", "-",
                        stdin=nginx_pods(""))
    assert done.returncode == 1
    assert "no ImageMap in namespace 'green'" in done.stderr


def test_json_output_is_one_list(tmp_path: Path) -> None:
    (tmp_path / "maps.yaml").write_text(MAPS)
    done = image_mapper("preview", "-f", str(tmp_path / "maps.yaml"), "-o", "json", "-",
                        stdin=yaml.safe_dump_all([WORKLOADS["Pod"][0], WORKLOADS["Pod"][0]]))
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert listed["kind"] == "List"
    assert len(listed["items"]) == 2
    assert RELOCATED in [c["image"] for c in listed["items"][0]["spec"]["containers"]]


def test_warnings_name_the_tool_once_and_quiet_silences_them(tmp_path: Path) -> None:
    (tmp_path / "maps.yaml").write_text(MAPS)
    pods = yaml.safe_dump_all([WORKLOADS["Pod"][0]] * 50)
    done = image_mapper("preview", "-f", str(tmp_path / "maps.yaml"), "-", stdin=pods)
    assert done.returncode == 0
    lines = done.stderr.splitlines()
    assert len(lines) == 150
    assert all(line.count("image-mapper") == 1 for line in lines), lines[0]
    quiet = image_mapper("preview", "-q", "-f", str(tmp_path / "maps.yaml"), "-", stdin=pods)
    assert quiet.returncode == 0
    assert quiet.stderr == ""
    assert quiet.stdout == done.stdout


def test_a_rejected_imagemap_is_reported_and_exits_0(tmp_path: Path) -> None:
    (tmp_path / "early.yaml").write_text(
        MAPS.replace("name: relocated", "name: early, creationTimestamp: '2020-01-01T00:00:00Z'"))
    (tmp_path / "late.yaml").write_text(
        MAPS.replace("name: relocated", "name: late, creationTimestamp: '2030-01-01T00:00:00Z'")
        .replace("registry.example.com/hub/nginx", "other.example.com/nginx"))
    done = image_mapper("preview", "-f", str(tmp_path / "late.yaml"),
                        "-f", str(tmp_path / "early.yaml"), "-",
                        stdin=yaml.safe_dump(WORKLOADS["Pod"][0]))
    assert done.returncode == 0
    assert done.stderr.startswith("image-mapper preview: ImageMap late is not in force: "
                                  "Conflict")
    assert documents(done.stdout)[0]["spec"] == EXPECTED_POD


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        pytest.param("kind: [", "invalid YAML", id="invalid-yaml"),
        pytest.param("just a string\n", "expected a Kubernetes object, got str", id="scalar"),
        pytest.param(None, "no such file or folder", id="missing-file"),
        pytest.param("", "standard input is empty", id="empty-stdin"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(maps: Path, manifest: str | None, message: str) -> None:
    args = ("preview", "-f", str(maps), "-" if manifest is not None else "/nonexistent.yaml")
    done = image_mapper(*args, stdin=manifest)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("image-mapper preview: error: ")
    assert message in done.stderr
    assert done.stderr.count("\n") == 1


def test_no_imagemap_at_all_is_an_error(tmp_path: Path) -> None:
    done = image_mapper("preview", "-", stdin=yaml.safe_dump(WORKLOADS["Pod"][0]))
    assert done.returncode == 1
    assert ("no ImageMap or ClusterImageMap (mapper.imagerelocation.pivotal.io/v1alpha1) found"
            in done.stderr)


def test_standard_input_only_once(maps: Path) -> None:
    done = image_mapper("preview", "-f", "-", "-", stdin=MAPS)
    assert done.returncode == 1
    assert "standard input (-) can be read only once" in done.stderr


@pytest.mark.parametrize("scenario", [s for s in admission_cases() if not s.malformed],
                         ids=lambda s: s.name)
def test_review_patch_prints_the_decoded_patch(scenario: Any) -> None:
    done = image_mapper("review", "-o", "patch", "-f", str(IMAGEMAPS),
                        stdin=scenario.request_body)
    assert done.returncode == 0, done.stderr
    expected = (json.loads(scenario.patch_path.read_text())
                if scenario.patch_path.exists() else [])
    assert json.loads(done.stdout) == expected


def test_a_template_without_metadata_gets_the_record(maps: Path) -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bare"},
                  "spec": {"template": {"spec": {"containers": [{"name": "a",
                                                                 "image": "nginx:1"}]}}}}
    done = image_mapper("preview", "-f", str(maps), "-", stdin=yaml.safe_dump(deployment))
    [result] = documents(done.stdout)
    assert result["spec"]["template"] == {
        "metadata": {"annotations": {ORIGINAL_IMAGES: '{"a":"nginx:1"}'}},
        "spec": {"containers": [{"name": "a", "image": "registry.example.com/hub/nginx:1"}]},
    }


# --- pull secrets and Audit mode in the preview (design.md#relocation-settings) --------------

PRIVATE_MAPS = """\
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ImageMap
metadata: {name: private}
spec:
  imagePullSecrets: [{name: regcred}]
  map: [{from: "gcr.io/", to: "private.example.com/gcr/"}]
---
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ImageMap
metadata: {name: trial}
spec:
  mode: Audit
  map: [{from: nginx, to: registry.example.com/hub/nginx}]
"""


def test_the_preview_shows_pull_secrets_added_and_what_audit_would_map(tmp_path: Path) -> None:
    (tmp_path / "maps.yaml").write_text(PRIVATE_MAPS)
    manifest, _ = WORKLOADS["Deployment"]
    (tmp_path / "app.yaml").write_text(yaml.safe_dump(manifest))
    done = image_mapper("preview", "-f", str(tmp_path / "maps.yaml"), "-o", "diff",
                        str(tmp_path / "app.yaml"))
    assert done.returncode == 0, done.stderr
    assert "+      imagePullSecrets:\n+      - name: regcred\n" in done.stdout
    assert any(line.startswith("+") and line.endswith(
        "image: private.example.com/gcr/google-samples/kubernetes-bootcamp:v1")
        for line in done.stdout.splitlines())
    assert "registry.example.com/hub/nginx" not in done.stdout  # Audit: nothing rewritten
    where = f"image-mapper preview: {tmp_path / 'app.yaml'}, document 1:"
    assert done.stderr.splitlines() == [
        f"{where} init: nginx:1.25 would map registry.example.com/hub/nginx:1.25 "
        "(ImageMap trial)",
        f"{where} app: {BOOTCAMP} -> private.example.com/gcr/google-samples/"
        "kubernetes-bootcamp:v1 (ImageMap private)",
        f"{where} debug: nginx would map registry.example.com/hub/nginx (ImageMap trial)",
    ]


CLUSTER_MANIFESTS = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {mirror: "yes"}}
---
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ClusterImageMap
metadata: {name: hub}
spec:
  namespaceSelector: {matchLabels: {mirror: "yes"}}
  map: [{from: "docker.io/", to: "mirror.example.com/hub/"}]
---
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ImageMap
metadata: {name: pin-redis, namespace: shop}
spec:
  map: [{from: redis, to: redis}]
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers: [{name: web, image: "nginx:1.25"}, {name: cache, image: "redis:7"}]
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: elsewhere}
spec:
  containers: [{name: web, image: "nginx:1.25"}]
"""


def test_clusterimagemaps_in_the_manifests_map_the_namespaces_they_select() -> None:
    done = image_mapper("preview", "-", stdin=CLUSTER_MANIFESTS)
    assert done.returncode == 0, done.stderr
    pods = [d for d in yaml.safe_load_all(done.stdout) if d and d["kind"] == "Pod"]
    shop, elsewhere = pods
    # shop is selected: nginx from the mirror; redis pinned by the namespace's own ImageMap.
    assert [c["image"] for c in shop["spec"]["containers"]] == [
        "mirror.example.com/hub/library/nginx:1.25", "redis:7"]
    # elsewhere has no label mirror=yes: unchanged.
    assert elsewhere["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert "(ClusterImageMap hub)" in done.stderr
