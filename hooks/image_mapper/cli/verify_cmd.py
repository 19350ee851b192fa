"""`image-mapper verify -f IMAGEMAPS... [-f MANIFESTS...]`: does every relocated image exist?

What is checked: the `to` of every image maplet of the ImageMaps and ClusterImageMaps among the
documents (a maplet onto itself relocates nothing and is left out); and, for repository and
prefix maplets, the reference each image of the given manifests runs as (the layers of
`image_mapper.cli.workload_images`). `--compare-digests` also resolves each original and
reports a relocated image whose manifest digest differs. One line per problem, then a summary;
exit status 1 when there is any problem. The registry client is `image_mapper.cli.registry`,
imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from image_mapper.cli.documents import STDIN
from image_mapper.cli.errors import CommandError
from image_mapper.cli.options import positive_int, positive_seconds
from image_mapper.cli.workload_images import Layers, read
from image_mapper.engine.imagemap import KIND
from image_mapper.engine.layers import CLUSTER_KIND
from image_mapper.engine.mapping import Form, MapletError, compile_maplet
from image_mapper.engine.reference import Reference, ReferenceError, parse_normalized
from image_mapper.engine.verdicts import plural

if TYPE_CHECKING:
    from image_mapper.cli.registry import Resolved


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--filename", action="extend", nargs="+", required=True,
                        metavar="PATH",
                        help="YAML files or folders: ImageMaps and ClusterImageMaps, and the "
                             "manifests whose images repository and prefix maplets map "
                             "(repeatable; - for standard input)")
    parser.add_argument("-n", "--namespace", default="", metavar="NAMESPACE",
                        help="the namespace of manifests that name none")
    parser.add_argument("--compare-digests", action="store_true",
                        help="also resolve each original and report a relocated image whose "
                             "manifest digest differs (not the same content)")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text",
                        help="text: one line per problem, then a summary; json: every check")
    registries = parser.add_argument_group("registries")
    registries.add_argument("--registry-config", metavar="FILE",
                            help="a Docker config file with the registries' credentials "
                                 "(default: $DOCKER_CONFIG/config.json, else "
                                 "~/.docker/config.json; anonymous without one)")
    registries.add_argument("--ca-file", metavar="FILE",
                            help="PEM CA certificates to trust instead of the system's")
    registries.add_argument("--insecure-registry", action="append", default=[],
                            metavar="HOST[:PORT]",
                            help="a registry to ask over plain HTTP (repeatable)")
    registries.add_argument("--concurrency", type=positive_int, default=16,
                            help="requests in flight at once (default 16)")
    registries.add_argument("--timeout", type=positive_seconds, default=10.0,
                            help="seconds to wait for each answer (default 10)")
    registries.add_argument("--retries", type=int, default=3, choices=range(0, 11),
                            metavar="N",
                            help="retries of a 429 or 5xx answer or a failed connection, "
                                 "honouring Retry-After (default 3)")
    parser.epilog = "Exit status 1 when any relocated image is missing, unauthorized, " \
                    "unreachable or (with --compare-digests) of other content, else 0."


@dataclass(frozen=True, slots=True)
class Check:
    relocated: str
    original: str
    source: str
    """What relocates it: `ImageMap NAME`, `ClusterImageMap NAME`, with the workload."""


@dataclass(frozen=True, slots=True)
class Problem:
    reference: str
    problem: str
    """missing, unauthorized, unreachable or digest differs."""
    detail: str
    check: Check

    def line(self) -> str:
        return f"{self.reference}: {self.problem}: {self.detail} ({self.check.source})"

    def json(self) -> dict[str, Any]:
        return {"reference": self.reference, "problem": self.problem, "detail": self.detail,
                "relocated": self.check.relocated, "original": self.check.original,
                "source": self.check.source}


def _name(document: dict[str, Any]) -> str:
    return str((document.get("metadata") or {}).get("name"))


def checks(paths: list[str], namespace: str) -> tuple[list[Check], list[str]]:
    """What to check, and notes for stderr (maplets that could not be checked)."""
    documents = read(paths, namespace)
    located = [(KIND, d) for _, d in documents.imagemaps] + [
        (CLUSTER_KIND, d) for _, d in documents.cluster_imagemaps]
    if not located:
        raise CommandError(f"no ImageMap or ClusterImageMap found in {', '.join(paths)}")
    found: dict[tuple[str, str], Check] = {}
    notes: list[str] = []
    wide: list[str] = []
    for kind, document in located:
        spec_map = (document.get("spec") or {}).get("map")
        for entry in spec_map if isinstance(spec_map, list) else []:
            if not isinstance(entry, dict):
                continue
            try:
                maplet = compile_maplet(entry.get("from"), entry.get("to"))
            except MapletError as error:
                notes.append(f"{kind} {_name(document)}: not checked: {error}")
                continue
            if maplet.form is not Form.IMAGE:
                wide.append(f"{kind} {_name(document)}: {maplet.describe()}")
            elif not maplet.is_identity:
                check = Check(maplet.target, maplet.source, f"{kind} {_name(document)}")
                found.setdefault((check.relocated, check.original), check)
    layers = Layers(documents)
    notes += layers.not_in_force()
    for image in documents.images:
        for use in image.uses:
            match, kind = layers.lookup(image.image, use.namespace)
            if match is None or match.maplet.form is Form.IMAGE or match.result == image.image:
                continue
            check = Check(match.result, image.image,
                          f"{kind} {match.image_map}, for {use.line()}")
            found.setdefault((check.relocated, check.original), check)
    if wide and not documents.images:
        notes += [f"{line}: give the manifests (-f) to check the images it maps" for line in wide]
    return list(found.values()), notes


def _parsed(reference: str, check: Check) -> Reference:
    try:
        return parse_normalized(reference)
    except ReferenceError as error:
        raise CommandError(f"{check.source}: {error}") from None


def problems_of(checks_: list[Check], relocated: dict[str, Resolved],
                originals: dict[str, Resolved] | None) -> list[Problem]:
    found: list[Problem] = []
    for check in checks_:
        result = relocated[str(parse_normalized(check.relocated))]
        if result.problem is not None:
            found.append(Problem(check.relocated, result.problem, result.detail, check))
            continue
        if originals is None:
            continue
        original = originals[str(parse_normalized(check.original))]
        if original.problem is not None:
            found.append(Problem(check.original, original.problem,
                                 f"{original.detail}; the original of {check.relocated} could "
                                 "not be compared", check))
        elif original.digest != result.digest:
            found.append(Problem(check.relocated, "digest differs",
                                 f"{result.digest} is not {original.digest}, the digest of "
                                 f"{check.original}", check))
    return found


def _registries(count: int) -> str:
    return f"{count} {'registry' if count == 1 else 'registries'}"


def run(args: argparse.Namespace) -> int:
    if args.filename.count(STDIN) > 1:
        raise CommandError("standard input (-) can be read only once")
    # The registry client (requests, urllib3) is loaded only by the command that needs it.
    from image_mapper.cli.docker_config import DockerConfig  # noqa: PLC0415
    from image_mapper.cli.registry import Client, Options  # noqa: PLC0415

    found, notes = checks(args.filename, args.namespace)
    for check in found:
        _parsed(check.relocated, check)
        _parsed(check.original, check)
    credentials = DockerConfig.load(args.registry_config)
    client = Client(Options(ca_file=args.ca_file, insecure=frozenset(args.insecure_registry),
                            timeout=args.timeout, concurrency=args.concurrency,
                            retries=args.retries), credentials)
    relocated = client.resolve_all(parse_normalized(c.relocated) for c in found)
    originals = (client.resolve_all(parse_normalized(c.original) for c in found)
                 if args.compare_digests else None)
    problems = problems_of(found, relocated, originals)
    for line in [*notes, *credentials.warnings]:
        print(f"image-mapper verify: {line}", file=sys.stderr)
    hosts = {parse_normalized(c.relocated).domain for c in found}
    if problems:
        summary = (f"{plural(len(problems), 'problem')} in "
                   f"{plural(len(relocated), 'relocated reference')} "
                   f"({_registries(len(hosts))})")
    else:
        summary = (f"{plural(len(relocated), 'relocated reference')} in "
                   f"{_registries(len(hosts))}: all exist"
                   + (", with the originals' digests" if args.compare_digests else ""))
    if args.output == "json":
        json.dump({"ok": not problems, "summary": summary,
                   "problems": [p.json() for p in problems],
                   "checked": [{"relocated": c.relocated, "original": c.original,
                                "source": c.source,
                                "digest": relocated[str(parse_normalized(c.relocated))].digest}
                               for c in found]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for problem in problems:
            print(problem.line())
        print(summary)
    return 1 if problems else 0
