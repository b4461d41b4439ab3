"""Public Hypothesis strategies: agent tasks and graphs, workloads, cache traces, model instances.

In Hypothesis's house style: every argument is keyword-only with ``min_*``/``max_*``
bounds, every strategy is a function returning a ``SearchStrategy``, and values are
built from small integers and lists so they shrink well (a DAG is a node order plus
forward edges; a prefix tree is a list of parents below each node).

Examples
--------
>>> from hypothesis import given, settings
>>> @settings(max_examples=20, database=None, derandomize=True)
... @given(agent_tasks(max_steps=5, dag=True))
... def test_steps_are_topological(task):
...     assert all(d < s.index for s in task.steps for d in s.deps)
>>> test_steps_are_topological()
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from sagacore.theory.models import AfsTask, Agent, HrrnJob, Request
from sagacore.workload.aeg import AgentExecutionGraph, task_graph
from sagacore.workload.model import Segment, Step, Task, TaskId, Tenant, TenantId, Workload

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.bounds.trace import CacheTrace

__all__ = [
    "afs_tasks",
    "agent_graphs",
    "agent_tasks",
    "cache_traces",
    "hrrn_jobs",
    "unit_agents",
    "vtc_requests",
    "workloads",
]

TOOLS = ("bash", "search", "edit")
"""Tool types the task strategies draw from."""

SearchStrategy = st.SearchStrategy


def _check_range(name: str, lo: int, hi: int) -> None:
    if lo < 0 or hi < lo:
        raise ValueError(f"need 0 <= min_{name} <= max_{name}, got {lo}, {hi}")


@st.composite
def _task(
    draw: st.DrawFn,
    *,
    min_steps: int,
    max_steps: int,
    dag: bool,
    max_prompt_tokens: int,
    max_output_tokens: int,
    max_tool_seconds: float,
    task_id: str,
    tenant: str,
    arrival_s: float,
    agent_type: str,
    segment_base: int,
    system_tokens: int,
) -> Task:
    n = draw(st.integers(min_steps, max_steps))
    next_id = segment_base
    steps: list[Step] = []
    system = Segment(0, system_tokens)
    for i in range(n):
        if i == 0:
            deps: tuple[int, ...] = ()
        elif dag:
            picks = draw(st.lists(st.integers(0, i - 1), max_size=min(i, 3), unique=True))
            deps = tuple(sorted(picks))
        else:
            deps = (i - 1,)
        base = steps[deps[0]].context if deps else (system,)
        new = Segment(next_id, draw(st.integers(1, max_prompt_tokens)))
        out_id = next_id + 1
        next_id += 2
        has_tool = draw(st.booleans())
        tool = draw(st.sampled_from(TOOLS)) if has_tool else None
        secs = (
            draw(st.integers(0, int(max_tool_seconds * 10))) / 10 if has_tool else 0.0
        )
        steps.append(
            Step(
                index=i,
                prompt=(*base, new),
                output_tokens=draw(st.integers(1, max_output_tokens)),
                output_id=out_id,
                tool=tool,
                tool_seconds=secs,
                deps=deps,
            )
        )
    return Task(TaskId(task_id), tuple(steps), TenantId(tenant), arrival_s, agent_type)


def agent_tasks(
    *,
    min_steps: int = 1,
    max_steps: int = 8,
    dag: bool = False,
    max_prompt_tokens: int = 2000,
    max_output_tokens: int = 400,
    max_tool_seconds: float = 5.0,
    task_id: str = "t0",
    tenant: str = "default",
    arrival_s: float = 0.0,
    agent_type: str = "agent",
) -> SearchStrategy[Task]:
    """Agent tasks: a ReAct chain (default) or a DAG of LLM steps with tool calls.

    Each step's prompt is the context (prompt and output) of its first dependency plus a
    new observation segment, so prefixes are shared exactly as in an agent trace; the
    first step's prompt is a shared system segment (id 0) plus a user segment. With
    ``dag=True`` a step depends on up to three earlier steps (or none: a new root).
    Shrinks towards one step, small token counts and no tools.

    Examples
    --------
    >>> from hypothesis import find
    >>> find(agent_tasks(min_steps=2, max_steps=4), lambda t: True).llm_calls
    2
    """
    _check_range("steps", min_steps, max_steps)
    if min_steps < 1:
        raise ValueError("min_steps must be >= 1 (a task has at least one step)")
    return _task(
        min_steps=min_steps,
        max_steps=max_steps,
        dag=dag,
        max_prompt_tokens=max_prompt_tokens,
        max_output_tokens=max_output_tokens,
        max_tool_seconds=max_tool_seconds,
        task_id=task_id,
        tenant=tenant,
        arrival_s=arrival_s,
        agent_type=agent_type,
        segment_base=1,
        system_tokens=64,
    )


def agent_graphs(
    *, min_steps: int = 1, max_steps: int = 8, dag: bool = True
) -> SearchStrategy[AgentExecutionGraph]:
    """Realised Agent Execution Graphs (:func:`~sagacore.workload.aeg.task_graph`) of
    :func:`agent_tasks`.

    Examples
    --------
    >>> from hypothesis import find
    >>> g = find(agent_graphs(min_steps=3), lambda g: len(g.edges()) >= 2)
    >>> len(g.edges())
    2
    """
    return agent_tasks(min_steps=min_steps, max_steps=max_steps, dag=dag).map(task_graph)


@st.composite
def _workload(
    draw: st.DrawFn,
    *,
    min_tasks: int,
    max_tasks: int,
    min_tenants: int,
    max_tenants: int,
    max_weight: int,
    min_steps: int,
    max_steps: int,
    dag: bool,
    max_arrival_s: float,
    max_prompt_tokens: int,
    max_output_tokens: int,
    max_tool_seconds: float,
) -> Workload:
    k = draw(st.integers(min_tenants, max_tenants))
    tenants = tuple(
        Tenant(TenantId(f"tenant{i}"), weight=float(draw(st.integers(1, max_weight))))
        for i in range(k)
    )
    n = draw(st.integers(min_tasks, max_tasks))
    tasks = []
    for j in range(n):
        tenant = tenants[draw(st.integers(0, k - 1))].id
        arrival = draw(st.integers(0, int(max_arrival_s * 10))) / 10
        tasks.append(
            draw(
                _task(
                    min_steps=min_steps,
                    max_steps=max_steps,
                    dag=dag,
                    max_prompt_tokens=max_prompt_tokens,
                    max_output_tokens=max_output_tokens,
                    max_tool_seconds=max_tool_seconds,
                    task_id=f"t{j}",
                    tenant=tenant,
                    arrival_s=arrival,
                    agent_type="agent",
                    segment_base=1 + 1000 * j,
                    system_tokens=64,
                )
            )
        )
    return Workload(tuple(tasks), tenants, name="hypothesis", source="sagacore.testing.workloads")


def workloads(
    *,
    min_tasks: int = 1,
    max_tasks: int = 6,
    min_tenants: int = 1,
    max_tenants: int = 3,
    max_weight: int = 4,
    min_steps: int = 1,
    max_steps: int = 6,
    dag: bool = False,
    max_arrival_s: float = 30.0,
    max_prompt_tokens: int = 2000,
    max_output_tokens: int = 400,
    max_tool_seconds: float = 5.0,
) -> SearchStrategy[Workload]:
    """Multi-tenant workloads: tenants with integer weights, tasks from :func:`agent_tasks`.

    Tenants are ``tenant0 ...``; every task draws its tenant and an arrival time (in
    tenths of a second). Segment ids are disjoint between tasks except the shared system
    segment 0. Shrinks towards one tenant of weight 1 and few, short tasks at time 0.

    Examples
    --------
    >>> from hypothesis import find
    >>> w = find(workloads(min_tenants=2, max_tasks=3, max_steps=2),
    ...          lambda w: len({t.tenant for t in w}) == 2)
    >>> len(w.tenants), len(w)
    (2, 2)
    """
    _check_range("tasks", min_tasks, max_tasks)
    _check_range("tenants", min_tenants, max_tenants)
    if min_tenants < 1:
        raise ValueError("min_tenants must be >= 1")
    return _workload(
        min_tasks=min_tasks,
        max_tasks=max_tasks,
        min_tenants=min_tenants,
        max_tenants=max_tenants,
        max_weight=max_weight,
        min_steps=min_steps,
        max_steps=max_steps,
        dag=dag,
        max_arrival_s=max_arrival_s,
        max_prompt_tokens=max_prompt_tokens,
        max_output_tokens=max_output_tokens,
        max_tool_seconds=max_tool_seconds,
    )


@st.composite
def _cache_trace(
    draw: st.DrawFn, *, min_requests: int, max_requests: int, max_nodes: int, max_tokens: int
) -> CacheTrace:
    from sagacore.bounds.trace import CacheTrace

    n_nodes = draw(st.integers(1, max_nodes))
    parent: list[int] = [-1]
    for v in range(1, n_nodes):
        parent.append(draw(st.integers(-1, v - 1)))
    size = [draw(st.integers(1, max_tokens)) for _ in range(n_nodes)]
    paths = []
    for _ in range(draw(st.integers(min_requests, max_requests))):
        v = draw(st.integers(0, n_nodes - 1))
        path = []
        while v >= 0:
            path.append((v, size[v]))
            v = parent[v]
        paths.append(path[::-1])
    return CacheTrace.from_paths(paths)


def cache_traces(
    *, min_requests: int = 1, max_requests: int = 20, max_nodes: int = 12, max_tokens: int = 64
) -> SearchStrategy[CacheTrace]:
    """Cache traces (:class:`~sagacore.bounds.trace.CacheTrace`) over a random prefix tree.

    The tree is a list of parents (each below its node); each request looks up the path
    from the root to one node. Shrinks towards one node and few requests.

    Examples
    --------
    >>> from hypothesis import find
    >>> find(cache_traces(min_requests=3, max_requests=5, max_nodes=4), lambda tr: True).n_requests
    3
    """
    _check_range("requests", min_requests, max_requests)
    return _cache_trace(
        min_requests=min_requests,
        max_requests=max_requests,
        max_nodes=max_nodes,
        max_tokens=max_tokens,
    )


# ---------------------------------------------------------------------------------------
# instances of the exact models (sagacore.theory.models)
# ---------------------------------------------------------------------------------------


@st.composite
def _agents(
    draw: st.DrawFn,
    *,
    min_agents: int,
    max_agents: int,
    max_units: int,
    max_size: int,
    max_arrival: int,
    weights: tuple[int, ...],
    max_gap: int,
    predicted: bool,
) -> list[Agent]:
    n = draw(st.integers(min_agents, max_agents))
    out = []
    for _ in range(n):
        units = tuple(
            Fraction(u) for u in draw(st.lists(st.integers(1, max_size), min_size=1, max_size=max_units))
        )
        gaps: tuple[Fraction, ...] = ()
        if max_gap > 0:
            gaps = tuple(Fraction(draw(st.integers(0, max_gap))) for _ in units[1:])
        w = Fraction(draw(st.sampled_from(weights)))
        pred = Fraction(draw(st.integers(1, 16)), 4) if predicted else None
        out.append(Agent(Fraction(draw(st.integers(0, max_arrival))), units, gaps, w, pred))
    return out


def unit_agents(
    *,
    min_agents: int = 1,
    max_agents: int = 4,
    max_units: int = 4,
    max_size: int = 4,
    max_arrival: int = 8,
    weights: tuple[int, ...] = (1, 2, 3),
    max_gap: int = 0,
    predicted: bool = False,
) -> SearchStrategy[list[Agent]]:
    """Agents for :func:`~sagacore.theory.models.serve_agents`: integer arrivals, units, gaps.

    ``max_gap > 0`` adds tool gaps between units; ``predicted=True`` adds a
    misprediction: the predicted cost is a quarter to four times the true one. Shrinks towards one agent with
    one unit of size 1 at time 0 (``weights`` shrink to their first entry).
    """
    _check_range("agents", min_agents, max_agents)
    return _agents(
        min_agents=min_agents,
        max_agents=max_agents,
        max_units=max_units,
        max_size=max_size,
        max_arrival=max_arrival,
        weights=weights,
        max_gap=max_gap,
        predicted=predicted,
    )


def vtc_requests(
    *, min_clients: int = 2, max_clients: int = 3, max_requests: int = 8, max_size: int = 4,
    max_arrival: int = 8,
) -> SearchStrategy[tuple[int, list[Request]]]:
    """``(clients, requests)`` for :func:`~sagacore.theory.models.serve_vtc`."""
    _check_range("clients", min_clients, max_clients)

    @st.composite
    def build(draw: st.DrawFn) -> tuple[int, list[Request]]:
        k = draw(st.integers(min_clients, max_clients))
        reqs = draw(
            st.lists(
                st.builds(
                    Request,
                    st.integers(0, k - 1),
                    st.integers(0, max_arrival).map(Fraction),
                    st.integers(1, max_size).map(Fraction),
                ),
                min_size=1,
                max_size=max_requests,
            )
        )
        return k, reqs

    return build()


def hrrn_jobs(
    *, min_jobs: int = 1, max_jobs: int = 6, max_size: int = 6, max_arrival: int = 10,
    predicted: bool = True,
) -> SearchStrategy[list[HrrnJob]]:
    """Jobs for :func:`~sagacore.theory.models.serve_hrrn`, optionally with mispredicted sizes."""
    _check_range("jobs", min_jobs, max_jobs)
    pred: Any = (
        st.one_of(st.none(), st.integers(1, max_size).map(Fraction)) if predicted else st.none()
    )
    job = st.builds(
        HrrnJob,
        st.integers(0, max_arrival).map(Fraction),
        st.integers(1, max_size).map(Fraction),
        pred,
    )
    return st.lists(job, min_size=min_jobs, max_size=max_jobs)


def afs_tasks(
    *, min_tenants: int = 2, max_tenants: int = 3, max_tasks: int = 4, max_work: int = 8,
    max_arrival: int = 4, max_slack: int = 6,
) -> SearchStrategy[tuple[int, list[AfsTask]]]:
    """``(tenants, tasks)`` for :func:`~sagacore.theory.models.serve_afs` (epoch 1, capacity 1).

    Deadlines are ``arrival + slack`` with integer slack >= 1.
    """
    _check_range("tenants", min_tenants, max_tenants)

    @st.composite
    def build(draw: st.DrawFn) -> tuple[int, list[AfsTask]]:
        k = draw(st.integers(min_tenants, max_tenants))
        tasks = []
        for _ in range(draw(st.integers(1, max_tasks))):
            a = Fraction(draw(st.integers(0, max_arrival)))
            tasks.append(
                AfsTask(
                    draw(st.integers(0, k - 1)),
                    a,
                    Fraction(draw(st.integers(1, max_work)), draw(st.sampled_from([1, 2, 4]))),
                    a + draw(st.integers(1, max_slack)),
                )
            )
        return k, tasks

    return build()
