"""`image-mapper validate -f PATH [-f PATH...] [PATH...]`: would the cluster accept these
ImageMaps? For CI and pre-commit.

Two checks, as the cluster makes them:
1. the API server's: each ImageMap against the CRD's own schema (`image_mapper.cli.crd`), which it
   refuses to store when they fail;
2. the namespace hook's: each namespace's ImageMaps decided together (`decide`), a missing
   namespace counting as one unnamed namespace; an InvalidSpec or Conflict verdict would keep an
   ImageMap out of force.
One line per problem, `WHERE: FIELD: WHY` or `WHERE: ImageMap NAME: REASON: MESSAGE`, then a
summary. Exit status 1 when anything would be refused or rejected, else 0.

ClusterImageMaps among the documents are checked against their own CRD's schema and decided
together, among themselves, as the cluster's decider does (design.md#clusterimagemap). Where a
result of one layer would be matched again by the other (an ImageMap's `to` under a
ClusterImageMap's `from` in a namespace it selects, or the reverse), a warning says so: the
webhook never maps a result again, but a pod written with that result gets the other layer's
answer. Warnings leave the exit status 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from typing import Any

from image_mapper.cli.crd import Schema
from image_mapper.cli.documents import STDIN, namespace_of, read_documents
from image_mapper.cli.errors import CommandError
from image_mapper.cli.layering import ClusterMaps, cluster_schema, rematched
from image_mapper.cli.namespaces import grouped, shown
from image_mapper.engine.acceptance import Decision, decide
from image_mapper.engine.imagemap import API_VERSION, KIND, ImageMap
from image_mapper.engine.layers import CLUSTER_KIND, ClusterLayer
from image_mapper.engine.mapping import Mapping
from image_mapper.engine.record import MAX_RECORD_LENGTH, Entry, Record
from image_mapper.engine.verdicts import plural

SCHEMA_ERROR = "SchemaError"
"""The reason of an ImageMap the API server would refuse to store."""
TOO_MANY = "TooManyImageMaps"
"""The reason of every ImageMap of a namespace that holds more than its decision record can
list."""


@dataclass(frozen=True, slots=True)
class Problem:
    where: str
    """`FILE, document N` (`, item K` inside a List)."""
    reason: str
    """SchemaError, TooManyImageMaps, InvalidSpec or Conflict."""
    message: str
    imageMap: str | None = None  # the JSON output's key
    namespace: str | None = None
    field: str | None = None
    kind: str = KIND

    def line(self) -> str:
        if self.field is not None:
            return f"{self.where}: {self.field}: {self.message}"
        if self.imageMap is None:  # about the namespace
            return f"{self.where}: {self.reason}: {self.message}"
        return f"{self.where}: {self.kind} {self.imageMap}: {self.reason}: {self.message}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict on one ImageMap document."""

    where: str
    namespace: str
    name: str | None
    ready: bool
    reason: str
    message: str
    kind: str = KIND


@dataclass(frozen=True, slots=True)
class Warning:
    """A result of one layer that the other layer would match again."""

    where: str
    message: str

    def line(self) -> str:
        return f"{self.where}: warning: {self.message}"


def configure(parser: argparse.ArgumentParser) -> None:
    # One path per -f, as in every command and in kubectl; the paths after the options are
    # checked too, which is how pre-commit passes the changed files (`validate -f a.yaml b.yaml`).
    parser.add_argument("-f", "--filename", action="append", default=[], metavar="PATH",
                        help="a YAML file or folder, or - for stdin; one per -f, repeatable; "
                             "documents of other kinds are skipped")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="more files or folders to check, as -f PATH")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text",
                        help="output format (default: text)")
    parser.epilog = ("Exit status 1 when the API server would refuse an ImageMap (its name, its "
                     "schema), a namespace holds more ImageMaps than it can decide, or the "
                     "cluster would not put one in force (InvalidSpec, Conflict), else 0.")


