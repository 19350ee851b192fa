"""`image-mapper map -f imagemap.yaml IMAGE...`: preview what images become (SPEC 6)."""

from __future__ import annotations

import argparse
import json
import sys

from hooks.cli.errors import CommandError
from hooks.cli.namespaces import pick, stored_imagemaps
from hooks.engine.acceptance import decide
from hooks.engine.imagemap import read_imagemaps
from hooks.engine.reference import ReferenceError, parse_normalized


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="PATH",
        help="ImageMap YAML file or folder (repeatable)",
    )
    parser.add_argument(
        "-n",
        "--namespace",
        metavar="NAMESPACE",
        help="the namespace whose ImageMaps to decide, when they are in several "
             "('' for those without metadata.namespace)",
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="output format (default: text)",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image references to map")


def run(args: argparse.Namespace) -> int:
    for image in args.images:
        try:
            parse_normalized(image)
        except ReferenceError as error:
            raise CommandError(str(error)) from None
    # Each namespace is decided on its own, as in the cluster; -n picks which one.
    imagemaps = pick(stored_imagemaps(args.filename), args.namespace)
    decision = decide(read_imagemaps(imagemaps))
    images = []
    for image in args.images:
        match = decision.mapping.lookup(image)
        images.append(
            {
                "image": image,
                "result": match.result if match else image,
                "imageMap": match.maplet.image_map if match else None,
            }
        )
    imagemaps = [
        {"name": v.name, "ready": v.ready, "reason": v.reason, "message": v.message}
        for v in decision.verdicts.values()
    ]
    if args.output == "json":
        json.dump({"images": images, "imageMaps": imagemaps}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for entry in images:
        via = f"ImageMap {entry['imageMap']}" if entry["imageMap"] else "no maplet matched"
        print(f"{entry['image']} -> {entry['result']}  ({via})")
    print()
    for verdict in decision.verdicts.values():
        print(f"ImageMap {verdict.name}: {verdict.reason}: {verdict.message}")
    return 0
