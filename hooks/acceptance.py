"""Which ImageMaps of a namespace are in force: the acceptance walk of SPEC 2.4.

One deterministic function, `decide`, of a namespace's ImageMaps (metadata, spec and status as
the API server returns them). The ImageMap hook, the namespace hook, `image-mapper map` and
`image-mapper review` all call it, so every sync, in any order and from any replica, agrees.
`compile_deployed` is the webhook's view of the same namespace: the `deployedMap` of the Ready
ImageMaps, walked in the same order.

Consistency (SPEC 2.3): two maplets conflict when they have the same form and normalized `from`
but different normalized `to`, or when one's results could be matched again by the other's
`from` (the mapping must be idempotent). Maplets that map a reference onto itself never change
a result, so they never break idempotence. Every check is a hash lookup, or a walk over the
path segments of one repository, so a namespace of 10,000 maplets is judged in milliseconds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

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


@dataclass(frozen=True, slots=True)
class Decision:
    verdicts: dict[str, Verdict]
    """By ImageMap name, in walk order."""
    mapping: Mapping
    """The merged mapping of the accepted ImageMaps."""


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


def _pattern(form: Form, key: str) -> _Pattern:
    if form is Form.IMAGE:
        reference = parse_normalized(key)
        ancestors = tuple(repository_ancestors(reference.name))
        return _Pattern(
            form, key, reference.name, image_lookup_keys(reference), ancestors, ancestors
        )
    if form is Form.REPOSITORY:
        ancestors = tuple(repository_ancestors(key))
        return _Pattern(form, key, key, (), ancestors, ancestors)
    proper = tuple(repository_ancestors(key[:-1]))
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


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One ImageMap's spec, parsed and checked on its own; a function of the spec only."""

    maplets: tuple[Maplet, ...]
    sources: tuple[_Pattern, ...]
    targets: tuple[_Pattern, ...]
    problems: tuple[str, ...]


class _Namespace:
    """The maplets accepted so far in one walk."""

    def __init__(self) -> None:
        self.exact: dict[tuple[Form, str], Maplet] = {}
        self.sources = _PatternIndex()
        self.targets = _PatternIndex()
        self.maplets: list[Maplet] = []

    def conflicts_with(self, compiled: _Compiled) -> list[tuple[Maplet, Maplet, str]]:
        """(ours, theirs, why) for every way `compiled` is inconsistent with the maplets here."""
        found: list[tuple[Maplet, Maplet, str]] = []
        for maplet, source, target in zip(
            compiled.maplets, compiled.sources, compiled.targets, strict=True
        ):
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
        for maplet, source, target in zip(
            compiled.maplets, compiled.sources, compiled.targets, strict=True
        ):
            self.exact.setdefault((maplet.form, maplet.key), maplet)
            self.sources.add(source, maplet)
            self.targets.add(target, maplet)
            self.maplets.append(maplet)


def _entry_name(index: int, maplet: Maplet) -> str:
    return f"spec.map[{index}] ({maplet.describe()})"


def _compile(name: str, entries: tuple[tuple[object, object], ...]) -> _Compiled:
    maplets: list[Maplet] = []
    problems: list[str] = []
    positions: dict[int, int] = {}
    for index, (source, target) in enumerate(entries):
        try:
            maplet = compile_maplet(source, target, name)
        except MapletError as error:
            problems.append(f"spec.map[{index}]: {error}")
            continue
        positions[id(maplet)] = index
        maplets.append(maplet)
    sources = tuple(_pattern(m.form, m.key) for m in maplets)
    targets = tuple(_pattern(m.form, m.target_key) for m in maplets)
    compiled = _Compiled(tuple(maplets), sources, targets, ())
    if not problems:
        # Conflicts inside one ImageMap make it invalid (SPEC 2.3), its own maplets included:
        # a prefix whose `to` lies under its own `from` is never idempotent.
        inside = _Namespace()
        inside.add(compiled)
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
    return _Compiled(compiled.maplets, sources, targets, tuple(problems))


_compile_cached = lru_cache(maxsize=16384)(_compile)


def _entries(spec_map: object) -> tuple[tuple[object, object], ...] | str:
    """The (from, to) pairs of `spec.map`, or a problem with its shape."""
    if not isinstance(spec_map, list):
        return "spec.map must be a list of {from, to} entries"
    if not spec_map:
        return "spec.map must have at least one entry"
    pairs: list[tuple[object, object]] = []
    for index, entry in enumerate(spec_map):
        if not isinstance(entry, dict):
            return f"spec.map[{index}] must be an object with 'from' and 'to'"
        unknown = sorted(set(entry) - {"from", "to"})
        if unknown:
            return f"spec.map[{index}] has unknown field(s) {', '.join(unknown)}"
        pairs.append((entry.get("from"), entry.get("to")))
    return tuple(pairs)


