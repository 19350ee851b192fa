"""`image-mapper validate` as CI runs it: a real subprocess, real files; exit 1 when the cluster
would refuse or reject an ImageMap (design.md#commands, issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from image_mapper.cli.validate_cmd import check
from tests.cli.test_namespaces import image_mapper, write
from tests.support.resources import imagemap_json

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "bootcamp-imagemap.yaml"


def test_clean_maps_exit_0() -> None:
    done = image_mapper("validate", "-f", str(SAMPLE))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "1 ImageMap in 1 namespace: all would be accepted\n"


def test_schema_errors_name_file_document_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, imagemap_json("good", ("nginx", "r.example.com/nginx")),
                 "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: skipped}",
                 "apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1\nkind: ImageMap\n"
                 "metadata: {name: bad}\nspec:\n  map:\n  - {from: 'not an image', to: 5}\n"
                 "  - {to: x}\n")
    done = image_mapper("validate", "-f", str(tmp_path))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{path}, document 3: spec.map[0].from: invalid image reference 'not an image': "
        "invalid reference format",
        f"{path}, document 3: spec.map[0].to: must be of type string, not int 5",
        f"{path}, document 3: spec.map[1].from: Required value",
        "1 ImageMap of 2 would be refused or rejected (3 problems, 1 namespace)",
    ]


def test_a_map_over_the_crd_limit_is_refused(tmp_path: Path) -> None:
    maplets = [(f"a.example.com/x{i}:1", f"b.example.com/x{i}:1") for i in range(1001)]
    path = write(tmp_path, imagemap_json("huge", *maplets))
    done = image_mapper("validate", "-f", str(path))
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == (
        f"{path}, document 1: spec.map: must have at most 1000 items, has 1001")


@pytest.mark.parametrize(
    ("documents", "line"),
    [
        pytest.param([imagemap_json("m", ("a.io/x:1", "b.io/x:1"), ("b.io/x:1", "c.io/x:1"))],
                     "document 1: ImageMap m: InvalidSpec: 1 invalid entry: spec.map[0]",
                     id="invalid-spec"),
        pytest.param([imagemap_json("first", ("nginx", "a.example.com/nginx")),
                      imagemap_json("second", ("nginx", "b.example.com/nginx"))],
                     "document 2: ImageMap second: Conflict: conflicts with ImageMap 'first'",
                     id="conflict"),
        pytest.param([imagemap_json("same", ("nginx", "a.example.com/nginx")),
                      imagemap_json("same", ("redis", "a.example.com/redis"))],
                     "document 2: metadata.name: 'same' is also defined in",
                     id="name-twice-in-a-namespace"),
    ],
)
def test_rejections_exit_1(tmp_path: Path, documents: list[str], line: str) -> None:
    path = write(tmp_path, *documents)
    done = image_mapper("validate", "-f", str(path))
    assert done.returncode == 1
    assert done.stdout.splitlines()[0].startswith(f"{path}, {line}"), done.stdout


def test_namespaces_are_decided_apart(tmp_path: Path) -> None:
    write(tmp_path, imagemap_json("m", ("nginx", "a.example.com/nginx"), namespace="team-a"),
          imagemap_json("m", ("nginx", "b.example.com/nginx"), namespace="team-b"),
          imagemap_json("m", ("nginx", "c.example.com/nginx")))
    done = image_mapper("validate", "-f", str(tmp_path))
    assert done.returncode == 0, done.stdout
    assert done.stdout == "3 ImageMaps in 3 namespaces: all would be accepted\n"


def test_json_lists_problems_and_verdicts(tmp_path: Path) -> None:
    path = write(tmp_path, imagemap_json("first", ("nginx", "a.example.com/nginx"), namespace="ns"),
                 imagemap_json("second", ("nginx", "b.example.com/nginx"), namespace="ns"),
                 imagemap_json("empty", namespace="ns"))
    done = image_mapper("validate", "-o", "json", "-f", "-", stdin=path.read_text())
    assert done.returncode == 1
    output = json.loads(done.stdout)
    assert output["valid"] is False
    assert output["summary"] == (
        "2 ImageMaps of 3 would be refused or rejected (2 problems, 1 namespace)")
    second, empty = output["problems"]
    assert second == {"where": "standard input, document 2", "reason": "Conflict",
                      "message": second["message"], "imageMap": "second", "namespace": "ns",
                      "field": None}
    assert empty == {"where": "standard input, document 3", "reason": "SchemaError",
                     "message": "must have at least 1 item, has 0", "imageMap": "empty",
                     "namespace": "ns", "field": "spec.map"}
    assert [(m["name"], m["ready"], m["reason"]) for m in output["imageMaps"]] == [
        ("first", True, "Accepted"), ("second", False, "Conflict"),
        ("empty", False, "SchemaError")]
    assert output["imageMaps"][0] == {"where": "standard input, document 1", "namespace": "ns",
                                      "name": "first", "ready": True, "reason": "Accepted",
                                      "message": "1 maplet in force"}


def test_several_files_after_one_f_as_pre_commit_passes_them(tmp_path: Path) -> None:
    first = write(tmp_path, imagemap_json("first", ("nginx", "a.example.com/x")), name="a.yaml")
    second = write(tmp_path, imagemap_json("second", ("nginx", "b.example.com/x")), name="b.yaml")
    done = image_mapper("validate", "-f", str(first), str(second))
    assert done.returncode == 1
    assert done.stdout.startswith(f"{second}, document 1: ImageMap second: Conflict:")


def test_no_imagemap_is_not_a_failure(tmp_path: Path) -> None:
    path = write(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}")
    done = image_mapper("validate", "-f", str(path))
    assert done.returncode == 0
    assert done.stdout == (
        "no ImageMap or ClusterImageMap (mapper.imagerelocation.pivotal.io/v1alpha1) found\n")


def test_wrong_api_version_and_no_name(tmp_path: Path) -> None:
    write(tmp_path, "apiVersion: example.com/v1\nkind: ImageMap\nmetadata: {}\n"
          "spec: {map: [{from: a, to: b}]}")
    problems, outcomes = check([str(tmp_path)])
    assert [(p.field, p.message) for p in problems] == [
        ("apiVersion", "must be mapper.imagerelocation.pivotal.io/v1alpha1, not "
                       "'example.com/v1'"),
        ("metadata.name", "Required value")]
    assert [o.reason for o in outcomes] == ["SchemaError"]


def test_missing_file_is_an_error() -> None:
    done = image_mapper("validate", "-f", "/nonexistent.yaml")
    assert done.returncode == 1
    assert done.stderr == (
        "image-mapper validate: error: /nonexistent.yaml: no such file or folder\n")


def test_names_the_api_server_refuses_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, imagemap_json("Bad_Name", ("nginx", "r.example.com/nginx")),
                 imagemap_json("ok", ("nginx", "r.example.com/nginx"), namespace="Team_A"))
    done = image_mapper("validate", "-f", str(path))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{path}, document 1: metadata.name: Invalid value: 'Bad_Name': "
                               "a lowercase RFC 1123 subdomain must consist of")
    assert lines[1].startswith(f"{path}, document 2: metadata.namespace: Invalid value: "
                               "'Team_A': a lowercase RFC 1123 label")
    assert lines[2] == "2 ImageMaps of 2 would be refused or rejected (2 problems, 2 namespaces)"


def test_more_imagemaps_than_a_namespace_holds_are_refused(tmp_path: Path) -> None:
    """A namespace's decision record lists every ImageMap in one annotation, which the API
    server caps at 256 KiB: 5,000 do not fit (about 3,400 names this short do), and nothing in
    that namespace could be decided."""
    many = [imagemap_json(f"map-{i}", (f"r{i}.io/", f"m.example.com/r{i}/"), namespace="team-a")
            for i in range(5000)]
    path = write(tmp_path, *many, imagemap_json("m", ("nginx", "b.example.com/nginx"),
                                           namespace="team-b"))
    done = image_mapper("validate", "-f", str(path))
    assert done.returncode == 1
    problem, summary = done.stdout.splitlines()
    assert problem.startswith(f"{path}, document 1: TooManyImageMaps: namespace 'team-a' has "
                              "5,000 ImageMaps: their decision record")
    assert "past the API server's limit of 262,144" in problem
    assert summary == ("5000 ImageMaps of 5001 would be refused or rejected (1 problem, "
                       "2 namespaces)")
    fits = write(tmp_path, *many[:2500], name="fits.yaml")
    assert image_mapper("validate", "-f", str(fits)).returncode == 0


def test_one_path_per_f_and_the_paths_after_the_options(tmp_path: Path) -> None:
    """As pre-commit calls it (`entry: image-mapper validate` and the changed files)."""
    good = write(tmp_path, imagemap_json("good", ("nginx", "r.example.com/x")), name="good.yaml")
    bad = write(tmp_path, imagemap_json("Bad", ("nginx", "r.example.com/nginx")), name="bad.yaml")
    for args in (("-f", str(good), str(bad)), (str(good), str(bad)),
                 ("-f", str(good), "-f", str(bad))):
        done = image_mapper("validate", *args)
        assert done.returncode == 1, args
        assert "bad.yaml, document 1: metadata.name" in done.stdout
    none = image_mapper("validate")
    assert none.returncode == 1
    assert "no file to check" in none.stderr


CLUSTER_LAYERS = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: a}}
---
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ClusterImageMap
metadata: {name: hub, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  map: [{from: "docker.io/", to: "mirror.example.com/hub/"}]
---
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ClusterImageMap
metadata: {name: other-hub, creationTimestamp: "2026-02-01T00:00:00Z"}
spec:
  map: [{from: "docker.io/", to: "other.example.com/"}]
---
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ClusterImageMap
metadata: {name: team-b}
spec:
  namespaceSelector: {matchLabels: {team: b}}
  map: [{from: "quay.io/", to: "mirror.example.com/quay/"}]
---
apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1
kind: ImageMap
metadata: {name: to-hub, namespace: shop}
spec:
  # writes docker.io images, which the cluster's hub maps
  map: [{from: "gcr.io/team/", to: "docker.io/team/"}, {from: "quay.io/", to: "quay.example/"}]
"""


