"""The shell blocks of the README and docs/ pages, as a reader would copy them, run against a
control plane.

`blocks(heading, page)` returns the ```sh blocks of the section under that heading as commands; a
comment line right after a command is the output it shows (`# registry.example.com/...`),
any other comment is the reader's. `run(command, cp)` runs one with bash from the repository's
root, as admin of the control plane (KUBECONFIG).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.controlplane.cluster import ControlPlane

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
INSTALL = ROOT / "docs" / "install.md"
OPERATIONS = ROOT / "docs" / "operations.md"


@dataclass(frozen=True)
class Command:
    line: str
    shows: str | None
    """The output the README shows for it, if any."""


def blocks(heading: str, page: Path = README) -> list[list[Command]]:
    """The ```sh blocks of the section `heading` (e.g. `## Verify`) of `page`, up to the next
    heading."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[list[Command]] = []
    block: list[Command] = []
    fence = ""
    inside = False
    for line in lines[lines.index(heading) + 1:]:
        if line.startswith("```"):
            if inside and fence == "```sh":
                found.append(block)
            elif not inside:
                fence, block = line.strip(), []
            inside = not inside
            continue
        if not inside:
            if re.match(r"#{1,3} ", line):  # the next section
                break
            continue
        if not line.strip():
            continue
        if line.startswith("# "):
            if block and block[-1].shows is None:
                block[-1] = Command(block[-1].line, line[2:])
            continue
        block.append(Command(line, None))
    return found


def run(command: Command, cp: ControlPlane, timeout: float = 90) -> str:
    """Run it; its standard output. A failure raises with what it printed."""
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command.line], cwd=ROOT,
                            env=cp.env(), capture_output=True, text=True, timeout=timeout,
                            check=False)
    if result.returncode != 0:
        raise AssertionError(f"{command.line!r} exited {result.returncode}:\n{result.stdout}"
                             f"{result.stderr}")
    return result.stdout
