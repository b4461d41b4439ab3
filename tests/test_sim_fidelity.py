"""Tests that tie the simulator to reality: isolated time, Little's law, M/G/1, caching."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_sim_strategies import COST, STACKS, clusters, largest_call, workloads

from sagacore.data import bundled_trace
from sagacore.metrics import time_average_in_system
from sagacore.sim import EventLog, simulate
from sagacore.sim.config import ClusterConfig, EngineConfig, get_cluster
from sagacore.sim.isolated import call_seconds, isolated_completion
from sagacore.stacks import Stack, get_stack
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload
from sagacore.workload.readers import read_workload

BIG = ClusterConfig(1, COST, EngineConfig(max_num_batched_tokens=512))


@pytest.mark.parametrize("mode", ["fast", "step"])
@pytest.mark.parametrize("stack", ["vllm", "vllm-apc", "sglang"])
def test_real_task_alone_takes_its_isolated_time(stack: str, mode: str) -> None:
    task = read_workload(bundled_trace()).tasks[3].with_arrival(12.5)
    cluster = get_cluster("a100-64")
    r = simulate(Workload((task,)), stack, cluster, mode=mode)
    caching = get_stack(stack).prefix_caching
    expect = isolated_completion(task, cluster.cost, cluster.engine, prefix_caching=caching)
    assert r.tasks[0].completion_s == expect  # the same sums, in the same order
    # and by hand: each call's steps, then its tool
    t = 12.5
    for s in task.steps:
        cached = 0
        if caching and s.index:
            prev = task.steps[s.index - 1]
            cached = min(prev.prompt_tokens + prev.output_tokens - 1, s.prompt_tokens - 1)
            cached = cached // 16 * 16
        t += sum(call_seconds(cluster.cost, cluster.engine, s.prompt_tokens, s.output_tokens,
                              cached))
        t += s.tool_seconds
    assert r.tasks[0].completion_s == pytest.approx(t, rel=1e-12)


@st.composite
def chains(draw: st.DrawFn) -> Task:
    w = draw(workloads(max_tasks=1, max_steps=8))
    task = w.tasks[0]
    return task if task.is_chain() else Task(task.id, task.steps[:1])


@settings(max_examples=60)
@given(chains(), st.sampled_from(["vllm", "vllm-apc", "sglang"]),
       st.sampled_from(["fast", "step"]))
def test_any_chain_alone_takes_its_isolated_time(task: Task, stack: str, mode: str) -> None:
    r = simulate(Workload((task,)), stack, BIG, mode=mode)
    caching = get_stack(stack).prefix_caching
    assert r.tasks[0].completion_s == isolated_completion(
        task, COST, BIG.engine, prefix_caching=caching
    )


def test_littles_law() -> None:
    """L = lambda W: from the event stream, over the run and over a steady-state window."""
    w = read_workload(bundled_trace())
    rng = np.random.default_rng(7)
    arrivals = np.cumsum(rng.exponential(60.0 / 3.0, size=len(w)))
    tasks = tuple(t.with_arrival(float(a)) for t, a in zip(w.tasks, arrivals, strict=True))
    log = EventLog()
    r = simulate(Workload(tasks), "vllm-apc", "a100-16", observers=[log])
    # L from the event stream: tasks in the system, time-weighted
    events = sorted((e.time, 1 if e.kind == "task_arrival" else -1)
                    for e in log.events if e.kind in ("task_arrival", "task_end"))
    start, end = r.start_s, r.end_s
    area, n, last = 0.0, 0, start
    for t, d in events:
        area += n * (t - last)
        n, last = n + d, t
    L = area / (end - start)
    lam = len(tasks) / (end - start)
    W = r.tct.mean
    assert L == pytest.approx(lam * W, rel=1e-9)  # exact over a run that starts and ends empty
    # steady state: the middle half of the arrivals
    a0, a1 = float(arrivals[len(w) // 4]), float(arrivals[3 * len(w) // 4])
    inside = [rec for rec in r.tasks if a0 <= rec.arrival_s < a1]
    L_win = time_average_in_system([x.arrival_s for x in r.tasks],
                                   [x.completion_s for x in r.tasks], a0, a1)
    lam_win = len(inside) / (a1 - a0)
    W_win = float(np.mean([x.tct_s for x in inside]))
    assert L_win == pytest.approx(lam_win * W_win, rel=0.1)


def test_single_server_queue_matches_pollaczek_khinchine() -> None:
    """One instance serving one call at a time, FCFS, Poisson arrivals: an M/G/1 queue.

    Output lengths are geometric, so service times are close to exponential (M/M/1-like);
    the mean time in system must match W = E[S] + lambda E[S^2] / (2 (1 - rho)) with the
    exact service times of the tasks (each one's isolated time).
    """
    rng = np.random.default_rng(11)
    n = 3000
    outputs = rng.geometric(1 / 120, size=n)
    engine = EngineConfig(max_num_seqs=1)
    cluster = ClusterConfig(1, COST, engine)
    service = np.array([sum(call_seconds(COST, engine, 16, int(o), 0)) for o in outputs])
    rho = 0.6
    lam = rho / service.mean()
    arrivals = np.cumsum(rng.exponential(1 / lam, size=n))
    tasks = tuple(
        Task(TaskId(f"q{i}"), (Step(0, (Segment(10_000 + 2 * i, 16),), int(o), 10_001 + 2 * i),),
             arrival_s=float(a))
        for i, (o, a) in enumerate(zip(outputs, arrivals, strict=True))
    )
    r = simulate(Workload(tasks), Stack("fifo", "round-robin", "fcfs", prefix_caching=False),
                 cluster)
    rho_hat = lam * service.mean()
    pk = service.mean() + lam * float(np.mean(service**2)) / (2 * (1 - rho_hat))
    assert r.tct.mean == pytest.approx(pk, rel=0.08)
    mm1 = 1 / (1 / service.mean() - lam)
    assert pk == pytest.approx(mm1, rel=0.05)  # service close to exponential


@settings(max_examples=60)
@given(st.data())
def test_prefix_caching_never_increases_prefill_work(data: st.DataObject) -> None:
    w = data.draw(workloads())
    c = data.draw(clusters(largest_call(w)))
    router = data.draw(st.sampled_from(["round-robin", "session-affinity", "least-loaded"]))
    sched = data.draw(st.sampled_from(["fcfs", "lpm"]))
    on = simulate(w, Stack("on", router, sched, prefix_caching=True), c)
    off = simulate(w, Stack("off", router, sched, prefix_caching=False), c)
    assert on.prefill_tokens_computed <= off.prefill_tokens_computed
    assert off.prefill_tokens_reused == 0


def test_utilisation_and_reuse_accounting() -> None:
    task = read_workload(bundled_trace()).tasks[0]
    r = simulate(Workload((task,)), "vllm-apc", BIG)
    prompts = sum(s.prompt_tokens for s in task.steps)
    assert r.prefill_tokens_computed + r.prefill_tokens_reused == prompts
    assert 0 < r.kv_utilization < 1
    assert not math.isnan(r.slo_attainment) and r.slo_attainment == 1.0
    unused = STACKS["vllm"]
    assert simulate(Workload((task,)), unused, BIG).prefill_tokens_reused == 0
