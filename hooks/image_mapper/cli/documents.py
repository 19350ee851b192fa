"""Reading Kubernetes documents from YAML files, folders and standard input (`-`), and the
ImageMaps among them, for the commands."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from image_mapper.cli.errors import CommandError
from image_mapper.engine.imagemap import API_VERSION, KIND

YAML_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"

# libyaml's loader when PyYAML was built with it: about ten times faster on large manifests.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _files(path_text: str) -> list[Path]:
    if path_text == STDIN:
        return [Path(STDIN)]
    path = Path(path_text)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in YAML_SUFFIXES)
    if path.is_file():
        return [path]
    raise CommandError(f"{path_text}: no such file or folder")


def stdin_bytes(expected: str) -> bytes:
    """All of standard input. Raises CommandError naming `expected` (what the command reads
    there) when standard input is closed (`<&-`), unreadable or empty."""
    stream = sys.stdin
    if stream is None:
        raise CommandError(f"standard input is closed: expected {expected} on it")
    try:
        buffer = getattr(stream, "buffer", None)
        data: bytes = buffer.read() if buffer is not None else stream.read().encode("utf-8")
    except (OSError, ValueError) as error:  # a closed descriptor, a closed file object
        raise CommandError(f"cannot read standard input ({error}): expected {expected} "
                           "on it") from None
    if not data.strip():
        raise CommandError(f"standard input is empty: expected {expected} on it")
    return data


def _documents(path: Path) -> list[tuple[str, object]]:
    try:
        text = (stdin_bytes("YAML documents").decode("utf-8") if str(path) == STDIN
                else path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"{_shown(path)}: cannot read: {error}") from None
    path = Path(_shown(path))
    try:
        documents = list(yaml.load_all(text, Loader=_LOADER))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise CommandError(f"{path}: invalid YAML{where}: {problem}") from None
    found: list[tuple[str, object]] = []
    for number, document in enumerate(documents, start=1):
        where = f"{path}, document {number}"
        if isinstance(document, dict) and document.get("kind") == "List":
            items = document.get("items")
            if not isinstance(items, list):
                raise CommandError(f"{where}: a List must have a list of items")
            found.extend((f"{where}, item {i}", item) for i, item in enumerate(items, start=1))
        elif document is not None:
            found.append((where, document))
    return found


def _shown(path: Path) -> str:
    return "standard input" if str(path) == STDIN else str(path)


def read_documents(paths: Sequence[str]) -> list[tuple[str, object]]:
    """(where, document) for every document of the given files, folders and `-` (standard
    input, read once), Lists opened into their items. Raises CommandError (one line) for a
    missing or unreadable file, invalid YAML or a malformed List."""
    found: list[tuple[str, object]] = []
    for path_text in paths:
        for path in _files(path_text):
            found.extend(_documents(path))
    return found


def _check_imagemap(where: str, document: dict[str, Any]) -> str:
    api_version = document.get("apiVersion")
    if api_version != API_VERSION:
        raise CommandError(
            f"{where}: an ImageMap must have apiVersion {API_VERSION}, not {api_version!r}"
        )
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        raise CommandError(f"{where}: ImageMap has no metadata.name")
    if not isinstance(document.get("spec"), dict):
        raise CommandError(f"{where}: ImageMap {name!r} has no spec (expected spec.map)")
    return name


def located_imagemaps(paths: Sequence[str], *, required: bool = True,
                      documents: list[tuple[str, object]] | None = None,
                      ) -> list[tuple[str, dict[str, Any]]]:
    """(where, document) of every ImageMap in the given files and folders (or among
    `documents` already read from them); other kinds are skipped.

    Raises CommandError (one line) for unreadable files, invalid YAML, malformed ImageMap
    documents, a name given twice in one namespace, or (when `required`) no ImageMap at all.
    """
    imagemaps: list[tuple[str, dict[str, Any]]] = []
    origin: dict[tuple[str, str], str] = {}
    for where, document in read_documents(paths) if documents is None else documents:
        if not isinstance(document, dict):
            raise CommandError(
                f"{where}: expected a Kubernetes object, got {type(document).__name__}"
            )
        if document.get("kind") != KIND:
            continue
        name = _check_imagemap(where, document)
        # Names are unique per namespace (a missing one counting as one unnamed namespace).
        key = (namespace_of(document), name)
        if key in origin:
            raise CommandError(f"{where}: ImageMap {name!r} is also defined in {origin[key]}")
        origin[key] = where
        imagemaps.append((where, document))
    if not imagemaps and required:
        raise CommandError(f"no ImageMap ({API_VERSION}) found in {', '.join(paths)}")
    return imagemaps


def load_imagemaps(paths: Sequence[str]) -> list[dict[str, Any]]:
    """Every ImageMap in the given files and folders, as `located_imagemaps` finds them."""
    return [document for _, document in located_imagemaps(paths)]


def namespace_of(document: dict[str, Any]) -> str:
    """`metadata.namespace`; empty when there is none."""
    metadata = document.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return namespace if isinstance(namespace, str) else ""
