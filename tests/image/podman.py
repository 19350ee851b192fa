"""The image, built by `scripts/image.sh`, and run with podman as the Deployments run it.

Shared by tests/image (each command alone) and tests/e2e/image (the whole product with the
hooks and the webhook as containers).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("IMAGE_MAPPER_IMAGE", "image-mapper:dev")
OPT_OUT = "IMAGE_MAPPER_NO_IMAGE_CHECK"
UID = 65532
TLS_DIR = "/run/image-mapper/tls"
"""Where the webhook Deployment mounts its certificate."""
PODMAN = ["podman", "--runtime", "runc"]
"""crun fails in this sandbox; runc works (with the rlimits below)."""


def build_image() -> str:
    """The image's name, built (or found up to date) by scripts/image.sh; fails the test,
    with the script's output, where it cannot be built."""
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


def run_argv(
    image: str,
    name: str,
    args: Iterable[str],
    *,
    tmp: Path,
    volumes: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """`podman run` of the image's ENTRYPOINT with `args`, in the foreground, as the
    Deployments run it: uid/gid 65532, read-only root, no capabilities, no new privileges, and
    `tmp` (mode 1777) as /tmp, their emptyDir, with no other tmpfs. The host's network: the
    tests talk to 127.0.0.1. The explicit rlimits: this sandbox refuses the defaults."""
    tmp.mkdir(parents=True, exist_ok=True)
    tmp.chmod(0o1777)
    return [
        *PODMAN,
        "run",
        "--rm",
        "--name",
        name,
        "--user",
        f"{UID}:{UID}",
        "--read-only",
        "--read-only-tmpfs=false",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--network",
        "host",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1000:1000",
        "--volume",
        f"{tmp}:/tmp",
        *(option for volume in volumes for option in ("--volume", volume)),
        *(option for k, v in (env or {}).items() for option in ("--env", f"{k}={v}")),
        image,
        *args,
    ]


def remove(name: str) -> None:
    """The container gone, whatever its state."""
    subprocess.run([*PODMAN, "rm", "--force", name], capture_output=True, check=False)
