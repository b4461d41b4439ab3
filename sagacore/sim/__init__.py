"""The discrete-event cluster simulator: event loop, workers, cluster.

:func:`simulate` runs a workload on a cluster under a stack and returns a
:class:`~sagacore.sim.result.SimResult`: it builds the stack's policies for the cluster
(:func:`build_policies`, which calls :meth:`~sagacore.stacks.Stack.build`) and hands
them to a :class:`~sagacore.sim.cluster.Simulation`, which never sees the stack. The
mechanism is spread over:

- :mod:`sagacore.sim.config`: engine and cluster settings, presets, the mode;
- :mod:`sagacore.sim.cluster`: the event loop, task graphs, routing, tool calls and
  KV retention while tools run;
- :mod:`sagacore.sim.worker`: one engine instance (continuous batching, chunked
  prefill, paged KV cache with prefix caching, preemption by recompute, decode runs in
  closed form);
- :mod:`sagacore.cache.store`: the paged prefix cache itself;
- :mod:`sagacore.sim.isolated`: a task's isolated completion time (the SLO reference);
- :mod:`sagacore.sim.observe`: observers of the simulator's events.

Examples
--------
>>> from sagacore.sim import simulate
>>> from sagacore.sim.config import ClusterConfig
>>> from sagacore.workload.model import Segment, Step, Task, TaskId, Workload
>>> steps = (Step(0, (Segment(1, 500),), 40, 2, tool="bash", tool_seconds=1.0),
...          Step(1, (Segment(1, 500), Segment(2, 40), Segment(3, 100)), 30, 4, deps=(0,)))
>>> w = Workload((Task(TaskId("t0"), steps), Task(TaskId("t1"), steps, arrival_s=0.5)))
>>> r = simulate(w, "vllm-apc", ClusterConfig.from_gpus(2, tp=1, model="llama-3-8b"))
>>> r.tasks_completed, r.llm_calls, r.prefill_tokens_reused > 0
(2, 4, True)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from sagacore.build import BuildContext, StackPolicies
from sagacore.sim.config import (
    CLUSTERS,
    DEFAULT_CLUSTER,
    ClusterConfig,
    EngineConfig,
    SimConfig,
    get_cluster,
)
from sagacore.sim.observe import EventLog, Observer, TraceEvent
from sagacore.sim.result import SimResult, TaskRecord
from sagacore.stacks import Stack, get_stack
from sagacore.workload.model import Workload

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.workload.predictor import Predictor

__all__ = [
    "CLUSTERS",
    "DEFAULT_CLUSTER",
    "ClusterConfig",
    "EngineConfig",
    "EventLog",
    "Observer",
    "SimConfig",
    "SimResult",
    "TaskRecord",
    "TraceEvent",
    "build_policies",
    "get_cluster",
    "isolated_tcts",
    "simulate",
]


def build_policies(stack: str | Stack, cluster: ClusterConfig,
                   predictor: Predictor | None = None) -> StackPolicies:
    """``stack``'s policies for one run on ``cluster``: :meth:`~sagacore.stacks.Stack.build`
    with the cluster's :class:`~sagacore.build.BuildContext` (an instance's cost model, the
    instances, the KV capacity) and ``predictor``, or a fresh one when a policy of the
    stack declares it reads one (:attr:`~sagacore.stacks.Stack.uses_predictor`).

    Examples
    --------
    >>> from sagacore.sim.config import ClusterConfig
    >>> built = build_policies("saga", ClusterConfig.from_gpus(2, tp=1, model="llama-3-8b"))
    >>> built.name, len(built.caches), built.context.predictor is not None
    ('saga', 2, True)
    >>> build_policies("vllm-apc", ClusterConfig.from_gpus(1, tp=1, model="llama-3-8b")).context.predictor is None
    True
    """
    st = get_stack(stack) if isinstance(stack, str) else stack
    if predictor is None and st.uses_predictor:
        from sagacore.workload.predictor import Predictor

        predictor = Predictor()
    return st.build(BuildContext(cluster.cost, cluster.instances, cluster.kv_capacity_tokens,
                                 predictor))


def simulate(
    workload: Workload,
    stack: str | Stack = "vllm-apc",
    cluster: ClusterConfig | str | None = None,
    *,
    mode: Literal["fast", "step"] = "fast",
    checked: bool = False,
    max_sim_seconds: float | None = None,
    predictor: Predictor | None = None,
    observers: Sequence[Observer] = (),
    progress: Callable[[int, int], None] | None = None,
    isolated: Mapping[str, float] | None = None,
) -> SimResult:
    """Simulate ``workload`` on ``cluster`` under ``stack``.

    Parameters
    ----------
    workload
        The tasks, with their arrival times.
    stack
        A stack or its name in :data:`sagacore.stacks.STACKS`.
    cluster
        A cluster, a preset name, or None for :data:`DEFAULT_CLUSTER`.
    mode
        ``fast`` (decode runs in closed form) or ``step`` (every batch step an event);
        both give the same results.
    checked
        Assert the mechanism's invariants while running.
    max_sim_seconds
        Stop at this simulated time.
    predictor
        A shared predictor to feed (default: a fresh one if the stack uses one).
    observers
        Receive every event.
    progress
        Called now and then with (tasks completed, tasks submitted).
    isolated
        Isolated TCTs by task id, if already computed (:func:`isolated_tcts`).

    Notes
    -----
    Deterministic: the same inputs give the same result, byte for byte, apart from
    ``sim_wall_seconds``.
    """
    from sagacore.sim.cluster import Simulation

    st = get_stack(stack) if isinstance(stack, str) else stack
    if cluster is None:
        cl = get_cluster(DEFAULT_CLUSTER)
    elif isinstance(cluster, str):
        cl = get_cluster(cluster)
    else:
        cl = cluster
    cfg = SimConfig(mode=mode, checked=checked, max_sim_seconds=max_sim_seconds)
    sim = Simulation(workload, build_policies(st, cl, predictor), cl, cfg, observers=observers,
                     progress=progress, isolated=isolated)
    return sim.run()


def isolated_tcts(workload: Workload, cluster: ClusterConfig) -> dict[str, float]:
    """Every task's isolated TCT on ``cluster`` (:mod:`sagacore.sim.isolated`), by task id.

    The same for every stack: compute it once when comparing stacks.
    """
    from sagacore.sim.isolated import isolated_tct

    return {t.id: isolated_tct(t, cluster.cost, cluster.engine) for t in workload.tasks}
