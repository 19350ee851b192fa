"""What the acceptance walk decides (design.md#consistency, #acceptance): a verdict per
ImageMap, and the mapping of the accepted ones. Plain values: how they are written into a
status is the hooks' concern
(`image_mapper.controller.status`).
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from image_mapper.engine.mapping import Maplet, Mapping
from image_mapper.engine.settings import Settings

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


@dataclass(frozen=True)
class Decision:
    """The verdict on each ImageMap of a namespace, and the mapping they make together."""

    verdicts: MappingABC[str, Verdict]
    """By ImageMap name, in walk order."""
    maplets: tuple[Maplet, ...]
    """The maplets in force, in walk order."""
    settings: MappingABC[str, Settings] = field(default_factory=dict)
    """The mode and pull secrets of each accepted ImageMap, by name, in walk order."""

    @cached_property
    def mapping(self) -> Mapping:
        """The merged mapping of the accepted ImageMaps (built on first use: the hooks need
        only the verdicts)."""
        return Mapping.build(self.maplets, self.settings)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def listed(problems: list[str]) -> str:
    """`problems` joined, up to MAX_LISTED_PROBLEMS of them."""
    shown = problems[:MAX_LISTED_PROBLEMS]
    more = len(problems) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more else "")
