"""`image-mapper map -f imagemap.yaml IMAGE...`: preview what images become (design.md#commands),
with what an ImageMap adds besides: Audit results (`would map`) and pull secrets
(design.md#relocation-settings). ClusterImageMaps among the documents make the cluster's layer
under the namespace's ImageMaps, as in the webhook (design.md#clusterimagemap)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from image_mapper.cli.documents import YAML_SUFFIXES
from image_mapper.cli.errors import CommandError
from image_mapper.cli.namespaces import pick_layer, stored_maps
from image_mapper.engine.acceptance import decide
from image_mapper.engine.imagemap import KIND, read_imagemaps
from image_mapper.engine.layers import CLUSTER_KIND
from image_mapper.engine.mapping import Match
from image_mapper.engine.reference import ReferenceError, parse_normalized
from image_mapper.engine.settings import AUDIT, Settings
from image_mapper.engine.verdicts import Verdict


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="PATH",
        help="an ImageMap or ClusterImageMap YAML file or folder, or - for stdin; one per "
             "-f, repeatable (-f a.yaml -f b.yaml)",
    )
    parser.add_argument(
        "-n",
        "--namespace",
        metavar="NAMESPACE",
        help="the namespace the images run in, as kubectl's -n: its ImageMaps decide (else "
             "those without a namespace), and the ClusterImageMaps that select it; it may "
             "have no ImageMap; needed when the ImageMaps are in several namespaces "
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
        if image.endswith(YAML_SUFFIXES) or os.path.exists(image):
            # `-f a.yaml b.yaml IMAGE`: -f takes one path, as in kubectl.
            raise CommandError(
                f"{image!r} is a file, not an image: -f takes one file or folder, so give "
                f"each its own -f (-f {args.filename[-1]} -f {image})")
        try:
            parse_normalized(image)
        except ReferenceError as error:
            raise CommandError(str(error)) from None
    # Each namespace is decided on its own, as in the cluster; -n picks which one. The
    # ClusterImageMaps are decided among themselves, and map what the namespace leaves.
    groups, cluster = stored_maps(args.filename)
    namespace, imagemaps = pick_layer(groups, args.namespace, cluster)
    decision = decide(read_imagemaps(imagemaps))
    layered = cluster.layered(namespace, decision.mapping)
    images = [_image(image, layered.lookup(image)) for image in args.images]
    verdicts = [_imagemap(verdict, decision.settings.get(verdict.name))
                for verdict in decision.verdicts.values()]
    if cluster:
        verdicts += [_imagemap(verdict, cluster.decision.settings.get(verdict.name),
                               CLUSTER_KIND)
                     for verdict in cluster.decision.verdicts.values()]
    if args.output == "json":
        json.dump({"images": images, "imageMaps": verdicts}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for entry in images:
        print(_image_line(entry))
    print()
    for entry in verdicts:
        mode = f" ({entry['mode']})" if "mode" in entry else ""
        secrets = _secrets(entry)
        print(f"{entry.get('kind', KIND)} {entry['name']}{mode}: {entry['reason']}: "
              f"{entry['message']}" + (f"; pull secrets: {secrets}" if secrets else ""))
    return 0


def _image(image: str, match: Match | None) -> dict[str, Any]:
    """An entry of `images`: the keys `map -o json` always has (design.md#commands), and those
    of Audit mode and pull secrets only where they apply (design.md#relocation-settings): an
    Audit ImageMap leaves the image as it is (`result`) and says what it would make of it
    (`wouldMap`); `imagePullSecrets` are the matching ImageMap's."""
    if match is None:
        return {"image": image, "result": image, "imageMap": None}
    entry: dict[str, Any] = {"image": image, "result": image if match.audit else match.result,
                             "imageMap": match.image_map}
    if match.kind != KIND:
        entry["kind"] = match.kind
    if match.audit:
        entry.update(mode=AUDIT, wouldMap=match.result)
    if match.pull_secrets:
        entry["imagePullSecrets"] = list(match.pull_secrets)
    return entry


def _imagemap(verdict: Verdict, settings: Settings | None, kind: str = KIND) -> dict[str, Any]:
    """An entry of `imageMaps` (ImageMaps, then ClusterImageMaps with `"kind":
    "ClusterImageMap"`); an accepted map's mode when Audit and its pull secrets when it lists
    some."""
    entry: dict[str, Any] = {"name": verdict.name, "ready": verdict.ready,
                             "reason": verdict.reason, "message": verdict.message}
    if kind != KIND:
        entry["kind"] = kind
    if settings is not None and settings.audit:
        entry["mode"] = AUDIT
    if settings is not None and settings.pull_secrets:
        entry["imagePullSecrets"] = list(settings.pull_secrets)
    return entry


def _secrets(entry: dict[str, Any]) -> str:
    return ", ".join(entry.get("imagePullSecrets", []))


def _image_line(entry: dict[str, Any]) -> str:
    if entry["imageMap"] is None:
        return f"{entry['image']} -> {entry['result']}  (no maplet matched)"
    secrets = _secrets(entry)
    if "wouldMap" in entry:
        return (f"{entry['image']} would map {entry['wouldMap']}  ({entry.get('kind', KIND)} "
                f"{entry['imageMap']}, Audit: not rewritten)")
    return (f"{entry['image']} -> {entry['result']}  ({entry.get('kind', KIND)} "
            f"{entry['imageMap']}"
            + (f"; pull secrets: {secrets}" if secrets and entry["result"] != entry["image"]
               else "") + ")")
