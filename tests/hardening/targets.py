"""The fuzz targets, and the runner that feeds each one a number of inputs and counts outcomes.

A target is a hypothesis strategy, a list of pathological inputs tried first, and a check that
returns "ok" (2xx, or input accepted) or "refused" (4xx, or input rejected with the documented
error) — or "5xx" for a server error — and raises for anything else: a crash, an answer that
is not JSON, a broken invariant.

- reference: strings to `parse_normalized` (and `parse`, `parse_docker_ref`, `parse_any`,
  `parse_repository`, `parse_prefix`). Only ReferenceError; an accepted reference parses
  again to itself.
- decide: lists of JSON-ish ImageMap objects to `decide`, then its record to `follow` and
  `compile_recorded`. No exception; a verdict for each named ImageMap; its status serializes
  as strict JSON.
- lookup: strings to `Mapping.lookup` of a mapping with every maplet form. None or a Match; a
  result is never mapped again (design.md#consistency).
- hooks: bodies POSTed to the four hook paths of a waitress server. 200, 400 or 413, always a
  JSON body; 400 and 413 carry `error`.
- admission: bodies POSTed to `/mutate` of the uvicorn TLS server. 200, 400 or 413, always
  JSON; a 200 echoes the uid, allows the pod, and carries a valid patch or none.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import random
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from image_mapper.controller.memo import Memo
from image_mapper.controller.status import imagemap_status
from image_mapper.engine.acceptance import Decision, compile_recorded, decide, follow, record_of
from image_mapper.engine.imagemap import read_imagemaps
from image_mapper.engine.mapping import Mapping
from image_mapper.engine.reference import (
    ReferenceError,
    parse,
    parse_any,
    parse_docker_ref,
    parse_normalized,
    parse_prefix,
    parse_repository,
)
from image_mapper.webhook.reporting import MAX_IMAGE_WARNINGS, MAX_WARNING_LENGTH

from . import corpus
from .servers import Client

Outcome = str
""""ok", "refused" or "5xx"."""


class Failure(AssertionError):
    """A crash or a broken promise, described with the input that caused it."""


@dataclass
class Stats:
    target: str
    tried: int = 0
    crashes: int = 0
    server_errors: int = 0
    refused: int = 0
    ok: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    slowest_input: str = ""
    failures: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    reconnects: int = 0

    def fail(self, description: str) -> None:
        if len(self.failures) < 10:
            self.failures.append(description)

    @property
    def clean(self) -> bool:
        return self.crashes == 0 and self.server_errors == 0


@dataclass
class Target:
    name: str
    strategy: st.SearchStrategy[Any]
    specials: Callable[[], Iterator[Any]]
    check: Callable[[Any], Outcome]
    client: Client | None = None


def describe(value: object, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


RETIME_SECONDS = 0.05
"""An input slower than this (and than any before) is timed again, and the faster time kept:
a garbage collection of the generator's own data can land in any one call."""


def _timed(check: Callable[[Any], Outcome], value: Any) -> float:
    started = time.perf_counter()
    with contextlib.suppress(Exception):
        check(value)
    return time.perf_counter() - started


