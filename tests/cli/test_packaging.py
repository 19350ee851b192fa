"""`pip install .` gives a working CLI: the package declares what it imports, in ranges that the
pinned sets (requirements.txt: the image and the tests) fall in. The offline commands need only
the light dependencies; the servers need the `server` extra, and say so when it is missing."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import distribution, packages_distributions
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def project() -> dict[str, Any]:
    document: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(
        encoding="utf-8"))["project"]
    return document


def declared() -> dict[str, Requirement]:
    """The dependencies and the server extra's."""
    listed = project()["dependencies"] + project()["optional-dependencies"]["server"]
    return {canonicalize_name(r.name): r for r in map(Requirement, listed)}


def light() -> list[str]:
    return [Requirement(r).name for r in project()["dependencies"]]


def closure(names: list[str]) -> set[str]:
    """These installed distributions and every one they require (no extras), by name."""
    found: set[str] = set()
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        found.add(name)
        for text in distribution(name).requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return found


def imported_modules() -> set[str]:
    """Top-level modules the product imports that are neither its own nor the standard
    library's."""
    found = set()
    for path in (ROOT / "hooks" / "image_mapper").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    # _typeshed: the type checker's stubs, imported only under TYPE_CHECKING.
    return {m for m in found
            if m not in ("image_mapper", "_typeshed") and m not in sys.stdlib_module_names}


def test_every_imported_package_is_a_declared_dependency() -> None:
    distributions = packages_distributions()
    dependencies = declared()
    missing = {module for module in imported_modules()
               if not any(canonicalize_name(d) in dependencies
                          for d in distributions.get(module, []))}
    assert not missing, f"imported but not in [project] dependencies: {sorted(missing)}"


def test_the_pinned_versions_fall_in_the_declared_ranges() -> None:
    pinned = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if match:
            pinned[canonicalize_name(match[1])] = match[2]
    for name, requirement in declared().items():
        assert name in pinned, f"{name} is declared but not pinned in requirements.txt"
        assert requirement.specifier.contains(pinned[name]), (requirement, pinned[name])


def test_the_virtual_environment_needs_no_go(tmp_path: Path) -> None:
    """`make venv`, `make unit` and `make lint` need Python only; the control plane needs Go."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)  # a Python, and no Go on this PATH
    environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    script = str(ROOT / "scripts" / "prerequisites.sh")
    python_only = subprocess.run(["bash", script, "python"], env=environment,
                                 capture_output=True, text=True, timeout=120, check=False)
    assert python_only.returncode == 0, python_only.stderr
    if shutil.which("go", path=environment["PATH"]) is None:
        everything = subprocess.run(["bash", script], env=environment, capture_output=True,
                                    text=True, timeout=120, check=False)
        assert everything.returncode == 1
        assert "Go 1.24 or newer is needed to build the control plane" in everything.stderr


HOOKS = ROOT / "hooks"
SERVERS = ("serve_hooks", "serve_webhook")
"""Their module-level imports count for every command; what they import when run does not."""


def _imports(tree: ast.Module, whole: bool) -> list[tuple[str, list[str]]]:
    """(module, names) imported; `whole`: anywhere, else only at module level (outside
    `if TYPE_CHECKING:`)."""
    nodes: list[ast.AST] = list(ast.walk(tree)) if whole else [
        n for n in tree.body if not (isinstance(n, ast.If) and "TYPE_CHECKING" in ast.dump(n.test))]
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def offline_imports() -> set[str]:
    """Top-level third-party modules the commands other than the servers can import, lazily
    or not: everything reachable from the CLI's modules."""
    todo = sorted((HOOKS / "image_mapper" / "cli").glob("*.py"))
    seen: set[Path] = set()
    found: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for module, names in _imports(tree, whole=path.stem not in SERVERS):
            if module.split(".")[0] != "image_mapper":
                found.add(module.split(".")[0])
                continue
            base = HOOKS.joinpath(*module.split("."))
            candidates = [base.with_suffix(".py"), base / "__init__.py",
                          *(base / f"{name}.py" for name in names)]
            todo += [c for c in candidates if c.is_file()]
    return {m for m in found if m not in sys.stdlib_module_names and m != "_typeshed"}


def test_the_offline_commands_import_only_the_light_dependencies() -> None:
    """Read from the source, lazy imports included: a command that needs a package of the
    server extra (or an undeclared one) would fail where only `pip install image-mapper` ran."""
    distributions = packages_distributions()
    allowed = closure(light())
    outside = {module for module in offline_imports()
               if not any(canonicalize_name(d) in allowed
                          for d in distributions.get(module, []))}
    assert not outside, f"the offline commands import {sorted(outside)}, which the light " \
        "install lacks: add them to [project] dependencies"


SAMPLE = ROOT / "samples" / "bootcamp-imagemap.yaml"
FIXTURES = ROOT / "tests" / "fixtures"


def test_the_light_install_runs_every_offline_command_and_the_servers_name_the_extra(
        tmp_path: Path) -> None:
    """The package with only its declared dependencies (and theirs, as installed here) on the
    path, no site-packages: what `pip install image-mapper` gives."""
    site = tmp_path / "site"
    site.mkdir()
    for name in closure(light()):
        for file in distribution(name).files or []:
            top = file.parts[0]
            source = Path(str(file.locate())).parents[len(file.parts) - 1] / top
            if not (site / top).exists() and not top.endswith(".pth"):
                (site / top).symlink_to(source)
    environment = {"PATH": os.environ["PATH"], "PYTHONPATH": f"{site}:{ROOT / 'hooks'}"}

    def run(*args: str, stdin: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-S", "-m", "image_mapper", *args],
                              input=stdin.read_text() if stdin else None, env=environment,
                              capture_output=True, text=True, timeout=60, check=False)

    for absent in ("flask", "waitress", "uvicorn", "kubernetes", "prometheus_client",
                   "cryptography", "msgspec"):
        found = subprocess.run([sys.executable, "-S", "-c", f"import {absent}"],
                               env=environment, capture_output=True, check=False)
        assert found.returncode == 1, f"{absent} is importable: the test sees too much"
    admission = FIXTURES / "admission"
    for args, stdin in [
        (("map", "-f", str(SAMPLE), "nginx"), None),
        (("preview", "-f", str(SAMPLE), str(SAMPLE)), None),
        (("validate", "-f", str(SAMPLE)), None),
        (("review", "-f", str(admission / "imagemaps.yaml")),
         admission / "create-all-container-lists.request.json"),
        (("hook", "/namespace/sync"),
         FIXTURES / "hooks" / "namespace-sync" / "view-behind-record.request.json"),
    ]:
        done = run(*args, stdin=stdin)
        assert done.returncode == 0, (args, done.stderr)
    # Every command that is not a server, whatever commands are added: its help at least.
    from image_mapper.cli.main import COMMANDS
    for name in COMMANDS:
        done = run(name, "--help")
        assert done.returncode == 0, (name, done.stderr)
    for server in ("serve-hooks", "serve-webhook"):
        done = run(server)
        assert done.returncode == 1
        assert done.stderr.startswith(f"image-mapper {server}: error: {server} needs the server "
                                      "dependencies")
        assert done.stderr.endswith("install them with pip install 'image-mapper[server]'\n")
