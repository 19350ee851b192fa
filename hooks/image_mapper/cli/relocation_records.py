"""Relocation tools' records of what they copied, read into `original -> relocated` pairs, and
the maplets an ImageMap makes of them (pure functions for `image-mapper import`).

Formats whose documentation shows the pairs:
- `cnab`: a CNAB relocation mapping, the JSON object `{"ORIGINAL": "RELOCATED", ...}` that CNAB
  relocation tools write (and hand to the bundle as `/cnab/app/relocation-mapping.json`);
- `pairs`: a two-column text file, `ORIGINAL RELOCATED` a line, blank lines and `#` comments
  allowed (the lines `image-mapper images` prints for mapped images);
- `imgpkg`: the ImagesLock that `imgpkg copy --lock IMAGES.yml --to-repo REPO --lock-output
  FILE` writes, beside the ImagesLock it was given (`--original`): imgpkg copies every image
  into one repository under its own digest, so the pairs are joined by digest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from image_mapper.engine.mapping import Form, MapletError, compile_maplet
from image_mapper.engine.reference import (
    Reference,
    ReferenceError,
    parse_normalized,
    repository_ancestors,
)

FORMATS = ("cnab", "pairs", "imgpkg")

IMAGES_LOCK_API_VERSION = "imgpkg.carvel.dev/v1alpha1"
IMAGES_LOCK_KIND = "ImagesLock"


class RecordError(ValueError):
    """A record that cannot be read, or whose pairs conflict; the message names the lines."""


@dataclass(frozen=True, slots=True)
class Pair:
    original: str
    relocated: str
    where: str
    """Where the record lists it: `FILE:LINE`, or `FILE: images[N]`."""


def _pair(original: object, relocated: object, where: str) -> Pair:
    if not isinstance(original, str) or not isinstance(relocated, str):
        raise RecordError(f"{where}: expected two image references, got {original!r} and "
                          f"{relocated!r}")
    for reference in (original, relocated):
        try:
            parse_normalized(reference)
        except ReferenceError as error:
            raise RecordError(f"{where}: {error}") from None
    return Pair(original, relocated, where)


def read_pairs(text: str, name: str) -> list[Pair]:
    """`ORIGINAL RELOCATED` a line; blank lines, `#` comment lines and trailing `# ...`."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split() if not line.lstrip().startswith("#") else []
        if not fields:
            continue
        if len(fields) != 2:
            raise RecordError(f"{name}:{number}: expected 'ORIGINAL RELOCATED', got "
                              f"{len(fields)} field{'s' if len(fields) != 1 else ''}: "
                              f"{line.strip()!r}")
        found.append(_pair(fields[0], fields[1], f"{name}:{number}"))
    return found


def read_cnab(text: str, name: str) -> list[Pair]:
    """The JSON object of a CNAB relocation mapping; a key given twice is kept twice, so that a
    conflict between them is named."""
    try:
        items = json.loads(text, object_pairs_hook=lambda pairs: pairs)
    except json.JSONDecodeError as error:
        raise RecordError(f"{name}:{error.lineno}: invalid JSON: {error.msg}") from None
    if not isinstance(items, list):
        raise RecordError(f"{name}: a CNAB relocation mapping is a JSON object "
                          "{\"ORIGINAL\": \"RELOCATED\", ...}")
    found = []
    searched = 0
    for original, relocated in items:
        # The line of each key, found in order: JSON decoding forgets where things were.
        at = text.find(json.dumps(original), searched)
        searched = at + 1 if at >= 0 else searched
        line = text.count("\n", 0, at) + 1 if at >= 0 else 1
        found.append(_pair(original, relocated, f"{name}:{line}"))
    return found