def run(target: Target, count: int, *, seed: int = 0) -> Stats:
    """Feed `target` `count` inputs: its specials first, then hypothesis-generated ones."""
    stats = Stats(target.name)

    def one(value: Any) -> None:
        stats.tried += 1
        started = time.perf_counter()
        try:
            outcome = target.check(value)
        except Exception as error:  # a crash, or a Failure the check raised
            stats.crashes += 1
            stats.fail(f"{type(error).__name__}: {str(error)[:500]} <- {describe(value)}")
            return
        finally:
            elapsed = time.perf_counter() - started
            if elapsed > max(stats.slowest, RETIME_SECONDS):
                elapsed = min(elapsed, _timed(target.check, value))
            if elapsed > stats.slowest:
                stats.slowest, stats.slowest_input = elapsed, describe(value, 120)
        if outcome == "ok":
            stats.ok += 1
        elif outcome == "refused":
            stats.refused += 1
        else:
            stats.server_errors += 1
            stats.fail(f"{outcome} <- {describe(value)}")

    begun = time.perf_counter()
    for value in target.specials():
        if stats.tried >= count:
            break
        one(value)
    attempt = 0
    while stats.tried < count and attempt < 100:
        before = stats.tried
        fuzz = given(target.strategy)(one)
        fuzz = settings(
            max_examples=count - stats.tried,
            deadline=None,
            database=None,
            phases=(Phase.generate,),
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )(fuzz)
        hypothesis.seed(seed * 1000 + attempt)(fuzz)()
        attempt += 1
        if stats.tried == before:
            break
    stats.seconds = time.perf_counter() - begun
    if target.client is not None:
        stats.reconnects = target.client.reconnects
    return stats


def rngs() -> st.SearchStrategy[random.Random]:
    return st.integers(min_value=0, max_value=2**64 - 1).map(random.Random)


def mostly(
    bulk: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], percent_rare: int = 5
) -> st.SearchStrategy[Any]:
    """`bulk`, and `rare` for `percent_rare` percent of the examples.

    The bulk strategies draw one seed and build the input in Python; strategies that
    hypothesis builds draw by draw (text, regexes, nested collections) cost 10-20 times more
    an example, so they get a share that keeps 100,000 inputs within minutes.
    """
    return st.integers(0, 99).flatmap(lambda roll: rare if roll < percent_rare else bulk)


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


# --- reference -----------------------------------------------------------------------------------


def check_reference(text: str) -> Outcome:
    try:
        reference = parse_normalized(text)
    except ReferenceError:
        outcome = "refused"
    else:
        again = parse_normalized(str(reference))
        if again != reference:
            raise Failure(f"{text!r} parses to {reference}, which parses to {again}")
        outcome = "ok"
    for parser in (parse, parse_docker_ref, parse_any, parse_repository, parse_prefix):
        with contextlib.suppress(ReferenceError):
            parser(text)
    return outcome


def reference_specials() -> Iterator[str]:
    yield from corpus.image_seeds()
    for index in range(2000):
        yield corpus.pathological_image(random.Random(index))


def image_strategy() -> st.SearchStrategy[str]:
    return mostly(
        rngs().map(corpus.image_string),
        st.one_of(
            st.text(max_size=80),
            st.text(alphabet=corpus.IMAGE_ALPHABET, max_size=80),
            st.builds(
                lambda *parts: "".join(parts),
                st.sampled_from(
                    (
                        "",
                        "localhost/",
                        "registry:5000/",
                        "[::1]:5000/",
                        "a.b/",
                        "index.docker.io/",
                        "docker.io/",
                        "Quay.io/",
                    )
                ),
                st.from_regex(
                    r"[a-z0-9]+(?:[._-]{1,3}[a-z0-9]+){0,8}(?:/[a-z0-9._-]+){0,4}", fullmatch=True
                ),
                st.sampled_from(("", ":latest", ":v1", ":" + "t" * 128, ":-x", ":.")),
                st.sampled_from(
                    (
                        "",
                        "@sha256:" + "a" * 64,
                        "@sha256:" + "A" * 64,
                        "@sha512:" + "b" * 128,
                        "@md5:" + "c" * 32,
                        "@sha256:",
                    )
                ),
            ),
        ),
        percent_rare=10,
    )


def reference_target() -> Target:
    return Target("reference", image_strategy(), reference_specials, check_reference)


# --- decide --------------------------------------------------------------------------------------

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _verdicts(decision: Decision) -> list[tuple[object, ...]]:
    return [
        (v.name, v.reason, v.message, v.conflicts, v.maplets) for v in decision.verdicts.values()
    ]


DECISIONS = Memo()
"""One memo for every input, as a hooks server has one for every request."""


