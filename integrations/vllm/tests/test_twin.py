"""Tests of the twin: real vLLM schedulers behind a router, agent tasks replayed.

They skip only when vLLM is not importable.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import ClassVar

import pytest

pytest.importorskip("vllm")

import itertools

from sagacore.errors import ConfigError, InvariantError, WorkloadError
from sagacore.policy import CallView, WorkerView
from sagacore.policy import Router as PolicyRouter
from sagacore.workload.model import TaskId
from sagacore_vllm.engine import StepRecord, VllmEngineConfig
from sagacore_vllm.twin import (
    AgentTask,
    InstanceView,
    LLMCall,
    ReadyCall,
    RoundRobin,
    Twin,
    TwinResult,
    chain_task,
    least_loaded,
    prefix_affinity,
    session_affinity,
)

CONFIG = VllmEngineConfig(num_gpu_blocks=512, max_num_batched_tokens=512, max_num_seqs=16)


def linear_step(p: int, cp: int, d: int, cd: int) -> float:
    """A toy cost: fixed overhead plus per-token terms (seconds)."""
    return 0.005 + 2e-5 * p + 1e-7 * cp + 2e-4 * d + 1e-8 * cd


def tasks(n: int = 6, calls: int = 5) -> list[AgentTask]:
    out = []
    for i in range(n):
        base = 1000 * (i + 1)
        out.append(
            chain_task(
                f"t{i}",
                arrival_s=0.05 * i,
                first_prompt=list(range(base, base + 150)),
                output_tokens=[10 + i] * calls,
                observations=[
                    list(range(base + 200 + 40 * k, base + 230 + 40 * k)) for k in range(calls - 1)
                ],
                tool_delays_s=[0.1 * (k + 1) for k in range(calls - 1)],
            )
        )
    return out


def run(
    router: object = session_affinity,
    n_instances: int = 2,
    workload: Sequence[AgentTask] | None = None,
) -> TwinResult:
    twin = Twin([CONFIG] * n_instances, linear_step, router=router)  # type: ignore[arg-type]
    return twin.run(tasks() if workload is None else workload)


def test_every_call_runs_once_in_dependency_order() -> None:
    workload = tasks()
    result = run(workload=workload)
    assert [t.task_id for t in result.tasks] == [t.task_id for t in workload]
    for task, res in zip(workload, result.tasks, strict=True):
        assert [c.index for c in res.calls] == list(range(len(task.calls)))
        assert res.calls[0].ready_s == task.arrival_s + task.calls[0].tool_delay_s
        for prev, cur, spec in zip(res.calls, res.calls[1:], task.calls[1:], strict=False):
            assert math.isclose(cur.ready_s, prev.finish_s + spec.tool_delay_s)
        for c, spec in zip(res.calls, task.calls, strict=True):
            assert c.ready_s <= c.admitted_s < c.first_token_s <= c.finish_s
            assert c.prompt_tokens == len(spec.prompt_token_ids)
            assert c.output_tokens == spec.output_tokens
        assert res.completion_s > sum(c.tool_delay_s for c in task.calls)


def test_steps_of_an_instance_do_not_overlap_and_respect_its_limits() -> None:
    result = run()
    for steps in result.steps:
        for (s0, e0, _), (s1, _, _) in itertools.pairwise(steps):
            assert s0 <= e0 <= s1
        for start, end, record in steps:
            assert math.isclose(
                end - start,
                linear_step(
                    record.prefill_tokens,
                    record.prefill_context_tokens,
                    record.decode_seqs,
                    record.decode_context_tokens,
                ),
            )
            assert record.num_scheduled_tokens <= CONFIG.max_num_batched_tokens
    total_sampled = sum(len(r.sampled) for steps in result.steps for _, _, r in steps)
    assert total_sampled == sum(c.output_tokens for t in result.tasks for c in t.calls)


def test_session_affinity_hits_the_previous_calls_prefix() -> None:
    result = run(session_affinity)
    for task in result.tasks:
        assert len({c.instance for c in task.calls}) == 1
        assert task.calls[0].cached_tokens == 0
        for prev, cur in zip(task.calls, task.calls[1:], strict=False):
            # The previous prompt and output are cached in full blocks, except the last
            # output token, whose KV is never computed (the request ends when it is
            # sampled).
            assert cur.cached_tokens == (prev.prompt_tokens + prev.output_tokens - 1) // 16 * 16


def test_affinity_beats_round_robin_on_prefix_hits() -> None:
    sticky = run(session_affinity, n_instances=3)
    cycling = run(RoundRobin(), n_instances=3)
    assert sticky.prefix_hit_rate > cycling.prefix_hit_rate
    assert sticky.busy_s != cycling.busy_s


def test_prefix_affinity_follows_the_cache() -> None:
    result = run(prefix_affinity, n_instances=3)
    for task in result.tasks:
        assert len({c.instance for c in task.calls}) == 1


def test_least_loaded_spreads_first_calls() -> None:
    workload = [
        AgentTask(f"x{i}", 0.0, (LLMCall(tuple(range(i * 100, i * 100 + 40)), 3),))
        for i in range(4)
    ]
    result = run(least_loaded, n_instances=4, workload=workload)
    assert sorted(t.calls[0].instance for t in result.tasks) == [0, 1, 2, 3]


def test_replays_are_deterministic() -> None:
    assert run() == run()


def test_with_sagacore_cost_model() -> None:
    from sagacore.engine import CostModel

    cost = CostModel.from_presets("llama-3-8b", "a100-80gb")
    result = Twin([CONFIG] * 2, cost.step_seconds).run(tasks(3, 3))
    assert 0 < result.mean_completion_s < result.makespan_s + 1e-9
    assert all(b > 0 for b in result.busy_s)


def test_preemptions_are_counted_and_calls_still_finish() -> None:
    small = VllmEngineConfig(num_gpu_blocks=24, max_num_batched_tokens=256, max_num_seqs=8)
    workload = [
        AgentTask(f"p{i}", 0.0, (LLMCall(tuple(range(i * 200, i * 200 + 100)), 60),))
        for i in range(4)
    ]
    result = Twin([small], linear_step).run(workload)
    assert sum(c.preemptions for t in result.tasks for c in t.calls) > 0
    assert all(len(t.calls) == 1 for t in result.tasks)


def test_errors() -> None:
    with pytest.raises(ConfigError, match="at least one instance"):
        Twin([], linear_step)
    with pytest.raises(WorkloadError, match="unique"):
        Twin([CONFIG], linear_step).run([tasks(1)[0], tasks(1)[0]])
    with pytest.raises(WorkloadError, match="exceeds max_model_len"):
        Twin([CONFIG], linear_step).run([AgentTask("long", 0.0, (LLMCall((1,) * 8190, 10),))])

    def bad_router(call: ReadyCall, instances: Sequence[InstanceView], now: float) -> int:
        return len(instances)

    with pytest.raises(ConfigError, match="router returned 2"):
        Twin([CONFIG] * 2, linear_step, router=bad_router).run(tasks(1))
    with pytest.raises(ConfigError, match="step_seconds returned 0"):
        Twin([CONFIG], lambda p, cp, d, cd: 0).run(tasks(1))
    twin = Twin([CONFIG], linear_step)
    twin.run(tasks(1, 2))
    with pytest.raises(ConfigError, match="runs once"):
        twin.run(tasks(1, 2))
    tiny = VllmEngineConfig(num_gpu_blocks=4, max_num_batched_tokens=128, max_num_seqs=4)
    with pytest.raises(InvariantError, match="stalled"):
        Twin([tiny], linear_step).run([AgentTask("big", 0.0, (LLMCall(tuple(range(100)), 5),))])
    with pytest.raises(WorkloadError, match="one observation"):
        chain_task("c", 0.0, [1], [1, 1], [], [0.1])


def test_docstring_examples() -> None:
    import doctest

    import sagacore_vllm.twin as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_final_tool_counts_in_the_completion_time() -> None:
    call = LLMCall(tuple(range(40)), 3)
    plain = Twin([CONFIG], linear_step).run([AgentTask("a", 0.0, (call,))])
    tooled = Twin([CONFIG], linear_step).run([AgentTask("a", 0.0, (call,), final_tool_s=2.5)])
    assert math.isclose(tooled.tasks[0].completion_s, plain.tasks[0].completion_s + 2.5)
    assert tooled.tasks[0].calls == plain.tasks[0].calls
    with pytest.raises(WorkloadError, match="final_tool_s"):
        AgentTask("a", 0.0, (call,), final_tool_s=-1.0)
    with pytest.raises(WorkloadError, match="output_token_ids"):
        LLMCall((1, 2), 3, output_token_ids=(1,))


def test_a_price_function_and_counters_without_kept_steps() -> None:
    def price(record: StepRecord) -> float:
        return linear_step(
            record.prefill_tokens,
            record.prefill_context_tokens,
            record.decode_seqs,
            record.decode_context_tokens,
        )

    kept = Twin([CONFIG] * 2, linear_step).run(tasks())
    lean = Twin([CONFIG] * 2, router=session_affinity, price=price, keep_steps=False).run(tasks())
    assert lean.tasks == kept.tasks
    assert all(not s for s in lean.steps)
    for stats, steps in zip(lean.instances, kept.steps, strict=True):
        assert stats.steps == sum(1 for _, _, r in steps if not r.is_empty)
        assert stats.prefill_tokens == sum(r.prefill_tokens for _, _, r in steps)
        assert stats.decode_tokens == sum(len(r.sampled) for _, _, r in steps)
        assert math.isclose(stats.busy_s, sum(e - s for s, e, _ in steps))
    assert lean.events == kept.events > 0
    with pytest.raises(ConfigError, match="step_seconds or price"):
        Twin([CONFIG])


def test_sagacore_routers_plug_in_and_see_worker_views() -> None:
    from sagacore.route.basic import LeastLoaded, SessionAffinity

    sticky = Twin([CONFIG] * 3, linear_step, router=SessionAffinity()).run(tasks())
    for task in sticky.tasks:
        assert len({c.instance for c in task.calls}) == 1
    # simultaneous first calls: each sees the previous one's queued prompt as load
    workload = [
        AgentTask(f"x{i}", 0.0, (LLMCall(tuple(range(i * 100, i * 100 + 40)), 3),))
        for i in range(3)
    ]
    spread = Twin([CONFIG] * 3, linear_step, router=LeastLoaded()).run(workload)
    assert [t.calls[0].instance for t in spread.tasks] == [0, 1, 2]


# --- DAG tasks -----------------------------------------------------------------------------


def diamond(task_id: str = "d", arrival_s: float = 0.0, final_tool_s: float = 0.0) -> AgentTask:
    """A planner (0), two branches (1, 2) and a join (3). Branch 1 is short with a long
    tool, branch 2 long with a short tool: the join waits for branch 1's tool although
    branch 2 finishes last."""
    plan = tuple(range(100, 164))
    head = plan + (7,) * 4
    return AgentTask(task_id, arrival_s, (
        LLMCall(plan, 4, tool="plan", tool_seconds=0.2),
        LLMCall(head + tuple(range(300, 332)), 2, tool="search", deps=(0,), tool_seconds=0.5),
        LLMCall(head + tuple(range(400, 432)), 24, tool="search", deps=(0,), tool_seconds=0.01),
        LLMCall(head + tuple(range(500, 540)), 2, deps=(1, 2), tool_seconds=0.3),
    ), final_tool_s=final_tool_s)


class RecordingRouter(PolicyRouter):
    """Everything on instance 0; records what each call's view says and task ends."""

    name: ClassVar[str] = "recording"

    def __init__(self) -> None:
        self.parents: dict[tuple[str, int], tuple[int, ...]] = {}
        self.ended: dict[str, float] = {}

    def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
        self.parents[(call.task_id, call.step)] = tuple(call.parents)
        return 0

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        self.ended[task_id] = now


