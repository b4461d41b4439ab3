"""The Agent Execution Graph (AEG) G = (V, E, P, phi) and its inference from request streams.

An AEG comes in one of two kinds, which differ in what the edge probabilities mean:

``"realised"``
    One task's actual DAG (:func:`task_graph`): nodes are the task's steps (``int``
    indices), edges its dependencies, every edge with ``P = 1``; all successors of a node
    run (parallel branching). ``phi(v)`` is the tool called after step ``v`` (``None`` for
    none). Node attributes: ``phi``, ``prompt_tokens``, ``output_tokens``,
    ``tool_seconds``. A framework that knows a task's graph in advance gives this kind.

``"inferred"``
    SAGA's graph inferred from observed request streams (:class:`AEGInference`): a Markov
    chain per agent type whose states are tool types. Nodes are the state names: the
    tool types, :data:`NO_TOOL` (a step that called no tool) and the virtual states
    :data:`START` and :data:`END`. A node ``t`` stands for "an LLM step whose tool is
    ``t``"; ``P(t -> u)`` is the observed frequency with which a step of type ``t`` is
    followed by a step of type ``u`` (or by the end of the task). Successor probabilities
    are exclusive alternatives. Edges with ``P < min_edge_probability`` (SAGA: 0.7) are
    pruned; the pruned mass of a node is kept as its ``pruned`` attribute. Node
    attributes: ``phi``, ``visits`` (observed out-transitions), ``pruned``; edge
    attributes: ``p``, ``count``.

Invariants (checked on construction; :class:`~sagacore.errors.WorkloadError` otherwise):

- every probability ``P(u -> v)`` lies in ``(0, 1]``;
- realised graphs are acyclic and every edge has ``P = 1``;
- in an inferred graph, for every node ``v``:
  ``sum_u P(v -> u) + pruned(v) == 1`` when ``v`` has observed out-transitions (within
  1e-9), so ``sum_u P(v -> u) <= 1``; nodes with none (always :data:`END`) have no
  out-edges and ``pruned == 0``.

How a task becomes transitions (:func:`task_transitions`): for every dependency edge
``d -> i`` one transition ``state(d) -> state(i)``; ``START -> state(i)`` for every step
without dependencies and ``state(i) -> END`` for every step without dependants, where
``state(i)`` is the step's tool or :data:`NO_TOOL`. For a ReAct chain this is the
sequence ``START, phi(0), ..., phi(n-1), END``.

Examples
--------
>>> from sagacore.workload.model import Segment, Step, Task, TaskId
>>> steps = tuple(Step(index=i, prompt=(Segment(i, 10),), output_tokens=5, output_id=100 + i,
...                    tool=("bash" if i < 4 else None), tool_seconds=(0.5 if i < 4 else 0.0),
...                    deps=((i - 1,) if i else ())) for i in range(5))
>>> g = task_graph(Task(TaskId("t"), steps))
>>> g.successors(0), g.phi(0), g.phi(4)
(((1, 1.0),), 'bash', None)
>>> inf = AEGInference(AEGConfig(min_tasks=1))
>>> inf.graph("agent") is None
True
>>> inf.observe_task(Task(TaskId("t"), steps))
>>> a = inf.graph("agent")
>>> a.successors("bash"), a.pruned_mass("bash")
((('bash', 0.75),), 0.25)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

import networkx as nx

from sagacore.errors import ConfigError, WorkloadError
from sagacore.validate import positive_int
from sagacore.workload.model import Task

__all__ = [
    "END",
    "NO_TOOL",
    "RESERVED_STATES",
    "START",
    "AEGConfig",
    "AEGInference",
    "AgentExecutionGraph",
    "GraphKind",
    "Node",
    "infer_aeg",
    "state_of",
    "task_graph",
    "task_transitions",
]

Node: TypeAlias = int | str
"""A node of an AEG: a step index (realised graphs) or a state name (inferred graphs)."""

GraphKind: TypeAlias = Literal["realised", "inferred"]
"""What the edge probabilities of an :class:`AgentExecutionGraph` mean (module docs)."""

START: Final = "<start>"
"""Virtual state before a task's first step."""
END: Final = "<end>"
"""Virtual state after a task's last step (not an LLM step)."""
NO_TOOL: Final = "<none>"
"""State of an LLM step that called no tool."""
RESERVED_STATES: Final = frozenset({START, END, NO_TOOL})
"""State names a tool type may not take."""

_EPS = 1e-9