def check_decide(imagemaps: list[dict[str, Any]]) -> Outcome:
    """No exception, a verdict per named ImageMap, a status that is strict JSON, and the same
    verdicts as a decision made afresh: the memo (keyed on uid and resourceVersion) must never
    hand one body's verdicts to another."""
    typed = read_imagemaps(imagemaps)
    decision = DECISIONS.decide(typed)
    fresh = decide(typed)
    if _verdicts(decision) != _verdicts(fresh):
        raise Failure(
            f"a memoized decision differs from a fresh one: {_verdicts(decision)} "
            f"!= {_verdicts(fresh)}"
        )
    named = set()
    for imagemap in imagemaps:
        metadata = imagemap.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if isinstance(name, str) and name:
            named.add(name)
    if set(decision.verdicts) != named:
        raise Failure(f"verdicts for {sorted(decision.verdicts)}, ImageMaps {sorted(named)}")
    for name, verdict in decision.verdicts.items():
        if verdict.ready != bool(verdict.maplets):
            raise Failure(f"{name}: ready={verdict.ready} with {len(verdict.maplets)} maplets")
    for imagemap in typed:
        status = imagemap_status(imagemap, decision.verdicts[imagemap.name], now=NOW)
        json.dumps(status, allow_nan=False)
    record = record_of(decision, typed)
    for imagemap in typed:
        follow(record, imagemap, typed)
    compile_recorded(record, typed)
    return "ok" if any(v.ready for v in decision.verdicts.values()) else "refused"


def imagemap_object(rng: random.Random) -> dict[str, Any]:
    """A fixture ImageMap, mutated; or one built from random parts."""
    if rng.random() < 0.3:
        return random_imagemap(rng)
    document = json.loads(rng.choice(corpus.imagemap_seeds()))
    if rng.random() < 0.85:
        document = corpus.mutate_json(rng, document)
    if not isinstance(document, dict):
        document = {"metadata": {"name": "m"}, "spec": document}
    return document


def _maybe(rng: random.Random, value: Callable[[], object]) -> object:
    return value() if rng.random() < 0.8 else corpus.json_value(rng)


def random_imagemap(rng: random.Random) -> dict[str, Any]:
    """An ImageMap of random maplets, names from a small pool (so that they meet), and a
    status that may or may not claim it is in force."""
    metadata: dict[str, object] = {"name": _maybe(rng, lambda: rng.choice("abcdef"))}
    if rng.random() < 0.5:
        metadata |= {
            "uid": _maybe(rng, lambda: f"u{rng.randrange(4)}"),
            "resourceVersion": _maybe(rng, lambda: str(rng.randrange(4))),
            "generation": _maybe(rng, lambda: rng.randrange(1, 4)),
            "creationTimestamp": _maybe(rng, lambda: f"2026-01-0{rng.randrange(1, 4)}T00:00:00Z"),
        }
    maplets = [
        {
            "from": _maybe(rng, lambda: corpus.image_string(rng)),
            "to": _maybe(rng, lambda: corpus.image_string(rng)),
        }
        for _ in range(rng.randint(0, 5))
    ]
    document: dict[str, Any] = {"metadata": metadata, "spec": {"map": maplets}}
    if rng.random() < 0.5:
        document["status"] = {
            "observedGeneration": _maybe(rng, lambda: rng.randrange(1, 4)),
            "deployedMap": _maybe(rng, lambda: maplets[: rng.randint(0, len(maplets))]),
            "conditions": _maybe(
                rng,
                lambda: [
                    {
                        "type": "Ready",
                        "status": rng.choice(("True", "False")),
                        "lastTransitionTime": _maybe(
                            rng, lambda: f"2026-01-0{rng.randrange(1, 4)}T00:00:00Z"
                        ),
                    }
                ],
            ),
        }
    return document


def imagemap_list(rng: random.Random) -> list[dict[str, Any]]:
    return [imagemap_object(rng) for _ in range(rng.randint(1, 6))]


