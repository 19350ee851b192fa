"""Hook request bodies, decoded as `json.loads` would, with each related object decoded once.

Metacontroller sends every sync of a namespace all of its ImageMaps in `related` (megabytes for
1,000 ImageMaps), and sends them again, mostly unchanged, at the next sync. Decoding that JSON
took longer than deciding on it. `BodyDecoder` scans the body with msgspec (a C parser) without
building the related objects, and decodes each one only when its exact bytes were not seen
before; an object seen before is the same Python object as last time. Equal bytes are equal
JSON, so this can never hand a body another's content, and the engine's comparisons of what it
decided on (`image_mapper.controller.memo`) stop at identity.

The result equals `json.loads(body)` for every body: anything msgspec does not take as an
object of objects (not JSON to it, NaN, a `related` of another shape) is decoded by `json.loads`
itself, with its errors. Objects handed out are shared between calls: hooks must not change the
objects of a request (`tests/controller/test_bodies.py` holds them to it).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

import msgspec

from image_mapper.controller.memo import Readings
from image_mapper.engine.imagemap import is_imagemap

OBJECTS = 20_000
"""Related objects remembered: a namespace of 1,000 ImageMaps and the Namespace, many times."""

_TOP = msgspec.json.Decoder(dict[str, msgspec.Raw])
_RELATED = msgspec.json.Decoder(dict[str, dict[str, msgspec.Raw]])

RELATED = "related"
"""The part of a sync request that is decoded object by object."""


class BodyDecoder:
    """Decodes hook bodies, remembering the last `objects` related objects by their bytes.

    One per server, shared by its threads. With `readings` (the server's memo's),
    each related ImageMap is also read once, when first decoded, for the hooks to find there.
    """

    def __init__(self, *, objects: int = OBJECTS, readings: Readings | None = None) -> None:
        self._objects = objects
        self._readings = readings
        self._known: OrderedDict[bytes, object] = OrderedDict()
        self._lock = threading.Lock()

    def decode(self, data: bytes) -> object:
        """`json.loads(data)`; raises what it raises (ValueError, RecursionError)."""
        try:
            top = _TOP.decode(data)
            related = _RELATED.decode(top[RELATED]) if RELATED in top else None
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return json.loads(data)
        return {key: self._related(related) if key == RELATED and related is not None
                else _loads(raw) for key, raw in top.items()}

    def _related(self, related: dict[str, dict[str, msgspec.Raw]]) -> dict[str, object]:
        return {group: self._objects_of(objects) for group, objects in related.items()}

    def _objects_of(self, objects: dict[str, msgspec.Raw]) -> dict[str, object]:
        decoded: dict[str, object] = {}
        with self._lock:
            for key, raw in objects.items():
                data = bytes(raw)
                value = self._known.get(data, _UNSEEN)
                if value is _UNSEEN:
                    value = self._known[data] = json.loads(data)
                    if self._readings is not None and isinstance(value, dict) and is_imagemap(
                            value):
                        self._readings.keep(value)
                else:
                    self._known.move_to_end(data)
                decoded[key] = value
            while len(self._known) > self._objects:
                _, forgotten = self._known.popitem(last=False)
                if self._readings is not None:
                    self._readings.forget(forgotten)
        return decoded


_UNSEEN = object()


def _loads(raw: msgspec.Raw) -> object:
    return json.loads(bytes(raw))
