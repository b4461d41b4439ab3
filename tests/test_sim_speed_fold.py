"""Fast mode's folded mixed steps: one event for a prefill step and the run after it.

A mixed step whose end decides nothing is planned with the decode run that follows it
(:meth:`sagacore.sim.worker.Worker._fold`); these tests pin when it folds, that a poke
before its end unfolds it, and that results stay those of step mode (with two cases of
fast != step found while measuring them, and fixed).
"""

from __future__ import annotations

import pytest
from test_sim import comparable

from sagacore.data import bundled_trace
from sagacore.sim import SimResult, simulate
from sagacore.sim.config import ClusterConfig, EngineConfig
from sagacore.workload.generators import with_poisson_arrivals
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload
from sagacore.workload.readers import read_workload

CLUSTER = ClusterConfig.from_gpus(1, tp=1, model="llama-3-8b")


def _call(task: str, arrival: float, prompt: int, output: int) -> Task:
    sid = 10 * (1 + ord(task[0]))  # distinct prompts for distinct tasks
    seg = Segment(sid, prompt)
    return Task(TaskId(task), (Step(0, (seg,), output, sid + 1),), arrival_s=arrival)


def _agree(w: Workload, stack: str, cluster: ClusterConfig = CLUSTER) -> SimResult:
    fast = simulate(w, stack, cluster, mode="fast", checked=True)
    step = simulate(w, stack, cluster, mode="step", checked=True)
    a, b = comparable(fast), comparable(step)
    ua, ub = a.pop("kv_utilization"), b.pop("kv_utilization")
    assert a == b
    assert ua == pytest.approx(ub, rel=1e-9, abs=1e-12)
    return fast


def test_a_lone_call_takes_three_events() -> None:
    # arrival, the boundary that admits it (its prefill folded with its decode run), its end
    r = _agree(Workload((_call("a", 1.0, 100, 50),)), "vllm-apc")
    assert r.events == 3


def test_no_fold_when_the_first_decode_step_needs_a_block() -> None:
    # 96 prompt tokens fill 6 blocks: the first decode token needs a 7th at the step's end
    r = _agree(Workload((_call("a", 1.0, 96, 50),)), "vllm-apc")
    assert r.events == 4


def test_no_fold_when_the_call_ends_with_its_prefill() -> None:
    r = _agree(Workload((_call("a", 1.0, 100, 1),)), "vllm-apc")
    assert r.events == 3  # arrival, the admission, the prefill's end (the call's end)


def test_no_fold_when_the_scheduler_observes_service() -> None:
    # Autellix counts each step's service: the prefill step's end reports it
    r = _agree(Workload((_call("a", 1.0, 100, 50),)), "autellix")
    assert r.events == 4


@pytest.mark.parametrize("second", [0.0005, 0.02, 0.5])
def test_a_call_arriving_during_the_folded_step_or_its_run(second: float) -> None:
    # a second call pokes the worker during the first's prefill (unfolding it) or during
    # its run (cutting the window); both modes agree either way
    w = Workload((_call("a", 1.0, 3000, 40), _call("b", 1.0 + second, 500, 30)))
    _agree(w, "vllm-apc")


@pytest.mark.parametrize(
    ("stack", "tasks", "seed", "capacity"),
    [
        ("vllm-apc", 8, 4, 100_000),
        ("sglang", 8, 4, 100_000),
        ("vllm", 8, 4, 100_000),
        # work stealing: a migration pokes its source (its queue changed)
        ("saga", 8, 4, 100_000),
        # AFS preempts for a waiting call only at scheduling points: in step mode its
        # keys were evaluated between them, moving its epochs to other times
        ("saga", 12, 3, 110_000),
    ],
)
def test_real_trace_under_memory_pressure(stack: str, tasks: int, seed: int,
                                          capacity: int) -> None:
    w = with_poisson_arrivals(read_workload(bundled_trace()).head(tasks), 30.0, seed=seed)
    c = ClusterConfig.from_gpus(2, tp=1, model="llama-3-8b",
                                engine=EngineConfig(kv_capacity_tokens=capacity))
    _agree(w, stack, c)
