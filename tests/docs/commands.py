"""The shell commands of the README and the docs/ pages, as a reader would copy them.

`commands(page)` returns every command of the page's ```sh blocks (continuation lines joined)
and every `$ command` of its ```console blocks with the output the page shows under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Command:
    page: str
    line: str
    shows: tuple[str, ...] | None
    """The output a console block shows under it; None for a ```sh block."""
    status: int | None = None
    """The exit status a console block shows for it (`$ echo $?` after it)."""


def commands(page: Path) -> list[Command]:
    found: list[Command] = []
    fence: str | None = None
    pending = ""
    for raw in page.read_text(encoding="utf-8").splitlines():
        if raw.startswith("```"):
            fence = raw.strip()[3:] if fence is None else None
            pending = ""
            continue
        if fence == "sh":
            line = raw.split(" # ")[0].rstrip() if not raw.startswith("#") else ""
            if not line.strip():
                continue
            if line.endswith("\\"):
                pending += line[:-1]
                continue
            found.append(Command(page.name, pending + line, None))
            pending = ""
        elif fence == "console":
            last = found[-1] if found and found[-1].page == page.name else None
            if raw == "$ echo $?":
                found.append(Command(page.name, "echo $?", ()))
            elif raw.startswith("$ "):
                found.append(Command(page.name, raw[2:], ()))
            elif last is not None and last.line == "echo $?":
                found.pop()
                before = found[-1]
                found[-1] = Command(before.page, before.line, before.shows, int(raw))
            elif last is not None and last.shows is not None:
                found[-1] = Command(last.page, last.line, (*last.shows, raw))
    return found


def all_commands() -> list[Command]:
    return [command for page in PAGES for command in commands(page)]
