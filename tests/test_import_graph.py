"""The package's import graph has no cycles, and the build runs one way (issue 17).

Read from the source with :mod:`ast`, not by importing. An edge is an ``import`` of a
``sagacore`` module, at a module's top level or inside a function (a deferred import
still ties the two modules together: it only hides the loop until the function runs).
``importlib.import_module`` of a literal name counts as an import (registries that
name ``"module:Class"`` strings are looked up by the registry, not here). Imports under
``if TYPE_CHECKING:`` are left out: they never run, which is how a module
names a type of a module that imports it. Each edge records where it is written
(``line``), whether it is ``deferred`` (inside a function) and whether that function
warns ``DeprecationWarning`` (a ``deprecated`` redirect of a moved name to its new home).
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


def _warns_deprecation(fn: ast.AST) -> bool:
    return any(isinstance(n, ast.Name | ast.Attribute) and ast.unparse(n).endswith(
        "DeprecationWarning") for n in ast.walk(fn))


def _is_import_module(node: ast.AST) -> bool:
    """``importlib.import_module("sagacore.x")`` with a literal name: an import too."""
    return (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("import_module")
            and bool(node.args) and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str))


def import_graph(*, deferred: bool = True) -> nx.DiGraph:
    """Module -> the sagacore modules it imports (only at its top level unless
    ``deferred``), each edge with ``line``, ``deferred`` and ``deprecated``."""
    mods = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    g: nx.DiGraph = nx.DiGraph()
    for mod, path in mods.items():
        g.add_node(mod, path=path.relative_to(ROOT))
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        # (statement, the function it is in: None at the top level)
        stack: list[tuple[ast.AST, ast.AST | None]] = [
            (n, None) for n in ast.parse(path.read_text()).body
        ]
        while stack:
            node, fn = stack.pop()
            if isinstance(node, ast.If) and _is_type_checking(node):
                stack.extend((n, fn) for n in node.orelse)
                continue
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                if deferred:
                    stack.extend((n, node) for n in ast.iter_child_nodes(node))
                continue
            names: list[str] = []
            if _is_import_module(node):
                assert isinstance(node, ast.Call)
                names = [node.args[0].value]  # type: ignore[attr-defined]
            elif not isinstance(node, ast.Import | ast.ImportFrom):
                stack.extend((n, fn) for n in ast.iter_child_nodes(node))
                continue
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*up, base] if base else up)
                names = [base, *(f"{base}.{a.name}" for a in node.names)]
            for name in names:
                target = resolve(name) if name.startswith("sagacore") else None
                if target is not None and target != mod and not g.has_edge(mod, target):
                    g.add_edge(mod, target, line=node.lineno, deferred=fn is not None,
                               deprecated=fn is not None and _warns_deprecation(fn))
    return g


def _describe(g: nx.DiGraph, cycle: list[tuple[str, str]]) -> str:
    return "import cycle:\n" + "\n".join(
        f"  {a} -> {b}  ({g.nodes[a]['path']}:{g.edges[a, b]['line']}"
        f"{', inside a function' if g.edges[a, b]['deferred'] else ''})"
        for a, b in cycle
    )


def _cycles(g: nx.DiGraph) -> list[str]:
    out = []
    for comp in nx.strongly_connected_components(g):
        if len(comp) > 1:
            out.append(_describe(g, nx.find_cycle(g.subgraph(comp))))
    return out


def test_no_module_imports_itself_back() -> None:
    """No loop of imports between modules, counting imports inside functions."""
    cycles = _cycles(import_graph())
    assert not cycles, "\n".join(cycles)


def test_no_package_imports_itself_back() -> None:
    """Nor between the package's parts (``sagacore.workload``, ``sagacore.cache``, ...,
    each top-level module its own part): a lower layer never imports a higher one. The
    one exception is a deprecated redirect (an import inside a function that warns
    ``DeprecationWarning``): it points a moved name to its new home and goes with it."""
    g = import_graph()
    part = {m: ".".join(m.split(".")[:2]) for m in g}
    pg: nx.DiGraph = nx.DiGraph()
    pg.add_nodes_from(set(part.values()), path="(package)")
    for a, b, data in g.edges(data=True):
        if part[a] != part[b] and not data["deprecated"] and not pg.has_edge(part[a], part[b]):
            pg.add_edge(part[a], part[b], **data)
            pg.nodes[part[a]]["path"] = g.nodes[a]["path"]
    cycles = _cycles(pg)
    assert not cycles, "\n".join(cycles)


def test_a_cycle_is_reported_with_where_it_is_written(tmp_path: Path) -> None:
    g: nx.DiGraph = nx.DiGraph()
    g.add_node("a", path="a.py")
    g.add_node("b", path="b.py")
    g.add_edge("a", "b", line=3, deferred=False, deprecated=False)
    g.add_edge("b", "a", line=9, deferred=True, deprecated=False)
    (msg,) = _cycles(g)
    assert "a -> b  (a.py:3)" in msg and "b -> a  (b.py:9, inside a function)" in msg


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
    g = import_graph(deferred=False)
    assert len(g) > 100
    assert g.has_edge("sagacore.sim.cluster", "sagacore.sim.worker")  # top level
    assert g.has_edge("sagacore.sim.cluster", "sagacore.build")  # from ... import Name
    # sim/worker.py names TaskState under TYPE_CHECKING only: no edge back
    assert not g.has_edge("sagacore.sim.worker", "sagacore.sim.cluster")
    # an import inside a function runs late: an edge only of the whole graph
    # (sim.simulate imports the cluster), marked deferred
    assert not g.has_edge("sagacore.sim", "sagacore.sim.cluster")
    full = import_graph()
    assert full.edges["sagacore.sim", "sagacore.sim.cluster"]["deferred"]
    assert not full.edges["sagacore.sim.cluster", "sagacore.sim.worker"]["deferred"]
    # the predictor's deprecated SAGA-TTL names redirect to the policy module, and the
    # old path of the proof models to sagacore.theory (an importlib call)
    assert full.edges["sagacore.sched.models", "sagacore.theory.models"]["deprecated"]
    assert full.edges["sagacore.workload.predictor", "sagacore.cache.saga_ttl"]["deprecated"]


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
