"""The image, built once per session by `scripts/image.sh` (what `make image` runs).

The script rebuilds only when the Dockerfile, requirements.txt, pyproject.toml, README.md,
hooks/ or the base change, so a warm session costs a second. A machine that cannot build the
image fails these tests, with the script's output; IMAGE_MAPPER_NO_IMAGE_CHECK=1 leaves them out
knowingly.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .podman import OPT_OUT, build_image


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.image)
            if os.environ.get(OPT_OUT) == "1":
                item.add_marker(
                    pytest.mark.skip(reason=f"{OPT_OUT}=1: the image check was turned off")
                )


@pytest.fixture(scope="session")
def image() -> str:
    """The image's name, built (or found up to date) by scripts/image.sh."""
    return build_image()
