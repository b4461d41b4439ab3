"""``idle-steal``: session affinity, and work stealing only by idle workers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sagacore.errors import ConfigError
from sagacore.policy import Router, WorkerView
from sagacore.route import make_router
from sagacore.route.idle_steal import IdleSteal
from sagacore.route.saga import SagaAffinity
from sagacore.sim import simulate
from sagacore.sim.config import ClusterConfig
from sagacore.stacks import get_stack
from sagacore.workload.load import load_workload


@dataclass
class W:
    worker_id: int
    load: float
    queued_calls: int = 0
    free_tokens: int = 1_000
    pool_tokens: int = 1_000


@dataclass
class C:
    task_id: str
    prompt_tokens: int = 1_000


def test_registered_and_validated() -> None:
    assert isinstance(make_router("idle-steal"), IdleSteal)
    with pytest.raises(ConfigError, match="idle_s"):
        IdleSteal(idle_s=0.0)
    with pytest.raises(ConfigError, match="idle_load"):
        IdleSteal(idle_load=float("nan"))
    with pytest.raises(ConfigError, match="idle_load"):
        IdleSteal(idle_load=1.5)
    with pytest.raises(ConfigError, match="settle_s"):
        IdleSteal(settle_s=-1.0)


def test_affinity_never_breaks_on_load() -> None:
    r = IdleSteal()
    ws = [W(0, 0.2), W(1, 0.5)]
    assert r.route(C("t"), ws, 0.0) == 0
    ws[0].load = 5.0  # SAGA's affinity would move the session at 0.8
    assert r.route(C("t"), ws, 1.0) == 0


def test_only_an_idle_worker_steals_and_only_from_a_busier_one() -> None:
    r = IdleSteal()
    busy = [W(0, 0.9, 2), W(1, 0.85, 0), W(2, 0.95, 1)]
    # worker 1's queue is empty but its load is at or above 0.8: SAGA's ratio rule would
    # let it steal from a worker twice as loaded; this rule never moves work between
    # busy workers
    assert r.rebalance(busy, 0.0) == [] and r.rebalance(busy, 0.2) == []
    r = IdleSteal()
    ws = [W(0, 0.3, 1), W(1, 0.5, 0), W(2, 0.6, 3)]
    assert r.rebalance(ws, 0.0) == []  # empty, but not yet for 100 ms
    # worker 1 takes from the worker with the most waiting calls among the busier ones
    assert r.rebalance(ws, 0.1) == [(2, 1)]
    ws[2].queued_calls = 0
    assert r.rebalance(ws, 0.2) == []  # worker 0 waits but is less loaded than worker 1
    # memory held for programs paused in a tool (pinned KV) is not free: a worker whose
    # calls all wait on tools looks unloaded, but its programs will come back
    r = IdleSteal()
    ws = [W(0, 0.9, 2), W(1, 0.0, 0, free_tokens=150)]
    assert r.rebalance(ws, 0.0) == [] and r.rebalance(ws, 0.1) == []
    ws[1].free_tokens = 250
    assert r.rebalance(ws, 0.2) == [(0, 1)]


def test_a_large_context_stays_and_a_receiver_settles() -> None:
    r = IdleSteal()
    thief = W(1, 0.1, 0, free_tokens=600, pool_tokens=1_000)
    assert r.stealable(C("a", 150), thief)
    assert not r.stealable(C("b", 250), thief)   # over the headroom, 0.2 of the capacity
    thief.free_tokens = 250
    assert not r.stealable(C("a", 150), thief)   # over half the thief's free KV
    # the receiver of a stolen call is no source for settle_s, so it cannot bounce back
    ws = [W(0, 0.9, 1), W(1, 0.1, 0)]
    r.rebalance(ws, 0.0)
    assert r.rebalance(ws, 0.1) == [(0, 1)]
    r.observe_migration("t", 0, 1, 0.1)
    ws = [W(0, 0.0, 0), W(1, 0.9, 1)]
    r.rebalance(ws, 0.2)
    assert r.rebalance(ws, 0.3) == [] and r.rebalance(ws, 1.05) == []
    assert r.rebalance(ws, 1.1) == [(1, 0)]
    assert r.route(C("t"), ws, 1.2) == 1   # the affinity followed the stolen session


@given(
    loads=st.lists(st.floats(0.0, 2.0), min_size=1, max_size=6),
    queues=st.lists(st.integers(0, 3), min_size=6, max_size=6),
    free=st.lists(st.integers(0, 1_000), min_size=6, max_size=6),
    ticks=st.integers(1, 4),
)
def test_every_steal_is_from_a_waiting_busier_worker_to_an_idle_one(
    loads: list[float], queues: list[int], free: list[int], ticks: int,
) -> None:
    r = IdleSteal()
    ws = [W(i, load, queues[i], free[i]) for i, load in enumerate(loads)]
    for k in range(ticks):
        pairs = r.rebalance(ws, 0.1 * k)
        taken: dict[int, int] = {}
        for src, dst in pairs:
            s, d = ws[src], ws[dst]
            assert d.queued_calls == 0 and d.load < 0.8 and k >= 1
            assert d.free_tokens >= 0.2 * d.pool_tokens
            assert s.queued_calls > 0 and s.load > d.load
            taken[src] = taken.get(src, 0) + 1
        assert all(n <= ws[src].queued_calls for src, n in taken.items())
        assert len({dst for _, dst in pairs}) == len(pairs)  # one call per thief


def test_in_a_simulation_idle_workers_steal_and_the_run_is_deterministic() -> None:
    w = load_workload("swe-bench", tasks=24, rate=30.0, seed=3)
    cluster = ClusterConfig.from_gpus(4, tp=1, model="llama-3-8b")
    stack = get_stack("sagacore")
    a = simulate(w, stack, cluster)
    b = simulate(w, stack, cluster)
    assert a.migrations > 0
    assert a.tct_by_task() == b.tct_by_task()
    assert a.tasks_completed == len(w)



class _EveryTick(IdleSteal):
    """IdleSteal without the quiet-tick promise: the mechanism calls it at every tick."""

    quiet_ticks_idle = False


class _SagaEveryTick(SagaAffinity):
    """SagaAffinity without the quiet-tick promise."""

    quiet_ticks_idle = False


@pytest.mark.parametrize("name, every_tick", [("sagacore", _EveryTick), ("saga", _SagaEveryTick)])
@pytest.mark.parametrize("faults", [False, True])
def test_quiet_ticks_left_out_change_nothing(name: str, every_tick: type[Router],
                                             faults: bool) -> None:
    """The mechanism leaves out the quiet ticks a router promises to ignore
    (``Router.quiet_ticks_idle``): the same run with every tick made gives the same
    result to the bit, events counted included, with an instance lost midway and a time
    limit (the loop stops between ticks) too."""
    import dataclasses

    from sagacore.sim import build_policies, get_cluster
    from sagacore.sim.cluster import Simulation
    from sagacore.sim.config import SimConfig
    from sagacore.sim.faults import FaultSchedule, InstanceLoss

    w = load_workload("swe-bench-trace", tasks=30, rate=12.0, seed=1)
    cluster = get_cluster("a100-16")
    base = get_stack(name)
    every = dataclasses.replace(base, router=every_tick.from_context)
    limit = 900.0 if faults else None
    sched = FaultSchedule((InstanceLoss(1, 200.0),)) if faults else None
    out = []
    ticks = []
    for stack in (base, every):
        sim = Simulation(w, build_policies(stack, cluster), cluster,
                         SimConfig(max_sim_seconds=limit), faults=sched)
        calls: list[float] = []
        router = sim.router
        rebalance = router.rebalance

        def counted(views: Sequence[WorkerView], now: float, rebalance: Any = rebalance,
                    calls: list[float] = calls) -> Any:
            calls.append(now)
            return rebalance(views, now)

        router.rebalance = counted  # type: ignore[method-assign]
        r = sim.run()
        s = r.summary()
        s.pop("sim_wall_seconds")
        out.append((s, r.tasks, sim.now))
        ticks.append(len(calls))
    assert out[0] == out[1]
    assert out[0][0]["migrations"] > 0
    assert ticks[0] < ticks[1] / 2  # most ticks were quiet and left out
