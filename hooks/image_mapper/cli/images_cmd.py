"""`image-mapper images -f MANIFESTS... [-f IMAGEMAPS...] [--unmapped]`: every image the
manifests' pods would run, where each is used, and what the ImageMaps among the documents make
of it (`image_mapper.cli.workload_images`).

Text: one line per image, its reference as the manifests write it, then — only when an ImageMap
or ClusterImageMap rewrites it — the reference it would run as. A line of two columns is the
`ORIGINAL RELOCATED` line of `image-mapper import --format pairs` (and of `crane copy SRC DST`);
with `--unmapped` every line has one column, ready for a copying tool. `-o json` adds where
each image is used.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from image_mapper.cli.documents import STDIN
from image_mapper.cli.errors import CommandError
from image_mapper.cli.workload_images import Layers, Use, read
from image_mapper.engine.reference import ReferenceError, parse_normalized
from image_mapper.engine.settings import AUDIT


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--filename", action="extend", nargs="+", required=True,
                        metavar="PATH",
                        help="YAML files or folders of manifests, ImageMaps and "
                             "ClusterImageMaps (repeatable; - for standard input, e.g. "
                             "`helm template ... | image-mapper images -f -`)")
    parser.add_argument("-n", "--namespace", default="", metavar="NAMESPACE",
                        help="the namespace of manifests that name none")
    parser.add_argument("--unmapped", action="store_true",
                        help="only the images that no ImageMap or ClusterImageMap maps: what "
                             "is left to relocate")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text",
                        help="text: one image a line (its relocated reference beside it when "
                             "an ImageMap rewrites it); json: with where each is used")


@dataclass(slots=True)
class Entry:
    """An image, what it runs as in the namespaces that use it, and where it is used."""

    image: str
    result: str
    image_map: str | None
    kind: str | None
    mode: str | None
    would_map: str | None
    uses: list[Use] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"image": self.image, "result": self.result,
                                 "imageMap": self.image_map}
        if self.kind is not None:
            found["kind"] = self.kind
        if self.mode is not None:
            found.update(mode=self.mode, wouldMap=self.would_map)
        found["uses"] = [{"where": u.where, "kind": u.kind, "name": u.name,
                          "namespace": u.namespace, "container": u.container}
                         for u in self.uses]
        return found


def entries(paths: list[str], namespace: str = "") -> tuple[list[Entry], Layers]:
    """An entry per image and result (one image can run as different references in different
    namespaces), in the order the images are first used."""
    documents = read(paths, namespace)
    for image in documents.images:
        try:
            parse_normalized(image.image)
        except ReferenceError as error:
            raise CommandError(f"{image.uses[0].line()}: {error}") from None
    layers = Layers(documents)
    found: dict[tuple[str, str, str | None], Entry] = {}
    for image in documents.images:
        for use in image.uses:
            match, kind = layers.lookup(image.image, use.namespace)
            if match is None:
                entry = Entry(image.image, image.image, None, None, None, None)
            else:
                entry = Entry(image.image, image.image if match.audit else match.result,
                              match.image_map, kind, AUDIT if match.audit else None,
                              match.result if match.audit else None)
            key = (entry.image, entry.result, entry.image_map)
            found.setdefault(key, entry).uses.append(use)
    return list(found.values()), layers


def run(args: argparse.Namespace) -> int:
    if args.filename.count(STDIN) > 1:
        raise CommandError("standard input (-) can be read only once")
    found, layers = entries(args.filename, args.namespace)
    for line in layers.not_in_force():
        print(f"image-mapper images: {line}", file=sys.stderr)
    if args.unmapped:
        found = [e for e in found if e.image_map is None]
    if args.output == "json":
        json.dump({"images": [e.json() for e in found]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    printed: set[tuple[str, str]] = set()
    for entry in found:
        columns = (entry.image, entry.result if entry.result != entry.image else "")
        if columns not in printed:
            printed.add(columns)
            print(" ".join(part for part in columns if part))
    return 0
