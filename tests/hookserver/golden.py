"""The golden hook fixtures under tests/fixtures/hooks, loaded in one place."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hooks"
FIXTURE_NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
"""The current time the response files were written for."""


@dataclass(frozen=True)
class GoldenCase:
    hook: str
    """The hook's path, e.g. `/imagemap/sync`."""
    name: str
    request_path: Path
    response_path: Path

    @property
    def id(self) -> str:
        return f"{self.request_path.parent.name}/{self.name}"

    def request(self) -> Any:
        return json.loads(self.request_path.read_text(encoding="utf-8"))

    def response(self) -> Any:
        return json.loads(self.response_path.read_text(encoding="utf-8"))


def golden_cases(hook: str | None = None) -> list[GoldenCase]:
    """Every request/response pair, or those of one hook path."""
    cases = []
    for request_path in sorted(FIXTURES.glob("*/*.request.json")):
        folder = request_path.parent.name
        path = "/" + folder.replace("-", "/", 1)
        name = request_path.name.removesuffix(".request.json")
        response_path = request_path.with_name(f"{name}.response.json")
        if hook is None or hook == path:
            cases.append(GoldenCase(path, name, request_path, response_path))
    return cases