def check(paths: list[str], schema: Schema | None = None,
          warnings: list[Warning] | None = None) -> tuple[list[Problem], list[Outcome]]:
    """Every problem, and a verdict per ImageMap and ClusterImageMap document, in the order of
    the files; with a `warnings` list, the results one layer would match in the other are
    added to it."""
    schemas = {KIND: Schema() if schema is None else schema}
    outcomes: list[Outcome] = []
    refused: dict[int, list[Problem]] = {}
    stored: list[tuple[tuple[str, str], tuple[int, ImageMap]]] = []
    seen: dict[tuple[str, str, str], str] = {}
    labels = ClusterMaps()
    for where, document in read_documents(paths):
        if not isinstance(document, dict):
            continue
        kind = document.get("kind")
        if kind not in (KIND, CLUSTER_KIND):
            labels.add(where, document)  # a Namespace's labels
            continue
        kind = str(kind)
        if kind == CLUSTER_KIND and CLUSTER_KIND not in schemas:
            schemas[CLUSTER_KIND] = cluster_schema()
        index = len(outcomes)
        namespace = namespace_of(document) if kind == KIND else ""
        imagemap = ImageMap.read(document)
        name = imagemap.name if imagemap else None
        found = _refused(document, imagemap, schemas[kind], seen, kind)
        if found:
            refused[index] = [Problem(where, SCHEMA_ERROR, why, name, namespace, field, kind)
                              for field, why in found]
            message = "; ".join(f"{field}: {why}" for field, why in found)
            outcomes.append(Outcome(where, namespace, name, False, SCHEMA_ERROR, message, kind))
            continue
        assert imagemap is not None  # _refused requires metadata.name
        seen[(kind, namespace, imagemap.name)] = where
        stored.append(((kind, namespace), (index, imagemap)))
        outcomes.append(Outcome(where, namespace, name, False, "", "", kind))
    problems: list[Problem] = []
    mappings: dict[tuple[str, str], tuple[Mapping, dict[str, str]]] = {}
    cluster: tuple[list[ImageMap], Decision] | None = None
    for (kind, namespace), located in grouped(stored).items():
        imagemaps = [m for _, m in located]
        too_many = _too_many(namespace, imagemaps)
        if too_many:
            first = outcomes[located[0][0]].where
            problems.append(Problem(first, TOO_MANY, too_many, None, namespace, None, kind))
            for index, imagemap in located:
                outcomes[index] = Outcome(outcomes[index].where, namespace, imagemap.name,
                                          False, TOO_MANY, too_many, kind)
            continue
        decision = decide(imagemaps, kind=kind)
        if kind == CLUSTER_KIND:
            cluster = (imagemaps, decision)
        mappings[(kind, namespace)] = (decision.mapping, {
            m.name: outcomes[i].where for i, m in located})
        for index, imagemap in located:
            verdict = decision.verdicts[imagemap.name]
            outcomes[index] = Outcome(outcomes[index].where, namespace, verdict.name,
                                      verdict.ready, verdict.reason, verdict.message, kind)
            if not verdict.ready:
                refused[index] = [Problem(outcomes[index].where, verdict.reason,
                                          verdict.message, verdict.name, namespace, None, kind)]
    for index in sorted(refused):
        problems += refused[index]
    if warnings is not None and cluster is not None:
        warnings += _rematched(mappings, labels, cluster)
    return problems, outcomes


def _rematched(mappings: dict[tuple[str, str], tuple[Mapping, dict[str, str]]],
               labels: ClusterMaps, cluster: tuple[list[ImageMap], Decision]) -> list[Warning]:
    """A warning for each result of one layer that the other would match, namespace by
    namespace (the ClusterImageMaps that select it, by the labels of its Namespace document
    among the files)."""
    clusterimagemaps, decision = cluster
    layer = ClusterLayer.of(decision, clusterimagemaps)
    cluster_where = mappings[(CLUSTER_KIND, "")][1]
    found: list[Warning] = []
    for (kind, namespace), (mapping, where) in mappings.items():
        if kind != KIND:
            continue
        theirs = (layer.mapping_of(layer.names) if not namespace
                  else layer.mapping_for(labels.labels(namespace)))
        shown = f"namespace {namespace!r}" if namespace else "every namespace"
        for ours, other in rematched(mapping, theirs):
            found.append(Warning(where[ours.image_map], (
                f"ImageMap {ours.image_map}: {ours.describe()} writes images that "
                f"ClusterImageMap {other.image_map} ({other.describe()}) matches in {shown}: "
                "a pod created with such an image gets the cluster's mapping")))
        for ours, other in rematched(theirs, mapping):
            found.append(Warning(cluster_where[ours.image_map], (
                f"ClusterImageMap {ours.image_map}: {ours.describe()} writes images that "
                f"ImageMap {other.image_map} ({other.describe()}) matches in {shown}: a pod "
                "created with such an image gets the namespace's mapping")))
    return found


