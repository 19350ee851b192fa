"""What every test gets: the process's logging as it was before the test.

`image-mapper serve-*` configures logging for the process (`image_mapper.serving.logs.configure`).
A test that runs a command in-process would otherwise leave a handler writing to its captured
stderr, closed once the test ends, and threads of later tests would fail to log there."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from image_mapper.serving.logs import LIBRARIES


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    libraries = {name: logging.getLogger(name).level for name in LIBRARIES}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in libraries.items():
        logging.getLogger(name).setLevel(old)
