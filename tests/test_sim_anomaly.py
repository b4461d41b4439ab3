"""Adding an instance can increase mean TCT: the minimal instance in docs/simulator.md."""

from __future__ import annotations

from test_sim_strategies import COST

from sagacore.sim import simulate
from sagacore.sim.config import ClusterConfig, EngineConfig
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload


def anomaly() -> Workload:
    """Two tasks sharing a 77-token system prompt; the second arrives while the first runs."""
    system = Segment(1, 77)
    a0 = Step(0, (system, Segment(101, 70)), 1, 102)
    a1 = Step(1, (*a0.context, Segment(103, 104)), 40, 104, deps=(0,))
    b0 = Step(0, (system, Segment(105, 1)), 1, 106)
    return Workload((Task(TaskId("t0"), (a0, a1)), Task(TaskId("t1"), (b0,), arrival_s=0.5)))


def test_one_more_instance_slows_the_second_task() -> None:
    w = anomaly()
    one = simulate(w, "vllm-apc", ClusterConfig(1, COST, EngineConfig()))
    two = simulate(w, "vllm-apc", ClusterConfig(2, COST, EngineConfig()))
    # t0 runs alone on instance 0 either way; with two instances, least-loaded placement
    # sends t1 to the idle instance, whose cache does not hold the system prompt
    assert one.tct_by_task()["t0"] == two.tct_by_task()["t0"]
    assert two.tct_by_task()["t1"] > 1.2 * one.tct_by_task()["t1"]
    assert two.tct.mean > one.tct.mean
    assert one.prefill_tokens_reused == 144 + 64 and two.prefill_tokens_reused == 144