def test_a_join_is_ready_when_the_last_parents_tool_ends() -> None:
    router = RecordingRouter()
    task = diamond(final_tool_s=0.25)
    result = Twin([CONFIG], linear_step, router=router).run([task])
    (res,) = result.tasks
    c0, c1, c2, c3 = res.calls
    assert [c.index for c in res.calls] == [0, 1, 2, 3]
    # both branches are ready when the planner's tool ends, and run together
    assert c1.ready_s == c2.ready_s == c0.finish_s + 0.2
    assert c2.admitted_s < c1.finish_s
    # branch 2 finishes last, but branch 1's tool ends later: the join waits for it
    assert c2.finish_s > c1.finish_s
    assert c1.finish_s + 0.5 > c2.finish_s + 0.01
    assert c3.ready_s == c1.finish_s + 0.5
    # the task ends with the join's tool and its final tool
    assert res.finish_s == c3.finish_s + 0.3 + 0.25
    assert [c.tool_seconds for c in res.calls] == [0.2, 0.5, 0.01, 0.3]
    # a sagacore router sees each call's parents, and the task's end
    assert router.parents == {("d", 0): (), ("d", 1): (0,), ("d", 2): (0,), ("d", 3): (1, 2)}
    assert router.ended == {"d": res.finish_s}


