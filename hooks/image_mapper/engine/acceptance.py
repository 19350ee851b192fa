"""Which ImageMaps of a namespace are in force: the acceptance walk of design.md#acceptance.

One deterministic function, `decide`, of a namespace's ImageMaps. The namespace hook (the one
decider), `image-mapper map`, `review`, `preview` and `validate` all call it, so every caller, in
any order and from any replica, agrees:

1. Order the ImageMaps by (the time since which each has been in force at its current
   generation, else "not yet"; `creationTimestamp`; name) — `order_key`.
2. Walk them in that order; accept each valid ImageMap that is consistent with all those
   already accepted in this walk (the rule of design.md#consistency, checked by
   `image_mapper.engine.consistency`); reject the rest.

One decider per namespace (design.md#one-decider): the namespace hook alone decides, over the whole
namespace, and records the outcome (`image_mapper.engine.record`) where a decision made on a stale
view cannot land; the walk then takes the ImageMaps the record has in force first, in its order. The
ImageMap hook (`follow`) and the webhook (`compile_recorded`) follow the record.

How it stays fast (benchmarks/, `make bench`): the walk asks only whether a newcomer conflicts,
with set operations over per-ImageMap key summaries kept in the compile cache, and asks the
pairwise rule which conflicts only when there are some; and given the `prior` decision on the
namespace, `decide` compiles again only the specs that changed since and, when that decision
rejected no ImageMap for a conflict, judges only what changed (`_settle`). `decide` is pure: it
changes nothing it is given, the prior decision included, and its verdicts never depend on the
prior (property tests hold them to the answers of a walk from scratch). Remembering decisions
between calls is the caller's business (the hooks server keeps its own).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple, TypeGuard

from image_mapper.engine.consistency import Compiled, Walk, compile_map, entry_name, reach_of
from image_mapper.engine.imagemap import KIND, ImageMap, unique
from image_mapper.engine.mapping import Maplet, Mapping
from image_mapper.engine.patterns import Overlap, example
from image_mapper.engine.record import Entry, Record
from image_mapper.engine.selector import Selector, read_selector
from image_mapper.engine.settings import DEFAULT, Settings
from image_mapper.engine.verdicts import Conflict, Verdict, listed

# --- the acceptance order (design.md#acceptance) ---------------------------------------------

NOT_YET = "~"
"""Sorts after every RFC 3339 time."""


def order_key(imagemap: ImageMap, *, current_generation: bool) -> tuple[str, str, str]:
    """(in force since, created, name): the ImageMaps of a namespace are walked in this order.

    With `current_generation`, an ImageMap counts as in force only at the generation its status
    was written for: an update is judged afresh (design.md#acceptance).
    """
    since = imagemap.in_force_since(current_generation=current_generation)
    return (since or NOT_YET, imagemap.creation_timestamp or NOT_YET, imagemap.name)


def in_order(imagemaps: Iterable[ImageMap], *, current_generation: bool,
             record: Record | None = None) -> list[ImageMap]:
    """One ImageMap per name (`image_mapper.engine.imagemap.unique`), in walk order: with a
    `record` (design.md#one-decider), first those it has in force at their current generation, in
    its order, then the newcomers by `order_key`."""
    ordered = sorted(unique(imagemaps),
                     key=lambda m: order_key(m, current_generation=current_generation))
    if record is None or not record.in_force:
        return ordered
    first = recorded_in_force(record, ordered)
    known = {m.name for m in first}
    return first + [m for m in ordered if m.name not in known]


# --- the walk -------------------------------------------------------------------------------

class Step(NamedTuple):
    """One ImageMap, compiled for a walk."""

    written: tuple[object, object, object, object]
    """`spec.map`, `spec.mode`, `spec.imagePullSecrets` and `spec.namespaceSelector` as
    written: what it was compiled
    from."""
    compiled: Compiled | str
    """The compiled spec, or the problem with its shape."""
    settings: Settings
    """Its mode and pull secrets (the defaults when they are invalid: the spec is then
    invalid too)."""


@dataclass(frozen=True, slots=True)
class Basis:
    """What a decision was made from, for a later decision on the namespace to start from."""

    steps: MappingABC[str, Step]
    """Each ImageMap compiled, by name, in walk order."""
    walk: Walk | None
    """The walk, when it rejected no ImageMap for a conflict (then every valid one is in it);
    never changed once the decision is made."""


@dataclass(frozen=True)
class Decision:
    """The verdict on each ImageMap of a namespace, and the mapping they make together."""

    verdicts: MappingABC[str, Verdict]
    """By ImageMap name, in walk order."""
    maplets: tuple[Maplet, ...]
    """The maplets in force, in walk order."""
    settings: MappingABC[str, Settings] = field(default_factory=dict)
    """The mode and pull secrets of each accepted ImageMap, by name, in walk order."""
    basis: Basis | None = field(default=None, repr=False, compare=False)
    """What it was made from, for `decide(..., prior=this)`; None when left out (a caller
    that keeps many decisions may keep them without it: it is the size of the walk)."""

    @cached_property
    def mapping(self) -> Mapping:
        """The merged mapping of the accepted ImageMaps (built on first use: the hooks need
        only the verdicts)."""
        return Mapping.build(self.maplets, self.settings)


def _valid(compiled: Compiled | str) -> TypeGuard[Compiled]:
    return not isinstance(compiled, str) and not compiled.problems


def compile_imagemap(imagemap: ImageMap, kind: str = KIND) -> tuple[Compiled | str, Settings]:
    """An ImageMap's spec compiled and checked, its settings (mode and pull secrets) among it:
    an invalid mode or pull secret makes the ImageMap invalid, but settings never make it
    conflict (design.md#relocation-settings). A ClusterImageMap's `namespaceSelector` likewise:
    an invalid one makes it invalid; which namespaces it selects never makes it conflict
    (design.md#clusterimagemap)."""
    settings = imagemap.settings()
    if kind != KIND:
        selector = read_selector(imagemap.namespace_selector)
        if not isinstance(selector, Selector):
            settings = [*(settings if isinstance(settings, list) else []), *selector]
    return _with_settings(compile_map(imagemap.name, imagemap.spec_map), settings)


def _with_settings(compiled: Compiled | str, settings: Settings | list[str]
                   ) -> tuple[Compiled | str, Settings]:
    if isinstance(settings, Settings):
        return compiled, settings
    if isinstance(compiled, str):
        return "; ".join((compiled, *settings)), DEFAULT
    return Compiled(compiled.maplets, (*compiled.problems, *settings)), DEFAULT


def _steps(ordered: list[ImageMap], known: MappingABC[str, Step] | None,
           kind: str = KIND) -> dict[str, Step]:
    """Each ImageMap's compiled spec, by name in walk order; an equal spec `known` from a prior
    decision is not compiled again."""
    steps: dict[str, Step] = {}
    for imagemap in ordered:
        name = imagemap.name
        written = (imagemap.spec_map, imagemap.mode, imagemap.pull_secrets,
                   imagemap.namespace_selector)
        step = known.get(name) if known is not None else None
        # Reused only for an equal spec (compared in C), never on uid/resourceVersion alone.
        if step is None or step.written != written:
            step = Step(written, *compile_imagemap(imagemap, kind))
        steps[name] = step
    return steps


def _decision(verdicts: dict[str, Verdict], walk: Walk, steps: dict[str, Step]) -> Decision:
    """The decision of a walk: the verdicts, and the maplets and settings in force; its basis
    keeps the walk only when no ImageMap was rejected for a conflict."""
    settings = {name: step.settings for name, step in steps.items() if verdicts[name].ready}
    settled = all(verdict.reason != "Conflict" for verdict in verdicts.values())
    return Decision(verdicts, walk.maplets(), settings, Basis(steps, walk if settled else None))


def _walked(steps: dict[str, Step], kind: str = KIND) -> Decision:
    """The walk of design.md#acceptance over ImageMaps in order. Settings take no part in it:
    switching an ImageMap between Enforce and Audit never changes a verdict
    (design.md#relocation-settings)."""
    walk = Walk()
    verdicts: dict[str, Verdict] = {}
    for name, step in steps.items():
        compiled = step.compiled
        if not _valid(compiled):
            verdicts[name] = _verdict(name, compiled)
            continue
        reach = reach_of(compiled)
        if walk.consistent(compiled, reach):
            walk.add(compiled, reach)
            verdicts[name] = _verdict(name, compiled)
        else:
            verdicts[name] = _conflict_verdict(name, compiled, walk.conflicts_with(compiled),
                                               kind)
    return _decision(verdicts, walk, steps)


# --- verdicts --------------------------------------------------------------------------------


def _verdict(name: str, compiled: Compiled | str) -> Verdict:
    """The verdict on an ImageMap that is invalid, or accepted."""
    if isinstance(compiled, str):
        return Verdict(name, "InvalidSpec", compiled)
    if compiled.problems:
        problems = list(compiled.problems)
        return Verdict(
            name,
            "InvalidSpec",
            f"{len(problems)} invalid {'entry' if len(problems) == 1 else 'entries'}: "
            f"{listed(problems)}",
        )
    assert compiled.accepted is not None
    return compiled.accepted


def _conflict_verdict(name: str, compiled: Compiled, found: list[Overlap],
                      kind: str = KIND) -> Verdict:
    position = {id(m): i for i, m in enumerate(compiled.maplets)}
    conflicts: list[Conflict] = []
    lines: list[str] = []
    seen: set[tuple[int, int]] = set()
    for ours, theirs, why in found:
        if (id(ours), id(theirs)) in seen:
            continue
        seen.add((id(ours), id(theirs)))
        shown = example(ours, theirs, why)
        conflicts.append(Conflict(ours.key, ours.target, theirs.image_map, theirs.target,
                                  shown))
        lines.append(
            f"{entry_name(position[id(ours)], ours)} {why} "
            f"{theirs.describe()} of {kind} {theirs.image_map!r}"
            + (f" (e.g. {shown})" if shown else "")
        )
    others = sorted({c.image_map for c in conflicts})
    message = (
        f"conflicts with {kind}{'s' if len(others) > 1 else ''} "
        f"{', '.join(repr(o) for o in others)}, accepted before it: {listed(lines)}"
    )
    return Verdict(name, "Conflict", message, tuple(conflicts))


# --- deciding --------------------------------------------------------------------------------


def decide(imagemaps: Iterable[ImageMap], *, record: Record | None = None,
           prior: Decision | None = None, kind: str = KIND) -> Decision:
    """Accept, in the order of design.md#acceptance, each valid ImageMap consistent with those
    before it; with the namespace's decision `record` (design.md#one-decider), those it has in
    force come first, in its order.

    `imagemaps` are one namespace's; of two with the same name the first is taken
    (`image_mapper.engine.imagemap.unique`). Never raises on bad specs: they become InvalidSpec
    verdicts. `prior`, an earlier decision (best the namespace's last), only saves work: what
    it compiled is not compiled again, and when it rejected no ImageMap for a conflict, only
    what changed since is judged. The verdicts are those of a walk from scratch, whatever the
    prior; it is left as it was. A decision holds on to the specs it was made from, to compare
    with the next: an edited ImageMap must come as a new object (as a hook body or the API
    server gives it), never as the same one changed in place.

    The ClusterImageMaps of the cluster are decided alike, with `kind` ClusterImageMap: their
    `namespaceSelector` is then part of their validity (design.md#clusterimagemap); a `prior`
    must be of the same kind.
    """
    steps = _steps(in_order(imagemaps, current_generation=True, record=record),
                   prior.basis.steps if prior is not None and prior.basis is not None else None,
                   kind)
    if prior is not None and prior.basis is not None and prior.basis.walk is not None:
        settled = _settle(prior.basis, steps)
        if settled is not None:
            return settled
    return _walked(steps, kind)


def _settle(basis: Basis, steps: dict[str, Step]) -> Decision | None:
    """The decision when every valid ImageMap is accepted, judging only what changed since
    `basis`, a walk in which every valid ImageMap was accepted; None when an ImageMap new or
    changed since conflicts with the others (the whole namespace is then walked again).

    The ImageMaps of `basis.walk` are pairwise consistent, and so are the new set's if each
    ImageMap new or changed since is consistent with all the others: every valid one is
    accepted, whatever the order (the acceptance order decides only between inconsistent
    ones). `basis.walk` is copied, not changed: another decision may start from it too.
    """
    assert basis.walk is not None
    before = basis.steps
    removed = [compiled for name, (_, compiled, _) in before.items()
               if _valid(compiled) and ((now := steps.get(name)) is None
                                        or now.compiled is not compiled)]
    added = [compiled for name, (_, compiled, _) in steps.items()
             if _valid(compiled) and ((then := before.get(name)) is None
                                      or then.compiled is not compiled)]
    accepted = [step.compiled for step in steps.values() if _valid(step.compiled)]
    walk = basis.walk
    if removed or added or not _same(accepted, walk.accepted):
        walk = walk.copy()
        for compiled in removed:
            walk.remove(compiled)
        for compiled in added:
            reach = reach_of(compiled)
            if not walk.consistent(compiled, reach):
                return None
            walk.add(compiled, reach)
        walk.accepted = accepted
    # else nothing the walk holds changed (say, only statuses): the walk is shared.
    verdicts = {name: _verdict(name, step.compiled) for name, step in steps.items()}
    return _decision(verdicts, walk, steps)


def _same(these: list[Compiled], those: list[Compiled]) -> bool:
    """The same compiled specs, in the same order (by identity: comparing is for C)."""
    return len(these) == len(those) and all(map(operator.is_, these, those))


# --- one decider per namespace, and those who follow its record (design.md#one-decider) ------


def record_of(decision: Decision, imagemaps: Iterable[ImageMap], *,
              previous: Record | None = None, now: str = "") -> Record:
    """The record of `decision`, made over `imagemaps`: those in force in walk order, and the
    rejected; each at the generation judged, with the time it got its verdict: kept from the
    `previous` record while the verdict does not change (whatever the generation), else `now`.
    ImageMaps without a uid and generation (files) are left out."""
    in_force: list[Entry] = []
    rejected: list[Entry] = []
    by_name = {m.name: m for m in unique(imagemaps)}
    for name, verdict in decision.verdicts.items():
        imagemap = by_name.get(name)
        if imagemap is None or imagemap.uid is None or imagemap.generation is None:
            continue
        before = previous.judged(name, imagemap.uid) if previous is not None else None
        since = before[1].since if before is not None and before[0] == verdict.ready else ""
        entry = Entry(name, imagemap.uid, imagemap.generation, since or now)
        (in_force if verdict.ready else rejected).append(entry)
    return Record(tuple(in_force), tuple(rejected))


def behind(record: Record, imagemaps: Iterable[ImageMap]) -> list[str]:
    """The ImageMaps this view holds at an older generation than the record judged: a view
    behind the record, on which no decision may be made."""
    judged = {(e.name, e.uid): e.generation for e in record.entries()}
    return [m.name for m in imagemaps
            if m.generation is not None
            and judged.get((m.name, m.uid or ""), m.generation) > m.generation]


def follow(record: Record | None, parent: ImageMap, imagemaps: Iterable[ImageMap],
           kind: str = KIND) -> Verdict | None:
    """The verdict on `parent` that the namespace's `record` holds, explained from this view
    of the others; None while the record has not judged its current generation, or while this
    view cannot name the conflict yet (the caller then leaves its status as it is).

    Validity is the ImageMap's own affair: an invalid spec is InvalidSpec at once."""
    compiled, _ = compile_imagemap(parent, kind)
    if not _valid(compiled):
        return _verdict(parent.name, compiled)
    judged = record.judged(parent.name, parent.uid or "") if record is not None else None
    if record is None or judged is None or judged[1].generation != parent.generation:
        return None
    if judged[0]:
        return _verdict(parent.name, compiled)
    walk = Walk()
    for imagemap in recorded_in_force(record, imagemaps):
        other = compile_map(imagemap.name, imagemap.spec_map)
        if _valid(other) and imagemap.name != parent.name:
            walk.add(other)
    found = walk.conflicts_with(compiled)
    return _conflict_verdict(parent.name, compiled, found, kind) if found else None


def recorded_in_force(record: Record, imagemaps: Iterable[ImageMap]) -> list[ImageMap]:
    """Those of the ImageMaps the record has in force that this view holds at the judged
    generation (or a later one that changed only its settings: `ImageMap.in_force_as`), in
    the record's order."""
    by_name = {m.name: m for m in unique(imagemaps)}
    return [by_name[e.name] for e in record.in_force
            if e.name in by_name and by_name[e.name].in_force_as(e)]


def compile_recorded(record: Record, imagemaps: Iterable[ImageMap]) -> Mapping | None:
    """The webhook's mapping of a namespace: the maplets and settings of the ImageMaps that
    `record` has in force, each at the generation judged, from its spec (while the ImageMap is
    at that generation) or else its `deployedMap`, `deployedMode` and
    `deployedImagePullSecrets` (when its Ready condition was written for it).

    None when this view holds one of them in neither form: the caller keeps the mapping it
    has, so that a mapping never mixes maplets of two decisions."""
    by_name = {m.name: m for m in unique(imagemaps)}
    maplets: list[Maplet] = []
    settings: dict[str, Settings] = {}
    for entry in record.in_force:
        imagemap = by_name.get(entry.name)
        if imagemap is None or imagemap.uid != entry.uid:
            return None
        if imagemap.generation == entry.generation:
            spec_map, written = imagemap.spec_map, imagemap.settings()
        elif (imagemap.ready is not None and imagemap.ready.status == "True"
              and imagemap.ready.observed_generation == entry.generation):
            spec_map, written = imagemap.deployed_map, imagemap.deployed_settings()
        else:
            return None
        compiled = compile_map(entry.name, spec_map)
        if not _valid(compiled) or not isinstance(written, Settings):
            return None
        maplets.extend(compiled.maplets)
        settings[entry.name] = written
    return Mapping.build(maplets, settings)