def _compile_map(name: str, spec_map: object) -> _Compiled | str:
    entries = _entries(spec_map)
    if isinstance(entries, str):
        return entries
    if all(isinstance(s, str) and isinstance(t, str) for s, t in entries):
        return _compile_cached(name, entries)
    return _compile(name, entries)


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
    if current_generation and (
        status.get("observedGeneration") != _get(imagemap, "metadata", "generation")
    ):
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
    created = _get(imagemap, "metadata", "creationTimestamp")
    name = _get(imagemap, "metadata", "name")
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
_DECISIONS: OrderedDict[_Fingerprint, Decision] = OrderedDict()
_DECISIONS_LOCK = threading.Lock()
DECISION_CACHE_SIZE = 64


def _fingerprint(imagemaps: list[MappingABC[str, Any]]) -> _Fingerprint | None:
    """What the API server says identifies each object's content: uid and resourceVersion.

    Metacontroller syncs every ImageMap of a namespace with the same related objects, so the
    walk over 1,000 ImageMaps is done once, not 1,000 times. Objects without a
    resourceVersion (files, fixtures) are never cached.
    """
    parts = []
    for imagemap in imagemaps:
        metadata = imagemap.get("metadata")
        if not isinstance(metadata, dict):
            return None
        version = metadata.get("resourceVersion")
        uid = metadata.get("uid")
        if not isinstance(version, str) or not version or not isinstance(uid, str):
            return None
        parts.append((metadata.get("name"), uid, version, metadata.get("generation")))
    return tuple(parts)


def decide(imagemaps: Iterable[MappingABC[str, Any]]) -> Decision:
    """Accept, in the order of SPEC 2.4, each valid ImageMap consistent with those before it."""
    given = list(imagemaps)
    fingerprint = _fingerprint(given)
    if fingerprint is not None:
        with _DECISIONS_LOCK:
            cached = _DECISIONS.get(fingerprint)
            if cached is not None:
                _DECISIONS.move_to_end(fingerprint)
                return cached
    decision = _decide(given)
    if fingerprint is not None:
        with _DECISIONS_LOCK:
            _DECISIONS[fingerprint] = decision
            while len(_DECISIONS) > DECISION_CACHE_SIZE:
                _DECISIONS.popitem(last=False)
    return decision


def _decide(imagemaps: list[MappingABC[str, Any]]) -> Decision:
    namespace = _Namespace()
    verdicts: dict[str, Verdict] = {}
    for imagemap in _in_order(imagemaps, current_generation=True):
        name = str(_get(imagemap, "metadata", "name"))
        spec = imagemap.get("spec")
        compiled = _compile_map(name, spec.get("map") if isinstance(spec, dict) else None)
        if isinstance(compiled, str):
            verdicts[name] = Verdict(name, "InvalidSpec", compiled)
            continue
        if compiled.problems:
            problems = list(compiled.problems)
            verdicts[name] = Verdict(
                name,
                "InvalidSpec",
                f"{len(problems)} invalid {'entry' if len(problems) == 1 else 'entries'}: "
                f"{_listed(problems)}",
            )
            continue
        found = namespace.conflicts_with(compiled)
        if found:
            verdicts[name] = _conflict_verdict(name, compiled, found)
            continue
        namespace.add(compiled)
        verdicts[name] = Verdict(
            name,
            "Accepted",
            f"{_plural(len(compiled.maplets), 'maplet')} in force",
            maplets=compiled.maplets,
        )
    return Decision(verdicts, Mapping.build(namespace.maplets))


def compile_deployed(imagemaps: Iterable[MappingABC[str, Any]]) -> Mapping:
    """The webhook's mapping: `status.deployedMap` of Ready ImageMaps, in the order of 2.4.

    Hooks never accept two inconsistent ImageMaps, but the webhook can see two statuses from
    different moments; then the one in force longer wins and the other is left out entirely.
    """
    namespace = _Namespace()
    ready = [m for m in imagemaps if ready_since(m, current_generation=False) is not None]
    for imagemap in _in_order(ready, current_generation=False):
        name = str(_get(imagemap, "metadata", "name"))
        compiled = _compile_map(name, _get(imagemap, "status", "deployedMap"))
        if isinstance(compiled, str) or compiled.problems or namespace.conflicts_with(compiled):
            continue
        namespace.add(compiled)
    return Mapping.build(namespace.maplets)
