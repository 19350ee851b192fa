"""The README leads and the docs/ pages hold together: the three quick starts on the first
screen, the first two commands `make demo` and `make test`, links that land, every file an
example names shipped, and user pages that speak to users."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.commands import PAGES, ROOT, commands

README = ROOT / "README.md"
USER_PAGES = ["README.md", "mapping.md", "cli.md", "install.md", "admission.md",
              "configuration.md", "operations.md", "metrics.md"]
"""Pages for users of the product; development.md, architecture.md and benchmarks.md speak to
those who work on it and may name the tests."""
FIRST_SCREEN = 60


def test_the_readme_is_short_and_its_first_two_commands_are_demo_and_test() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250
    first = [c.line.split("#")[0].strip() for c in commands(README)][:2]
    assert first == ["make demo", "make test"]
    screen = "\n".join(lines[:FIRST_SCREEN])
    for quick_start in ("### Try it locally", "### Install on a cluster", "### Use the CLI",
                        "kubectl apply -k", "helm install", "pip install"):
        assert quick_start in screen, quick_start


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    inside = False
    found = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside
        elif not inside and line.startswith("#"):
            found.add(anchor(line.lstrip("#")))
        elif not inside:
            found.update(re.findall(r'<a (?:id|name)="([^"]+)"', line))  # explicit anchors
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_lands(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        path_text, _, fragment = target.partition("#")
        path = (page.parent / path_text).resolve() if path_text else page
        assert path.exists(), f"{page.name}: {target}"
        if fragment and path.suffix == ".md":
            assert fragment in anchors(path), f"{page.name}: {target}"


def named_files(page: Path) -> set[str]:
    """examples/... and samples/... paths a page names."""
    return set(re.findall(r"(?<![\w/.-])(?:examples|samples)/[\w./-]*[\w/]", page.read_text(
        encoding="utf-8")))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_example_file_a_page_names_is_shipped(page: Path) -> None:
    for name in named_files(page):
        assert (ROOT / name).exists(), f"{page.name} names {name}, which is not shipped"


def test_every_shipped_example_is_used_by_a_page() -> None:
    named = set().union(*map(named_files, PAGES))
    for path in sorted((ROOT / "examples").rglob("*")):
        if path.is_file():
            relative = path.relative_to(ROOT).as_posix()
            assert any(relative == n or relative.startswith(n.rstrip("/") + "/")
                       or (relative.endswith(".response.json")
                           and relative.replace(".response.json", ".request.json") in named)
                       for n in named), f"{relative} is used by no page"


@pytest.mark.parametrize("name", USER_PAGES)
def test_user_pages_speak_to_users(name: str) -> None:
    page = README if name == "README.md" else ROOT / "docs" / name
    text = page.read_text(encoding="utf-8")
    for wording in ("tests/", "the seed", "seed's", "hooks/image_mapper", "hooks/engine",
                    "OWNER"):
        assert wording not in text, f"{name}: {wording!r}"
