"""The import rule of the layout (docs/architecture.md, "The code"), read from the source of
every module.

    cli  ─┬─> controller ─┬─> serving
          └─> webhook ────┤
                          └─> engine

- the engine imports nothing from the other parts, and keeps no state between calls;
- `serving` (what both servers share over HTTP) imports nothing from the parts that use it;
- the controller and the webhook never import each other;
- only the CLI knows argparse, and only the CLI (and `python -m image_mapper`) imports the CLI;
- no two modules import each other, directly or through others (at run time or for type
  checking alike): each module can be read knowing only the modules below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HOOKS = Path(__file__).resolve().parents[1] / "hooks" / "image_mapper"
PARTS = ("engine", "serving", "controller", "webhook", "cli")

ALLOWED: dict[str, set[str]] = {
    "engine": {"engine"},
    "serving": {"serving"},
    "controller": {"controller", "engine", "serving"},
    "webhook": {"webhook", "engine", "serving"},
    "cli": set(PARTS),
}
"""The parts each part may import (at run time or for type checking alike)."""

STATEFUL = {"OrderedDict", "Counter", "defaultdict", "deque", "Lock", "RLock", "Event",
            "Condition", "Semaphore"}
"""Calls whose result, kept at module level, is state shared by every caller."""


def modules() -> list[Path]:
    return sorted(HOOKS.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(HOOKS.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part_of(module: str) -> str | None:
    """`engine` for `image_mapper.engine.mapping`; None for `image_mapper` itself and
    `image_mapper.__main__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in PARTS else None


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, relative ones resolved."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path)[
        : module_name(path).rfind(".")]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # `from image_mapper import engine` imports the part `image_mapper.engine`.
            if module == "image_mapper":
                found += [(node.lineno, f"image_mapper.{alias.name}") for alias in node.names]
    return found


def violations() -> list[str]:
    found = []
    for path in modules():
        name = module_name(path)
        part = part_of(name)
        where = path.relative_to(HOOKS.parent)
        for line, imported in imports(path):
            if imported == "argparse" and part != "cli":
                found.append(f"{where}:{line}: imports argparse; only the CLI knows it")
            if not imported.startswith("image_mapper."):
                continue
            target = part_of(imported)
            if target is None:
                continue
            allowed = ALLOWED[part] if part is not None else {"cli"}
            if target not in allowed:
                found.append(f"{where}:{line}: {part or name} imports {imported}")
    return found


def module_graph() -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (a name imported from a package counts
    as the package's module of that name, when there is one)."""
    known = {module_name(path) for path in modules()}
    graph: dict[str, set[str]] = {}
    for path in modules():
        name = module_name(path)
        edges = graph.setdefault(name, set())
        for _, imported in imports(path):
            # `from image_mapper.engine.imagemap import GROUP` imports the module itself.
            while imported and imported not in known:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                edges.add(imported)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of `graph`: its strongly connected components of more than one
    module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycles_finds_a_circle_through_three_modules() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_module_imports_itself_through_others() -> None:
    graph = module_graph()
    assert "image_mapper.engine.acceptance" in graph
    found = cycles(graph)
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_modules_import_only_what_their_part_may() -> None:
    assert modules(), f"no modules under {HOOKS}"
    found = violations()
    assert not found, "\n".join(found)


@pytest.mark.parametrize("path", [p for p in modules() if part_of(module_name(p)) == "engine"],
                         ids=lambda p: p.name)
def test_the_engine_keeps_no_module_level_state(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Global)], "a `global` statement"
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if isinstance(value, ast.Call):
            func = value.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            assert called not in STATEFUL, f"line {node.lineno}: module-level {called}()"
