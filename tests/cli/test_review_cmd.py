"""`image-mapper review -f imagemap.yaml < review.json` (design.md#commands)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from image_mapper.cli.main import main
from tests.golden import ADMISSION_FIXTURES, IMAGEMAPS, Golden, admission_cases
from tests.webhook.jsonpatch import decode

VALID = [s for s in admission_cases() if not s.malformed]


def _review(monkeypatch: pytest.MonkeyPatch, stdin: bytes, *args: str) -> int:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    return main(["review", *args])


@pytest.mark.parametrize("scenario", VALID, ids=lambda s: s.name)
def test_prints_the_golden_response(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scenario: Golden
) -> None:
    assert _review(monkeypatch, scenario.request_body, "-f", str(IMAGEMAPS)) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == json.loads(scenario.response_path.read_text())


@pytest.mark.parametrize("name", ["create-audit-winner-hides-enforce",
                                  "create-pull-secrets-after-the-pods-own"])
def test_warnings_are_shown_on_stderr_and_pull_secrets_in_the_patch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Warnings and pull secrets previewed (design.md#relocation-settings): what `kubectl run`
    would print, and the pull secrets it adds."""
    request = (ADMISSION_FIXTURES / f"{name}.request.json").read_bytes()
    assert _review(monkeypatch, request, "-f", str(IMAGEMAPS), "-o", "patch") == 0
    captured = capsys.readouterr()
    expected = json.loads((ADMISSION_FIXTURES / f"{name}.response.json").read_text())
    assert captured.err.splitlines() == [
        f"Warning: {w}" for w in expected["response"]["warnings"]]
    added = [op for op in json.loads(captured.out) if "imagePullSecrets" in op["path"]]
    assert added  # rewritten by `private`, whose pull secrets the pod lacks
    assert "would map" in captured.err or "private" in captured.err


def test_imagemaps_are_accepted_in_order_and_rejections_explained(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1\nkind: ImageMap\n"
        "metadata: {name: first, creationTimestamp: '2026-01-01T00:00:00Z'}\n"
        "spec: {map: [{from: nginx, to: first.example.com/nginx}]}\n---\n"
        "apiVersion: mapper.imagerelocation.pivotal.io/v1alpha1\nkind: ImageMap\n"
        "metadata: {name: second, creationTimestamp: '2026-02-01T00:00:00Z'}\n"
        "spec: {map: [{from: nginx, to: second.example.com/nginx}]}\n")
    request = (ADMISSION_FIXTURES
               / "create-existing-annotations-escaped-key.request.json").read_bytes()
    assert _review(monkeypatch, request, "-f", str(tmp_path)) == 0
    captured = capsys.readouterr()
    patch = json.loads(captured.out)["response"]["patch"]
    assert decode(patch)[0] == {"op": "replace", "path": "/spec/containers/0/image",
                                "value": "first.example.com/nginx:1.25"}
    assert "ImageMap second is not in force: Conflict" in captured.err


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        pytest.param(b"", "standard input is empty: expected an AdmissionReview", id="empty"),
        pytest.param(b"{}", "stdin: not a valid AdmissionReview: apiVersion must be",
                     id="empty-object"),
    ],
)
def test_bad_input_is_one_line_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stdin: bytes,
    message: str
) -> None:
    assert _review(monkeypatch, stdin, "-f", str(IMAGEMAPS)) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"image-mapper review: error: {message}")
    assert err.count("\n") == 1


def test_missing_imagemap_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert _review(monkeypatch, b"{}", "-f", str(tmp_path / "nope.yaml")) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_a_manifest_on_stdin_points_to_preview(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pod = b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: []\n"
    assert _review(monkeypatch, pod, "-f", str(IMAGEMAPS)) == 1
    error = capsys.readouterr().err
    assert "not a valid AdmissionReview: body is not JSON" in error
    assert "this is a Pod manifest" in error
    assert "image-mapper preview -f IMAGEMAPS -" in error
