"""`image-mapper validate -f FILES/DIRS...`: would the cluster accept these ImageMaps? For CI and
pre-commit.

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
from image_mapper.cli.documents import namespace_of, read_documents
from image_mapper.cli.namespaces import grouped
from image_mapper.engine.acceptance import decide
from image_mapper.engine.imagemap import API_VERSION, KIND, ImageMap
from image_mapper.engine.verdicts import plural

SCHEMA_ERROR = "SchemaError"
"""The reason of an ImageMap the API server would refuse to store."""


@dataclass(frozen=True, slots=True)
class Problem:
    where: str
    """`FILE, document N` (`, item K` inside a List)."""
    reason: str
    """SchemaError, InvalidSpec or Conflict."""
    message: str
    imageMap: str | None = None  # the JSON output's key
    namespace: str | None = None
    field: str | None = None

    def line(self) -> str:
        if self.field is not None:
            return f"{self.where}: {self.field}: {self.message}"
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
    # `-f a.yaml b.yaml` too: pre-commit passes the changed files after the entry.
    parser.add_argument("-f", "--filename", action="extend", nargs="+", required=True,
                        metavar="PATH",
                        help="YAML files or folders (repeatable; - for stdin); documents of "
                             "other kinds are skipped")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text",
                        help="output format (default: text)")
    parser.epilog = ("Exit status 1 when the API server would refuse an ImageMap or the "
                     "cluster would not put it in force (InvalidSpec, Conflict), else 0.")


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
    problems, outcomes = check(args.filename)
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
