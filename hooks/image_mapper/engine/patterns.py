"""The consistency rule of design.md#consistency, written out pair by pair.

Two maplets conflict when they have the same form and normalized `from` but different
normalized `to`, or when the mapping would not be idempotent: `map(map(x)) = map(x)` must hold
for every image x. Maplets that map a reference onto itself never change a result, so they never
break idempotence; for an image maplet, whose one result is known, the check is exact (the
merged mapping applied to that result must leave it unchanged).

Each maplet stands for a pattern of references on each side: its `from`, and the results of its
`to`. `ConflictIndex` indexes the patterns of the maplets accepted so far by every way another
pattern could overlap them, and names every conflict of a newcomer, pair by pair. The walk
(`image_mapper.engine.consistency.Walk`) asks first whether patterns overlap at all, faster;
this says which pairs conflict, when they do (and a property test holds the two to the same
answers).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from image_mapper.engine.mapping import Form, Maplet, Mapping, image_key, image_lookup_keys
from image_mapper.engine.reference import ReferenceError, parse_normalized, repository_ancestors

Overlap = tuple[Maplet, Maplet, str]
"""(ours, theirs, why): one conflict, as a message fragment says it."""

SAME_SOURCE = "maps the same source differently from"
"""Why, when two maplets disagree on one source: the one conflict not about idempotence."""
GIVES_RESULTS = "gives results that would be mapped again by"
MAPS_RESULTS = "would map again the results of"


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
    named.

    Idempotence (design.md#consistency) is checked exactly where a maplet's result is one image
    (image form): it is a conflict only if the mapping of the two ImageMaps together, looked up
    with that image in the lookup order (design.md#references), changes it. A pin (`nginx:1.25` ->
    `nginx:1.25@sha256:...`) is matched again by itself with the same result, and
    `x:7@sha256:D` is never looked up as `x:1@sha256:D`. Only the pair counts, never a third
    ImageMap's pin: consistency stays a relation between two ImageMaps, so deleting one never
    makes two others that are in force inconsistent (no displacement, design.md#one-decider), and
    a set of pairwise consistent ImageMaps is idempotent as a whole (the lookup's best match in the
    set is its best match in the pair it belongs to). Repository and prefix maplets have a
    result for every tag and path: an overlap of their results with another maplet's `from`
    is a conflict wherever a result can really be matched (`witness`)."""

    def __init__(self) -> None:
        self.exact: dict[tuple[Form, str], Maplet] = {}
        self.sources = PatternIndex()
        self.targets = PatternIndex()
        self.groups: dict[str, list[Maplet]] = {}
        """The maplets here by ImageMap, for the mapping of a pair."""

    def conflicts_with(self, maplets: Iterable[Maplet]) -> list[Overlap]:
        """Every way `maplets` (one ImageMap's) are inconsistent with the maplets here."""
        ours = tuple(maplets)
        pairs: dict[str, Mapping] = {}

        def pair(name: str) -> Mapping:
            """Their ImageMap's maplets (first: they were accepted first) and ours."""
            if name not in pairs:
                pairs[name] = Mapping.build((*self.groups.get(name, ()), *ours))
            return pairs[name]

        found: list[Overlap] = []
        for maplet, source, target in _patterns(ours):
            same = self.exact.get((maplet.form, maplet.key))
            if same is not None and same.target_key != maplet.target_key:
                found.append((maplet, same, SAME_SOURCE))
            if maplet.is_identity:
                continue
            if maplet.form is Form.IMAGE:
                for name in self.groups:
                    hit = remapped_by(pair(name), maplet.target_key)
                    if hit is not None and (name in (hit.image_map, maplet.image_map)):
                        found.append((maplet, hit, GIVES_RESULTS))
            else:
                found.extend(
                    (maplet, theirs, GIVES_RESULTS)
                    for theirs in self.sources.overlapping(target)
                    if not theirs.is_identity and witness(maplet, theirs) is not None
                )
            found.extend(
                (maplet, theirs, MAPS_RESULTS)
                for theirs in self.targets.overlapping(source)
                if not theirs.is_identity and theirs is not maplet and (
                    remapped_by(pair(theirs.image_map), theirs.target_key) is maplet
                    if theirs.form is Form.IMAGE else witness(theirs, maplet) is not None)
            )
        return found

    def add(self, maplets: Iterable[Maplet]) -> None:
        for maplet, source, target in _patterns(maplets):
            self.exact.setdefault((maplet.form, maplet.key), maplet)
            self.sources.add(source, maplet)
            self.targets.add(target, maplet)
            self.groups.setdefault(maplet.image_map, []).append(maplet)


def remapped_by(mapping: Mapping, key: str) -> Maplet | None:
    """The maplet that changes the image `key` (normalized) when `mapping` maps it, if any."""
    match = mapping.lookup_reference(key, parse_normalized(key))
    if match is None or match.maplet.is_identity:
        return None
    return None if image_key(parse_normalized(match.result)) == key else match.maplet


def _patterns(maplets: Iterable[Maplet]) -> Iterator[tuple[Maplet, Pattern, Pattern]]:
    for maplet in maplets:
        yield maplet, pattern(maplet.form, maplet.key), pattern(maplet.form, maplet.target_key)




def witness(first: Maplet, second: Maplet) -> str | None:
    """An image that `first` maps to a result that `second`'s `from` matches: the example
    that shows why the two together are not idempotent (`x -> first(x) -> second(first(x))`).
    None when there is none: their patterns do not overlap, or only where normalization never
    goes (a `docker.io/` prefix never yields a one-segment path: `docker.io/a` is
    `docker.io/library/a`)."""
    if first.form is Form.IMAGE:
        return first.key
    target = first.target_key
    under = target if first.form is Form.PREFIX else None
    # A repository and a suffix among `first`'s results that `second`'s `from` matches.
    if second.form is Form.IMAGE:
        reference = parse_normalized(second.key)
        name, suffix = reference.name, reference.suffix
    elif second.form is Form.REPOSITORY:
        name, suffix = second.key, ":latest"
    elif under is None:
        name, suffix = target, ":latest"
        if not name.startswith(second.key):
            return None
    elif second.key.startswith(under) or under.startswith(second.key):
        # Two segments below the deeper prefix: a path any source prefix can yield.
        name, suffix = max(second.key, under, key=len) + "w/x", ":latest"
    else:
        return None
    if under is None:
        return first.key + suffix if name == target else None
    if not name.startswith(under):
        return None
    image = first.key + name[len(under):] + suffix
    once = Mapping.build((first,)).lookup(image)
    # Normalization may turn the image into another path (see above): then there is none.
    return image if once is not None and _name(once.result) == name else None


def _name(image: str) -> str | None:
    try:
        return parse_normalized(image).name
    except ReferenceError:
        return None


def chain(first: Maplet, second: Maplet) -> str | None:
    """`x -> y -> z`: a witness mapped by `first`, then again by `second`."""
    x = witness(first, second)
    if x is None:
        return None
    once = Mapping.build((first,)).lookup(x)
    twice = Mapping.build((second,)).lookup(once.result) if once is not None else None
    if once is None or twice is None:
        return None
    return f"{x} -> {once.result} -> {twice.result}"


def example(ours: Maplet, theirs: Maplet, why: str) -> str | None:
    """The image mapped twice that shows a conflict `(ours, theirs, why)`, if it is about
    idempotence: `x -> y -> z`."""
    if why == SAME_SOURCE:
        return None
    return chain(ours, theirs) if why == GIVES_RESULTS else chain(theirs, ours)
