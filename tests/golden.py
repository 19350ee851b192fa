"""The golden fixtures under tests/fixtures, loaded in one place.

Each case is a request file as the caller sends it and the response expected for it:

- `fixtures/hooks/<hook>/<name>.request.json` and `.response.json`: a Metacontroller hook call
  (`<hook>` is its path, `/` written `-`: `imagemap-sync` is `/imagemap/sync`); the responses
  are what `image-mapper hook --now 2026-01-01T12:00:00Z` prints (`FIXTURE_NOW`).
- `fixtures/admission/<name>.request.json` and `.response.json`: an AdmissionReview as the API
  server sends it and the body the webhook answers (an AdmissionReview, or `{"error", "code"}`
  for a body that is not a valid review), plus `<name>.patch.json` when the answer carries a
  patch (that patch decoded, for reviewers). All are reviewed under `imagemaps.yaml`, taken as
  the request's namespace.

`IMAGE_MAPPER_UPDATE_GOLDEN=1 pytest tests/webhook` rewrites the expected admission files from
the current code (`expect`); review the diff before committing it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"
HOOK_FIXTURES = FIXTURES / "hooks"
ADMISSION_FIXTURES = FIXTURES / "admission"
IMAGEMAPS = ADMISSION_FIXTURES / "imagemaps.yaml"
"""The ImageMaps every admission case is reviewed under."""
FIXTURE_NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
"""The current time the hook response files were written for."""
UPDATE = os.environ.get("IMAGE_MAPPER_UPDATE_GOLDEN") == "1"


@dataclass(frozen=True)
class Golden:
    """One request file and what is expected for it."""

    request_path: Path

    @property
    def name(self) -> str:
        return self.request_path.name.removesuffix(".request.json")

    @property
    def id(self) -> str:
        """`<folder>/<name>`: the name alone is not unique among the hooks' cases."""
        return f"{self.request_path.parent.name}/{self.name}"

    @property
    def hook(self) -> str:
        """A hook case's path, e.g. `/imagemap/sync`."""
        return "/" + self.request_path.parent.name.replace("-", "/", 1)

    @property
    def response_path(self) -> Path:
        return self.request_path.with_name(f"{self.name}.response.json")

    @property
    def patch_path(self) -> Path:
        return self.request_path.with_name(f"{self.name}.patch.json")

    @property
    def request_body(self) -> bytes:
        return self.request_path.read_bytes()

    @property
    def malformed(self) -> bool:
        """An admission case whose body is not a valid AdmissionReview."""
        return self.name.startswith("malformed-")

    def request(self) -> Any:
        return json.loads(self.request_body)

    def response(self) -> Any:
        return json.loads(self.response_path.read_text(encoding="utf-8"))


def hook_cases(hook: str | None = None) -> list[Golden]:
    """Every hook request/response pair, or those of one hook path."""
    cases = [Golden(path) for path in sorted(HOOK_FIXTURES.glob("*/*.request.json"))]
    return [case for case in cases if hook is None or case.hook == hook]


def admission_cases() -> list[Golden]:
    return [Golden(path) for path in sorted(ADMISSION_FIXTURES.glob("*.request.json"))]


def _dump(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def expect(path: Path, actual: Any) -> Any:
    """The expected value stored at `path` (written from `actual` in update mode)."""
    if UPDATE:
        _dump(path, actual)
    if not path.exists():
        raise AssertionError(f"{path} is missing; run with IMAGE_MAPPER_UPDATE_GOLDEN=1 to "
                             "write it, then review it")
    return json.loads(path.read_text())


def expect_absent(path: Path) -> None:
    if UPDATE:
        path.unlink(missing_ok=True)
    assert not path.exists(), f"{path} exists but the response has no patch"
