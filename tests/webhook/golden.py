"""The golden AdmissionReview fixtures under tests/fixtures/admission/, loaded by one helper.

Each scenario is `<name>.request.json` (an AdmissionReview as the API server sends it),
`<name>.response.json` (the body the webhook answers: an AdmissionReview, or `{"error", "code"}`
for a body that is not a valid review) and, when the answer carries a patch,
`<name>.patch.json` (that patch decoded, for reviewers). All scenarios are reviewed under
`imagemaps.yaml`, taken as the request's namespace.

`IMAGE_MAPPER_UPDATE_GOLDEN=1 pytest tests/webhook` rewrites the expected files from the
current code; review the diff before committing it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "admission"
IMAGEMAPS = FIXTURES / "imagemaps.yaml"
UPDATE = os.environ.get("IMAGE_MAPPER_UPDATE_GOLDEN") == "1"


@dataclass(frozen=True)
class Scenario:
    name: str

    @property
    def request_path(self) -> Path:
        return FIXTURES / f"{self.name}.request.json"

    @property
    def response_path(self) -> Path:
        return FIXTURES / f"{self.name}.response.json"

    @property
    def patch_path(self) -> Path:
        return FIXTURES / f"{self.name}.patch.json"

    @property
    def request_body(self) -> bytes:
        return self.request_path.read_bytes()

    @property
    def request(self) -> Any:
        return json.loads(self.request_body)

    @property
    def malformed(self) -> bool:
        return self.name.startswith("malformed-")


def scenarios() -> list[Scenario]:
    return [Scenario(p.name.removesuffix(".request.json"))
            for p in sorted(FIXTURES.glob("*.request.json"))]


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
