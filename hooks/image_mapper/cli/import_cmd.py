"""`image-mapper import --format FORMAT FILE`: an ImageMap (or ClusterImageMap) YAML on stdout
from a relocation tool's record of what it copied (`image_mapper.cli.relocation_records`).

The result is checked as `image-mapper validate` checks it before it is printed: the CRD's
schema and the acceptance rules (an ImageMap whose maplets conflict among themselves would be
rejected). `--compact` widens image maplets into repository and prefix maplets only where every
listed pair is still mapped exactly as listed, and says on stderr what else each wider maplet
maps; a compaction that the acceptance rules would reject is not made.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from image_mapper.cli.crd import Schema
from image_mapper.cli.documents import STDIN
from image_mapper.cli.errors import CommandError
from image_mapper.cli.relocation_records import (
    FORMATS,
    Pair,
    RecordError,
    check_maplets,
    compact,
    image_maplets,
    read_cnab,
    read_imgpkg,
    read_pairs,
)
from image_mapper.engine.acceptance import decide
from image_mapper.engine.imagemap import API_VERSION, KIND, ImageMap
from image_mapper.engine.layers import CLUSTER_KIND
from image_mapper.engine.reference import parse_normalized
from image_mapper.engine.verdicts import plural

MAX_MAPLETS = 1000
"""The most maplets the CRD lets one ImageMap hold."""

_DNS_LABEL_CHARACTERS = re.compile(r"[^a-z0-9.-]+", re.ASCII)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", required=True, choices=FORMATS,
                        help="cnab: a CNAB relocation mapping (JSON object ORIGINAL -> "
                             "RELOCATED); pairs: 'ORIGINAL RELOCATED' a line, blank lines "
                             "and # comments allowed; imgpkg: the ImagesLock written by "
                             "`imgpkg copy --lock IMAGES --lock-output FILE` (give IMAGES "
                             "with --original)")
    parser.add_argument("file", metavar="FILE", help="the record (- for standard input)")
    parser.add_argument("--original", metavar="FILE",
                        help="imgpkg: the ImagesLock given to imgpkg copy --lock")
    parser.add_argument("--name", metavar="NAME",
                        help="metadata.name (default: from the file's name)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-n", "--namespace", metavar="NAMESPACE",
                       help="metadata.namespace of the ImageMap")
    where.add_argument("--cluster", action="store_true",
                       help="a ClusterImageMap (cluster-wide) instead of an ImageMap")
    parser.add_argument("--compact", action="store_true",
                        help="repository and prefix maplets where they map every listed pair "
                             "exactly as listed (stderr says what else they map)")


def _read(path: str) -> tuple[str, str]:
    if path == STDIN:
        return sys.stdin.read(), "standard input"
    try:
        return Path(path).read_text(encoding="utf-8"), path
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"{path}: cannot read: {error}") from None


def _pairs(args: argparse.Namespace) -> list[Pair]:
    text, name = _read(args.file)
    if args.format == "imgpkg":
        if not args.original:
            raise CommandError("--format imgpkg needs --original: the ImagesLock given to "
                               "imgpkg copy --lock (the lock output lists only the copies)")
        original_text, original_name = _read(args.original)
        return read_imgpkg(text, name, original_text, original_name)
    if args.original:
        raise CommandError("--original is only for --format imgpkg")
    return read_cnab(text, name) if args.format == "cnab" else read_pairs(text, name)


def default_name(path: str) -> str:
    """A DNS subdomain from the file's name: `relocation-mapping.json` -> relocation-mapping."""
    stem = Path(path).stem.lower() if path != STDIN else ""
    name = _DNS_LABEL_CHARACTERS.sub("-", stem).strip("-.")[:253].strip("-.")
    return name or "relocated"


def document(maplets: list[dict[str, str]], *, name: str, namespace: str | None,
             cluster: bool) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": CLUSTER_KIND if cluster else KIND,
            "metadata": metadata, "spec": {"map": maplets}}


def _refused(result: dict[str, Any]) -> str | None:
    """Why the cluster would not put it in force; None when it would. A ClusterImageMap has
    an ImageMap's spec, so it is checked as one."""
    as_imagemap = {**result, "kind": KIND}
    problems = Schema().problems(as_imagemap)
    if problems:
        return "; ".join(problems)
    imagemap = ImageMap.read(as_imagemap)
    assert imagemap is not None  # it has a name
    verdict = decide([imagemap]).verdicts[imagemap.name]
    return None if verdict.ready else f"{verdict.reason}: {verdict.message}"


def run(args: argparse.Namespace) -> int:
    try:
        pairs = _pairs(args)
        if not pairs:
            raise CommandError(f"{args.file}: no pairs to import")
        maplets = image_maplets(pairs)
        check_maplets(maplets)
    except RecordError as error:
        raise CommandError(str(error)) from None
    name = args.name or default_name(args.file)
    options = {"name": name, "namespace": args.namespace, "cluster": args.cluster}
    result = document(maplets, **options)
    if args.compact:
        # Prefix maplets where exact; if the result would be rejected (a prefix whose target
        # lies under its own source maps its results again), repository maplets only.
        for prefixes in (True, False):
            compacted, widened = compact(maplets, prefixes=prefixes)
            candidate = document(compacted, **options)
            why = _refused(candidate)
            if why is None:
                result = candidate
                for wide in widened:
                    print(f"image-mapper import: {wide.maplet['from']} -> {wide.maplet['to']} "
                          f"replaces {plural(wide.replaces, 'image maplet')} and also maps "
                          f"{wide.also}", file=sys.stderr)
                break
            print(f"image-mapper import: {'prefix' if prefixes else 'repository'} maplets "
                  f"not made: they would be rejected ({why})", file=sys.stderr)
    count = len(result["spec"]["map"])
    if count > MAX_MAPLETS:
        raise CommandError(f"{plural(count, 'maplet')}: more than the {MAX_MAPLETS} one "
                           f"{result['kind']} may hold (try --compact, or split the record)")
    why = _refused(result)
    if why is not None:
        raise CommandError(f"the {result['kind']} would be rejected: {why}")
    for pair in pairs:
        # A digest the original is pinned by, not kept by its relocation: say so.
        if (parse_normalized(pair.original).digest is not None
                and parse_normalized(pair.relocated).digest is None):
            print(f"image-mapper import: {pair.where}: {pair.original} is pinned by digest but "
                  f"{pair.relocated} is not: `image-mapper verify --compare-digests` checks "
                  "that it is the same content", file=sys.stderr)
    sys.stdout.write(yaml.safe_dump(result, sort_keys=False, width=1_000_000))
    return 0
