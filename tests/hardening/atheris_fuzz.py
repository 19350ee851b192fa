"""Coverage-guided fuzzing with atheris (libFuzzer), in process; optional, outside the suite.

atheris is not a project dependency. To run it, put it in a throwaway virtual environment of
the same Python and point that at the project:

    python3.11 -m venv /tmp/atheris-venv && /tmp/atheris-venv/bin/pip install atheris
    PYTHONPATH=.:.venv/lib/python3.11/site-packages \\
        /tmp/atheris-venv/bin/python -m tests.hardening.atheris_fuzz TARGET -runs=100000

TARGET is `reference` (`parse_normalized` and friends on the input decoded as text),
`admission` (the webhook's `POST /mutate` endpoint on the input as a body) or `hooks` (the
four hook views on the input as a body, the path chosen by the first byte). The seed corpus
is the golden fixtures, written to a temporary folder; libFuzzer's own options follow TARGET.
A crash (an exception that the edge does not turn into a 400) stops the run with the input.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from image_mapper.cli.documents import load_imagemaps
    from image_mapper.controller.app import create_app as create_hooks_app
    from image_mapper.engine import reference
    from image_mapper.engine.acceptance import decide
    from image_mapper.engine.imagemap import read_imagemaps
    from image_mapper.webhook.app import create_app as create_webhook_app
    from image_mapper.webhook.view import StaticView

from .corpus import ADMISSION_FIXTURES, HOOK_PATHS, admission_seeds, hook_seeds, image_seeds


def reference_target() -> tuple[Callable[[bytes], None], list[bytes]]:
    parsers = (
        reference.parse_normalized,
        reference.parse,
        reference.parse_docker_ref,
        reference.parse_any,
        reference.parse_repository,
        reference.parse_prefix,
    )

    def one(data: bytes) -> None:
        text = atheris.FuzzedDataProvider(data).ConsumeUnicode(len(data))
        for parser in parsers:
            with contextlib.suppress(reference.ReferenceError):
                parser(text)

    return one, [image.encode("utf-8", "surrogatepass") for image in image_seeds()]


def admission_target() -> tuple[Callable[[bytes], None], list[bytes]]:
    mapping = decide(read_imagemaps(
        load_imagemaps([str(ADMISSION_FIXTURES / "imagemaps.yaml")]))).mapping
    client = create_webhook_app(view=StaticView(mapping)).test_client()

    def one(data: bytes) -> None:
        answer = client.post("/mutate", data=data, content_type="application/json")
        if answer.status_code not in (200, 400, 413):
            raise AssertionError(f"HTTP {answer.status_code}: {answer.data[:300]!r}")

    return one, list(admission_seeds())


def hooks_target() -> tuple[Callable[[bytes], None], list[bytes]]:
    client = create_hooks_app().test_client()

    def one(data: bytes) -> None:
        if not data:
            return
        path = HOOK_PATHS[data[0] % len(HOOK_PATHS)]
        answer = client.post(path, data=data[1:], content_type="application/json")
        if answer.status_code not in (200, 400, 413):
            raise AssertionError(f"{path}: HTTP {answer.status_code}: {answer.data[:300]!r}")

    return one, [bytes([HOOK_PATHS.index(path)]) + body for path, body in hook_seeds()]


TARGETS = {"reference": reference_target, "admission": admission_target, "hooks": hooks_target}


def main() -> None:
    name, libfuzzer_args = sys.argv[1], sys.argv[2:]
    one, seeds = TARGETS[name]()
    logging.disable(logging.WARNING)  # every bad hook body is logged; not needed here
    corpus = Path(tempfile.mkdtemp(prefix=f"atheris-{name}-"))
    for index, seed in enumerate(seeds):
        (corpus / f"seed-{index}").write_bytes(seed)
    atheris.Setup([sys.argv[0], *libfuzzer_args, str(corpus)], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
