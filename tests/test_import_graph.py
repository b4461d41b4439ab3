"""The package's import graph has no cycles, and the build runs one way (issue 17).

Read from the source with :mod:`ast`, not by importing: an edge is an ``import`` of a
``sagacore`` module at a module's top level (imports inside functions and under
``if TYPE_CHECKING:`` are left out: they run late or never, which is how a module names a
type of a module that imports it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted((ROOT / "sagacore").rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def import_graph() -> nx.DiGraph:
    """Module -> the sagacore modules it imports at its top level."""
    mods = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    g: nx.DiGraph = nx.DiGraph()
    for mod, path in mods.items():
        g.add_node(mod)
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        stack: list[ast.stmt] = list(ast.parse(path.read_text()).body)
        while stack:
            node = stack.pop()
            if isinstance(node, ast.If):
                stack.extend(node.orelse)
                if not _is_type_checking(node):
                    stack.extend(node.body)
                continue
            if isinstance(node, ast.Try):
                stack.extend([*node.body, *node.orelse, *node.finalbody])
                for h in node.handlers:
                    stack.extend(h.body)
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*up, base] if base else up)
                names = [base, *(f"{base}.{a.name}" for a in node.names)]
            for name in names:
                target = resolve(name) if name.startswith("sagacore") else None
                if target is not None and target != mod:
                    g.add_edge(mod, target)
    return g


def test_no_module_imports_itself_back() -> None:
    cycles = [sorted(c) for c in nx.strongly_connected_components(import_graph()) if len(c) > 1]
    assert cycles == []


def test_the_build_runs_one_way() -> None:
    g = import_graph()
    # policies import the build context, never the stacks that name them
    for mod in g:
        if mod.startswith(("sagacore.sched", "sagacore.route", "sagacore.cache")):
            assert "sagacore.stacks" not in g[mod], mod
    # sagacore.build imports no policy, and the simulation receives built policies
    assert not any(t.startswith(("sagacore.sched", "sagacore.route", "sagacore.cache"))
                   for t in nx.descendants(g, "sagacore.build"))
    assert "sagacore.stacks" not in nx.descendants(g, "sagacore.sim.cluster")


def test_the_graph_reads_imports_as_python_runs_them() -> None:
    g = import_graph()
    assert len(g) > 100
    assert g.has_edge("sagacore.sim.cluster", "sagacore.sim.worker")  # top level
    assert g.has_edge("sagacore.sim.cluster", "sagacore.build")  # from ... import Name
    # sim/worker.py names TaskState under TYPE_CHECKING only: no edge back
    assert not g.has_edge("sagacore.sim.worker", "sagacore.sim.cluster")
    # an import inside a function runs late: no edge (sim.simulate imports the cluster)
    assert not g.has_edge("sagacore.sim", "sagacore.sim.cluster")


def test_the_library_never_reaches_the_command_line() -> None:
    """The front end (``sagacore.cli``) imports the library, never the reverse, not even
    inside a function (``reproduce`` once took its bounds and cache tables from it)."""
    found = []
    for mod, path in _modules().items():
        if mod == "sagacore.__main__" or mod.startswith("sagacore.cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sagacore.cli"):
                found.append((mod, node.module))
            elif isinstance(node, ast.Import):
                found += [(mod, a.name) for a in node.names if a.name.startswith("sagacore.cli")]
    assert found == []
