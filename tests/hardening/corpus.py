"""Seeds and mutators for the fuzz targets: real fixtures, and the shapes of bad input.

Everything here is a function of a `random.Random`, so an input is reproduced from its seed.

- Seeds: the golden hook requests (tests/fixtures/hooks/**/*.request.json), the golden
  AdmissionReviews (tests/fixtures/admission/*.request.json), the ImageMaps inside them, and
  image strings from the fixtures and the upstream reference tables.
- Mutators: byte flips, insertions and deletions, truncation; on the decoded JSON, a value of
  another type at a random path, key deletions and insertions, list duplication.
- Pathological input: JSON nested 100,000 levels deep, huge documents, invalid UTF-8, lone
  surrogates, numbers past the integer-string limit, and image strings built to make a
  backtracking regex engine slow (long runs of separators, many dots, huge ports, `[` + `:` * N).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HOOK_FIXTURES = FIXTURES / "hooks"
ADMISSION_FIXTURES = FIXTURES / "admission"

HOOK_PATHS = ("/imagemap/customize", "/imagemap/sync", "/namespace/customize", "/namespace/sync")

JsonPath = tuple[str | int, ...]


# --- seeds -------------------------------------------------------------------------------------


@cache
def hook_seeds() -> tuple[tuple[str, bytes], ...]:
    """(hook path, body) of every golden hook request."""
    seeds = []
    for path in sorted(HOOK_FIXTURES.glob("*/*.request.json")):
        hook = "/" + path.parent.name.replace("-", "/", 1)
        assert hook in HOOK_PATHS, path
        seeds.append((hook, path.read_bytes()))
    return tuple(seeds)


@cache
def admission_seeds() -> tuple[bytes, ...]:
    """The body of every golden AdmissionReview."""
    return tuple(p.read_bytes() for p in sorted(ADMISSION_FIXTURES.glob("*.request.json")))


def _walk(value: object) -> Iterator[object]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


@cache
def imagemap_seeds() -> tuple[str, ...]:
    """Every ImageMap object in the hook fixtures and the admission ImageMaps, as JSON text."""
    found: dict[str, None] = {}
    for _, body in hook_seeds():
        for value in _walk(json.loads(body)):
            if isinstance(value, dict) and value.get("kind") == "ImageMap":
                found[json.dumps(value, sort_keys=True)] = None
    with (ADMISSION_FIXTURES / "imagemaps.yaml").open(encoding="utf-8") as handle:
        for document in yaml.safe_load_all(handle):
            found[json.dumps(document, sort_keys=True)] = None
    return tuple(found)


@cache
def image_seeds() -> tuple[str, ...]:
    """Image strings: maplets and container images of the fixtures, the upstream tables."""
    from tests.engine import test_reference_conformance as tables

    images: dict[str, None] = {}
    documents = [json.loads(text) for text in imagemap_seeds()]
    documents += [json.loads(body) for body in admission_seeds()]
    for document in documents:
        for value in _walk(document):
            if isinstance(value, dict):
                for key in ("from", "to", "image"):
                    if isinstance(value.get(key), str):
                        images[value[key]] = None
    for row in tables.REFERENCE_PARSE:
        images[row[0]] = None
    for name in (
        *tables.VALID_REFERENCE_NAMES,
        *tables.INVALID_REFERENCE_NAMES,
        *tables.VALID_REMOTE_NAMES,
        *tables.INVALID_REMOTE_NAMES,
    ):
        images[name] = None
    return tuple(images)


# --- pathological image strings -----------------------------------------------------------------

IMAGE_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@[]"
SEPARATORS = ("-", ".", "_", "__", "/", ":", "@", "._", "-_", "[", "]", ":/", "/.")


def pathological_image(rng: random.Random) -> str:
    """A string built to be slow for a backtracking matcher, or to sit on a length limit."""
    n = rng.choice((10, 64, 127, 128, 129, 254, 255, 256, 1000, 2047, 4095, 4096, 4097, 8000))
    sep = rng.choice(SEPARATORS)
    shapes: list[Callable[[], str]] = [
        lambda: "a" + sep * n + rng.choice(("a", "!", "", "A", ":tag", "@sha256:0")),
        lambda: "a" + (sep + "a") * (n // 2) + rng.choice(("!", "", ":", "@", "/")),
        lambda: "a." * n + rng.choice(("", "/x", ":5000/x", "!")),
        lambda: "host:" + "9" * n + rng.choice(("/x", "", "/x:t", "!")),
        lambda: "[" + ":" * n + rng.choice(("", "]", "]/a", "]/a!", "]:5000/a")),
        lambda: "[" + "a:" * (n // 2) + rng.choice(("", "]/a", "]:1/a!")),
        lambda: "a" * n + rng.choice(("!", "", "/", ":", "@")),
        lambda: "a/" * (n // 2) + rng.choice(("!", "", "a", "a:t")),
        lambda: "x/y:" + "t" * n,
        lambda: "x/y@" + rng.choice(("sha256:", "sha512:", "a+b.c_d-e:", "sha256")) + "f" * n,
        lambda: "x/y:" + "t" * 128 + "@sha256:" + "f" * rng.choice((63, 64, 65)),
        lambda: "a" + "-" * n + "-a" + ":" + "-" * n,
        lambda: "a" * rng.choice((64, 65)),
        lambda: "".join(rng.choice(IMAGE_ALPHABET) for _ in range(n)),
        lambda: rng.choice(("localhost", "index.docker.io", "docker.io", "quay.io")) + "/" * n,
        lambda: "A" * n + "/a",
        lambda: "a" + rng.choice("\x00\n\t é\u212a\ud800") * n,
    ]
    return rng.choice(shapes)()


def image_string(rng: random.Random) -> str:
    """A seed image, a mutated one, or a pathological one."""
    roll = rng.random()
    if roll < 0.35:
        return pathological_image(rng)
    seed = rng.choice(image_seeds())
    if roll < 0.5:
        return seed
    chars = list(seed)
    for _ in range(rng.randint(1, 4)):
        where = rng.randint(0, len(chars))
        what = rng.random()
        if what < 0.4:
            chars.insert(where, rng.choice(IMAGE_ALPHABET))
        elif what < 0.6 and chars:
            del chars[min(where, len(chars) - 1)]
        elif what < 0.8:
            chars[where:where] = list(rng.choice(SEPARATORS) * rng.randint(1, 50))
        else:
            chars.insert(where, chr(rng.randrange(0x20, 0x3000)))
    return "".join(chars)


# --- JSON values --------------------------------------------------------------------------------

HUGE_INT_DIGITS = 4000
"""Decimal digits of the largest integer made: Python refuses to convert past 4,300."""


def scalar(rng: random.Random) -> object:
    """A JSON scalar from the edges: extreme numbers, odd strings, null, booleans."""
    return rng.choice(
        (
            None,
            True,
            False,
            0,
            -1,
            1,
            2**31,
            2**63,
            -(2**63) - 1,
            10**HUGE_INT_DIGITS,
            1.5,
            -0.0,
            1e308,
            float("inf"),
            float("nan"),
            "",
            " ",
            "x",
            "null",
            "Pod",
            "ImageMap",
            "Namespace",
            "CREATE",
            "UPDATE",
            "\ud800",
            "\x00",
            "é" * 10,
            "a" * 70_000,
            "mapper.imagerelocation.pivotal.io/v1alpha1",
            "admission.k8s.io/v1",
        )
    )


def json_value(rng: random.Random, depth: int = 0) -> object:
    """A random JSON value of any type, shallow."""
    roll = rng.random()
    if depth > 3 or roll < 0.45:
        return scalar(rng)
    if roll < 0.6:
        return image_string(rng)
    if roll < 0.8:
        return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = (
        "metadata",
        "name",
        "kind",
        "spec",
        "map",
        "from",
        "to",
        "image",
        "containers",
        "status",
        "uid",
        "namespace",
        "x",
    )
    return {rng.choice(keys): json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def other_type(rng: random.Random, value: object) -> object:
    """A value of a type other than `value`'s: the wrong type at that place."""
    choices: list[object] = [None, True, 0, -1, 1.5, "", "x", [], [value], {}, {"x": value}]
    kinds = {type(value)}
    if isinstance(value, bool):
        kinds.add(int)
    candidates = [c for c in choices if type(c) not in kinds]
    return rng.choice(candidates)


