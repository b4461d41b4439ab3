"""Test any :class:`~sagacore.policy.Scheduler` against the fair-share bound.

:func:`run_servers` is a small mechanism of the theorems' model: ``servers`` identical
servers; each LLM call is a non-preemptive unit of ``(prompt + output) / rate`` seconds;
a call is ready when its dependencies (and, unless ``tools=False``, their tool calls)
have finished; a free server takes the ready call with the smallest scheduler key. It
drives the scheduler through the same hooks as the simulator and vLLM (arrival, call
start, service, call end, task end) with :class:`SimpleCall` views.

:func:`fair_share_violations` checks Theorem 1 of ``docs/proofs/fair_queueing.md`` on a
workload: in that model (one server, no tool gaps) a scheduler that serves agents in
virtual-finish order finishes every task within ``L_max / rate`` of its fluid fair-share
finish time, the weight of a task being its tenant's weight. FCFS does not.

Examples
--------
Property-test a scheduler of your own (here Justitia with exact costs in tokens, whose
order is the theorem's) on Hypothesis workloads; the scheduler must know the tenants'
weights, as the fluid reference does:

>>> from hypothesis import given, settings
>>> from sagacore.sched.justitia import Justitia, JustitiaConfig
>>> from sagacore.testing import fair_share_violations, workloads
>>> def justitia_for(w):
...     weights = {t.id: t.weight for t in w.tenants}
...     cfg = JustitiaConfig(cost="tokens", cost_source="oracle", capacity=1.0,
...                          tenant_weights=weights)
...     return lambda: Justitia(cfg)
>>> @settings(max_examples=25, database=None, derandomize=True)
... @given(workloads(max_tasks=5, max_steps=4))
... def test_my_scheduler_is_fair(w):
...     assert fair_share_violations(w, justitia_for(w)) == []
>>> test_my_scheduler_is_fair()
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from sagacore.errors import ConfigError
from sagacore.policy import Scheduler
from sagacore.theory.fluid import FluidJob, fluid_schedule
from sagacore.workload.model import DEFAULT_TENANT, Task, TaskId, TenantId, Workload
from sagacore.workload.progress import TaskProgress

__all__ = ["ServerRun", "SimpleCall", "fair_share_violations", "run_servers"]

_T0 = TaskId("t0")


@dataclass(frozen=True)
class SimpleCall:
    """A plain, immutable :class:`~sagacore.policy.CallView` (for tests and examples)."""

    task_id: TaskId = _T0
    tenant: TenantId = DEFAULT_TENANT
    agent_type: str = "agent"
    step: int = 0
    prompt_tokens: int = 100
    task_arrival_s: float = 0.0
    ready_s: float = 0.0
    task_attained_s: float = 0.0
    task_attained_tokens: int = 0
    task_wait_s: float = 0.0
    task_tool_s: float = 0.0
    steps_done: int = 0
    cached_tokens: int = 0
    parents: tuple[int, ...] = ()


@dataclass
class _TaskState:
    task: Task
    progress: TaskProgress
    attained_s: float = 0.0
    attained_tokens: int = 0
    wait_s: float = 0.0
    tool_s: float = 0.0
    steps_done: int = 0
    ready_at: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerRun:
    """Result of :func:`run_servers`."""

    finish: dict[TaskId, float]
    """Completion time of each task's last call (and its tool, when tools count)."""
    starts: dict[tuple[TaskId, int], float]
    """Start time of every call."""


def _size(task: Task, i: int) -> int:
    s = task.steps[i]
    return s.prompt_tokens + s.output_tokens