def test_clusterimagemaps_are_decided_among_themselves_and_layers_warn(tmp_path: Path) -> None:
    path = write(tmp_path, CLUSTER_LAYERS)
    done = image_mapper("validate", "-f", str(path))
    assert done.returncode == 1  # other-hub conflicts with hub
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{path}, document 3: ClusterImageMap other-hub: Conflict: "
                               "conflicts with ClusterImageMap 'hub'")
    # The ImageMap's results under docker.io/ would be matched by hub in shop; team-b does
    # not select shop (team=a), so its quay.io/ is no concern.
    warnings = [line for line in lines if ": warning: " in line]
    assert len(warnings) == 1, lines
    assert warnings[0].startswith(f"{path}, document 5: warning: ImageMap to-hub: "
                                  "'gcr.io/team/' -> 'docker.io/team/' writes images that "
                                  "ClusterImageMap hub")
    assert lines[-1] == ("1 of 1 ImageMap in 1 namespace and 3 ClusterImageMaps would be "
                         "refused or rejected (1 problem); 1 warning")


def test_a_warning_alone_leaves_the_exit_status_0(tmp_path: Path) -> None:
    path = write(tmp_path, CLUSTER_LAYERS.replace("docker.io/\", to: \"other.example.com/",
                                                  "ghcr.io/\", to: \"other.example.com/"))
    done = image_mapper("validate", "-o", "json", "-f", str(path))
    assert done.returncode == 0, done.stdout
    output = json.loads(done.stdout)
    assert output["valid"] is True
    assert [w["where"] for w in output["warnings"]] == [f"{path}, document 5"]
    assert [(m.get("kind"), m["name"]) for m in output["imageMaps"]] == [
        ("ClusterImageMap", "hub"), ("ClusterImageMap", "other-hub"),
        ("ClusterImageMap", "team-b"), (None, "to-hub")]


def test_a_clusterimagemap_is_checked_against_its_own_schema(tmp_path: Path) -> None:
    path = write(tmp_path, CLUSTER_LAYERS.replace("{matchLabels: {team: b}}",
                                                  "{matchExpressions: [{key: team, "
                                                  "operator: Equals}]}"))
    done = image_mapper("validate", "-f", str(path))
    assert done.returncode == 1
    assert (f"{path}, document 4: spec.namespaceSelector.matchExpressions[0].operator: "
            "'Equals' must be one of") in done.stdout
