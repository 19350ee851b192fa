"""`image-mapper review -f imagemap.yaml < admission-review.json` (design.md#commands).

The webhook's admission logic on a sample AdmissionReview, without a cluster: the ImageMaps
are taken as the request's namespace (given ImageMaps of several namespaces, those of the
request's) and accepted in the order of design.md#acceptance. The response's warnings
(design.md#relocation-settings) are also printed on stderr, as kubectl prints them.
ClusterImageMaps among the documents map what the request's namespace's ImageMaps leave, those
that select it (its labels from a Namespace document among them), as the webhook does
(design.md#clusterimagemap).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml

from image_mapper.cli.documents import stdin_bytes
from image_mapper.cli.errors import CommandError
from image_mapper.cli.layering import ClusterMaps
from image_mapper.cli.namespaces import shown, stored_maps
from image_mapper.engine.acceptance import decide
from image_mapper.engine.imagemap import read_imagemaps
from image_mapper.webhook.admission import admit
from image_mapper.webhook.patches import decode
from image_mapper.webhook.reviews import ReviewError, parse_review, review_response


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--filename", action="append", required=True, metavar="PATH",
                        help="an ImageMap or ClusterImageMap YAML file or folder; one per "
                             "-f, repeatable (-f a.yaml -f b.yaml)")
    parser.add_argument("-o", "--output", choices=("review", "patch"), default="review",
                        help="print the response AdmissionReview (default), or only its "
                             "JSONPatch, decoded ([] when nothing changes)")
    parser.epilog = "The AdmissionReview is read from stdin; the response goes to stdout."


def run(args: argparse.Namespace) -> int:
    groups, cluster = stored_maps(args.filename)
    body = stdin_bytes("an AdmissionReview (the JSON body the API server POSTs to the webhook)")
    try:
        review_request = parse_review(body)
    except ReviewError as error:
        raise CommandError(f"stdin: not a valid AdmissionReview: {error}{_hint(body)}") from None
    namespace = review_request.get("namespace", "")
    imagemaps = _namespace_of_request(groups, namespace, cluster)
    decision = decide(read_imagemaps(imagemaps))
    for verdict in decision.verdicts.values():
        if not verdict.ready:
            print(f"image-mapper review: ImageMap {verdict.name} is not in force: "
                  f"{verdict.reason}: {verdict.message}", file=sys.stderr)
    for line in cluster.not_in_force():
        print(f"image-mapper review: {line}", file=sys.stderr)
    admission = admit(review_request=review_request,
                      mapping=cluster.layered(namespace, decision.mapping))
    for warning in admission.response.get("warnings", []):
        print(f"Warning: {warning}", file=sys.stderr)  # as kubectl shows them
    if args.output == "patch":
        patch = admission.response.get("patch")
        json.dump(decode(patch) if patch else [], sys.stdout, indent=2, ensure_ascii=False)
    else:
        json.dump(review_response(admission.response), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _hint(body: bytes) -> str:
    """A pointer to `preview` when stdin holds a manifest rather than an AdmissionReview."""
    try:
        document = next(iter(yaml.safe_load_all(body)), None)
    except yaml.YAMLError:
        return ""
    if isinstance(document, dict) and "kind" in document and document["kind"] != "AdmissionReview":
        return (f" (this is a {document['kind']} manifest: to see manifests as they would run, "
                "use `image-mapper preview -f IMAGEMAPS -`)")
    return ""


def _namespace_of_request(groups: dict[str, list[dict[str, Any]]],
                          namespace: str, cluster: ClusterMaps) -> list[dict[str, Any]]:
    """The ImageMaps of the request's namespace. ImageMaps of one namespace only (or of none)
    are taken as the request's; of several, those whose namespace is the request's. With
    ClusterImageMaps, a namespace without ImageMaps has none (the cluster layer alone)."""
    if len(groups) == 1:
        return next(iter(groups.values()))
    if namespace in groups:
        return groups[namespace]
    if cluster:
        return []
    listed = ", ".join(shown(n) for n in groups)
    raise CommandError(f"the ImageMaps are in several namespaces ({listed}), and none is the "
                       f"request's ({shown(namespace)})")