def paths(value: object, prefix: JsonPath = ()) -> list[JsonPath]:
    """Every path to a value inside `value` (the root is `()`)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def get_path(value: Any, path: JsonPath) -> Any:
    for part in path:
        value = value[part]
    return value


def set_path(root: Any, path: JsonPath, new: object) -> Any:
    """`root` with the value at `path` replaced (in place, except for the root)."""
    if not path:
        return new
    parent = get_path(root, path[:-1])
    parent[path[-1]] = new
    return root


def deep_nesting(rng: random.Random, levels: int | None = None, *, closed: bool = False) -> str:
    """JSON nested `levels` deep, as text: far past any recursion limit by default; left
    unclosed now and then unless `closed`."""
    levels = levels or rng.choice((999, 1000, 5000, 100_000))
    opener, closer = rng.choice((("[", "]"), ('{"a":', "}"), ('[{"a":', "}]")))
    inner = rng.choice(("1", "null", '""', "[]"))
    closing = closer * levels if closed or rng.random() < 0.7 else ""
    return opener * levels + inner + closing


def mutate_json(rng: random.Random, document: Any, *, image_keys: bool = True) -> Any:
    """1-4 structural mutations at random paths of a decoded document."""
    for _ in range(rng.randint(1, 4)):
        everywhere = paths(document)
        path = rng.choice(everywhere)
        current = get_path(document, path)
        op = rng.random()
        if op < 0.35:
            document = set_path(document, path, other_type(rng, current))
        elif op < 0.5 and path:
            parent = get_path(document, path[:-1])
            if isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent.pop(path[-1])
        elif op < 0.6 and isinstance(current, dict):
            key = rng.choice(
                (
                    "metadata",
                    "spec",
                    "status",
                    "kind",
                    "name",
                    "x",
                    "from",
                    "to",
                    "image",
                    "object",
                    "parent",
                    "related",
                    "request",
                    "",
                )
            )
            current[key] = json_value(rng)
        elif op < 0.65 and isinstance(current, list) and current:
            current.extend(rng.choice(current) for _ in range(rng.randint(1, 50)))
        elif op < 0.75 and image_keys:
            # An image-bearing field gets a hard image string.
            holders = [p for p in everywhere if p and p[-1] in ("from", "to", "image")]
            if holders:
                document = set_path(document, rng.choice(holders), image_string(rng))
        elif op < 0.8:
            document = set_path(document, path, json.loads(deep_nesting(rng, 100, closed=True)))
        elif op < 0.9:
            strings = [p for p in everywhere if isinstance(get_path(document, p), str)]
            if strings:
                where = rng.choice(strings)
                document = set_path(document, where, twist(rng, get_path(document, where)))
        else:
            document = set_path(document, path, json_value(rng))
    return document


def twist(rng: random.Random, text: str) -> str:
    """A string value made hard: lone surrogates, JSON text (annotations hold JSON), nesting
    past the recursion limit, control characters, repetition."""
    return rng.choice(
        (
            lambda: text + "\ud800",
            lambda: "\udc00" + text,
            lambda: "\ud800",
            lambda: deep_nesting(rng, rng.choice((1000, 100_000))),
            lambda: json.dumps(json_value(rng)),
            lambda: json.dumps({"x": text, "\ud800": text}),
            lambda: text + "\x00\n\r",
            lambda: text * rng.randint(2, 100),
            lambda: "",
            text.upper,
        )
    )()


def dump(rng: random.Random, document: object) -> bytes:
    """JSON text of `document`, formatted one of several ways; lone surrogates kept raw
    (surrogatepass), which makes the bytes invalid UTF-8."""
    indent = rng.choice((None, None, 2))
    ascii_only = rng.random() < 0.5
    text = json.dumps(document, indent=indent, ensure_ascii=ascii_only)
    return text.encode("utf-8", "surrogatepass")


INTERESTING_BYTES = (
    b"[",
    b"]",
    b"{",
    b"}",
    b'"',
    b"\\",
    b",",
    b":",
    b"\x00",
    b"\xff",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\\ud800",
    b"NaN",
    b"-Infinity",
    b"1e999",
    b"-0",
    b"9" * 5000,
    b"\xef\xbb\xbf",
    b"\n",
    b"null",
    b"true",
)


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """1-8 byte-level mutations: flips, insertions, deletions, duplication, truncation."""
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.random()
        where = rng.randint(0, len(buffer))
        if op < 0.3 and buffer:
            index = min(where, len(buffer) - 1)
            buffer[index] ^= 1 << rng.randrange(8)
        elif op < 0.55:
            buffer[where:where] = rng.choice(INTERESTING_BYTES)
        elif op < 0.7 and buffer:
            del buffer[where : where + rng.randint(1, 64)]
        elif op < 0.8 and buffer:
            start = rng.randrange(len(buffer))
            chunk = buffer[start : start + rng.randint(1, 256)]
            buffer[where:where] = chunk * rng.randint(1, 8)
        elif op < 0.9:
            del buffer[where:]
        else:
            buffer[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(buffer)


def mutated_body(rng: random.Random, seed: bytes) -> bytes:
    """A fixture body, mutated on its structure, its bytes, or both."""
    roll = rng.random()
    if roll < 0.15:
        return mutate_bytes(rng, seed)
    document = mutate_json(rng, json.loads(seed))
    body = dump(rng, document)
    if roll < 0.3:
        body = mutate_bytes(rng, body)
    return body


def special_body(rng: random.Random, seed: bytes) -> bytes:
    """The pathological bodies: deep nesting, huge documents, encodings, odd numbers."""
    shapes: list[Callable[[], bytes]] = [
        lambda: deep_nesting(rng).encode(),
        lambda: _nest_inside(rng, seed),
        lambda: b'{"x": "' + b"a" * rng.choice((1 << 16, 1 << 20, 3 << 20)) + b'"}',
        lambda: b"[" + b"1," * rng.choice((1000, 100_000, 1_000_000)) + b"1]",
        lambda: b'{"a":' + b"9" * rng.choice((4300, 4301, 100_000)) + b"}",
        lambda: seed.decode("utf-8").encode(rng.choice(("utf-16", "utf-32", "utf-16-be"))),
        lambda: b"\xef\xbb\xbf" + seed,
        lambda: seed[: rng.randrange(len(seed))],
        lambda: seed + rng.choice((b"x", b"{}", b"\x00", b" " * 1000)),
        lambda: bytes(rng.randrange(256) for _ in range(rng.randint(0, 512))),
        lambda: rng.choice((b"", b" ", b"null", b"[]", b"0", b'""', b"true", b"NaN", b"{}")),
        lambda: seed.replace(b'"', b"'", 1),
        lambda: seed.replace(b'": "', b'": "\\ud800', 3),
        lambda: seed.replace(b'": "', b'": "\xff\xfe', 1),
        lambda: seed.replace(b'"', b'"\xc0\x80', 1),
    ]
    return rng.choice(shapes)()


def _nest_inside(rng: random.Random, seed: bytes) -> bytes:
    """A valid fixture with one value replaced by JSON nested past the recursion limit."""
    document = json.loads(seed)
    path = rng.choice(paths(document))
    marker = "\x00nested\x00"
    text = json.dumps(set_path(document, path, marker))
    return text.replace(json.dumps(marker), deep_nesting(rng, 100_000, closed=True)).encode()


def wrong_types_everywhere(document: Any) -> Iterator[Any]:
    """For every path of `document`, copies of it with a value of each other type there."""
    for path in paths(document):
        current = get_path(document, path)
        for replacement in (None, True, 0, 1.5, "x", [], {}):
            if type(replacement) is type(current):
                continue
            copy = json.loads(json.dumps(document))
            yield set_path(copy, path, replacement)
