"""Work stealing with KV migration: the mechanism moves waiting calls and their KV."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from test_sim_strategies import AllToFirst

from sagacore.errors import ConfigError, InvariantError
from sagacore.policy import CallView, Router, WorkerView
from sagacore.sim import EventLog, simulate
from sagacore.sim.config import ClusterConfig, EngineConfig
from sagacore.stacks import Stack
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload


def workload() -> Workload:
    """Six two-step sessions sharing a system prompt, arriving together."""
    system = Segment(1, 640)
    tasks = []
    for i in range(6):
        q = Segment(100 + 10 * i, 300)
        out0 = 101 + 10 * i
        obs = Segment(102 + 10 * i, 200)
        tasks.append(Task(TaskId(f"t{i}"), (
            Step(0, (system, q), 64, out0, tool="bash", tool_seconds=1.0),
            Step(1, (system, q, Segment(out0, 64), obs), 32, 103 + 10 * i, deps=(0,)),
        )))
    return Workload(tuple(tasks))


def cluster() -> ClusterConfig:
    return ClusterConfig.from_gpus(
        2, tp=1, model="llama-3-8b", engine=EngineConfig(max_num_seqs=2)
    )


STEAL = Stack("steal", lambda c: AllToFirst(), "fcfs", "lru")


def test_idle_workers_steal_waiting_calls_with_their_kv() -> None:
    log = EventLog()
    fast = simulate(workload(), STEAL, cluster(), checked=True, observers=[log])
    step = simulate(workload(), STEAL, cluster(), mode="step", checked=True)
    assert fast.tasks_completed == 6
    assert [(t.task_id, t.completion_s) for t in fast.tasks] == [
        (t.task_id, t.completion_s) for t in step.tasks
    ]
    moves = [e for e in log.events if e.kind == "call_migrate"]
    assert moves and all(e.worker == 1 for e in moves)
    assert fast.migrations == step.migrations == len(moves)
    assert fast.migrated_tokens == sum(e.tokens or 0 for e in moves) > 0
    assert fast.summary()["migrations"] == len(moves)
    starts = {(e.task_id, e.step): e for e in log.events if e.kind == "call_start"}
    warm = [e for e in moves if e.tokens]
    assert warm  # some second steps moved with their cached context
    for m in warm:
        s = starts[(m.task_id, m.step)]
        assert s.worker == 1
        assert s.tokens is not None and s.tokens >= m.tokens  # the KV arrived with it


def test_without_stealing_everything_runs_on_worker_zero() -> None:
    class OnlyFirst(Router):
        def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
            return 0

    log = EventLog()
    r = simulate(workload(), Stack("one", lambda c: OnlyFirst(), "fcfs", "lru"), cluster(),
                 observers=[log])
    assert {e.worker for e in log.events if e.kind == "call_start"} == {0}
    stolen = simulate(workload(), STEAL, cluster())
    assert stolen.tct.mean < r.tct.mean  # the second worker helps


def test_a_router_asking_for_a_bad_worker_is_an_invariant_error() -> None:
    class Bad(AllToFirst):
        def rebalance(self, workers: Sequence[WorkerView], now: float) -> list[tuple[int, int]]:
            return [(0, 7)]

    with pytest.raises(InvariantError, match="from worker 0 to 7"):
        simulate(workload(), Stack("bad", lambda c: Bad(), "fcfs", "lru"), cluster())


def test_rebalance_interval_is_validated() -> None:
    class Zero(AllToFirst):
        def __init__(self) -> None:
            super().__init__()
            self.rebalance_interval_s = 0.0

    with pytest.raises(ConfigError, match="rebalance_interval_s"):
        simulate(workload(), Stack("zero", lambda c: Zero(), "fcfs", "lru"), cluster())


def test_the_kv_moves_the_source_frees_the_sessions_own_blocks() -> None:
    from sagacore.sim import build_policies
    from sagacore.sim.cluster import Simulation
    from sagacore.sim.config import SimConfig

    log = EventLog()
    sim = Simulation(workload(), build_policies(STEAL, cluster()), cluster(), SimConfig(checked=True),
                     observers=[log])
    sim.run()
    warm = {e.task_id for e in log.events if e.kind == "call_migrate" and e.tokens}
    assert warm
    src_owners = {n.task_id for n in sim.workers[0].store.entries()}
    dst_owners = {n.task_id for n in sim.workers[1].store.entries()}
    assert not warm & src_owners  # no private context left behind on worker 0
    assert warm <= dst_owners
