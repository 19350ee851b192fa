"""The ImageMap schema the CLI checks: the packaged CRD's own, translated from OpenAPI v3."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from image_mapper.cli.crd import CRD_FILE, Schema, field_path, json_schema

ROOT = Path(__file__).resolve().parents[2]


def test_the_schema_is_the_packaged_crd_s_own() -> None:
    crd_text = (ROOT / "hooks" / "image_mapper" / "crds" / "imagemaps.yaml").read_text()
    schema = Schema()
    assert schema.openapi["properties"]["spec"]["properties"]["map"]["maxItems"] == 1000
    assert "maxItems: 1000" in crd_text


def test_openapi_translation() -> None:
    openapi = {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
               "properties": {"a": {"type": "string", "nullable": True, "pattern": "^a$"},
                              "b": {"type": "array", "x-kubernetes-list-type": "atomic",
                                    "items": {"type": "integer", "format": "int64"}}}}
    assert json_schema(openapi) == {
        "type": "object",
        "properties": {"a": {"type": ["string", "null"], "pattern": "^a\\Z"},
                       "b": {"type": "array", "items": {"type": "integer", "format": "int64"}}},
    }
    schema = Schema(openapi)
    assert schema.problems({"a": None, "b": [1]}) == []
    assert schema.problems({"a": "a\n", "b": [1, "2"]}) == [
        "a: 'a\\n' does not match ^a$", "b[1]: must be of type integer, not str '2'"]


@pytest.mark.parametrize(("path", "shown"), [((), "(the object)"), (("spec",), "spec"),
                                             (("spec", "map", 3, "from"), "spec.map[3].from")])
def test_field_path(path: tuple[object, ...], shown: str) -> None:
    assert field_path(path) == shown


def test_the_crd_ships_in_the_package_and_kustomize_applies_the_same_file() -> None:
    """`pip install .` and the image carry the CRD the CLI reads; `kubectl apply -k crds`
    applies that very file (no copy)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "/".join(CRD_FILE) in project["tool"]["setuptools"]["package-data"]["image_mapper"]
    assert (ROOT / "hooks" / "image_mapper" / Path(*CRD_FILE)).is_file()
    # crds/imagemaps.yaml, for whoever reads it there (kubectl apply -f), is the same file.
    at_crds = ROOT / "crds" / "imagemaps.yaml"
    assert at_crds.is_symlink()
    assert at_crds.resolve() == (ROOT / "hooks" / "image_mapper" / Path(*CRD_FILE)).resolve()