def run_servers(
    workload: Workload,
    scheduler: Scheduler,
    *,
    servers: int = 1,
    rate: float = 1.0,
    tools: bool = True,
) -> ServerRun:
    """Run ``scheduler`` on ``workload`` in the theorems' abstract model (module docs).

    Parameters
    ----------
    workload
        The tasks; a call's service is ``(prompt_tokens + output_tokens) / rate``.
    scheduler
        Any scheduler; its ``key`` is evaluated for every ready call at every decision.
    servers
        Identical servers; each runs one call at a time, never preempted.
    rate
        Tokens per second of one server.
    tools
        Whether tool calls delay the steps that depend on them.

    Returns
    -------
    ServerRun
        Finish times of tasks and start times of calls.
    """
    if servers < 1:
        raise ConfigError(f"servers must be >= 1, got {servers}")
    if not rate > 0 or not math.isfinite(rate):
        raise ConfigError(f"rate must be positive, got {rate}")
    states: dict[TaskId, _TaskState] = {}
    events: list[tuple[float, int, int, str, TaskId, int]] = []
    seq = 0

    def push(t: float, prio: int, kind: str, tid: TaskId, i: int) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, prio, seq, kind, tid, i))

    for task in workload.tasks:
        push(task.arrival_s, 1, "arrive", task.id, -1)
    free = servers
    ready: list[tuple[TaskId, int]] = []
    finish: dict[TaskId, float] = {}
    starts: dict[tuple[TaskId, int], float] = {}

    def view(ts: _TaskState, i: int) -> SimpleCall:
        t = ts.task
        return SimpleCall(
            t.id, t.tenant, t.agent_type, i, t.steps[i].prompt_tokens, t.arrival_s,
            ts.ready_at[i], ts.attained_s, ts.attained_tokens, ts.wait_s, ts.tool_s,
            ts.steps_done, parents=t.steps[i].deps,
        )

    def release(ts: _TaskState, steps: list[int], now: float) -> None:
        for i in steps:
            ts.ready_at[i] = now
            ready.append((ts.task.id, i))

    while events:
        now = events[0][0]
        while events and events[0][0] == now:
            _, _, _, kind, tid, i = heapq.heappop(events)
            if kind == "arrive":
                task = next(t for t in workload.tasks if t.id == tid)
                ts = _TaskState(task, TaskProgress.for_task(task))
                states[tid] = ts
                scheduler.observe_task_arrival(task.arrival(), now)
                scheduler.observe_task_future(task, now)
                release(ts, ts.progress.roots(), now)
            elif kind == "end":
                ts = states[tid]
                free += 1
                size = _size(ts.task, i)
                call = view(ts, i)
                scheduler.observe_service(call, size, size / rate, now)
                ts.attained_s += size / rate
                ts.attained_tokens += size
                scheduler.observe_call_end(replace(call, task_attained_s=ts.attained_s,
                                                   task_attained_tokens=ts.attained_tokens),
                                           ts.task.steps[i].output_tokens, now)
                gap = ts.task.steps[i].tool_seconds if tools else 0.0
                if gap > 0:
                    push(now + gap, 0, "tool", tid, i)
                else:
                    push(now, 0, "tool", tid, i)
            elif kind == "tool":
                ts = states[tid]
                if tools:
                    ts.tool_s += ts.task.steps[i].tool_seconds
                ts.steps_done += 1
                newly = ts.progress.finish(i)
                if ts.progress.complete:
                    finish[tid] = now
                    scheduler.observe_task_end(tid, now)
                else:
                    release(ts, newly, now)
        while free and ready:
            keyed = []
            for tid, i in ready:
                ts = states[tid]
                keyed.append((scheduler.key(view(ts, i), now), ts.ready_at[i], tid, i))
            keyed.sort()
            _, _, tid, i = keyed[0]
            ready.remove((tid, i))
            ts = states[tid]
            ts.wait_s += now - ts.ready_at[i]
            starts[(tid, i)] = now
            scheduler.observe_call_start(view(ts, i), now)
            free -= 1
            push(now + _size(ts.task, i) / rate, 0, "end", tid, i)
    return ServerRun(finish, starts)


def fair_share_violations(
    workload: Workload,
    make_scheduler: Callable[[], Scheduler],
    *,
    rate: float = 1.0,
    slack: float = 1e-9,
) -> list[str]:
    """Tasks that finish later than fluid fair share plus ``L_max / rate`` (one server).

    The model of Theorem 1 (``docs/proofs/fair_queueing.md``): one server, calls never
    preempted, tool calls ignored; a task's weight is its tenant's weight; the fluid
    system shares the server among unfinished tasks by weight. ``L_max`` is the largest
    call. A scheduler in virtual-finish order passes; see the module example.

    Returns
    -------
    list of str
        One line per late task (empty: the bound holds on this workload).
    """
    run = run_servers(workload, make_scheduler(), servers=1, rate=rate, tools=False)
    jobs = [
        FluidJob(t.arrival_s, (sum(_size(t, i) for i in range(t.llm_calls)) / rate,),
                 weight=workload.tenant(t.tenant).weight)
        for t in workload.tasks
    ]
    fluid = fluid_schedule(jobs, 1.0)
    l_max = max(_size(t, i) for t in workload.tasks for i in range(t.llm_calls)) / rate
    out = []
    for t, g in zip(workload.tasks, fluid.finish, strict=True):
        f = run.finish[t.id]
        if f > g + l_max + slack * max(1.0, g):
            out.append(f"task {t.id}: finish {f:.6g} > fluid {g:.6g} + L_max {l_max:.6g}")
    return out
