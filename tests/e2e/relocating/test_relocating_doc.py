"""docs/relocating.md, run as written: each ```sh block in bash, in order, in one scratch
folder beside the repository's examples, against two real registries on loopback (the
images pushed upstream by crane) and the local control plane with Image Mapper installed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.stack import Stack
from tests.registry.registries import Registry, binaries, running

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "relocating.md"
IMAGES = (("team/web", "1.0"), ("team/proxy", "2.1"), ("team/api", "3"))


def sh_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.M | re.S)


def test_the_page_runs_as_written(stack: Stack, tmp_path: Path) -> None:
    upstream_gen = running(tmp_path / "upstream")
    mirror_gen = running(tmp_path / "mirror")
    upstream: Registry = next(upstream_gen)
    mirror: Registry = next(mirror_gen)
    try:
        for repository, tag in IMAGES:
            upstream.push(repository, tag)
        work = tmp_path / "work"
        work.mkdir()
        (work / "examples").symlink_to(ROOT / "examples")
        env = {**stack.cp.env(), "UPSTREAM": upstream.host, "MIRROR": mirror.host,
               "DOCKER_CONFIG": str(tmp_path / "docker"),
               "PATH": os.pathsep.join([str(Path(sys.executable).parent), str(binaries()),
                                        stack.cp.env()["PATH"]])}
        blocks = sh_blocks()
        assert blocks[0].startswith("export UPSTREAM=")  # the reader's; the test sets its own
        outputs = []
        for block in blocks[1:]:
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=work, env=env,
                                  capture_output=True, text=True, timeout=180, check=False)
            assert done.returncode == 0, f"{block}\nexited {done.returncode}:\n{done.stdout}" \
                                         f"{done.stderr}"
            outputs.append(done.stdout)
        images, _, imported, validated, verified, applied = outputs
        assert images.split() == [f"{upstream.host}/{r}:{t}" for r, t in IMAGES]
        assert f"- from: {upstream.host}/team/\n    to: {mirror.host}/mirror/team/\n" in imported
        assert "all would be accepted" in validated
        assert verified.strip() == ("3 relocated references in 1 registry: all exist, with "
                                    "the originals' digests")
        assert applied.strip().splitlines()[-1] == (f"{mirror.host}/mirror/team/web:1.0 "
                                                    f"{mirror.host}/mirror/team/proxy:2.1")
    finally:
        for generator in (upstream_gen, mirror_gen):
            generator.close()