def _images_lock(text: str, name: str) -> list[tuple[str, str]]:
    """(image, where) of an imgpkg ImagesLock."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RecordError(f"{name}: invalid YAML: {error}") from None
    if (not isinstance(document, dict) or document.get("kind") != IMAGES_LOCK_KIND
            or document.get("apiVersion") != IMAGES_LOCK_API_VERSION):
        raise RecordError(f"{name}: expected an imgpkg ImagesLock (apiVersion "
                          f"{IMAGES_LOCK_API_VERSION}, kind {IMAGES_LOCK_KIND})")
    images = document.get("images") or []
    if not isinstance(images, list):
        raise RecordError(f"{name}: images must be a list")
    found = []
    for index, entry in enumerate(images):
        image = entry.get("image") if isinstance(entry, dict) else None
        if not isinstance(image, str):
            raise RecordError(f"{name}: images[{index}] has no image")
        found.append((image, f"{name}: images[{index}]"))
    return found


def _digest(image: str, where: str) -> str:
    try:
        digest = parse_normalized(image).digest
    except ReferenceError as error:
        raise RecordError(f"{where}: {error}") from None
    if digest is None:
        raise RecordError(f"{where}: an ImagesLock lists images by digest, not {image!r}")
    return digest


def read_imgpkg(text: str, name: str, original_text: str, original_name: str) -> list[Pair]:
    """The pairs of the ImagesLock `imgpkg copy` wrote, joined by digest with the ImagesLock it
    was given."""
    originals: dict[str, list[tuple[str, str]]] = {}
    for image, where in _images_lock(original_text, original_name):
        originals.setdefault(_digest(image, where), []).append((image, where))
    found = []
    for image, where in _images_lock(text, name):
        digest = _digest(image, where)
        if digest not in originals:
            raise RecordError(f"{where}: {image} has a digest that {original_name} does not "
                              "list: was that the ImagesLock given to imgpkg copy --lock?")
        found += [_pair(original, image, f"{where} (original at {at})")
                  for original, at in originals[digest]]
    return found


# --- maplets ---------------------------------------------------------------------------------


def _image(reference: str) -> str:
    """The reference a maplet is written with: as in the record, `:latest` when it has neither
    tag nor digest (a bare `from` would be a repository maplet, mapping every tag)."""
    parsed = parse_normalized(reference)
    return reference if parsed.tag or parsed.digest else f"{reference}:latest"


def image_maplets(pairs: list[Pair]) -> list[dict[str, str]]:
    """An image maplet per original, in the record's order. Raises RecordError naming both
    lines when one original has two relocations; of a tag and a digest-pinned reference of the
    same relocated repository, the digest-pinned one is kept."""
    chosen: dict[str, tuple[Pair, Reference]] = {}
    for pair in pairs:
        source, target = _image(pair.original), _image(pair.relocated)
        key = compile_maplet(source, target).key
        relocated = parse_normalized(target)
        if key not in chosen:
            chosen[key] = (Pair(source, target, pair.where), relocated)
            continue
        kept, kept_reference = chosen[key]
        if str(kept_reference) == str(relocated):
            continue
        if kept_reference.name == relocated.name and (kept_reference.digest is None) != (
                relocated.digest is None) and (kept_reference.tag is None
                                               or relocated.tag is None
                                               or kept_reference.tag == relocated.tag):
            # One copy, recorded by tag and by digest: the digest says which content it is.
            if relocated.digest is not None:
                chosen[key] = (Pair(source, target, pair.where), relocated)
            continue
        raise RecordError(f"{pair.original} is relocated twice: to {kept.relocated} "
                          f"({kept.where}) and to {pair.relocated} ({pair.where})")
    return [{"from": p.original, "to": p.relocated} for p, _ in chosen.values()]


@dataclass(frozen=True, slots=True)
class Widened:
    """A repository or prefix maplet that replaced image maplets, and what else it maps."""

    maplet: dict[str, str]
    replaces: int
    also: str


def _suffix_kept(maplet: dict[str, str]) -> tuple[str, str] | None:
    """(original repository, relocated repository) when the maplet keeps the tag and digest
    exactly: the image maplet is then what a repository maplet would give."""
    source, target = parse_normalized(maplet["from"]), parse_normalized(maplet["to"])
    if source.suffix != target.suffix:
        return None
    return source.name, target.name


def compact(maplets: list[dict[str, str]], *, prefixes: bool = True
            ) -> tuple[list[dict[str, str]], list[Widened]]:
    """Repository maplets for the repositories whose every listed image keeps its tag and digest
    under one relocated repository; then (with `prefixes`) prefix maplets for the repositories
    that share the deepest path prefix and the same relocation of the rest. Only where each
    listed pair is mapped exactly as listed: everything else stays an image maplet."""
    by_repository: dict[str, list[tuple[dict[str, str], tuple[str, str] | None]]] = {}
    for maplet in maplets:
        kept = _suffix_kept(maplet)
        name = parse_normalized(maplet["from"]).name
        by_repository.setdefault(name, []).append((maplet, kept))
    repositories: dict[str, tuple[str, int]] = {}
    for name, listed in by_repository.items():
        targets = {kept for _, kept in listed}
        if len(targets) == 1 and None not in targets:
            (only,) = targets
            assert only is not None
            repositories[name] = (only[1], len(listed))
    # The deepest shared prefix: each repository's candidates, (prefix, relocated prefix) for
    # every trailing part it keeps; a prefix is taken when two repositories or more agree.
    candidates: dict[str, list[tuple[str, str]]] = {}
    for name, (relocated, _) in repositories.items():
        for prefix in repository_ancestors(name):
            rest = name[len(prefix):]
            if relocated.endswith("/" + rest) and len(relocated) > len(rest) + 1:
                candidates.setdefault(name, []).append((prefix, relocated[: -len(rest)]))
    votes: dict[tuple[str, str], list[str]] = {}
    for name, options in candidates.items():
        for option in options:
            votes.setdefault(option, []).append(name)
    shared: dict[str, tuple[str, str]] = {}
    for name, options in candidates.items() if prefixes else ():
        for option in options:  # longest prefix first
            if len(votes[option]) > 1:
                shared[name] = option
                break
    result: list[dict[str, str]] = []
    widened: list[Widened] = []
    emitted: set[str] = set()
    for maplet in maplets:
        name = parse_normalized(maplet["from"]).name
        if name in shared:
            prefix, relocated_prefix = shared[name]
            if f"{prefix} {relocated_prefix}" not in emitted:
                emitted.add(f"{prefix} {relocated_prefix}")
                names = sorted(n for n, option in shared.items()
                               if option == (prefix, relocated_prefix))
                count = sum(repositories[n][1] for n in names)
                result.append({"from": prefix, "to": relocated_prefix})
                widened.append(Widened(result[-1], count,
                                       f"every other repository under {prefix} (listed: "
                                       f"{', '.join(n[len(prefix):] for n in names)})"))
        elif name in repositories:
            if name not in emitted:
                emitted.add(name)
                result.append({"from": name, "to": repositories[name][0]})
                widened.append(Widened(result[-1], repositories[name][1],
                                       f"every other tag and digest of {name}"))
        else:
            result.append(maplet)
    return result, widened


def check_maplets(maplets: list[dict[str, str]]) -> None:
    """Every maplet compiles (a prefix `to` must be a prefix, and so on)."""
    for maplet in maplets:
        try:
            compile_maplet(maplet["from"], maplet["to"])
        except MapletError as error:
            raise RecordError(str(error)) from None


def form_of(maplet: dict[str, Any]) -> Form:
    return compile_maplet(maplet["from"], maplet["to"]).form