def state_of(tool: str | None) -> str:
    """The Markov state of a step with tool type ``tool``: the tool, or :data:`NO_TOOL`.

    Raises :class:`~sagacore.errors.WorkloadError` for a reserved name.

    Examples
    --------
    >>> state_of("bash"), state_of(None)
    ('bash', '<none>')
    """
    if tool is None:
        return NO_TOOL
    if tool in RESERVED_STATES:
        raise WorkloadError(f"tool type {tool!r} is a reserved AEG state name")
    return tool


def _tool_of(state: str) -> str | None:
    return None if state in RESERVED_STATES else state


class AgentExecutionGraph:
    """An immutable AEG G = (V, E, P, phi) over a networkx graph (module docs for kinds).

    Parameters
    ----------
    graph
        A directed graph whose nodes carry ``phi`` (tool type or None) and whose edges
        carry ``p`` (probability). It is copied and frozen.
    kind
        ``"realised"`` (a task's dependency DAG, all ``p == 1``) or ``"inferred"``
        (a Markov chain over tool-type states, out-probabilities sum to at most 1).
    agent_type
        The agent type the graph describes.

    Raises
    ------
    WorkloadError
        When an invariant of the module docs fails.

    Examples
    --------
    >>> g = AgentExecutionGraph.from_edges([("a", "b", 0.8)], {"a": "a", "b": None},
    ...                                    kind="inferred")
    >>> g.transition_probability("a", "b"), g.transition_probability("b", "a"), len(g)
    (0.8, 0.0, 2)
    """

    __slots__ = ("_agent_type", "_g", "_kind")

    def __init__(self, graph: Any, *, kind: GraphKind, agent_type: str = "agent") -> None:
        if kind not in ("realised", "inferred"):
            raise ConfigError(f"AEG kind must be 'realised' or 'inferred', got {kind!r}")
        g: Any = nx.DiGraph(graph)
        for v, data in g.nodes(data=True):
            if not isinstance(v, int | str) or isinstance(v, bool):
                raise WorkloadError(f"AEG node {v!r}: must be an int or a str")
            phi = data.setdefault("phi", None)
            if phi is not None and not isinstance(phi, str):
                raise WorkloadError(f"AEG node {v!r}: phi must be a str or None, got {phi!r}")
            data.setdefault("pruned", 0.0)
        for u, v, data in g.edges(data=True):
            p = data.get("p")
            if not isinstance(p, int | float) or not (0 < p <= 1):
                raise WorkloadError(
                    f"AEG edge {u!r} -> {v!r}: probability must be in (0, 1], got {p!r}"
                )
            data["p"] = float(p)
        if kind == "realised":
            if not nx.is_directed_acyclic_graph(g):
                raise WorkloadError("realised AEG must be acyclic")
            for u, v, data in g.edges(data=True):
                if data["p"] != 1.0:
                    raise WorkloadError(
                        f"realised AEG edge {u!r} -> {v!r}: probability must be 1, got {data['p']}"
                    )
        else:
            for v, data in g.nodes(data=True):
                out = sum(d["p"] for _, _, d in g.out_edges(v, data=True))
                pruned = data["pruned"]
                if not (0 <= pruned <= 1 + _EPS) or out + pruned > 1 + _EPS:
                    raise WorkloadError(
                        f"inferred AEG node {v!r}: out-probability {out} plus pruned mass "
                        f"{pruned} exceeds 1"
                    )
        self._g: Any = nx.freeze(g)
        self._kind: GraphKind = kind
        self._agent_type = agent_type

    @classmethod
    def from_edges(
        cls,
        edges: Iterable[tuple[Node, Node, float]],
        phi: Mapping[Node, str | None],
        *,
        kind: GraphKind,
        agent_type: str = "agent",
    ) -> AgentExecutionGraph:
        """Build a graph from ``(u, v, P)`` triples and the tool map ``phi``.

        For ``kind="inferred"`` each node's pruned mass is set to ``1 - sum of its
        out-probabilities`` when it has out-edges, else 0. Every node must be in ``phi``.

        Examples
        --------
        >>> g = AgentExecutionGraph.from_edges([(0, 1, 1.0), (0, 2, 1.0)],
        ...                                    {0: "search", 1: None, 2: None}, kind="realised")
        >>> [u for u, _ in g.successors(0)]
        [1, 2]
        """
        g: Any = nx.DiGraph()
        for v, t in phi.items():
            g.add_node(v, phi=t)
        for u, v, p in edges:
            for x in (u, v):
                if x not in phi:
                    raise WorkloadError(f"AEG edge {u!r} -> {v!r}: node {x!r} has no phi")
            g.add_edge(u, v, p=p)
        if kind == "inferred":
            for v in g.nodes:
                out = sum(d["p"] for _, _, d in g.out_edges(v, data=True))
                g.nodes[v]["pruned"] = max(0.0, 1.0 - out) if g.out_degree(v) else 0.0
        return cls(g, kind=kind, agent_type=agent_type)

    @property
    def graph(self) -> Any:
        """The underlying frozen ``networkx.DiGraph`` (mutation raises ``NetworkXError``)."""
        return self._g

    @property
    def kind(self) -> GraphKind:
        """``"realised"`` or ``"inferred"``."""
        return self._kind

    @property
    def agent_type(self) -> str:
        """The agent type the graph describes."""
        return self._agent_type

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Nodes in insertion order."""
        return tuple(self._g.nodes)

    def __len__(self) -> int:
        return int(self._g.number_of_nodes())

    def __contains__(self, v: object) -> bool:
        try:
            return bool(v in self._g)
        except TypeError:  # unhashable
            return False

    def __iter__(self) -> Iterator[Node]:
        return iter(self._g.nodes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AgentExecutionGraph):
            return NotImplemented
        return (
            self._kind == other._kind
            and self._agent_type == other._agent_type
            and bool(nx.utils.graphs_equal(self._g, other._g))
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"AgentExecutionGraph(kind={self._kind!r}, agent_type={self._agent_type!r}, "
            f"nodes={self._g.number_of_nodes()}, edges={self._g.number_of_edges()})"
        )

    def _check(self, v: Node) -> None:
        if v not in self:
            raise WorkloadError(f"AEG of {self._agent_type!r} has no node {v!r}")

    def phi(self, v: Node) -> str | None:
        """Tool type of node ``v`` (None: no tool, or a virtual state)."""
        self._check(v)
        phi: str | None = self._g.nodes[v]["phi"]
        return phi

    def successors(self, v: Node) -> tuple[tuple[Node, float], ...]:
        """``(u, P(v -> u))`` for each out-edge of ``v``, in insertion order."""
        self._check(v)
        return tuple((u, float(d["p"])) for _, u, d in self._g.out_edges(v, data=True))

    def predecessors(self, v: Node) -> tuple[tuple[Node, float], ...]:
        """``(u, P(u -> v))`` for each in-edge of ``v``, in insertion order."""
        self._check(v)
        return tuple((u, float(d["p"])) for u, _, d in self._g.in_edges(v, data=True))

    def transition_probability(self, u: Node, v: Node) -> float:
        """``P(u -> v)``; 0.0 when there is no such edge (or it was pruned)."""
        self._check(u)
        self._check(v)
        data = self._g.get_edge_data(u, v)
        return 0.0 if data is None else float(data["p"])

    def out_probability(self, v: Node) -> float:
        """Sum of ``P(v -> u)`` over the out-edges of ``v``.

        At most 1 in an inferred graph; the out-degree in a realised one.
        """
        return math.fsum(p for _, p in self.successors(v))

    def pruned_mass(self, v: Node) -> float:
        """Probability mass of the out-edges of ``v`` removed by pruning (0 when realised)."""
        self._check(v)
        return float(self._g.nodes[v]["pruned"])

    def edges(self) -> tuple[tuple[Node, Node, float], ...]:
        """All ``(u, v, P)`` triples."""
        return tuple((u, v, float(d["p"])) for u, v, d in self._g.edges(data=True))


def task_graph(task: Task) -> AgentExecutionGraph:
    """The realised AEG of one task: nodes = steps, edges = dependencies with ``P = 1``.

    Examples
    --------
    >>> from sagacore.workload.model import Segment, Step, TaskId
    >>> s = (Step(0, (Segment(1, 4),), 2, 2, tool="search", tool_seconds=1.0),
    ...      Step(1, (Segment(1, 4),), 2, 3), Step(2, (Segment(1, 4),), 2, 4, deps=(0, 1)))
    >>> g = task_graph(Task(TaskId("t"), s))
    >>> g.edges(), g.graph.nodes[0]["tool_seconds"]
    (((0, 2, 1.0), (1, 2, 1.0)), 1.0)
    """
    g: Any = nx.DiGraph()
    for s in task.steps:
        g.add_node(
            s.index,
            phi=s.tool,
            prompt_tokens=s.prompt_tokens,
            output_tokens=s.output_tokens,
            tool_seconds=s.tool_seconds,
        )
    for s in task.steps:
        for d in s.deps:
            g.add_edge(d, s.index, p=1.0)
    return AgentExecutionGraph(g, kind="realised", agent_type=task.agent_type)


def task_transitions(task: Task) -> Iterator[tuple[str, str]]:
    """The tool-state transitions of a finished task (module docs), in step order.

    Examples
    --------
    >>> from sagacore.workload.model import Segment, Step, TaskId
    >>> s = (Step(0, (Segment(1, 4),), 2, 2, tool="search", tool_seconds=1.0),
    ...      Step(1, (Segment(1, 4),), 2, 3, deps=(0,)))
    >>> list(task_transitions(Task(TaskId("t"), s)))
    [('<start>', 'search'), ('search', '<none>'), ('<none>', '<end>')]
    """
    has_succ = [False] * len(task.steps)
    for s in task.steps:
        for d in s.deps:
            has_succ[d] = True
    states = [state_of(s.tool) for s in task.steps]
    for s in task.steps:
        if not s.deps:
            yield START, states[s.index]
        for d in s.deps:
            yield states[d], states[s.index]
    for s in task.steps:
        if not has_succ[s.index]:
            yield states[s.index], END


@dataclass(frozen=True, slots=True)
class AEGConfig:
    """Parameters of AEG inference (SAGA's defaults)."""

    min_edge_probability: float = 0.7
    """Edges with a lower transition probability are pruned (SAGA: 0.7)."""
    min_tasks: int = 30
    """An agent type has no graph (plain requests) until this many tasks ended (SAGA: 30)."""

    def __post_init__(self) -> None:
        p = self.min_edge_probability
        if not (isinstance(p, int | float) and 0 <= p <= 1):
            raise ConfigError(f"min_edge_probability must be in [0, 1], got {p!r}")
        positive_int("min_tasks", self.min_tasks, zero_ok=True)


class AEGInference:
    """Online inference of per-agent-type AEGs from tool-type transitions.

    Counts transitions ``from_state -> to_state`` per agent type. :meth:`graph` returns
    the pruned Markov chain once :attr:`AEGConfig.min_tasks` tasks of the type ended, and
    None before (SAGA serves the type as plain requests meanwhile). A graph given by the
    framework (:meth:`provide`) overrides inference for its agent type.

    Parameters
    ----------
    config
        Threshold and warm-up.

    Examples
    --------
    >>> inf = AEGInference(AEGConfig(min_tasks=2))
    >>> for _ in range(2):
    ...     for a, b in [(START, "search"), ("search", "search"), ("search", NO_TOOL),
    ...                  (NO_TOOL, END)]:
    ...         inf.observe_transition("web", a, b)
    ...     inf.observe_task_end("web")
    >>> inf.probability("web", "search", "search"), inf.graph("web").successors("search")
    (0.5, ())
    >>> inf.graph("web", min_edge_probability=0.5).successors("search")
    (('<none>', 0.5), ('search', 0.5))
    """

    def __init__(self, config: AEGConfig | None = None) -> None:
        self.config = config if config is not None else AEGConfig()
        self._counts: dict[str, dict[str, dict[str, int]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(int))
        )
        self._tasks: dict[str, int] = defaultdict(int)
        self._provided: dict[str, AgentExecutionGraph] = {}
        self._cache: dict[tuple[str, float], AgentExecutionGraph] = {}

    # -- updates ---------------------------------------------------------------------------
    def observe_transition(
        self, agent_type: str, from_state: str, to_state: str, count: int = 1
    ) -> None:
        """Record ``count`` transitions ``from_state -> to_state`` of ``agent_type``.

        States are tool types or :data:`START`, :data:`END`, :data:`NO_TOOL`
        (use :func:`state_of` for a step's tool). Nothing leaves :data:`END` and nothing
        enters :data:`START`.
        """
        if from_state == END or to_state == START:
            raise WorkloadError(f"impossible transition {from_state!r} -> {to_state!r}")
        if count < 1:
            raise ConfigError(f"count must be >= 1, got {count!r}")
        self._counts[agent_type][from_state][to_state] += count
        self._invalidate(agent_type)

    def observe_task_end(self, agent_type: str) -> None:
        """Count one finished task of ``agent_type`` (the warm-up counter)."""
        self._tasks[agent_type] += 1
        self._invalidate(agent_type)

    def observe_task(self, task: Task) -> None:
        """Record all transitions of a finished task and count it."""
        for a, b in task_transitions(task):
            self._counts[task.agent_type][a][b] += 1
        self.observe_task_end(task.agent_type)

    def provide(self, graph: AgentExecutionGraph) -> None:
        """Use ``graph`` (given by the framework) for its agent type from now on."""
        self._provided[graph.agent_type] = graph

    def _invalidate(self, agent_type: str) -> None:
        for key in [k for k in self._cache if k[0] == agent_type]:
            del self._cache[key]

    # -- queries ---------------------------------------------------------------------------
    @property
    def agent_types(self) -> tuple[str, ...]:
        """Agent types with any observation, sorted."""
        return tuple(sorted(set(self._counts) | set(self._tasks) | set(self._provided)))

    def tasks_seen(self, agent_type: str) -> int:
        """Finished tasks counted for ``agent_type``."""
        return self._tasks.get(agent_type, 0)

    def is_provided(self, agent_type: str) -> bool:
        """True when the framework gave the graph of ``agent_type`` (:meth:`provide`)."""
        return agent_type in self._provided

    def is_warm(self, agent_type: str) -> bool:
        """True when :meth:`graph` returns a graph for ``agent_type``."""
        return agent_type in self._provided or self.tasks_seen(agent_type) >= self.config.min_tasks

    def count(self, agent_type: str, from_state: str, to_state: str) -> int:
        """Observed transitions ``from_state -> to_state``."""
        return self._counts.get(agent_type, {}).get(from_state, {}).get(to_state, 0)

    def probability(self, agent_type: str, from_state: str, to_state: str) -> float:
        """Unpruned frequency estimate of ``P(from_state -> to_state)`` (0 with no data)."""
        row = self._counts.get(agent_type, {}).get(from_state)
        if not row:
            return 0.0
        return row.get(to_state, 0) / sum(row.values())

    def transition_rows(self, agent_type: str) -> dict[str, dict[str, float]]:
        """The full (unpruned) chain: ``{from: {to: P}}`` with rows summing to 1."""
        return {a: self.transition_row(agent_type, a) for a in self._counts.get(agent_type, {})}

    def transition_row(self, agent_type: str, from_state: str) -> dict[str, float]:
        """One row of :meth:`transition_rows`: ``{to: P}`` from ``from_state`` (empty when
        nothing was seen to leave it)."""
        row = self._counts.get(agent_type, {}).get(from_state, {})
        total = sum(row.values())
        return {b: c / total for b, c in row.items()}

    def graph(
        self, agent_type: str, *, min_edge_probability: float | None = None
    ) -> AgentExecutionGraph | None:
        """The AEG of ``agent_type``, or None while it is cold (fewer than ``min_tasks``).

        A provided graph is returned as given. Otherwise the inferred chain pruned at
        ``min_edge_probability`` (default: the config's; pass 0 for the full chain).
        The result is cached until the next observation of the type.
        """
        if agent_type in self._provided:
            return self._provided[agent_type]
        if not self.is_warm(agent_type):
            return None
        thr = (
            self.config.min_edge_probability
            if min_edge_probability is None
            else min_edge_probability
        )
        if not 0 <= thr <= 1:
            raise ConfigError(f"min_edge_probability must be in [0, 1], got {thr!r}")
        key = (agent_type, float(thr))
        cached = self._cache.get(key)
        if cached is None:
            cached = self._build(agent_type, thr)
            self._cache[key] = cached
        return cached

    def _build(self, agent_type: str, thr: float) -> AgentExecutionGraph:
        counts = self._counts.get(agent_type, {})
        g: Any = nx.DiGraph()
        states: set[str] = set(counts)
        for row in counts.values():
            states.update(row)
        order = sorted(states, key=lambda s: (s != START, s == END, s))
        for s in order:
            g.add_node(s, phi=_tool_of(s), visits=0, pruned=0.0)
        for a in order:
            row = counts.get(a, {})
            if not row:
                continue
            total = sum(row.values())
            kept = 0.0
            for b in sorted(row, key=lambda s: (-row[s], order.index(s))):
                p = row[b] / total
                if p >= thr and p > 0:
                    g.add_edge(a, b, p=p, count=row[b])
                    kept += p
            g.nodes[a]["visits"] = total
            g.nodes[a]["pruned"] = max(0.0, 1.0 - kept)
        return AgentExecutionGraph(g, kind="inferred", agent_type=agent_type)


def infer_aeg(
    tasks: Iterable[Task], config: AEGConfig | None = None
) -> dict[str, AgentExecutionGraph | None]:
    """Infer the AEG of every agent type in ``tasks`` (batch form of :class:`AEGInference`).

    Returns ``{agent_type: graph}``, with None for types with fewer than ``min_tasks``
    tasks.

    Examples
    --------
    >>> import sagacore.data, sagacore.workload
    >>> w = sagacore.workload.read_workload(sagacore.data.bundled_trace())
    >>> g = infer_aeg(w.tasks)["swe-agent"]
    >>> [(u, round(p, 3)) for u, p in g.successors("bash")]
    [('bash', 0.987)]
    """
    inf = AEGInference(config)
    for t in tasks:
        inf.observe_task(t)
    return {a: inf.graph(a) for a in inf.agent_types}