def decide_strategy() -> st.SearchStrategy[list[dict[str, Any]]]:
    structured = st.one_of(
        st.dictionaries(
            st.sampled_from(("metadata", "spec", "status", "kind")), JSON_VALUES, max_size=4
        ),
        st.fixed_dictionaries(
            {
                "metadata": st.fixed_dictionaries(
                    {"name": st.text(min_size=1, max_size=5)},
                    optional={
                        "uid": st.text(max_size=3),
                        "resourceVersion": st.text(max_size=3),
                        "generation": JSON_VALUES,
                        "creationTimestamp": JSON_VALUES,
                    },
                ),
                "spec": st.fixed_dictionaries(
                    {
                        "map": st.lists(
                            st.fixed_dictionaries(
                                {
                                    "from": st.one_of(image_strategy(), JSON_SCALARS),
                                    "to": st.one_of(image_strategy(), JSON_SCALARS),
                                }
                            ),
                            max_size=3,
                        )
                    }
                ),
            },
            optional={"status": JSON_VALUES},
        ),
    )
    return mostly(
        rngs().map(imagemap_list), st.lists(structured, min_size=1, max_size=2), percent_rare=3
    )


def decide_specials() -> Iterator[list[dict[str, Any]]]:
    seeds = [json.loads(text) for text in corpus.imagemap_seeds()]
    yield seeds
    for seed in seeds:
        for wrong in corpus.wrong_types_everywhere(seed):
            if isinstance(wrong, dict):
                yield [wrong, *seeds]


def decide_target() -> Target:
    return Target("decide", decide_strategy(), decide_specials, check_decide)


# --- lookup --------------------------------------------------------------------------------------

LOOKUP_IMAGEMAPS: list[dict[str, Any]] = [
    {
        "metadata": {"name": "forms", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "map": [
                {
                    "from": "gcr.io/google-samples/kubernetes-bootcamp:v1",
                    "to": "registry.example.com/kubernetes-bootcamp:v1",
                },
                {"from": "busybox@sha256:" + "a" * 64, "to": "registry.example.com/busybox:pinned"},
                {
                    "from": "alpine:3.20@sha256:" + "b" * 64,
                    "to": "registry.example.com/alpine:3.20",
                },
                {"from": "nginx", "to": "registry.example.com/library/nginx"},
                {"from": "ghcr.io/org/app", "to": "registry.example.com/ghcr/app"},
                {"from": "quay.io/", "to": "registry.example.com/quay/"},
                {"from": "localhost:5000/team/", "to": "registry.example.com/local/team/"},
                {"from": "[::1]:5000/", "to": "registry.example.com/v6/"},
                {"from": "index.docker.io/bitnami/", "to": "registry.example.com/bitnami/"},
                {"from": "registry.example.com/pinned:1", "to": "registry.example.com/pinned:1"},
            ]
        },
    },
]
MAPPED_PREFIXES = (
    "gcr.io/google-samples/kubernetes-bootcamp",
    "busybox",
    "alpine",
    "nginx",
    "docker.io/library/nginx",
    "ghcr.io/org/app",
    "quay.io/",
    "localhost:5000/team/",
    "[::1]:5000/",
    "bitnami/",
    "docker.io/bitnami/",
    "registry.example.com/",
)


def lookup_mapping() -> Mapping:
    decision = decide(read_imagemaps(LOOKUP_IMAGEMAPS))
    problems = [v.message for v in decision.verdicts.values() if not v.ready]
    assert not problems, problems
    return decision.mapping


def lookup_check(mapping: Mapping) -> Callable[[str], Outcome]:
    def check(image: str) -> Outcome:
        match = mapping.lookup(image)
        if match is None:
            return "refused"
        if match.image != image or not isinstance(match.result, str):
            raise Failure(f"lookup({image!r}) returned {match}")
        if match.result != image:
            again = mapping.lookup(match.result)
            if again is not None and again.result != match.result:
                raise Failure(
                    f"{image!r} -> {match.result!r} -> {again.result!r}: a result is mapped again"
                )
        return "ok"

    return check


