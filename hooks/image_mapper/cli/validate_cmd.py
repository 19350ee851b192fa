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
from image_mapper.cli.namespaces import grouped, shown
from image_mapper.engine.acceptance import decide
from image_mapper.engine.imagemap import API_VERSION, KIND, ImageMap
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

    def line(self) -> str:
        if self.field is not None:
            return f"{self.where}: {self.field}: {self.message}"
        if self.imageMap is None:  # about the namespace
            return f"{self.where}: {self.reason}: {self.message}"
        return f"{self.where}: ImageMap {self.imageMap}: {self.reason}: {self.message}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict on one ImageMap document."""

    where: str
    namespace: str
    name: str | None
    ready: bool
    reason: str
    message: str


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


def check(paths: list[str], schema: Schema | None = None) -> tuple[list[Problem],
                                                                   list[Outcome]]:
    """Every problem, and a verdict per ImageMap document, in the order of the files."""
    schema = Schema() if schema is None else schema
    outcomes: list[Outcome] = []
    refused: dict[int, list[Problem]] = {}
    stored: list[tuple[str, tuple[int, ImageMap]]] = []
    seen: dict[tuple[str, str], str] = {}
    for where, document in read_documents(paths):
        if not isinstance(document, dict) or document.get("kind") != KIND:
            continue
        index, namespace = len(outcomes), namespace_of(document)
        imagemap = ImageMap.read(document)
        name = imagemap.name if imagemap else None
        found = _refused(document, imagemap, schema, seen)
        if found:
            refused[index] = [Problem(where, SCHEMA_ERROR, why, name, namespace, field)
                              for field, why in found]
            message = "; ".join(f"{field}: {why}" for field, why in found)
            outcomes.append(Outcome(where, namespace, name, False, SCHEMA_ERROR, message))
            continue
        assert imagemap is not None  # _refused requires metadata.name
        seen[(namespace, imagemap.name)] = where
        stored.append((namespace, (index, imagemap)))
        outcomes.append(Outcome(where, namespace, name, False, "", ""))
    problems: list[Problem] = []
    for namespace, located in grouped(stored).items():
        too_many = _too_many(namespace, [m for _, m in located])
        if too_many:
            first = outcomes[located[0][0]].where
            problems.append(Problem(first, TOO_MANY, too_many, None, namespace))
            for index, imagemap in located:
                outcomes[index] = Outcome(outcomes[index].where, namespace, imagemap.name,
                                          False, TOO_MANY, too_many)
            continue
        decision = decide(m for _, m in located)
        for index, imagemap in located:
            verdict = decision.verdicts[imagemap.name]
            outcomes[index] = Outcome(outcomes[index].where, namespace, verdict.name,
                                      verdict.ready, verdict.reason, verdict.message)
            if not verdict.ready:
                refused[index] = [Problem(outcomes[index].where, verdict.reason,
                                          verdict.message, verdict.name, namespace)]
    for index in sorted(refused):
        problems += refused[index]
    return problems, outcomes


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
             seen: dict[tuple[str, str], str]) -> list[tuple[str, str]]:
    """(field, why) for each reason the API server would refuse to store `document`."""
    found: list[tuple[str, str]] = []
    if document.get("apiVersion") != API_VERSION:
        found.append(("apiVersion", f"must be {API_VERSION}, not {document.get('apiVersion')!r}"))
    if imagemap is None:
        found.append(("metadata.name", "Required value"))
    elif (imagemap.namespace, imagemap.name) in seen:
        found.append(("metadata.name", f"{imagemap.name!r} is also defined in "
                                       f"{seen[(imagemap.namespace, imagemap.name)]}"))
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
    problems, outcomes = check(paths)
    rejected = sum(1 for o in outcomes if not o.ready)
    namespaces = len({o.namespace for o in outcomes})
    if not outcomes:
        summary = f"no ImageMap ({API_VERSION}) found"
    elif rejected:
        summary = (f"{plural(rejected, 'ImageMap')} of {len(outcomes)} would be refused or "
                   f"rejected ({plural(len(problems), 'problem')}, "
                   f"{plural(namespaces, 'namespace')})")
    else:
        summary = (f"{plural(len(outcomes), 'ImageMap')} in {plural(namespaces, 'namespace')}: "
                   "all would be accepted")
    if args.output == "json":
        json.dump({"valid": not rejected, "summary": summary,
                   "problems": [asdict(p) for p in problems],
                   "imageMaps": [_outcome_json(o) for o in outcomes]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for problem in problems:
            print(problem.line())
        print(summary)
    return 1 if rejected else 0


def _outcome_json(outcome: Outcome) -> dict[str, object]:
    return {"where": outcome.where, "namespace": outcome.namespace, "name": outcome.name,
            "ready": outcome.ready, "reason": outcome.reason, "message": outcome.message}
