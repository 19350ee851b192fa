"""The repository stands on its own: it names no folder outside it, cites no document it does
not ship, and every section of docs/design.md it cites (`design.md#` and an anchor) exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "design.md"

OUTSIDE = re.compile(r"\.\./shared|S[P]EC")
"""A sibling folder of the checkout, or the outside document the design was first written in."""

CITED = re.compile(r"design\.md((?:#[a-z0-9-]+)(?:, #[a-z0-9-]+)*)")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    paths = [ROOT / name for name in listed.stdout.decode().split("\0") if name]
    found = []
    for path in paths:
        if path.is_symlink() or not path.is_file() or "third_party" in path.parts:
            continue
        try:
            found.append((path, path.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            continue
    return [path for path, _ in found]


def test_nothing_refers_outside_the_repository() -> None:
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in tracked_text_files()
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if OUTSIDE.search(line)]
    assert not found, "\n".join(found)


def anchors() -> set[str]:
    """The anchors of docs/design.md: `<a id="...">` and GitHub's slugs of its headings."""
    text = DESIGN.read_text(encoding="utf-8")
    found = set(re.findall(r'<a id="([a-z0-9-]+)">', text))
    for heading in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_every_cited_design_section_exists() -> None:
    known = anchors()
    missing = []
    for path in tracked_text_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for cited in CITED.findall(line):
                missing += [f"{path.relative_to(ROOT)}:{number}: #{anchor}"
                            for anchor in re.findall(r"#([a-z0-9-]+)", cited)
                            if anchor not in known]
    assert not missing, "\n".join(missing)


def test_metacontroller_is_vendored_with_its_license_and_checksum() -> None:
    vendored = ROOT / "third_party" / "metacontroller"
    (archive,) = vendored.glob("metacontroller-*.tar.gz")
    assert "Apache License" in (vendored / "LICENSE").read_text(encoding="utf-8")
    sums = (vendored / "SHA256SUMS").read_text(encoding="utf-8").split()
    assert sums[1] == archive.name
    checked = subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=vendored,
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
