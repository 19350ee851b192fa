"""Which ImageMaps of a namespace are in force: the acceptance walk of SPEC 2.4.

One deterministic function, `decide`, of a namespace's ImageMaps (metadata, spec and status as
the API server returns them). The ImageMap hook, the namespace hook, `image-mapper map` and
`image-mapper review` all call it, so every sync, in any order and from any replica, agrees.
`compile_deployed` is the webhook's view of the same namespace: the `deployedMap` of the Ready
ImageMaps, walked in the same order.

Consistency (SPEC 2.3): two maplets conflict when they have the same form and normalized `from`
but different normalized `to`, or when one's results could be matched again by the other's
`from` (the mapping must be idempotent). Maplets that map a reference onto itself never change
a result, so they never break idempotence.

How it stays fast (benchmarks/, `make bench`): the rule is written out pair by pair once
(`_Namespace`, which names every conflict); the walk asks only whether there is one, with set
operations in C over per-ImageMap key summaries (`_Keys`, `_Walk`) kept in the compile cache;
and a namespace whose last walk accepted every valid ImageMap judges only what changed since
(`_decide_settled`). A property test holds the three to the same answers.
"""

from __future__ import annotations

import itertools
import operator
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Literal, TypeGuard

from hooks.mapping import Form, Maplet, MapletError, Mapping, compile_maplet, image_lookup_keys
from hooks.reference import parse_normalized, repository_ancestors

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

    def to_status(self) -> dict[str, str]:
        return {
            "from": self.source,
            "to": self.target,
            "imageMap": self.image_map,
            "theirTo": self.their_target,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    name: str
    reason: Reason
    message: str
    conflicts: tuple[Conflict, ...] = ()
    maplets: tuple[Maplet, ...] = ()
    """The maplets in force from this ImageMap: empty unless Accepted."""

    @property
    def ready(self) -> bool:
        return self.reason == "Accepted"

    def deployed_map(self) -> list[dict[str, str]]:
        return [{"from": m.source, "to": m.target} for m in self.maplets]


class Decision:
    """The verdict on each ImageMap of a namespace, and the mapping they make together."""

    def __init__(self, verdicts: dict[str, Verdict], maplets: tuple[Maplet, ...]) -> None:
        self.verdicts = verdicts
        """By ImageMap name, in walk order."""
        self.maplets = maplets
        """The maplets in force, in walk order."""

    @cached_property
    def mapping(self) -> Mapping:
        """The merged mapping of the accepted ImageMaps (built on first use: the hooks need
        only the verdicts)."""
        return Mapping.build(self.maplets)


# --- patterns: what a maplet's `from`, or the results of its `to`, can stand for ----------


@dataclass(frozen=True, slots=True)
class _Pattern:
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


def _pattern(form: Form, key: str) -> _Pattern:
    if form is Form.IMAGE:
        reference = parse_normalized(key)
        ancestors = _ancestors(reference.name)
        variants = tuple(key if variant == key else variant
                         for variant in image_lookup_keys(reference))
        return _Pattern(form, key, reference.name, variants, ancestors, ancestors)
    if form is Form.REPOSITORY:
        ancestors = _ancestors(key)
        return _Pattern(form, key, key, (), ancestors, ancestors)
    proper = _ancestors(key[:-1])
    return _Pattern(form, key, key, (), (key, *proper), proper)


@dataclass(slots=True)
class _PatternIndex:
    """Patterns by every way another pattern could overlap them."""

    by_variant: dict[str, list[Maplet]] = field(default_factory=dict)
    images_by_repository: dict[str, list[Maplet]] = field(default_factory=dict)
    repositories: dict[str, list[Maplet]] = field(default_factory=dict)
    prefixes: dict[str, list[Maplet]] = field(default_factory=dict)
    under: dict[str, list[Maplet]] = field(default_factory=dict)

    def add(self, pattern: _Pattern, maplet: Maplet) -> None:
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

    def overlapping(self, pattern: _Pattern) -> Iterator[Maplet]:
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


class _Namespace:
    """Maplets and their patterns, indexed to list every conflict with a newcomer, each pair
    named: the rule of SPEC 2.3 written out. The walk (`_Walk`) only asks whether there is a
    conflict, with set operations; this says which, when there is."""

    def __init__(self) -> None:
        self.exact: dict[tuple[Form, str], Maplet] = {}
        self.sources = _PatternIndex()
        self.targets = _PatternIndex()

    def conflicts_with(self, compiled: _Compiled) -> list[tuple[Maplet, Maplet, str]]:
        """(ours, theirs, why) for every way `compiled` is inconsistent with the maplets here."""
        found: list[tuple[Maplet, Maplet, str]] = []
        for maplet, source, target in _patterns(compiled):
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

    def add(self, compiled: _Compiled) -> None:
        for maplet, source, target in _patterns(compiled):
            self.exact.setdefault((maplet.form, maplet.key), maplet)
            self.sources.add(source, maplet)
            self.targets.add(target, maplet)


def _patterns(compiled: _Compiled) -> Iterator[tuple[Maplet, _Pattern, _Pattern]]:
    for maplet in compiled.maplets:
        yield maplet, _pattern(maplet.form, maplet.key), _pattern(maplet.form, maplet.target_key)


# --- the walk's summaries: the same overlaps, as sets of keys ---------------------------------


@dataclass(frozen=True, slots=True)
class _Keys:
    """One side of an ImageMap's maplets that are not identities (their `from`s, or the results
    of their `to`s) as the keys by which they overlap others, walked with set operations in C.

    Two patterns overlap (`_PatternIndex.overlapping`) exactly when one's own keys meet the
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
    def of(cls, patterns: Iterable[_Pattern]) -> _Keys:
        own: dict[str, None] = {}
        reach: dict[str, tuple[str, int]] = {}
        for pattern in patterns:
            if pattern.form is Form.IMAGE:
                own.update(dict.fromkeys(pattern.variants))
                reach.setdefault(pattern.repository, (pattern.key, len(pattern.repository)))
            else:
                own[pattern.key] = None
            for prefix in pattern.proper_ancestors:
                reach.setdefault(prefix, (pattern.key, len(prefix)))
        if not own:
            return _NO_KEYS
        assert all(base.startswith(key) for key, (base, _) in reach.items())
        return cls(tuple(own), tuple(base for base, _ in reach.values()),
                   tuple(cut for _, cut in reach.values()))

    def reach(self) -> list[str]:
        """The repositories of the images, and the prefixes above every pattern."""
        return list(map(str.__getitem__, self.bases, map(slice, self.cuts)))


_NO_KEYS = _Keys()


def _discount(counts: Counter[str], keys: Iterable[str]) -> None:
    for key in keys:
        left = counts[key] - 1
        if left:
            counts[key] = left
        else:
            del counts[key]


class _KeySets:
    """The keys of every maplet accepted so far on one side, counted, so that an ImageMap can
    be taken out again."""

    __slots__ = ("own", "reach")

    def __init__(self) -> None:
        self.own: Counter[str] = Counter()
        self.reach: Counter[str] = Counter()

    def add(self, keys: _Keys, reach: list[str]) -> None:
        """Count `keys`, whose reach (`keys.reach()`) the caller has cut out already."""
        self.own.update(keys.own)
        self.reach.update(reach)

    def remove(self, keys: _Keys) -> None:
        _discount(self.own, keys.own)
        _discount(self.reach, keys.reach())

    def overlaps(self, keys: _Keys, reach: list[str]) -> bool:
        """Whether a pattern here shares a concrete reference with one of `keys`."""
        own = self.own.keys()
        return not (own.isdisjoint(keys.own) and self.reach.keys().isdisjoint(keys.own)
                    and own.isdisjoint(reach))


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One ImageMap's spec, parsed and checked on its own; a function of its name and spec
    only, so it is cached (`_compile_cached`)."""

    maplets: tuple[Maplet, ...]
    problems: tuple[str, ...]
    keys: tuple[str, ...] = ()
    """The normalized `from` of each maplet. Keys of the three forms never collide: an image
    key has a tag or digest, a repository none, a prefix ends in `/`."""
    target_keys: tuple[str, ...] = ()
    sources: _Keys = _NO_KEYS
    targets: _Keys = _NO_KEYS
    accepted: Verdict | None = None
    """Its verdict when accepted."""


_Reach = tuple[list[str], list[str]]


def _reach(compiled: _Compiled) -> _Reach:
    """The reach of an ImageMap's sources and targets, cut out once for a walk's check and
    addition."""
    return compiled.sources.reach(), compiled.targets.reach()


class _Walk:
    """The maplets accepted so far in one walk, as counted keys: a newcomer is judged by a few
    set operations in C per ImageMap, not by Python per maplet."""

    def __init__(self) -> None:
        self.exact: dict[str, str] = {}
        """Normalized `from` -> normalized `to`; accepted maplets with the same `from` agree."""
        self.exact_count: Counter[str] = Counter()
        self.sources = _KeySets()
        self.targets = _KeySets()
        self.accepted: list[_Compiled] = []

    def consistent(self, compiled: _Compiled, reach: _Reach | None = None) -> bool:
        """Whether `compiled` can join; `reach` is `_reach(compiled)`, cut out once for this
        and `add`."""
        if reach is None:
            reach = _reach(compiled)
        exact = self.exact
        if not exact.keys().isdisjoint(compiled.keys):
            for key, target in zip(compiled.keys, compiled.target_keys, strict=True):
                known = exact.get(key)
                if known is not None and known != target:
                    return False
        return not (self.sources.overlaps(compiled.targets, reach[1])
                    or self.targets.overlaps(compiled.sources, reach[0]))

    def add(self, compiled: _Compiled, reach: _Reach | None = None) -> None:
        if reach is None:
            reach = _reach(compiled)
        # Overwriting is keeping: a newcomer with a known `from` was consistent, so it agrees.
        self.exact.update(zip(compiled.keys, compiled.target_keys, strict=True))
        self.exact_count.update(compiled.keys)
        self.sources.add(compiled.sources, reach[0])
        self.targets.add(compiled.targets, reach[1])
        self.accepted.append(compiled)

    def remove(self, compiled: _Compiled) -> None:
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

    def conflicts_with(self, compiled: _Compiled) -> list[tuple[Maplet, Maplet, str]]:
        """Every conflict of `compiled` with the accepted maplets, named, in walk order.

        Only the accepted ImageMaps that share a key with it can conflict with it; their
        patterns are indexed in full, in the order they were accepted.
        """
        keys = set(compiled.keys)
        sources, targets = _KeySets(), _KeySets()
        source_reach, target_reach = _reach(compiled)
        sources.add(compiled.sources, source_reach)
        targets.add(compiled.targets, target_reach)
        culprits = _Namespace()
        for other in self.accepted:
            other_sources, other_targets = _reach(other)
            if (not keys.isdisjoint(other.keys)
                    or targets.overlaps(other.sources, other_sources)
                    or sources.overlaps(other.targets, other_targets)):
                culprits.add(other)
        return culprits.conflicts_with(compiled)

    def maplets(self) -> tuple[Maplet, ...]:
        return tuple(itertools.chain.from_iterable(c.maplets for c in self.accepted))


def _entry_name(index: int, maplet: Maplet) -> str:
    return f"spec.map[{index}] ({maplet.describe()})"


def _compile(name: str, flat: tuple[object, ...]) -> _Compiled:
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
        return _Compiled(tuple(maplets), tuple(problems))
    compiled = _Compiled(tuple(maplets), ())
    # Conflicts inside one ImageMap make it invalid (SPEC 2.3), its own maplets included:
    # a prefix whose `to` lies under its own `from` is never idempotent.
    inside = _Namespace()
    inside.add(compiled)
    positions = {id(maplet): index for index, maplet in enumerate(maplets)}
    seen: set[tuple[int, int]] = set()
    for ours, theirs, why in inside.conflicts_with(compiled):
        a, b = positions[id(ours)], positions[id(theirs)]
        if (min(a, b), max(a, b)) in seen:
            continue
        seen.add((min(a, b), max(a, b)))
        if a == b:
            problems.append(
                f"{_entry_name(a, ours)}: its results would be mapped again by "
                "its own 'from' (the mapping must be idempotent)"
            )
        else:
            problems.append(f"{_entry_name(a, ours)} {why} {_entry_name(b, theirs)}")
    if problems:
        return _Compiled(compiled.maplets, tuple(problems))
    changing = [m for m in maplets if not m.is_identity]
    return _Compiled(
        compiled.maplets,
        (),
        tuple(m.key for m in maplets),
        tuple(m.target_key for m in maplets),
        _Keys.of(_pattern(m.form, m.key) for m in changing),
        _Keys.of(_pattern(m.form, m.target_key) for m in changing),
        Verdict(name, "Accepted", f"{_plural(len(maplets), 'maplet')} in force",
                maplets=compiled.maplets),
    )


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


def _compile_map(name: str, spec_map: object) -> _Compiled | str:
    flat = _flat_entries(spec_map)
    if isinstance(flat, str):
        return flat
    try:
        return _compile_cached(name, flat)
    except TypeError:  # an entry that is not hashable (a list, an object): invalid anyway
        return _compile(name, flat)


# --- the order of SPEC 2.4 -------------------------------------------------------------------

_NOT_YET = "~"  # sorts after every RFC 3339 time


def _get(obj: object, *path: str) -> object:
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def ready_since(imagemap: MappingABC[str, Any], *, current_generation: bool) -> str | None:
    """`lastTransitionTime` of a `Ready=True` condition; with `current_generation`, only when
    the status was written for the ImageMap's current generation."""
    status = imagemap.get("status")
    if not isinstance(status, dict):
        return None
    if current_generation:
        metadata = imagemap.get("metadata")
        generation = metadata.get("generation") if isinstance(metadata, dict) else None
        if status.get("observedGeneration") != generation:
            return None
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        return None
    for condition in conditions:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            since = condition.get("lastTransitionTime")
            if condition.get("status") == "True" and isinstance(since, str):
                return since
            return None
    return None


def _order_key(imagemap: MappingABC[str, Any], *, current_generation: bool) -> tuple[str, str, str]:
    since = ready_since(imagemap, current_generation=current_generation)
    metadata = imagemap.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    created, name = metadata.get("creationTimestamp"), metadata.get("name")
    return (
        since or _NOT_YET,
        created if isinstance(created, str) else _NOT_YET,
        name if isinstance(name, str) else "",
    )


def _in_order(
    imagemaps: Iterable[MappingABC[str, Any]], *, current_generation: bool
) -> list[MappingABC[str, Any]]:
    by_name: dict[str, MappingABC[str, Any]] = {}
    for imagemap in imagemaps:
        name = _get(imagemap, "metadata", "name")
        if isinstance(name, str) and name:
            by_name[name] = imagemap  # the last copy of a name wins: callers put the freshest last
    return sorted(
        by_name.values(), key=lambda m: _order_key(m, current_generation=current_generation)
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _listed(problems: list[str]) -> str:
    shown = problems[:MAX_LISTED_PROBLEMS]
    more = len(problems) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more else "")


def _conflict_verdict(
    name: str, compiled: _Compiled, found: list[tuple[Maplet, Maplet, str]]
) -> Verdict:
    position = {id(m): i for i, m in enumerate(compiled.maplets)}
    conflicts: list[Conflict] = []
    lines: list[str] = []
    seen: set[tuple[int, int]] = set()
    for ours, theirs, why in found:
        if (id(ours), id(theirs)) in seen:
            continue
        seen.add((id(ours), id(theirs)))
        conflicts.append(Conflict(ours.key, ours.target, theirs.image_map, theirs.target))
        lines.append(
            f"{_entry_name(position[id(ours)], ours)} {why} "
            f"{theirs.describe()} of ImageMap {theirs.image_map!r}"
        )
    others = sorted({c.image_map for c in conflicts})
    message = (
        f"conflicts with ImageMap{'s' if len(others) > 1 else ''} "
        f"{', '.join(repr(o) for o in others)}, accepted before it: {_listed(lines)}"
    )
    return Verdict(name, "Conflict", message, tuple(conflicts))


_Fingerprint = tuple[tuple[object, ...], ...]
_DECISIONS: OrderedDict[_Fingerprint, tuple[list[object], Decision]] = OrderedDict()
_DECISIONS_LOCK = threading.Lock()
DECISION_CACHE_SIZE = 64


def _fingerprint(imagemaps: list[MappingABC[str, Any]]) -> tuple[_Fingerprint, list[object]] | None:
    """The identity of each ImageMap, and what the decision reads from it, to compare on a hit.

    Metacontroller syncs every ImageMap of a namespace with the same related objects, so the
    walk over 1,000 ImageMaps is done once, not 1,000 times. A cached decision is only reused
    when every `spec.map`, and what orders the ImageMaps (SPEC 2.4: creationTimestamp, the
    status's observedGeneration and conditions), is equal too (a comparison done in C): a hook
    body is untrusted input, and a forged or edited object must never get another object's
    verdict by reusing its uid and resourceVersion. Objects without a resourceVersion (files,
    fixtures) are never cached.
    """
    parts = []
    read: list[object] = []
    for imagemap in imagemaps:
        metadata = imagemap.get("metadata")
        if not isinstance(metadata, dict):
            return None
        name = metadata.get("name")
        version = metadata.get("resourceVersion")
        uid = metadata.get("uid")
        generation = metadata.get("generation")
        # Only hashable parts of the shapes the API server sends: a hook body may hold anything.
        if (not isinstance(version, str) or not version or not isinstance(uid, str)
                or not isinstance(name, str) or not isinstance(generation, int | None)):
            return None
        parts.append((name, uid, version, generation))
        spec = imagemap.get("spec")
        status = imagemap.get("status")
        ordered_by = ((status.get("observedGeneration"), status.get("conditions"))
                      if isinstance(status, dict) else status)
        read.append((spec.get("map") if isinstance(spec, dict) else None,
                     metadata.get("creationTimestamp"), ordered_by))
    return tuple(parts), read


def decide(imagemaps: Iterable[MappingABC[str, Any]]) -> Decision:
    """Accept, in the order of SPEC 2.4, each valid ImageMap consistent with those before it."""
    given = list(imagemaps)
    content = _fingerprint(given)
    if content is None:
        return _walked(_steps(_in_order(given, current_generation=True), None))[0]
    fingerprint, read = content
    with _DECISIONS_LOCK:
        cached = _DECISIONS.get(fingerprint)
        if cached is not None and cached[0] == read:
            _DECISIONS.move_to_end(fingerprint)
            return cached[1]
        decision = _decide_settled(given)
        _DECISIONS[fingerprint] = (read, decision)
        _DECISIONS.move_to_end(fingerprint)
        while len(_DECISIONS) > DECISION_CACHE_SIZE:
            _DECISIONS.popitem(last=False)
    return decision


_Step = tuple[object, "_Compiled | str"]
"""(the `spec.map` it was compiled from; the compiled spec or the problem with its shape)."""


@dataclass(slots=True)
class _Settled:
    """The last walk of a namespace in which no ImageMap was rejected for a conflict."""

    walk: _Walk
    steps: dict[str, _Step]
    """By name, in walk order."""


_SETTLED: OrderedDict[str, _Settled] = OrderedDict()
SETTLED_NAMESPACES = 32
"""Namespaces whose last walk is kept, to judge only what changed since (`_decide_settled`)."""


def _valid(compiled: _Compiled | str) -> TypeGuard[_Compiled]:
    return not isinstance(compiled, str) and not compiled.problems


def _steps(ordered: list[MappingABC[str, Any]], known: dict[str, _Step] | None
           ) -> dict[str, _Step]:
    """Each ImageMap's compiled spec; an object version seen in the last walk is not read."""
    steps: dict[str, _Step] = {}
    for imagemap in ordered:
        metadata = imagemap["metadata"]
        name = metadata["name"]
        spec = imagemap.get("spec")
        spec_map = spec.get("map") if isinstance(spec, dict) else None
        step = known.get(name) if known is not None else None
        # Reused only for an equal spec.map (compared in C), never on uid/resourceVersion alone.
        if step is None or step[0] != spec_map:
            step = (spec_map, _compile_map(name, spec_map))
        steps[name] = step
    return steps


def _decide_settled(imagemaps: list[MappingABC[str, Any]]) -> Decision:
    """`decide`, judging only what changed since the namespace's last walk when in that walk
    every valid ImageMap was accepted.

    Then the accepted ImageMaps are pairwise consistent, and so are the new set's if each
    ImageMap new or changed since is consistent with all the others: every valid one is
    accepted, whatever the order (SPEC 2.4 decides only between inconsistent ones). Otherwise
    the whole namespace is walked again.
    """
    ordered = _in_order(imagemaps, current_generation=True)
    metadata = ordered[0]["metadata"] if ordered else {}
    namespace = str(metadata.get("namespace", ""))
    settled = _SETTLED.pop(namespace, None)
    steps = _steps(ordered, settled.steps if settled is not None else None)
    decision = _settle(settled, steps) if settled is not None else None
    if decision is None:
        decision, walk = _walked(steps)
        settled = _Settled(walk, steps) if all(
            v.reason != "Conflict" for v in decision.verdicts.values()) else None
    if settled is not None:
        _SETTLED[namespace] = settled
        while len(_SETTLED) > SETTLED_NAMESPACES:
            _SETTLED.popitem(last=False)
    return decision


def _settle(settled: _Settled, steps: dict[str, _Step]) -> Decision | None:
    """The decision when every valid ImageMap is accepted; None when a changed ImageMap
    conflicts (`settled` is then spoilt)."""
    walk, before = settled.walk, settled.steps
    for name, (_, compiled) in before.items():
        now = steps.get(name)
        if _valid(compiled) and (now is None or now[1] is not compiled):
            walk.remove(compiled)
    for name, (_, compiled) in steps.items():
        then = before.get(name)
        if _valid(compiled) and (then is None or then[1] is not compiled):
            reach = _reach(compiled)
            if not walk.consistent(compiled, reach):
                return None
            walk.add(compiled, reach)
    settled.steps = steps
    walk.accepted = [compiled for _, compiled in steps.values() if _valid(compiled)]
    verdicts = {name: _verdict(name, compiled) for name, (_, compiled) in steps.items()}
    return Decision(verdicts, walk.maplets())


def _verdict(name: str, compiled: _Compiled | str) -> Verdict:
    """The verdict on an ImageMap that is invalid, or accepted."""
    if isinstance(compiled, str):
        return Verdict(name, "InvalidSpec", compiled)
    if compiled.problems:
        problems = list(compiled.problems)
        return Verdict(
            name,
            "InvalidSpec",
            f"{len(problems)} invalid {'entry' if len(problems) == 1 else 'entries'}: "
            f"{_listed(problems)}",
        )
    assert compiled.accepted is not None
    return compiled.accepted


def _walked(steps: dict[str, _Step]) -> tuple[Decision, _Walk]:
    """The walk of SPEC 2.4 over ImageMaps in order."""
    walk = _Walk()
    verdicts: dict[str, Verdict] = {}
    for name, (_, compiled) in steps.items():
        if not _valid(compiled):
            verdicts[name] = _verdict(name, compiled)
            continue
        reach = _reach(compiled)
        if walk.consistent(compiled, reach):
            walk.add(compiled, reach)
            verdicts[name] = _verdict(name, compiled)
        else:
            verdicts[name] = _conflict_verdict(name, compiled, walk.conflicts_with(compiled))
    return Decision(verdicts, walk.maplets()), walk


def decide_afresh(imagemaps: Iterable[MappingABC[str, Any]]) -> Decision:
    """`decide` without its caches (tests compare the two)."""
    return _walked(_steps(_in_order(list(imagemaps), current_generation=True), None))[0]


def compile_deployed(imagemaps: Iterable[MappingABC[str, Any]]) -> Mapping:
    """The webhook's mapping: `status.deployedMap` of Ready ImageMaps, in the order of 2.4.

    Hooks never accept two inconsistent ImageMaps, but the webhook can see two statuses from
    different moments; then the one in force longer wins and the other is left out entirely.
    """
    walk = _Walk()
    ready = [m for m in imagemaps if ready_since(m, current_generation=False) is not None]
    for imagemap in _in_order(ready, current_generation=False):
        name = str(_get(imagemap, "metadata", "name"))
        compiled = _compile_map(name, _get(imagemap, "status", "deployedMap"))
        if not _valid(compiled):
            continue
        reach = _reach(compiled)
        if walk.consistent(compiled, reach):
            walk.add(compiled, reach)
    return Mapping.build(walk.maplets())
