"""Maplets and the compiled mapping of one namespace: maplet forms, reference lookup, precedence
and the settings each answer carries (design.md#maplet-forms, #references, #consistency,
#relocation-settings).

A `Mapping` answers "what does this pod image become?" with hash lookups on normalized keys:
the image forms by exact key, the repository by name, prefixes by walking the repository's
path segments from the longest. Its cost does not grow with the number of maplets. Each answer
also says which ImageMap gave it, with that ImageMap's settings (`image_mapper.engine.settings`):
whether it is in Audit mode, and its pull secrets.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from image_mapper.engine.imagemap import KIND
from image_mapper.engine.reference import (
    MAX_INPUT_LENGTH,
    Reference,
    ReferenceError,
    parse_normalized,
    parse_normalized_cached,
    parse_prefix,
    repository_ancestors,
)
from image_mapper.engine.settings import DEFAULT, Settings


class Form(StrEnum):
    IMAGE = "image"
    REPOSITORY = "repository"
    PREFIX = "prefix"


class MapletError(ValueError):
    """A maplet that cannot be used; the message names the entry and what would be valid."""


@dataclass(frozen=True, slots=True)
class Maplet:
    source: str
    """`from`, exactly as written."""
    target: str
    """`to`, exactly as written."""
    form: Form
    key: str
    """The normalized `from`: an image reference, a repository, or a prefix ending in `/`."""
    target_key: str
    """The normalized `to`, of the same kind as `key`."""
    image_map: str = ""
    """The ImageMap it came from."""

    @property
    def is_identity(self) -> bool:
        """Maps onto itself: pins an image against broader maplets, never changes one."""
        return self.key == self.target_key

    def describe(self) -> str:
        return f"{self.source!r} -> {self.target!r}"


def image_key(reference: Reference) -> str:
    """The key an image maplet is stored under: normalized, `:latest` when bare."""
    return str(reference.with_tag_if_bare())


def image_lookup_keys(reference: Reference) -> tuple[str, ...]:
    """Image keys a pod reference matches, best first: full, `@digest`, `:tag`
    (design.md#references)."""
    name = reference.name
    if reference.digest is not None:
        if reference.tag is not None:
            return (str(reference), f"{name}@{reference.digest}", f"{name}:{reference.tag}")
        return (f"{name}@{reference.digest}",)
    return (f"{name}:{reference.tag or 'latest'}",)


def _shared(key: str, written: str) -> str:
    """The normalized key, as the very string the spec holds when it was written normalized:
    mappings and the compile cache then keep no second copy of it."""
    return written if key == written else key


def compile_maplet(source: object, target: object, image_map: str = "") -> Maplet:
    """Decide a maplet's form from `from` and check that `to` fits it (design.md#maplet-forms)."""
    if not isinstance(source, str) or not source:
        raise MapletError("'from' must be a non-empty string")
    if not isinstance(target, str) or not target:
        raise MapletError(f"'to' of {source!r} must be a non-empty string")
    try:
        if source.endswith("/"):
            if not target.endswith("/"):
                raise MapletError(
                    f"{source!r} is a prefix, so 'to' must be a prefix ending in '/', "
                    f"not {target!r}"
                )
            return Maplet(source, target, Form.PREFIX, _shared(parse_prefix(source), source),
                          _shared(parse_prefix(target), target), image_map)
        reference = parse_normalized(source)
        if reference.tag is None and reference.digest is None:
            target_reference = parse_normalized(target)
            if target_reference.tag is not None or target_reference.digest is not None:
                raise MapletError(
                    f"{source!r} is a repository, so 'to' must be a repository without tag "
                    f"or digest, not {target!r}"
                )
            return Maplet(source, target, Form.REPOSITORY, _shared(reference.name, source),
                          _shared(target_reference.name, target), image_map)
        if target.endswith("/"):
            raise MapletError(f"{source!r} is an image, so 'to' must be an image, not a prefix")
        return Maplet(source, target, Form.IMAGE, _shared(image_key(reference), source),
                      _shared(image_key(parse_normalized(target)), target), image_map)
    except ReferenceError as error:
        raise MapletError(str(error)) from None


@dataclass(frozen=True, slots=True)
class Match:
    image: str
    """The pod's image, as written."""
    result: str
    """What it becomes (in Audit mode: what it would become)."""
    maplet: Maplet
    settings: Settings = DEFAULT
    """The settings of the maplet's ImageMap."""
    kind: str = KIND
    """The kind of the map that matched: ImageMap, or ClusterImageMap
    (design.md#clusterimagemap)."""

    @property
    def image_map(self) -> str:
        """The name of the ImageMap (or ClusterImageMap) that matched."""
        return self.maplet.image_map

    @property
    def source(self) -> tuple[str, str]:
        """(kind, name) of the map that matched: names are unique only within a kind."""
        return self.kind, self.maplet.image_map

    def describe_source(self) -> str:
        """`ImageMap NAME` or `ClusterImageMap NAME`, as warnings and logs name it."""
        return f"{self.kind} {self.maplet.image_map}"

    @property
    def audit(self) -> bool:
        """The ImageMap is in Audit mode: the image is not rewritten, only reported."""
        return self.settings.audit

    @property
    def pull_secrets(self) -> tuple[str, ...]:
        """The ImageMap's pull secrets: added to a pod whose image it rewrites."""
        return self.settings.pull_secrets


LOOKUP_CACHE_SIZE = 1024
"""Images whose match a Mapping remembers; pods repeat the same few images."""


class Mapping:
    """The merged maplets of a namespace, read-only; build with `Mapping.build`."""

    EMPTY: ClassVar[Mapping]
    __slots__ = ("_images", "_matches", "_prefixes", "_repositories", "_settings",
                 "has_pull_secrets", "kind")

    def __init__(
        self,
        images: dict[str, Maplet],
        repositories: dict[str, Maplet],
        prefixes: dict[str, Maplet],
        settings: MappingABC[str, Settings] | None = None,
        kind: str = KIND,
    ) -> None:
        self.kind = kind
        """The kind of the maps whose maplets these are: every Match says it."""
        self._images = images
        self._repositories = repositories
        self._prefixes = prefixes
        self._settings: MappingABC[str, Settings] = settings or {}
        """By ImageMap name, in the order the ImageMaps are in force; absent: the defaults."""
        self.has_pull_secrets = any(s.pull_secrets for s in self._settings.values())
        """Whether any of its ImageMaps lists pull secrets."""
        self._matches: dict[str, Match | None] = {}
        """`lookup` by image as written; a Mapping never changes, so neither do its answers."""

    @classmethod
    def build(cls, maplets: Iterable[Maplet],
              settings: MappingABC[str, Settings] | None = None, *,
              kind: str = KIND) -> Mapping:
        """Index maplets, with the settings of their ImageMaps by name (in the order they are
        in force; absent ones have the defaults).

        Of two maplets with the same form and key (consistent ones agree on the result) the
        first wins, unless it is in Audit mode and a later one is not: an ImageMap that enforces
        what another only audits rewrites the image.
        """
        settings = settings or {}
        tables: dict[Form, dict[str, Maplet]] = {form: {} for form in Form}
        for maplet in maplets:
            table = tables[maplet.form]
            kept = table.setdefault(maplet.key, maplet)
            if (kept is not maplet and settings.get(kept.image_map, DEFAULT).audit
                    and not settings.get(maplet.image_map, DEFAULT).audit):
                table[maplet.key] = maplet
        return cls(tables[Form.IMAGE], tables[Form.REPOSITORY], tables[Form.PREFIX], settings,
                   kind)

    def pull_secrets_for(self, sources: Collection[tuple[str, str]]) -> list[str]:
        """The pull secrets of these maps (`Match.source`: kind and name), in the order the
        maps are in force and each map's own order, each name once."""
        names: dict[str, None] = {}
        for name, settings in self._settings.items():
            if (self.kind, name) in sources:
                names.update(dict.fromkeys(settings.pull_secrets))
        return list(names)

    def __len__(self) -> int:
        return len(self._images) + len(self._repositories) + len(self._prefixes)

    def __bool__(self) -> bool:
        return bool(self._images or self._repositories or self._prefixes)

    def maplets(self) -> list[Maplet]:
        return [*self._images.values(), *self._repositories.values(), *self._prefixes.values()]

    def lookup(self, image: str) -> Match | None:
        """What `image` becomes; None when nothing matches or it is not a valid reference."""
        if len(image) > MAX_INPUT_LENGTH:
            return None  # never a reference, and kept out of the memo: pods are untrusted input
        matches = self._matches
        try:
            return matches[image]
        except KeyError:
            pass
        try:
            match = self.lookup_reference(image, parse_normalized_cached(image))
        except ReferenceError:
            match = None
        if len(matches) >= LOOKUP_CACHE_SIZE:
            matches.clear()  # rare: a namespace with more distinct images than that
        matches[image] = match
        return match

    def lookup_reference(self, image: str, reference: Reference) -> Match | None:
        found = self._find(reference)
        if found is None:
            return None
        maplet, result = found
        if maplet.is_identity:
            # A maplet onto itself pins the image: the pod keeps it exactly as written.
            result = image
        # The precedence winner answers, in Audit mode too: what is audited is what Enforce
        # would do, so an Audit winner hides a lower-precedence Enforce maplet
        # (design.md#relocation-settings).
        return Match(image, result, maplet, self._settings.get(maplet.image_map, DEFAULT),
                     self.kind)

    def _find(self, reference: Reference) -> tuple[Maplet, str] | None:
        # Image beats repository beats prefix; the longest prefix wins (design.md#consistency).
        if self._images:
            for key in image_lookup_keys(reference):
                maplet = self._images.get(key)
                if maplet is not None:
                    return maplet, maplet.target
        name = reference.name
        if self._repositories:
            maplet = self._repositories.get(name)
            if maplet is not None:
                return maplet, maplet.target + reference.suffix
        if self._prefixes:
            for prefix in repository_ancestors(name):
                maplet = self._prefixes.get(prefix)
                if maplet is not None:
                    rest = name[len(prefix) :]
                    return maplet, maplet.target + rest + reference.suffix
        return None


Mapping.EMPTY = Mapping({}, {}, {})