def test_a_join_without_tools_waits_for_its_last_parent() -> None:
    plan = tuple(range(100, 164))
    task = AgentTask("j", 0.0, (
        LLMCall(plan, 2),
        LLMCall(plan + (7,) * 2 + (1,) * 20, 30, deps=(0,)),
        LLMCall(plan + (7,) * 2 + (2,) * 20, 2, deps=(0,)),
        LLMCall(plan + (3,) * 10, 2, deps=(2, 1), tool_delay_s=0.125),
    ))
    (res,) = Twin([CONFIG], linear_step).run([task]).tasks
    assert res.calls[3].ready_s == max(res.calls[1].finish_s, res.calls[2].finish_s) + 0.125
    assert res.calls[1].finish_s > res.calls[2].finish_s


def test_a_tool_on_the_call_that_invokes_it_replays_a_chain_identically() -> None:
    """A chain written with each tool before the next call (``tool_delay_s``, ``final_tool_s``)
    and the same chain with each tool on its call (``tool_seconds``) replay to the bit."""
    before = tasks()
    after = [
        AgentTask(t.task_id, t.arrival_s, tuple(
            LLMCall(c.prompt_token_ids, c.output_tokens,
                    tool_seconds=t.calls[k + 1].tool_delay_s if k + 1 < len(t.calls) else 0.4)
            for k, c in enumerate(t.calls)
        ))
        for t in before
    ]
    before = [AgentTask(t.task_id, t.arrival_s, t.calls, final_tool_s=0.4) for t in before]
    a = run(workload=before)
    b = run(workload=after)
    for ta, tb in zip(a.tasks, b.tasks, strict=True):
        assert ta.finish_s == tb.finish_s
        assert [dataclasses.replace(c, tool_seconds=0.0) for c in ta.calls] == [
            dataclasses.replace(c, tool_seconds=0.0) for c in tb.calls]
    assert a.steps == b.steps


def test_dags_mix_with_chains_and_bad_deps_are_refused() -> None:
    workload = [*tasks(3), diamond("d0", 0.02), diamond("d1", 0.07)]
    result = run(workload=workload)
    for task, res in zip(workload, result.tasks, strict=True):
        graph = task.graph()
        for c in res.calls:
            for d in graph[c.index]:
                assert c.ready_s >= res.calls[d].finish_s + task.calls[d].tool_seconds
    call = LLMCall((1, 2, 3), 1)
    for bad in [(1,), (0, 0), (-1,), [0]]:
        with pytest.raises(WorkloadError, match="deps must be distinct indices"):
            AgentTask("x", 0.0, (call, LLMCall((1,), 1, deps=bad)))  # type: ignore[arg-type]
    with pytest.raises(WorkloadError, match="tool_seconds"):
        LLMCall((1,), 1, tool_seconds=-1.0)
