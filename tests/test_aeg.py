"""Tests of the Agent Execution Graph: realised graphs, inference, invariants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sagacore.data
from sagacore.errors import ConfigError, WorkloadError
from sagacore.workload import read_workload
from sagacore.workload.aeg import (
    END,
    NO_TOOL,
    START,
    AEGConfig,
    AEGInference,
    AgentExecutionGraph,
    infer_aeg,
    state_of,
    task_graph,
    task_transitions,
)
from sagacore.workload.model import Segment, Step, Task, TaskId

# A known chain over tool-type states. Probabilities are far from the 0.7 threshold so that
# sampling noise with 3000 tasks cannot flip a decision.
CHAIN: dict[str, dict[str, float]] = {
    START: {"search": 0.8, "read": 0.2},
    "search": {"search": 0.1, "read": 0.75, "write": 0.15},
    "read": {"read": 0.2, "write": 0.8},
    "write": {"search": 0.5, NO_TOOL: 0.5},
    NO_TOOL: {END: 1.0},
}
KEPT = {(START, "search"), ("search", "read"), ("read", "write"), (NO_TOOL, END)}


def chain_task(
    i: int, chain: Mapping[str, Mapping[str, float]], rng: np.random.Generator, agent: str = "web"
) -> Task:
    """One ReAct task sampled from a Markov chain over tool states."""
    tools: list[str | None] = []
    state = START
    while True:
        nxt = list(chain[state])
        state = nxt[int(rng.choice(len(nxt), p=[chain[state][s] for s in nxt]))]
        if state == END:
            break
        tools.append(None if state == NO_TOOL else state)
        if len(tools) > 500:  # pragma: no cover - the chains used here end quickly
            raise AssertionError("chain does not end")
    return make_task(f"{agent}-{i}", tools, agent=agent)


def make_task(
    name: str,
    tools: Sequence[str | None],
    deps: Sequence[tuple[int, ...]] | None = None,
    agent: str = "web",
) -> Task:
    steps = []
    for k, tool in enumerate(tools):
        steps.append(
            Step(
                index=k,
                prompt=(Segment(k + 1, 10 + k),),
                output_tokens=5,
                output_id=1000 + k,
                tool=tool,
                tool_seconds=0.5 if tool is not None else 0.0,
                deps=deps[k] if deps is not None else ((k - 1,) if k else ()),
            )
        )
    return Task(TaskId(name), tuple(steps), agent_type=agent)


@st.composite
def dag_tasks(draw: st.DrawFn, max_steps: int = 12) -> Task:
    """A task DAG as a node order plus forward edges (shrinks towards short chains)."""
    n = draw(st.integers(1, max_steps))
    tools = draw(st.lists(st.sampled_from([None, "a", "b", "c"]), min_size=n, max_size=n))
    deps = [()] + [
        tuple(sorted(draw(st.sets(st.integers(0, k - 1), max_size=min(3, k))))) for k in range(1, n)
    ]
    return make_task("t", tools, deps)


@pytest.fixture(scope="module")
def trace_tasks() -> tuple[Task, ...]:
    return read_workload(sagacore.data.bundled_trace()).tasks


# -- realised graphs ------------------------------------------------------------------------


def test_realised_graph_equals_task_deps_on_real_trace(trace_tasks: tuple[Task, ...]) -> None:
    for task in trace_tasks[:40]:
        g = task_graph(task)
        assert g.kind == "realised"
        assert set(g.graph.edges) == {(d, s.index) for s in task.steps for d in s.deps}
        assert list(g.nodes) == list(range(task.llm_calls))
        for s in task.steps:
            assert g.phi(s.index) == s.tool
            attrs = g.graph.nodes[s.index]
            assert attrs["prompt_tokens"] == s.prompt_tokens
            assert attrs["output_tokens"] == s.output_tokens
            assert attrs["tool_seconds"] == s.tool_seconds
        assert all(p == 1.0 for _, _, p in g.edges())


@given(dag_tasks())
def test_realised_graph_equals_deps_property(task: Task) -> None:
    g = task_graph(task)
    assert set(g.graph.edges) == {(d, s.index) for s in task.steps for d in s.deps}
    succ = task.successors()
    for s in task.steps:
        assert [u for u, _ in g.successors(s.index)] == list(succ[s.index])
        assert g.out_probability(s.index) == len(succ[s.index])
        assert g.pruned_mass(s.index) == 0.0
    assert nx.is_directed_acyclic_graph(g.graph)


def test_graph_is_frozen_and_copied() -> None:
    src = nx.DiGraph()
    src.add_node("a", phi="a")
    src.add_node("b", phi=None)
    src.add_edge("a", "b", p=0.9)
    g = AgentExecutionGraph(src, kind="inferred")
    src.add_edge("b", "a", p=1.0)
    assert g.transition_probability("b", "a") == 0.0
    with pytest.raises(nx.NetworkXError):
        g.graph.add_edge("b", "a", p=1.0)
    assert g.pruned_mass("a") == 0.0  # given explicitly as a graph: default 0
    h = AgentExecutionGraph.from_edges([("a", "b", 0.9)], {"a": "a", "b": None}, kind="inferred")
    assert h.pruned_mass("a") == pytest.approx(0.1)
    assert h != g and h == AgentExecutionGraph.from_edges(
        [("a", "b", 0.9)], {"a": "a", "b": None}, kind="inferred"
    )
    assert "a" in h and "z" not in h and [] not in h
    assert "nodes=2" in repr(h)


@pytest.mark.parametrize(
    ("edges", "phi", "kind", "match"),
    [
        ([("a", "b", 1.5)], {"a": "a", "b": "b"}, "inferred", "probability must be in"),
        ([("a", "b", 0.0)], {"a": "a", "b": "b"}, "inferred", "probability must be in"),
        (
            [("a", "b", 0.8), ("a", "c", 0.8)],
            {"a": "a", "b": "b", "c": "c"},
            "inferred",
            "exceeds 1",
        ),
        ([(0, 1, 1.0), (1, 0, 1.0)], {0: None, 1: None}, "realised", "acyclic"),
        ([(0, 1, 0.5)], {0: None, 1: None}, "realised", "must be 1"),
        ([(0, 1, 1.0)], {0: None}, "realised", "has no phi"),
    ],
)
def test_invalid_graphs_raise(
    edges: list[tuple[int | str, int | str, float]],
    phi: dict[int | str, str | None],
    kind: str,
    match: str,
) -> None:
    with pytest.raises(WorkloadError, match=match):
        AgentExecutionGraph.from_edges(edges, phi, kind=kind)  # type: ignore[arg-type]


def test_bad_kind_and_unknown_node() -> None:
    with pytest.raises(ConfigError, match="'markov'"):
        AgentExecutionGraph(nx.DiGraph(), kind="markov")  # type: ignore[arg-type]
    g = AgentExecutionGraph.from_edges([], {"a": "a"}, kind="inferred")
    with pytest.raises(WorkloadError, match="no node 'z'"):
        g.phi("z")
    bad = nx.DiGraph()
    bad.add_node("a", phi=3)
    with pytest.raises(WorkloadError, match="phi must be"):
        AgentExecutionGraph(bad, kind="inferred")


# -- transitions and inference ----------------------------------------------------------------


def test_state_of_and_reserved_names() -> None:
    assert state_of(None) == NO_TOOL
    with pytest.raises(WorkloadError, match="reserved"):
        state_of(END)


def test_dag_transitions() -> None:
    #   0(a) -> 1(b) -> 3(-)
    #   0(a) -> 2(c) -> 3
    t = make_task("d", ["a", "b", "c", None], [(), (0,), (0,), (1, 2)])
    assert list(task_transitions(t)) == [
        (START, "a"),
        ("a", "b"),
        ("a", "c"),
        ("b", NO_TOOL),
        ("c", NO_TOOL),
        (NO_TOOL, END),
    ]


def test_inference_recovers_known_chain() -> None:
    rng = np.random.default_rng(7)
    tasks = [chain_task(i, CHAIN, rng) for i in range(3000)]
    inf = AEGInference()
    for t in tasks:
        inf.observe_task(t)
    g = inf.graph("web")
    assert g is not None and g.kind == "inferred"
    assert {(u, v) for u, v, _ in g.edges()} == KEPT
    for u, v, p in g.edges():
        assert p == pytest.approx(CHAIN[str(u)][str(v)], abs=0.03)
    # Pruned mass is what the dropped edges carried.
    assert g.pruned_mass("search") == pytest.approx(0.25, abs=0.03)
    assert g.pruned_mass("write") == pytest.approx(1.0)
    assert g.pruned_mass(NO_TOOL) == 0.0 and g.pruned_mass(END) == 0.0
    assert g.phi("search") == "search" and g.phi(NO_TOOL) is None and g.phi(START) is None
    # The full chain (threshold 0) recovers every probability.
    full = inf.graph("web", min_edge_probability=0.0)
    assert full is not None
    for u, row in CHAIN.items():
        for v, p in row.items():
            assert full.transition_probability(u, v) == pytest.approx(p, abs=0.03)
        assert full.out_probability(u) == pytest.approx(1.0)
    assert inf.transition_rows("web")["read"]["write"] == pytest.approx(0.8, abs=0.03)
    # Batch form agrees with the online one.
    assert infer_aeg(tasks)["web"] == g


def test_cold_start_until_min_tasks() -> None:
    rng = np.random.default_rng(1)
    inf = AEGInference()
    for i in range(29):
        inf.observe_task(chain_task(i, CHAIN, rng))
        assert inf.graph("web") is None and not inf.is_warm("web")
    assert inf.tasks_seen("web") == 29
    inf.observe_task(chain_task(29, CHAIN, rng))
    assert inf.is_warm("web") and inf.graph("web") is not None
    assert inf.graph("other") is None
    small = AEGInference(AEGConfig(min_tasks=5))
    assert infer_aeg([chain_task(i, CHAIN, rng) for i in range(4)], small.config) == {"web": None}


def test_online_transitions_and_cache_invalidation() -> None:
    inf = AEGInference(AEGConfig(min_tasks=1, min_edge_probability=0.5))
    inf.observe_transition("x", START, "a")
    inf.observe_transition("x", "a", END)
    inf.observe_task_end("x")
    g1 = inf.graph("x")
    assert g1 is not None and g1.transition_probability("a", END) == 1.0
    assert inf.graph("x") is g1  # cached
    inf.observe_transition("x", "a", "a", count=3)
    g2 = inf.graph("x")
    assert g2 is not g1 and g2 is not None
    assert g2.transition_probability("a", "a") == 0.75 and g2.pruned_mass("a") == 0.25
    assert inf.count("x", "a", "a") == 3 and inf.probability("x", "a", "a") == 0.75
    assert inf.probability("x", "zzz", "a") == 0.0
    with pytest.raises(WorkloadError, match="impossible"):
        inf.observe_transition("x", END, "a")
    with pytest.raises(WorkloadError, match="impossible"):
        inf.observe_transition("x", "a", START)
    with pytest.raises(ConfigError, match="0"):
        inf.observe_transition("x", "a", "a", count=0)
    with pytest.raises(ConfigError, match="1.5"):
        inf.graph("x", min_edge_probability=1.5)


def test_provided_graph_overrides_inference() -> None:
    inf = AEGInference()
    given_graph = AgentExecutionGraph.from_edges(
        [("plan", "act", 1.0)], {"plan": "plan", "act": None}, kind="inferred", agent_type="fw"
    )
    inf.provide(given_graph)
    assert inf.graph("fw") is given_graph and inf.is_warm("fw")
    assert "fw" in inf.agent_types


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [
        ({"min_edge_probability": 1.2}, "1.2"),
        ({"min_edge_probability": -0.1}, "-0.1"),
        ({"min_tasks": -1}, "-1"),
        ({"min_tasks": 2.5}, "2.5"),
        ({"min_tasks": True}, "True"),
    ],
)
def test_config_validation_shows_value(kwargs: dict[str, object], shown: str) -> None:
    with pytest.raises(ConfigError, match=shown):
        AEGConfig(**kwargs)  # type: ignore[arg-type]


@given(st.lists(dag_tasks(), min_size=1, max_size=8), st.floats(0, 1))
def test_inferred_graph_invariants(tasks: list[Task], threshold: float) -> None:
    inf = AEGInference(AEGConfig(min_tasks=1, min_edge_probability=threshold))
    for t in tasks:
        inf.observe_task(t)
    g = inf.graph("web")
    assert g is not None
    for v in g.nodes:
        for _, p in g.successors(v):
            assert 0 < p <= 1 and p >= threshold
        out = g.out_probability(v)
        assert 0 <= out <= 1 + 1e-9
        if g.graph.nodes[v]["visits"]:
            assert out + g.pruned_mass(v) == pytest.approx(1.0)
        else:
            assert out == 0 and g.pruned_mass(v) == 0
    assert not g.successors(END) and not g.predecessors(START)


def test_real_trace_graph(trace_tasks: tuple[Task, ...]) -> None:
    g = infer_aeg(trace_tasks)["swe-agent"]
    assert g is not None
    assert [u for u, _ in g.successors("bash")] == ["bash"]
    assert g.transition_probability(NO_TOOL, END) == 1.0
    assert g.transition_probability(START, "bash") == 1.0
