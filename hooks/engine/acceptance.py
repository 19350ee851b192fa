"""Which ImageMaps of a namespace are in force: the acceptance walk of SPEC 2.4.

One deterministic function, `decide`, of a namespace's ImageMaps. The ImageMap hook, the
namespace hook, `image-mapper map` and `image-mapper review` all call it, so every sync, in
any order and from any replica, agrees:

1. Order the ImageMaps by (the time since which each has been in force at its current
   generation, else "not yet"; `creationTimestamp`; name) — `order_key`.
2. Walk them in that order; accept each valid ImageMap that is consistent with all those
   already accepted in this walk (SPEC 2.3, `hooks.engine.consistency`); reject the rest.

`compile_deployed` is the webhook's view of the same namespace: the `deployedMap` of the Ready
ImageMaps, walked in the same order.

How it stays fast (benchmarks/, `make bench`): the walk asks only whether a newcomer conflicts,
with set operations over per-ImageMap key summaries kept in the compile cache, and asks the
pairwise rule which conflicts only when there are some; and with a `DecisionCache`, a decision
is reused for the same content, and a namespace whose last walk accepted every valid ImageMap
judges only what changed since (`_decide_settled`). Property tests hold these to the answers of
a walk from scratch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeGuard

from hooks.engine.cache import DecisionCache, fingerprint
from hooks.engine.consistency import Compiled, Walk, compile_map, entry_name, reach_of
from hooks.engine.imagemap import ImageMap, unique
from hooks.engine.mapping import Mapping
from hooks.engine.patterns import Overlap
from hooks.engine.verdicts import Conflict, Decision, Verdict, listed

# --- the order of SPEC 2.4 -------------------------------------------------------------------

NOT_YET = "~"
"""Sorts after every RFC 3339 time."""


def order_key(imagemap: ImageMap, *, current_generation: bool) -> tuple[str, str, str]:
    """(in force since, created, name): the ImageMaps of a namespace are walked in this order.

    With `current_generation`, an ImageMap counts as in force only at the generation its status
    was written for: an update is judged afresh (SPEC 2.4).
    """
    since = imagemap.in_force_since(current_generation=current_generation)
    return (since or NOT_YET, imagemap.creation_timestamp or NOT_YET, imagemap.name)


def in_order(imagemaps: Iterable[ImageMap], *, current_generation: bool) -> list[ImageMap]:
    """One ImageMap per name (`hooks.engine.imagemap.unique`), in walk order."""
    return sorted(unique(imagemaps),
                  key=lambda m: order_key(m, current_generation=current_generation))


# --- the walk -------------------------------------------------------------------------------

Step = tuple[object, "Compiled | str"]
"""(the `spec.map` it was compiled from; the compiled spec or the problem with its shape)."""


def _valid(compiled: Compiled | str) -> TypeGuard[Compiled]:
    return not isinstance(compiled, str) and not compiled.problems


def _steps(ordered: list[ImageMap], known: dict[str, Step] | None) -> dict[str, Step]:
    """Each ImageMap's compiled spec, by name in walk order; an equal spec.map seen in the
    last walk is not compiled again."""
    steps: dict[str, Step] = {}
    for imagemap in ordered:
        name, spec_map = imagemap.name, imagemap.spec_map
        step = known.get(name) if known is not None else None
        # Reused only for an equal spec.map (compared in C), never on uid/resourceVersion alone.
        if step is None or step[0] != spec_map:
            step = (spec_map, compile_map(name, spec_map))
        steps[name] = step
    return steps


def _walked(steps: dict[str, Step]) -> tuple[Decision, Walk]:
    """The walk of SPEC 2.4 over ImageMaps in order."""
    walk = Walk()
    verdicts: dict[str, Verdict] = {}
    for name, (_, compiled) in steps.items():
        if not _valid(compiled):
            verdicts[name] = _verdict(name, compiled)
            continue
        reach = reach_of(compiled)
        if walk.consistent(compiled, reach):
            walk.add(compiled, reach)
            verdicts[name] = _verdict(name, compiled)
        else:
            verdicts[name] = _conflict_verdict(name, compiled, walk.conflicts_with(compiled))
    return Decision(verdicts, walk.maplets()), walk


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


def _conflict_verdict(name: str, compiled: Compiled, found: list[Overlap]) -> Verdict:
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
            f"{entry_name(position[id(ours)], ours)} {why} "
            f"{theirs.describe()} of ImageMap {theirs.image_map!r}"
        )
    others = sorted({c.image_map for c in conflicts})
    message = (
        f"conflicts with ImageMap{'s' if len(others) > 1 else ''} "
        f"{', '.join(repr(o) for o in others)}, accepted before it: {listed(lines)}"
    )
    return Verdict(name, "Conflict", message, tuple(conflicts))


# --- deciding --------------------------------------------------------------------------------


def decide(imagemaps: Iterable[ImageMap], *, cache: DecisionCache | None = None) -> Decision:
    """Accept, in the order of SPEC 2.4, each valid ImageMap consistent with those before it.

    `imagemaps` are one namespace's; of two with the same name the first is taken
    (`hooks.engine.imagemap.unique`). Never raises on bad specs: they become InvalidSpec
    verdicts. With a `cache`, a decision already made on the same content is returned again,
    and a settled namespace is judged on what changed only; the verdicts are the same.
    """
    given = unique(imagemaps)
    content = fingerprint(given) if cache is not None else None
    if cache is None or content is None:
        return _walked(_steps(in_order(given, current_generation=True), None))[0]
    key, read = content
    with cache.lock:
        decision = cache.decision(key, read)
        if decision is None:
            decision = _decide_settled(given, cache)
            cache.remember(key, read, decision)
    return decision


@dataclass(slots=True)
class Settled:
    """The last walk of a namespace in which no ImageMap was rejected for a conflict."""

    walk: Walk
    steps: dict[str, Step]
    """By name, in walk order."""


def _decide_settled(imagemaps: list[ImageMap], cache: DecisionCache) -> Decision:
    """`decide`, judging only what changed since the namespace's last walk when in that walk
    every valid ImageMap was accepted.

    Then the accepted ImageMaps are pairwise consistent, and so are the new set's if each
    ImageMap new or changed since is consistent with all the others: every valid one is
    accepted, whatever the order (SPEC 2.4 decides only between inconsistent ones). Otherwise
    the whole namespace is walked again.
    """
    ordered = in_order(imagemaps, current_generation=True)
    namespace = ordered[0].namespace if ordered else ""
    settled = cache.take_settled(namespace)
    steps = _steps(ordered, settled.steps if settled is not None else None)
    decision = _settle(settled, steps) if settled is not None else None
    if decision is None:
        decision, walk = _walked(steps)
        settled = Settled(walk, steps) if all(
            v.reason != "Conflict" for v in decision.verdicts.values()) else None
    if settled is not None:
        cache.keep_settled(namespace, settled)
    return decision


def _settle(settled: Settled, steps: dict[str, Step]) -> Decision | None:
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
            reach = reach_of(compiled)
            if not walk.consistent(compiled, reach):
                return None
            walk.add(compiled, reach)
    settled.steps = steps
    walk.accepted = [compiled for _, compiled in steps.values() if _valid(compiled)]
    verdicts = {name: _verdict(name, compiled) for name, (_, compiled) in steps.items()}
    return Decision(verdicts, walk.maplets())


# --- the webhook's view ----------------------------------------------------------------------


def compile_deployed(imagemaps: Iterable[ImageMap]) -> Mapping:
    """The webhook's mapping: `status.deployedMap` of Ready ImageMaps, in the order of 2.4.

    Hooks never accept two inconsistent ImageMaps, but the webhook can see two statuses from
    different moments; then the one in force longer wins and the other is left out entirely.
    """
    walk = Walk()
    ready = [m for m in imagemaps if m.in_force_since(current_generation=False) is not None]
    for imagemap in in_order(ready, current_generation=False):
        compiled = compile_map(imagemap.name, imagemap.deployed_map)
        if not _valid(compiled):
            continue
        reach = reach_of(compiled)
        if walk.consistent(compiled, reach):
            walk.add(compiled, reach)
    return Mapping.build(walk.maplets())
