"""The acceptance walk's consistency check (design.md#consistency), fast: one ImageMap against
all those accepted.

`compile_map` parses one ImageMap's `spec.map` and checks it on its own (conflicts inside one
ImageMap make it invalid); the result is a function of the name and spec alone, so it is
memoized: a bounded `lru_cache` of the pure `_compile` (16,384 specs, the least recently used
forgotten; it changes how fast, never what, `compile_map` answers). It is the engine's only
memory between calls besides `reference.parse_normalized_cached`; what a server remembers of
its syncs is the server's own.

`Walk` holds the maplets accepted so far in one walk as counted sets of keys, and judges a
newcomer with a few set operations in C instead of Python per maplet pair; when there is a
conflict, it asks the pairwise rule (`image_mapper.engine.patterns.ConflictIndex`) which, so
that the verdict can name every offending entry.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from image_mapper.engine.mapping import Form, Maplet, MapletError, compile_maplet
from image_mapper.engine.patterns import ConflictIndex, Overlap, Pattern, example, pattern
from image_mapper.engine.verdicts import Verdict, plural


@dataclass(frozen=True, slots=True)
class Keys:
    """One side of an ImageMap's maplets that are not identities (their `from`s, or the results
    of their `to`s) as the keys by which they overlap others, walked with set operations in C.

    Two patterns overlap (`PatternIndex.overlapping`) exactly when one's own keys meet the
    other's own keys (the same image key, repository or prefix) or its reach (an image's
    repository; a prefix above). Image keys (with a tag or digest), repositories and prefixes
    (ending in `/`) never equal one another as strings, so the kinds need no sets of their own.

    Kept in the compile cache for every ImageMap, so it holds no string of its own: own keys
    are the maplets' keys, and each key of the reach is the start of one of them, kept as that
    key and a length and cut out while walking.
    """

    own: tuple[str, ...] = ()
    """Image form: every image key it is looked up by. Repository form: the repository.
    Prefix form: the prefix."""
    bases: tuple[str, ...] = ()
    cuts: tuple[int, ...] = ()
    """The reach: `base[:cut]` for each base and cut."""

    @classmethod
    def of(cls, patterns: Iterable[Pattern]) -> Keys:
        own: dict[str, None] = {}
        reach: dict[str, tuple[str, int]] = {}
        for each in patterns:
            if each.form is Form.IMAGE:
                own.update(dict.fromkeys(each.variants))
                reach.setdefault(each.repository, (each.key, len(each.repository)))
            else:
                own[each.key] = None
            for prefix in each.proper_ancestors:
                reach.setdefault(prefix, (each.key, len(prefix)))
        if not own:
            return NO_KEYS
        assert all(base.startswith(key) for key, (base, _) in reach.items())
        return cls(tuple(own), tuple(base for base, _ in reach.values()),
                   tuple(cut for _, cut in reach.values()))

    def reach(self) -> list[str]:
        """The repositories of the images, and the prefixes above every pattern."""
        return list(map(str.__getitem__, self.bases, map(slice, self.cuts)))


NO_KEYS = Keys()


Counts = dict[str, int]
"""How many accepted maplets hold each key. A plain dict, not a Counter: `dict.copy` clones it
in C (`Walk.copy`), where a Counter is copied key by key."""


def _count(counts: Counts, keys: Iterable[str]) -> None:
    get = counts.get
    for key in keys:
        counts[key] = get(key, 0) + 1


def _discount(counts: Counts, keys: Iterable[str]) -> None:
    for key in keys:
        left = counts[key] - 1
        if left:
            counts[key] = left
        else:
            del counts[key]


class KeySets:
    """The keys of every maplet accepted so far on one side, counted, so that an ImageMap can
    be taken out again."""

    __slots__ = ("own", "reach")

    def __init__(self, own: Counts | None = None, reach: Counts | None = None) -> None:
        self.own: Counts = own if own is not None else {}
        self.reach: Counts = reach if reach is not None else {}

    def add(self, keys: Keys, reach: list[str]) -> None:
        """Count `keys`, whose reach (`keys.reach()`) the caller has cut out already."""
        _count(self.own, keys.own)
        _count(self.reach, reach)

    def copy(self) -> KeySets:
        return KeySets(self.own.copy(), self.reach.copy())

    def remove(self, keys: Keys) -> None:
        _discount(self.own, keys.own)
        _discount(self.reach, keys.reach())

    def overlaps(self, keys: Keys, reach: list[str]) -> bool:
        """Whether a pattern here shares a concrete reference with one of `keys`."""
        own = self.own.keys()
        return not (own.isdisjoint(keys.own) and self.reach.keys().isdisjoint(keys.own)
                    and own.isdisjoint(reach))


@dataclass(frozen=True, slots=True)
class Compiled:
    """One ImageMap's spec, parsed and checked on its own; a function of its name and spec
    only, so it is cached (`_compile_cached`)."""

    maplets: tuple[Maplet, ...]
    problems: tuple[str, ...]
    keys: tuple[str, ...] = ()
    """The normalized `from` of each maplet. Keys of the three forms never collide: an image
    key has a tag or digest, a repository none, a prefix ends in `/`."""
    target_keys: tuple[str, ...] = ()
    sources: Keys = NO_KEYS
    targets: Keys = NO_KEYS
    accepted: Verdict | None = None
    """Its verdict when accepted."""


Reach = tuple[list[str], list[str]]


def reach_of(compiled: Compiled) -> Reach:
    """The reach of an ImageMap's sources and targets, cut out once for a walk's check and
    addition."""
    return compiled.sources.reach(), compiled.targets.reach()


class Walk:
    """The maplets accepted so far in one walk, as counted keys: a newcomer is judged by a few
    set operations in C per ImageMap, not by Python per maplet."""

    def __init__(self) -> None:
        self.exact: dict[str, str] = {}
        """Normalized `from` -> normalized `to`; accepted maplets with the same `from` agree."""
        self.exact_count: Counts = {}
        self.sources = KeySets()
        self.targets = KeySets()
        self.accepted: list[Compiled] = []

    def copy(self) -> Walk:
        """Another walk with the same maplets, to change while this one stays as it is (a
        decision's walk is read again by later decisions: `image_mapper.engine.acceptance`)."""
        other = Walk()
        # dict.copy clones in C, also a dict that has had keys deleted (most of them kept).
        other.exact = self.exact.copy()
        other.exact_count = self.exact_count.copy()
        other.sources = self.sources.copy()
        other.targets = self.targets.copy()
        other.accepted = list(self.accepted)
        return other

    def consistent(self, compiled: Compiled, reach: Reach | None = None) -> bool:
        """Whether `compiled` can join; `reach` is `reach_of(compiled)`, cut out once for this
        and `add`."""
        if reach is None:
            reach = reach_of(compiled)
        exact = self.exact
        if not exact.keys().isdisjoint(compiled.keys):
            for key, target in zip(compiled.keys, compiled.target_keys, strict=True):
                known = exact.get(key)
                if known is not None and known != target:
                    return False
        if not (self.sources.overlaps(compiled.targets, reach[1])
                or self.targets.overlaps(compiled.sources, reach[0])):
            return True
        # Patterns overlap: a conflict, unless only through a result that is one image and
        # the exact rule finds it unchanged.
        return not self.conflicts_with(compiled)

    def add(self, compiled: Compiled, reach: Reach | None = None) -> None:
        if reach is None:
            reach = reach_of(compiled)
        # Overwriting is keeping: a newcomer with a known `from` was consistent, so it agrees.
        self.exact.update(zip(compiled.keys, compiled.target_keys, strict=True))
        _count(self.exact_count, compiled.keys)
        self.sources.add(compiled.sources, reach[0])
        self.targets.add(compiled.targets, reach[1])
        self.accepted.append(compiled)

    def remove(self, compiled: Compiled) -> None:
        """Take out an accepted ImageMap (`accepted` is left for the caller to redo)."""
        for key in compiled.keys:
            left = self.exact_count[key] - 1
            if left:
                self.exact_count[key] = left
            else:
                del self.exact_count[key]
                del self.exact[key]
        self.sources.remove(compiled.sources)
        self.targets.remove(compiled.targets)

    def conflicts_with(self, compiled: Compiled) -> list[Overlap]:
        """Every conflict of `compiled` with the accepted maplets, named, in walk order.

        Only the accepted ImageMaps that share a key with it can conflict with it; their
        patterns are indexed in full, in the order they were accepted.
        """
        keys = set(compiled.keys)
        sources, targets = KeySets(), KeySets()
        source_reach, target_reach = reach_of(compiled)
        sources.add(compiled.sources, source_reach)
        targets.add(compiled.targets, target_reach)
        culprits = ConflictIndex()
        for other in self.accepted:
            other_sources, other_targets = reach_of(other)
            if (not keys.isdisjoint(other.keys)
                    or targets.overlaps(other.sources, other_sources)
                    or sources.overlaps(other.targets, other_targets)):
                culprits.add(other.maplets)
        return culprits.conflicts_with(compiled.maplets)

    def maplets(self) -> tuple[Maplet, ...]:
        return tuple(itertools.chain.from_iterable(c.maplets for c in self.accepted))


def entry_name(index: int, maplet: Maplet) -> str:
    return f"spec.map[{index}] ({maplet.describe()})"


def _compile(name: str, flat: tuple[object, ...]) -> Compiled:
    """`flat`: from, to, from, to... of the ImageMap's spec.map."""
    maplets: list[Maplet] = []
    problems: list[str] = []
    for index in range(len(flat) // 2):
        source, target = flat[2 * index], flat[2 * index + 1]
        try:
            maplet = compile_maplet(source, target, name)
        except MapletError as error:
            problems.append(f"spec.map[{index}]: {error}")
            continue
        maplets.append(maplet)
    if problems:
        return Compiled(tuple(maplets), tuple(problems))
    compiled = Compiled(tuple(maplets), ())
    # Conflicts inside one ImageMap make it invalid (design.md#consistency), its own maplets
    # included: a prefix whose `to` lies under its own `from` is never idempotent.
    inside = ConflictIndex()
    inside.add(compiled.maplets)
    positions = {id(maplet): index for index, maplet in enumerate(maplets)}
    seen: set[tuple[int, int]] = set()
    for ours, theirs, why in inside.conflicts_with(compiled.maplets):
        a, b = positions[id(ours)], positions[id(theirs)]
        if (min(a, b), max(a, b)) in seen:
            continue
        seen.add((min(a, b), max(a, b)))
        shown = f" (e.g. {e})" if (e := example(ours, theirs, why)) else ""
        if a == b:
            problems.append(
                f"{entry_name(a, ours)}: its results would be mapped again by "
                f"its own 'from' (the mapping must be idempotent){shown}"
            )
        else:
            problems.append(f"{entry_name(a, ours)} {why} {entry_name(b, theirs)}{shown}")
    if problems:
        return Compiled(compiled.maplets, tuple(problems))
    changing = [m for m in maplets if not m.is_identity]
    return Compiled(
        compiled.maplets,
        (),
        tuple(m.key for m in maplets),
        tuple(m.target_key for m in maplets),
        Keys.of(pattern(m.form, m.key) for m in changing),
        Keys.of(pattern(m.form, m.target_key) for m in changing),
        Verdict(name, "Accepted", f"{plural(len(maplets), 'maplet')} in force",
                maplets=compiled.maplets),
    )


# Bounded, of a pure function: see the module's docstring.
_compile_cached = lru_cache(maxsize=16384)(_compile)


_FROM_TO = operator.itemgetter("from", "to")


def _flat_entries(spec_map: object) -> tuple[object, ...] | str:
    """from, to, from, to... of `spec.map`, or a problem with its shape."""
    if not isinstance(spec_map, list):
        return "spec.map must be a list of {from, to} entries"
    if not spec_map:
        return "spec.map must have at least one entry"
    try:
        # The usual shape, read in C: every ImageMap of a namespace is read at every sync.
        if sum(map(len, spec_map)) == 2 * len(spec_map):
            return tuple(itertools.chain.from_iterable(map(_FROM_TO, spec_map)))
    except (KeyError, TypeError):
        pass
    flat: list[object] = []
    for index, entry in enumerate(spec_map):
        if not isinstance(entry, dict):
            return f"spec.map[{index}] must be an object with 'from' and 'to'"
        unknown = sorted(set(entry) - {"from", "to"})
        if unknown:
            return f"spec.map[{index}] has unknown field(s) {', '.join(unknown)}"
        flat += (entry.get("from"), entry.get("to"))
    return tuple(flat)


def compile_map(name: str, spec_map: object) -> Compiled | str:
    """One ImageMap's `spec.map`, compiled and checked; a problem with its shape as a string."""
    flat = _flat_entries(spec_map)
    if isinstance(flat, str):
        return flat
    try:
        return _compile_cached(name, flat)
    except TypeError:  # an entry that is not hashable (a list, an object): invalid anyway
        return _compile(name, flat)
