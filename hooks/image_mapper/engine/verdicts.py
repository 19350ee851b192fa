"""What the acceptance walk says of each ImageMap (design.md#consistency, #acceptance): its
verdict, naming every offending entry. Plain values: how they are written into a status is the
hooks' concern (`image_mapper.controller.status`); the decision on a whole namespace is
`image_mapper.engine.acceptance.Decision`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from image_mapper.engine.mapping import Maplet

Reason = Literal["Accepted", "InvalidSpec", "Conflict"]

MAX_LISTED_PROBLEMS = 20
"""A message names every offending entry up to this many, then says how many more."""


@dataclass(frozen=True, slots=True)
class Conflict:
    source: str
    """The normalized `from` of our maplet."""
    target: str
    """Our `to`, as written."""
    image_map: str
    """The other ImageMap."""
    their_target: str
    """Their `to`, as written."""
    example: str | None = None
    """For a mapping that would not be idempotent: `x -> y -> z`, an image mapped twice."""


@dataclass(frozen=True, slots=True)
class Verdict:
    name: str
    reason: Reason
    message: str
    """Names every offending entry and, for Conflict, the other ImageMap."""
    conflicts: tuple[Conflict, ...] = ()
    maplets: tuple[Maplet, ...] = ()
    """The maplets in force from this ImageMap: empty unless Accepted."""

    @property
    def ready(self) -> bool:
        return self.reason == "Accepted"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def listed(problems: list[str]) -> str:
    """`problems` joined, up to MAX_LISTED_PROBLEMS of them."""
    shown = problems[:MAX_LISTED_PROBLEMS]
    more = len(problems) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more else "")
