"""`pip install .` gives a working CLI: the package declares what it imports, in ranges that the
pinned sets (requirements.txt: the image and the tests) fall in."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {canonicalize_name(r.name): r for r in map(Requirement, project["dependencies"])}


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
