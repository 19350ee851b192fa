"""`map` and `review` decide each namespace's ImageMaps on their own, and refuse what the API
server would refuse to store (design.md#commands; issue 14). Real subprocesses, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from image_mapper.cli.errors import CommandError
from image_mapper.cli.namespaces import grouped, pick
from tests.golden import ADMISSION_FIXTURES
from tests.support.resources import imagemap_json
from tests.webhook.jsonpatch import decode

ROOT = Path(__file__).resolve().parents[2]
REQUEST = ADMISSION_FIXTURES / "create-existing-annotations-escaped-key.request.json"
"""A pod in namespace `demo` running nginx:1.25."""


def image_mapper(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "image_mapper",
                           *args], capture_output=True, text=True,
                          cwd=ROOT, check=False, timeout=60, input=stdin)




def write(folder: Path, *documents: str, name: str = "maps.yaml") -> Path:
    path = folder / name
    path.write_text("\n---\n".join(documents) + "\n")
    return path


def two_namespaces(folder: Path) -> Path:
    return write(folder, imagemap_json("m", ("nginx", "a.example.com/nginx"), namespace="team-a"),
                 imagemap_json("m", ("nginx", "b.example.com/nginx"), namespace="team-b"))


def test_map_same_name_in_two_namespaces_needs_n(tmp_path: Path) -> None:
    path = two_namespaces(tmp_path)
    done = image_mapper("map", "-f", str(path), "nginx")
    assert done.returncode == 1
    assert done.stderr == (
        "image-mapper map: error: the ImageMaps are in 2 namespaces ('team-a', 'team-b'), "
        "each decided on its own: pick one with -n NAMESPACE (-n '' for those without a "
        "namespace)\n")


@pytest.mark.parametrize(("namespace", "result"), [("team-a", "a.example.com/nginx"),
                                                    ("team-b", "b.example.com/nginx")])
def test_map_n_picks_the_namespace(tmp_path: Path, namespace: str, result: str) -> None:
    done = image_mapper("map", "-f", str(two_namespaces(tmp_path)), "-n", namespace, "-o",
                        "json", "nginx")
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)
    assert output["images"] == [{"image": "nginx", "result": result, "imageMap": "m"}]
    assert [m["reason"] for m in output["imageMaps"]] == ["Accepted"]


def test_map_n_names_a_namespace_without_imagemaps(tmp_path: Path) -> None:
    done = image_mapper("map", "-f", str(two_namespaces(tmp_path)), "-n", "other", "nginx")
    assert done.returncode == 1
    assert done.stderr == ("image-mapper map: error: no ImageMap in namespace 'other': the "
                           "ImageMaps are in 'team-a', 'team-b'\n")


def test_map_unnamed_group_is_picked_with_empty_n(tmp_path: Path) -> None:
    write(tmp_path, imagemap_json("m", ("nginx", "a.example.com/nginx"), namespace="team-a"),
          imagemap_json("m", ("nginx", "c.example.com/nginx")))
    done = image_mapper("map", "-f", str(tmp_path), "-n", "", "nginx")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("nginx -> c.example.com/nginx  (ImageMap m)\n")


def test_map_one_namespace_needs_no_n(tmp_path: Path) -> None:
    write(tmp_path, imagemap_json("m", ("nginx", "a.example.com/nginx"), namespace="team-a"))
    done = image_mapper("map", "-f", str(tmp_path), "nginx")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("nginx -> a.example.com/nginx  (ImageMap m)\n")


def test_map_name_twice_in_one_namespace_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, imagemap_json("m", ("nginx", "a.example.com/nginx"), namespace="ns"),
                 imagemap_json("m", ("redis", "a.example.com/redis"), namespace="ns"))
    done = image_mapper("map", "-f", str(path), "nginx")
    assert done.returncode == 1
    assert done.stderr == (f"image-mapper map: error: {path}, document 2: ImageMap 'm' is also "
                           f"defined in {path}, document 1\n")


MAPLETS = [(f"a.example.com/x{i}:1", f"b.example.com/x{i}:1") for i in range(1001)]


@pytest.mark.parametrize("command", ["map", "review", "preview"])
def test_a_map_over_the_crd_limit_is_refused(tmp_path: Path, command: str) -> None:
    path = write(tmp_path, imagemap_json("huge", *MAPLETS))
    args = {"map": ["map", "-f", str(path), "nginx"], "review": ["review", "-f", str(path)],
            "preview": ["preview", "-f", str(path), str(path)]}[command]
    done = image_mapper(*args, stdin=REQUEST.read_text())
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"image-mapper {command}: error: {path}, document 1: spec.map: must have at most 1000 "
        "items, has 1001: the API server would refuse this ImageMap (image-mapper validate "
        "lists every problem)\n")


def test_1000_maplets_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, imagemap_json("full", *MAPLETS[:1000]))
    done = image_mapper("map", "-f", str(path), "-o", "json", "a.example.com/x999:1")
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)
    assert output["images"][0]["result"] == "b.example.com/x999:1"
    assert output["imageMaps"][0]["reason"] == "Accepted"


def review(path: Path, namespace: str) -> subprocess.CompletedProcess[str]:
    body = json.loads(REQUEST.read_text())
    body["request"]["namespace"] = namespace
    return subprocess.run([sys.executable, "-m", "image_mapper", "review", "-f", str(path)],
                          input=json.dumps(body), capture_output=True, text=True,
                          cwd=ROOT, check=False, timeout=60)


@pytest.mark.parametrize(("namespace", "registry"), [("team-a", "a.example.com"),
                                                      ("team-b", "b.example.com")])
def test_review_takes_the_request_s_namespace(tmp_path: Path, namespace: str,
                                              registry: str) -> None:
    done = review(two_namespaces(tmp_path), namespace)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["response"]["allowed"] is True
    patch = decode(json.loads(done.stdout)["response"]["patch"])
    assert patch[0]["value"] == f"{registry}/nginx:1.25"
    # The response's warnings, on stderr as kubectl shows them.
    assert done.stderr.startswith("Warning: image-mapper: ")
    assert f"-> {registry}/nginx:1.25" in done.stderr


def test_review_of_a_namespace_without_imagemaps(tmp_path: Path) -> None:
    done = review(two_namespaces(tmp_path), "demo")
    assert done.returncode == 1
    assert done.stderr == (
        "image-mapper review: error: the ImageMaps are in several namespaces (namespace "
        "'team-a', namespace 'team-b'), and none is the request's (namespace 'demo')\n")


def test_review_one_namespace_is_taken_as_the_request_s(tmp_path: Path) -> None:
    path = write(tmp_path, imagemap_json("m", ("nginx", "a.example.com/nginx"), namespace="other"))
    done = review(path, "demo")
    assert done.returncode == 0, done.stderr
    assert "patch" in json.loads(done.stdout)["response"]


def test_grouping_and_pick() -> None:
    groups = grouped([("a", 1), ("", 2), ("a", 3)])
    assert groups == {"a": [1, 3], "": [2]}
    assert pick(groups, "a") == [1, 3]
    assert pick(groups, "") == [2]
    assert pick({"": [2]}, None) == [2]
    with pytest.raises(CommandError, match=r"2 namespaces \('a', \(no namespace\)\)"):
        pick(groups, None)