def _too_many(namespace: str, imagemaps: list[ImageMap]) -> str | None:
    """Why the namespace cannot hold these many ImageMaps, if so: its decision record, one
    annotation on the Namespace listing each ImageMap, would pass the API server's limit for
    an object's annotations, and no ImageMap of the namespace could be decided."""
    entry = Entry("", "00000000-0000-0000-0000-000000000000", 1, "2026-01-01T00:00:00Z")
    rows = [Entry(m.name, entry.uid, entry.generation, entry.since) for m in imagemaps]
    length = len(Record(tuple(rows)).encode())
    if length <= MAX_RECORD_LENGTH:
        return None
    fit = int(len(imagemaps) * MAX_RECORD_LENGTH / length)
    return (f"{shown(namespace)} has {len(imagemaps):,} ImageMaps: their decision record (one "
            f"annotation on the Namespace, about {length // len(imagemaps)} bytes per ImageMap) "
            f"would be {length:,} bytes, past the API server's limit of {MAX_RECORD_LENGTH:,} "
            f"for an object's annotations; about {fit:,} of these fit in one namespace")


def _refused(document: dict[str, Any], imagemap: ImageMap | None, schema: Schema,
             seen: dict[tuple[str, str, str], str], kind: str = KIND) -> list[tuple[str, str]]:
    """(field, why) for each reason the API server would refuse to store `document`."""
    found: list[tuple[str, str]] = []
    if document.get("apiVersion") != API_VERSION:
        found.append(("apiVersion", f"must be {API_VERSION}, not {document.get('apiVersion')!r}"))
    key = (kind, imagemap.namespace if kind == KIND else "",
           imagemap.name) if imagemap is not None else None
    if imagemap is None:
        found.append(("metadata.name", "Required value"))
    elif key in seen:
        assert key is not None
        found.append(("metadata.name", f"{imagemap.name!r} is also defined in {seen[key]}"))
    for problem in schema.problems(document):
        field, _, why = problem.partition(": ")
        found.append((field, why))
    return found


def run(args: argparse.Namespace) -> int:
    paths = args.filename + args.paths
    if not paths:
        raise CommandError("no file to check: give -f PATH (a file, a folder or - for stdin)")
    if paths.count(STDIN) > 1:
        raise CommandError("standard input (-) can be read only once")
    warnings: list[Warning] = []
    problems, outcomes = check(paths, warnings=warnings)
    rejected = sum(1 for o in outcomes if not o.ready)
    namespaces = len({o.namespace for o in outcomes if o.kind == KIND})
    clustered = sum(1 for o in outcomes if o.kind == CLUSTER_KIND)
    if not outcomes:
        summary = f"no ImageMap or ClusterImageMap ({API_VERSION}) found"
    elif not clustered:
        if rejected:
            summary = (f"{plural(rejected, 'ImageMap')} of {len(outcomes)} would be refused "
                       f"or rejected ({plural(len(problems), 'problem')}, "
                       f"{plural(namespaces, 'namespace')})")
        else:
            summary = (f"{plural(len(outcomes), 'ImageMap')} in "
                       f"{plural(namespaces, 'namespace')}: all would be accepted")
    else:
        maps = (f"{plural(len(outcomes) - clustered, 'ImageMap')} in "
                f"{plural(namespaces, 'namespace')} and {plural(clustered, 'ClusterImageMap')}")
        summary = (f"{rejected} of {maps} would be refused or rejected "
                   f"({plural(len(problems), 'problem')})" if rejected
                   else f"{maps}: all would be accepted")
        if warnings:
            summary += f"; {plural(len(warnings), 'warning')}"
    if args.output == "json":
        json.dump({"valid": not rejected, "summary": summary,
                   "problems": [_kind_of_cluster(asdict(p)) for p in problems],
                   "warnings": [asdict(w) for w in warnings],
                   "imageMaps": [_outcome_json(o) for o in outcomes]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for problem in problems:
            print(problem.line())
        for warning in warnings:
            print(warning.line())
        print(summary)
    return 1 if rejected else 0


def _outcome_json(outcome: Outcome) -> dict[str, object]:
    return _kind_of_cluster({
        "where": outcome.where, "namespace": outcome.namespace, "name": outcome.name,
        "ready": outcome.ready, "reason": outcome.reason, "message": outcome.message,
        "kind": outcome.kind})


def _kind_of_cluster(entry: dict[str, object]) -> dict[str, object]:
    """The JSON entry with `"kind": "ClusterImageMap"` for a ClusterImageMap; without a kind
    for an ImageMap, as before ClusterImageMaps."""
    if entry.get("kind") == KIND:
        del entry["kind"]
    return entry