def near_mapped(rng: random.Random) -> str:
    """An image under one of the mapping's `from`s, often matched, sometimes just not."""
    tail = rng.choice(
        ("", "x", "app", "a/b", "team/x", "-x", "../x", "A", corpus.image_string(rng))
    )
    suffix = rng.choice(
        (
            "",
            ":v1",
            ":3.20",
            ":1",
            "@sha256:" + "a" * 64,
            ":3.20@sha256:" + "b" * 64,
            "@sha256:" + "b" * 64,
            ":",
            "@",
        )
    )
    return rng.choice(MAPPED_PREFIXES) + tail + suffix


def lookup_strategy() -> st.SearchStrategy[str]:
    return st.one_of(rngs().map(near_mapped), image_strategy())


def lookup_specials() -> Iterator[str]:
    yield from reference_specials()
    for prefix in MAPPED_PREFIXES:
        for index in range(20):
            yield prefix + corpus.pathological_image(random.Random(index))


def lookup_target() -> Target:
    return Target("lookup", lookup_strategy(), lookup_specials, lookup_check(lookup_mapping()))


# --- HTTP ----------------------------------------------------------------------------------------

HttpInput = tuple[str, bytes, bool]
"""(path, body, chunked)."""

HOOK_KEYS = {
    "/imagemap/customize": ("relatedResources",),
    "/namespace/customize": ("relatedResources",),
    "/imagemap/sync": ("status", "children"),
    "/namespace/sync": ("labels", "annotations", "attachments"),
}


def _strict_json(data: bytes) -> Any:
    def refuse(constant: str) -> None:
        raise Failure(f"the answer holds {constant}, which is not JSON")

    try:
        return json.loads(data, parse_constant=refuse)
    except ValueError as error:
        raise Failure(f"the answer is not JSON ({error}): {data[:200]!r}") from None


def _error_answer(status: int, content_type: str, data: bytes) -> None:
    if content_type != "application/json":
        raise Failure(f"HTTP {status} with Content-Type {content_type!r}: {data[:200]!r}")
    answer = _strict_json(data)
    if (
        not isinstance(answer, dict)
        or not isinstance(answer.get("error"), str)
        or not (answer["error"])
    ):
        raise Failure(f"HTTP {status} without a JSON error message: {data[:200]!r}")
    if "Traceback" in answer["error"]:
        raise Failure(f"HTTP {status} with a stack trace: {data[:200]!r}")


def _classify(status: int, content_type: str, data: bytes) -> Outcome | None:
    """The outcome of an error status, or None for 200 (the caller checks the body)."""
    if status >= 500:
        return "5xx"
    if status in (400, 413):
        _error_answer(status, content_type, data)
        return "refused"
    if status != 200:
        raise Failure(f"unexpected HTTP {status}: {data[:200]!r}")
    if content_type != "application/json":
        raise Failure(f"HTTP 200 with Content-Type {content_type!r}")
    return None


def hooks_check(client: Client) -> Callable[[HttpInput], Outcome]:
    def check(value: HttpInput) -> Outcome:
        path, body, chunked = value
        status, content_type, data = client.post(path, body, chunked=chunked)
        client_status = _classify(status, content_type, data)
        if client_status is not None:
            return client_status
        answer = _strict_json(data)
        if not isinstance(answer, dict) or any(k not in answer for k in HOOK_KEYS[path]):
            raise Failure(f"{path} answered 200 with {data[:200]!r}")
        return "ok"

    return check


def _swapped(rng: random.Random, seed: bytes) -> bytes:
    """The fixture with one value, anywhere, of another type or a random one."""
    document = json.loads(seed)
    path = rng.choice(corpus.paths(document))
    current = corpus.get_path(document, path)
    new = corpus.other_type(rng, current) if rng.random() < 0.7 else corpus.json_value(rng)
    return json.dumps(corpus.set_path(document, path, new)).encode()


