"""The decision record: which ImageMaps of a namespace are in force, in the order they came into
force, and which were rejected, each at the generation that was judged.

Metacontroller syncs ImageMaps concurrently, each from its own cache, which may be behind; a
decision made by each ImageMap's sync from its view of the others lands even when that view is
stale (its status write re-reads the object first). So one decider, the namespace hook, walks
the whole namespace and records the outcome on the Namespace, which the DecoratorController
updates with the resourceVersion it read: a decision made on a stale view of the Namespace is
refused by the API server and made again. ImageMap statuses and the webhook follow this record;
the record's order replaces timestamps of one-second resolution in the walk.

The record is an annotation (compact JSON, about 85 bytes per ImageMap):
`{"inForce": [[name, uid, generation, since], ...], "rejected": [[...], ...]}`, where `since`
is when the ImageMap got that verdict (RFC 3339): every sync of its status gives it as the
Ready condition's `lastTransitionTime`, so syncs from caches of different ages write the same
status.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter

from image_mapper.engine.names import GROUP

ANNOTATION = f"{GROUP}/decision"
"""The Namespace annotation that holds the record."""
MAX_RECORD_LENGTH = 256 * 1024
"""The API server's limit for all of an object's annotations together."""


class RecordError(ValueError):
    """An annotation that is not a decision record; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One ImageMap as judged: the object (name and uid) at one generation."""

    name: str
    uid: str
    generation: int
    since: str = ""
    """When the ImageMap got this verdict; empty in a record written without it."""


@dataclass(frozen=True, slots=True)
class Record:
    in_force: tuple[Entry, ...] = ()
    """In the order they came into force: the walk's order."""
    rejected: tuple[Entry, ...] = ()
    _judged: dict[tuple[str, str], tuple[bool, Entry]] | None = field(
        default=None, init=False, repr=False, compare=False)
    """`judged` by (name, uid), made on first use: each ImageMap of a namespace asks."""

    def encode(self) -> str:
        return json.dumps(
            {"inForce": list(map(_row, self.in_force)),
             "rejected": list(map(_row, self.rejected))},
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, text: str) -> Record:
        if len(text) > MAX_RECORD_LENGTH:
            raise RecordError(f"longer than {MAX_RECORD_LENGTH} characters")
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as error:  # RecursionError: nested too deep
            raise RecordError(f"not JSON: {error}") from None
        if not isinstance(document, dict):
            raise RecordError("not a JSON object")
        return cls(_entries(document, "inForce"), _entries(document, "rejected"))

    def judged(self, name: str, uid: str) -> tuple[bool, Entry] | None:
        """(in force, its entry) of an ImageMap; None when the record does not know it."""
        judged = self._judged
        if judged is None:
            judged = {}
            for accepted, entries in ((True, self.in_force), (False, self.rejected)):
                for entry in entries:
                    judged.setdefault((entry.name, entry.uid), (accepted, entry))
            object.__setattr__(self, "_judged", judged)
        return judged.get((name, uid))

    def entries(self) -> Iterable[Entry]:
        yield from self.in_force
        yield from self.rejected


def read_record(namespace: object) -> Record | None:
    """The record on a Namespace object; None when it has none. Raises RecordError when its
    annotation is not a record."""
    metadata = namespace.get("metadata") if isinstance(namespace, dict) else None
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    text = annotations.get(ANNOTATION) if isinstance(annotations, dict) else None
    return Record.decode(text) if isinstance(text, str) else None


_row = attrgetter("name", "uid", "generation", "since")
"""An entry as the record writes it (a JSON array)."""


def _entries(document: dict[str, object], key: str) -> tuple[Entry, ...]:
    rows = document.get(key, [])
    if not isinstance(rows, list):
        raise RecordError(f"{key} is not a list")
    entries = []
    for index, row in enumerate(rows):
        if (not isinstance(row, list) or len(row) not in (3, 4) or not isinstance(row[0], str)
                or not isinstance(row[1], str) or isinstance(row[2], bool)
                or not isinstance(row[2], int) or not isinstance(row[-1], str | int)
                or (len(row) == 4 and not isinstance(row[3], str))):
            raise RecordError(f"{key}[{index}] is not [name, uid, generation, since]")
        entries.append(Entry(row[0], row[1], row[2], row[3] if len(row) == 4 else ""))
    return tuple(entries)
