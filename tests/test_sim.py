"""The simulator: fast and step modes agree, invariants hold, runs are deterministic."""

from __future__ import annotations

import doctest
import importlib
import json

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from test_sim_strategies import STACKS, clusters, largest_call, workloads

from sagacore.errors import ConfigError
from sagacore.sim import EventLog, SimResult, simulate
from sagacore.sim.config import ClusterConfig, EngineConfig
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload


def comparable(r: SimResult) -> dict[str, object]:
    s = r.summary()
    for k in ("sim_wall_seconds", "events", "mode"):
        del s[k]
    s["records"] = [
        (t.task_id, t.arrival_s, t.completion_s, t.isolated_s) for t in r.tasks
    ]
    return s


@st.composite
def cases(draw: st.DrawFn) -> tuple[Workload, ClusterConfig, str]:
    w = draw(workloads())
    c = draw(clusters(largest_call(w)))
    return w, c, draw(st.sampled_from(sorted(STACKS)))


@settings(max_examples=80)
@given(cases())
def test_fast_and_step_modes_agree(case: tuple[Workload, ClusterConfig, str]) -> None:
    w, c, name = case
    fast = simulate(w, STACKS[name], c, mode="fast", checked=True)
    step = simulate(w, STACKS[name], c, mode="step", checked=True)
    a, b = comparable(fast), comparable(step)
    ua, ub = a.pop("kv_utilization"), b.pop("kv_utilization")
    assert a == b
    assert ua == pytest.approx(ub, rel=1e-9, abs=1e-12)
    assert fast.tasks_completed == len(w)
    assert fast.llm_calls == w.llm_calls
    assert 0 <= fast.kv_utilization <= 1 + 1e-9
    assert fast.events <= step.events
    event(f"preemptions: {min(fast.preemptions, 3)}")
    event(f"evictions: {fast.evicted_blocks > 0}")
    event(f"swapped in: {fast.swapped_in_tokens > 0}")


def test_modes_agree_under_memory_pressure_on_the_real_trace() -> None:
    from sagacore.data import bundled_trace
    from sagacore.workload.generators import with_poisson_arrivals
    from sagacore.workload.readers import read_workload

    w = with_poisson_arrivals(read_workload(bundled_trace()).head(12), 30.0, seed=3)
    c = ClusterConfig.from_gpus(2, tp=1, model="llama-3-8b",
                                engine=EngineConfig(kv_capacity_tokens=110_000))
    fast = simulate(w, "vllm-apc", c, mode="fast")
    step = simulate(w, "vllm-apc", c, mode="step")
    assert fast.evicted_blocks > 0 and fast.preemptions > 0
    a, b = comparable(fast), comparable(step)
    ua, ub = a.pop("kv_utilization"), b.pop("kv_utilization")
    assert a == b and ua == pytest.approx(ub, rel=1e-9)
    assert step.events > 10 * fast.events


@settings(max_examples=25)
@given(cases())
def test_deterministic(case: tuple[Workload, ClusterConfig, str]) -> None:
    w, c, name = case
    logs = [EventLog(), EventLog()]
    runs = [simulate(w, STACKS[name], c, observers=[log]) for log in logs]
    assert json.dumps(comparable(runs[0])) == json.dumps(comparable(runs[1]))
    assert logs[0].events == logs[1].events


@settings(max_examples=40)
@given(cases())
def test_every_call_runs_once_after_its_dependencies(
    case: tuple[Workload, ClusterConfig, str],
) -> None:
    w, c, name = case
    log = EventLog()
    r = simulate(w, STACKS[name], c, observers=[log])
    ends: dict[tuple[str, int], float] = {}
    tool_ends: dict[tuple[str, int], float] = {}
    starts: dict[tuple[str, int], float] = {}
    done: list[str] = []
    for e in log.events:
        key = (e.task_id, e.step if e.step is not None else -1)
        if e.kind == "call_end":
            assert key not in ends
            ends[key] = e.time
        elif e.kind == "call_start":
            starts.setdefault(key, e.time)
        elif e.kind == "tool_end":
            tool_ends[key] = e.time
        elif e.kind == "task_end":
            done.append(e.task_id)
    assert sorted(done) == sorted(t.id for t in w) and len(done) == len(set(done))
    for t in w:
        for s in t.steps:
            start = starts[(t.id, s.index)]
            for d in s.deps:
                finished = tool_ends.get((t.id, d), ends[(t.id, d)])
                assert finished <= start
    assert r.llm_calls == len(ends) == w.llm_calls


def test_call_larger_than_the_cache_is_an_error() -> None:
    big = Task(TaskId("big"), (Step(0, (Segment(1, 5000),), 10, 2),))
    c = ClusterConfig.from_gpus(1, tp=1, model="llama-3-8b",
                                engine=EngineConfig(kv_capacity_tokens=1000))
    with pytest.raises(ConfigError, match="needs 5010 tokens of KV; an instance holds 976"):
        simulate(Workload((big,)), "vllm", c)


@pytest.mark.parametrize(
    "module",
    [
        "sagacore.sim",
        "sagacore.sim.config",
        "sagacore.sim.worker",
        "sagacore.sim.isolated",
        "sagacore.sim.keys",
        "sagacore.sim.observe",
        "sagacore.workload.load",
        "sagacore.workload.generators.arrivals",
        "sagacore.sim.search",
        "sagacore.route.basic",
        "sagacore.stacks",
        "sagacore.metrics",
    ],
)
def test_doctests(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_call_waits_are_measured() -> None:
    """Alone, a call starts when it is ready; behind a full batch, it waits."""
    c = ClusterConfig.from_gpus(1, tp=1, model="llama-3-8b",
                                engine=EngineConfig(max_num_seqs=1))
    one = Task(TaskId("a"), (Step(0, (Segment(1, 500),), 40, 2),))
    alone = simulate(Workload((one,)), "vllm-apc", c)
    assert alone.call_wait_mean_s == alone.call_wait_max_s == 0.0
    two = Task(TaskId("b"), (Step(0, (Segment(3, 500),), 40, 4),))
    both = simulate(Workload((one, two)), "vllm-apc", c)
    # the second call waits for the whole first call (max_num_seqs=1)
    assert both.call_wait_max_s == pytest.approx(both.tasks[0].tct_s)
    assert both.call_wait_mean_s == pytest.approx(both.call_wait_max_s / 2)
    assert both.summary()["call_wait_p99_s"] <= both.call_wait_max_s


def test_a_worker_views_old_capacity_name_warns_and_gives_the_pool() -> None:
    """``WorkerView.capacity_tokens`` was renamed ``pool_tokens`` (issue 17: one name,
    one thing); the old name still answers, with a DeprecationWarning."""
    import dataclasses

    from sagacore.route.basic import LeastLoaded
    from sagacore.stacks import get_stack

    seen: list[tuple[int, int]] = []

    class Reading(LeastLoaded):
        def route(self, call, workers, now):  # type: ignore[no-untyped-def]
            with pytest.warns(DeprecationWarning, match="use pool_tokens"):
                old = workers[0].capacity_tokens
            seen.append((old, workers[0].pool_tokens))
            return super().route(call, workers, now)

    w = Workload((Task(TaskId("a"), (Step(0, (Segment(1, 50),), 10, 0),)),))
    c = ClusterConfig.from_gpus(1, tp=1, model="llama-3-8b",
                                engine=EngineConfig(kv_capacity_tokens=1000))
    simulate(w, dataclasses.replace(get_stack("vllm"), router=Reading), c)
    assert seen and all(old == new > 0 for old, new in seen)
