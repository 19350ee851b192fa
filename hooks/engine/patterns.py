"""The consistency rule of SPEC 2.3, written out pair by pair.

Two maplets conflict when they have the same form and normalized `from` but different
normalized `to`, or when one's results could be matched again by the other's `from` (the
mapping must be idempotent). Maplets that map a reference onto itself never change a result,
so they never break idempotence.

Each maplet stands for a pattern of references on each side: its `from`, and the results of its
`to`. `ConflictIndex` indexes the patterns of the maplets accepted so far by every way another
pattern could overlap them, and names every conflict of a newcomer, pair by pair. The walk
(`hooks.engine.consistency.Walk`) asks only *whether* there is one, faster; this says *which*,
when there is (and a property test holds the two to the same answers).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from hooks.engine.mapping import Form, Maplet, image_lookup_keys
from hooks.engine.reference import parse_normalized, repository_ancestors

Overlap = tuple[Maplet, Maplet, str]
"""(ours, theirs, why): one conflict, as a message fragment says it."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """What a maplet's `from`, or the results of its `to`, can stand for."""

    form: Form
    key: str
    repository: str
    """Image and repository forms: the repository name. Prefix form: the prefix."""
    variants: tuple[str, ...]
    """Image form: the image keys it can be looked up by."""
    ancestors: tuple[str, ...]
    """Prefixes that contain it. A prefix pattern counts itself among them."""
    proper_ancestors: tuple[str, ...]


def _ancestors(name: str) -> tuple[str, ...]:
    return tuple(repository_ancestors(name))


def pattern(form: Form, key: str) -> Pattern:
    """The pattern of a normalized key (a maplet's `key` or `target_key`) of `form`."""
    if form is Form.IMAGE:
        reference = parse_normalized(key)
        ancestors = _ancestors(reference.name)
        variants = tuple(key if variant == key else variant
                         for variant in image_lookup_keys(reference))
        return Pattern(form, key, reference.name, variants, ancestors, ancestors)
    if form is Form.REPOSITORY:
        ancestors = _ancestors(key)
        return Pattern(form, key, key, (), ancestors, ancestors)
    proper = _ancestors(key[:-1])
    return Pattern(form, key, key, (), (key, *proper), proper)


@dataclass(slots=True)
class PatternIndex:
    """Patterns by every way another pattern could overlap them."""

    by_variant: dict[str, list[Maplet]] = field(default_factory=dict)
    images_by_repository: dict[str, list[Maplet]] = field(default_factory=dict)
    repositories: dict[str, list[Maplet]] = field(default_factory=dict)
    prefixes: dict[str, list[Maplet]] = field(default_factory=dict)
    under: dict[str, list[Maplet]] = field(default_factory=dict)

    def add(self, pattern: Pattern, maplet: Maplet) -> None:
        if pattern.form is Form.IMAGE:
            for variant in pattern.variants:
                self.by_variant.setdefault(variant, []).append(maplet)
            self.images_by_repository.setdefault(pattern.repository, []).append(maplet)
        elif pattern.form is Form.REPOSITORY:
            self.repositories.setdefault(pattern.key, []).append(maplet)
        else:
            self.prefixes.setdefault(pattern.key, []).append(maplet)
        for ancestor in pattern.proper_ancestors:
            self.under.setdefault(ancestor, []).append(maplet)

    def overlapping(self, pattern: Pattern) -> Iterator[Maplet]:
        """Maplets whose pattern shares at least one concrete reference with `pattern`."""
        if pattern.form is Form.IMAGE:
            for variant in pattern.variants:
                yield from self.by_variant.get(variant, ())
            yield from self.repositories.get(pattern.repository, ())
        elif pattern.form is Form.REPOSITORY:
            yield from self.images_by_repository.get(pattern.key, ())
            yield from self.repositories.get(pattern.key, ())
        else:
            yield from self.under.get(pattern.key, ())
        for ancestor in pattern.ancestors:
            yield from self.prefixes.get(ancestor, ())


class ConflictIndex:
    """Maplets and their patterns, indexed to list every conflict with a newcomer, each pair
    named."""

    def __init__(self) -> None:
        self.exact: dict[tuple[Form, str], Maplet] = {}
        self.sources = PatternIndex()
        self.targets = PatternIndex()

    def conflicts_with(self, maplets: Iterable[Maplet]) -> list[Overlap]:
        """Every way `maplets` (one ImageMap's) are inconsistent with the maplets here."""
        found: list[Overlap] = []
        for maplet, source, target in _patterns(maplets):
            same = self.exact.get((maplet.form, maplet.key))
            if same is not None and same.target_key != maplet.target_key:
                found.append((maplet, same, "maps the same source differently from"))
            if maplet.is_identity:
                continue
            found.extend(
                (maplet, theirs, "gives results that would be mapped again by")
                for theirs in self.sources.overlapping(target)
                if not theirs.is_identity
            )
            found.extend(
                (maplet, theirs, "would map again the results of")
                for theirs in self.targets.overlapping(source)
                if not theirs.is_identity and theirs is not maplet
            )
        return found

    def add(self, maplets: Iterable[Maplet]) -> None:
        for maplet, source, target in _patterns(maplets):
            self.exact.setdefault((maplet.form, maplet.key), maplet)
            self.sources.add(source, maplet)
            self.targets.add(target, maplet)


def _patterns(maplets: Iterable[Maplet]) -> Iterator[tuple[Maplet, Pattern, Pattern]]:
    for maplet in maplets:
        yield maplet, pattern(maplet.form, maplet.key), pattern(maplet.form, maplet.target_key)