def _hook_body(rng: random.Random) -> HttpInput:
    hook, seed = rng.choice(corpus.hook_seeds())
    path = hook if rng.random() < 0.85 else rng.choice(corpus.HOOK_PATHS)
    roll = rng.random()
    if roll < 0.75:
        body = corpus.mutated_body(rng, seed)
    elif roll < 0.85:
        body = corpus.special_body(rng, seed)
    else:
        body = _swapped(rng, seed)
    return path, body, rng.random() < 0.05


def _wrong_type(seeds: tuple[bytes, ...]) -> st.SearchStrategy[bytes]:
    """One fixture with one value, anywhere in it, of another type."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        document = json.loads(draw(st.sampled_from(seeds)))
        path = draw(st.sampled_from(corpus.paths(document)))
        return json.dumps(
            corpus.set_path(
                document, path, draw(st.sampled_from((None, True, 0, -1.5, "x", [], {})))
            )
        ).encode()

    return build()


def hooks_strategy() -> st.SearchStrategy[HttpInput]:
    bodies = st.one_of(JSON_VALUES.map(lambda v: json.dumps(v).encode()), st.binary(max_size=300))
    wrong = st.one_of(
        [
            _wrong_type(tuple(b for h, b in corpus.hook_seeds() if h == path)).map(
                lambda body, path=path: (path, body, False)
            )
            for path in corpus.HOOK_PATHS
        ]
    )
    return mostly(
        rngs().map(_hook_body),
        st.one_of(wrong, st.tuples(st.sampled_from(corpus.HOOK_PATHS), bodies, st.booleans())),
        percent_rare=10,
    )


def _fixed_specials(seeds: list[tuple[str, bytes]]) -> Iterator[tuple[str, bytes, bool]]:
    """Bodies every HTTP target gets: the pathological shapes, each once, deterministically."""
    for path, seed in seeds:
        yield path, seed, False
        yield path, seed, True
    path, seed = seeds[0]
    for levels in (999, 1000, 5000, 100_000):
        for opener in (b"[", b'{"a":'):
            yield path, opener * levels, False
            yield path, opener * levels + b"1" + (b"]" if opener == b"[" else b"}") * levels, False
    for index in range(64):
        rng = random.Random(index)
        yield path, corpus.special_body(rng, seed), False
    yield path, b"[" * 100_000, True
    yield path, b'{"a": "' + b"x" * (4 << 20) + b'"}', False  # 4 MiB
    yield path, b"\xff\xfe\xfd", False
    yield path, seed.replace(b'"', b'"\xed\xa0\x80', 1), False  # an encoded surrogate
    yield path, seed.replace(b'": "', b'": "\\ud800', 5), False


def hooks_specials() -> Iterator[HttpInput]:
    seeds = list(corpus.hook_seeds())
    yield from _fixed_specials(seeds)
    for path, seed in seeds:
        for key in (
            "parent",
            "object",
            "related",
            "children",
            "attachments",
            "controller",
            "finalizing",
        ):
            for wrong in (None, 0, "x", [], True, {}):
                document = json.loads(seed)
                document[key] = wrong
                yield path, json.dumps(document).encode(), False


def hooks_target(client: Client) -> Target:
    return Target("hooks", hooks_strategy(), hooks_specials, hooks_check(client), client)


def _decode_patch(patch: object) -> list[Any]:
    if not isinstance(patch, str):
        raise Failure(f"patch is {patch!r}")
    operations = json.loads(base64.b64decode(patch, validate=True))
    if not isinstance(operations, list) or not operations:
        raise Failure(f"patch decodes to {operations!r}")
    for operation in operations:
        if (
            not isinstance(operation, dict)
            or operation.get("op") not in ("add", "replace", "remove")
            or not str(operation.get("path", "")).startswith("/")
        ):
            raise Failure(f"patch operation {operation!r}")
    return operations


def admission_check(client: Client) -> Callable[[HttpInput], Outcome]:
    def check(value: HttpInput) -> Outcome:
        path, body, chunked = value
        status, content_type, data = client.post(path, body, chunked=chunked)
        client_status = _classify(status, content_type, data)
        if client_status is not None:
            return client_status
        answer = _strict_json(data)
        response = answer.get("response") if isinstance(answer, dict) else None
        if (
            not isinstance(response, dict)
            or answer.get("apiVersion") != "admission.k8s.io/v1"
            or answer.get("kind") != "AdmissionReview"
            or response.get("allowed") is not True
        ):
            raise Failure(f"200 with {data[:300]!r}")
        if response.get("uid") != json.loads(body)["request"]["uid"]:
            raise Failure(f"the uid is not echoed: {data[:300]!r}")
        if "patch" in response:
            if response.get("patchType") != "JSONPatch":
                raise Failure(f"patch without patchType: {data[:300]!r}")
            _decode_patch(response["patch"])
        _check_warnings(response.get("warnings"), data)
        return "ok"

    return check


def _check_warnings(warnings: object, data: bytes) -> None:
    """Warnings the API server keeps whole: few, short, no control characters
    (design.md#relocation-settings)."""
    if warnings is None:
        return
    if (not isinstance(warnings, list) or not warnings
            or len(warnings) > MAX_IMAGE_WARNINGS
            or not all(isinstance(w, str) and len(w) <= MAX_WARNING_LENGTH
                       and w.startswith("image-mapper: ")
                       and not any(unicodedata.category(c) in ("Cc", "Cs") for c in w)
                       for w in warnings)):
        raise Failure(f"warnings the API server would cut or drop: {data[:300]!r}")


def _admission_body(rng: random.Random) -> HttpInput:
    seed = rng.choice(corpus.admission_seeds())
    roll = rng.random()
    if roll < 0.8:
        body = corpus.mutated_body(rng, seed)
    elif roll < 0.9:
        body = corpus.special_body(rng, seed)
    else:
        body = _swapped(rng, seed)
    return "/mutate", body, rng.random() < 0.05


def admission_strategy() -> st.SearchStrategy[HttpInput]:
    bodies = st.one_of(JSON_VALUES.map(lambda v: json.dumps(v).encode()), st.binary(max_size=300))
    wrong = _wrong_type(corpus.admission_seeds()).map(lambda body: ("/mutate", body, False))
    return mostly(
        rngs().map(_admission_body),
        st.one_of(wrong, st.tuples(st.just("/mutate"), bodies, st.booleans())),
        percent_rare=10,
    )


def admission_specials() -> Iterator[HttpInput]:
    seeds = [("/mutate", seed) for seed in corpus.admission_seeds()]
    yield from _fixed_specials(seeds)
    for _, seed in seeds:
        for where in (
            "request",
            "object",
            "oldObject",
            "spec",
            "containers",
            "metadata",
            "annotations",
            "uid",
            "kind",
            "resource",
            "operation",
            "namespace",
        ):
            for wrong in (None, 0, "x", [], True, {}):
                document = json.loads(seed)
                for found in corpus.paths(document):
                    if found and found[-1] == where:
                        try:
                            corpus.set_path(document, found, json.loads(json.dumps(wrong)))
                        except (KeyError, IndexError, TypeError):
                            continue  # under a value already replaced
                yield "/mutate", json.dumps(document).encode(), False


def admission_target(client: Client) -> Target:
    return Target(
        "admission", admission_strategy(), admission_specials, admission_check(client), client
    )


IN_PROCESS: dict[str, Callable[[], Target]] = {
    "reference": reference_target,
    "decide": decide_target,
    "lookup": lookup_target,
}
OVER_HTTP: dict[str, Callable[[Client], Target]] = {
    "hooks": hooks_target,
    "admission": admission_target,
}
