"""The image, built once per session by `scripts/image.sh` (what `make image` runs).

The script rebuilds only when the Dockerfile, requirements.txt, pyproject.toml, README.md,
hooks/ or the base change, so a warm session costs a second. A machine that cannot build the
image fails these tests, with the script's output; IMAGE_MAPPER_NO_IMAGE_CHECK=1 leaves them out
knowingly.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("IMAGE_MAPPER_IMAGE", "image-mapper:dev")
OPT_OUT = "IMAGE_MAPPER_NO_IMAGE_CHECK"


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
    result = subprocess.run(
        [str(ROOT / "scripts" / "image.sh")],
        env={**os.environ, "IMAGE_MAPPER_IMAGE": IMAGE},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"scripts/image.sh could not build {IMAGE} (exit {result.returncode}); the image "
            f"tests need root, apt-get and Debian's buildah and podman. Set {OPT_OUT}=1 to leave "
            f"them out knowingly.\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}",
            pytrace=False,
        )
    return IMAGE
