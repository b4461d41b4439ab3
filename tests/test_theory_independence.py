"""Reference independence as a checked property.

The models and references of :mod:`sagacore.theory` are what the checkers measure the
policies against; if they imported the code they check, a bug there would move the
reference with it and no checker could see it. Two checks: no module of the package
names a forbidden package in any import statement (at module level or inside a
function), and importing every module in a fresh interpreter loads none of them
(transitively, through any intermediate module).
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import sagacore.theory

FORBIDDEN = ("sagacore.sched", "sagacore.cache", "sagacore.route", "sagacore.sim",
             "sagacore.stacks", "sagacore.policy")
"""The code the references check: the policies, the mechanism that runs them, and the
interfaces they implement."""

THEORY = Path(sagacore.theory.__file__).resolve().parent
MODULES = sorted(f"sagacore.theory.{m.name}" for m in pkgutil.iter_modules([str(THEORY)]))


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def _imports(path: Path) -> list[str]:
    """Every module named by an import statement of ``path``, relative ones resolved."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = "sagacore.theory".rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            names.append(base)
            names += [f"{base}.{a.name}" for a in node.names]
    return names


def test_the_package_has_the_reference_modules() -> None:
    assert {"sagacore.theory.models", "sagacore.theory.fluid", "sagacore.theory.reference",
            "sagacore.theory.theorems", "sagacore.theory.symbolic",
            "sagacore.theory.afs_rule"} <= set(MODULES)


@pytest.mark.parametrize("path", sorted(THEORY.glob("*.py")), ids=lambda p: p.name)
def test_no_import_statement_names_the_checked_code(path: Path) -> None:
    bad = [n for n in _imports(path) if _forbidden(n)]
    assert bad == [], f"{path.name} imports {bad}"


def test_importing_theory_loads_none_of_the_checked_code() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for m in {MODULES!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('sagacore'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    loaded = json.loads(out.stdout)
    assert "sagacore.theory.models" in loaded
    assert [m for m in loaded if _forbidden(m)] == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The AST check is not vacuous: an import of a policy, even inside a function and
    relative, is found."""
    f = tmp_path / "x.py"
    f.write_text("def f():\n    from ..sched import afs\n    import sagacore.route.saga\n")
    assert [n for n in _imports(f) if _forbidden(n)] == [
        "sagacore.sched", "sagacore.sched.afs", "sagacore.route.saga"]


@pytest.mark.parametrize(("old", "new", "name"), [
    ("sagacore.sched.models", "sagacore.theory.models", "serve_agents"),
    ("sagacore.testing.theorems", "sagacore.theory.theorems", "Theorem"),
])
def test_old_paths_still_import_with_a_deprecation_warning(old: str, new: str,
                                                           name: str) -> None:
    code = (
        "import importlib, warnings\n"
        f"old = importlib.import_module({old!r})  # importing alone does not warn\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        f"    moved = getattr(old, {name!r})\n"
        f"assert moved is getattr(importlib.import_module({new!r}), {name!r})\n"
        "print([str(x.message) for x in w if x.category is DeprecationWarning])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert f"{old} moved to {new}" in out.stdout
