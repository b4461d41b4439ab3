"""Hypothesis strategies of small workloads and clusters for the simulator's tests."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from sagacore.cache.lru import LRU
from sagacore.engine import CostModel
from sagacore.policy import (
    CacheContext,
    CacheEntryView,
    CallView,
    Retention,
    RetentionDecision,
    SessionView,
    WorkerView,
)
from sagacore.route.saga import SagaAffinity
from sagacore.sched.fcfs import FCFS, Priority
from sagacore.sim.config import ClusterConfig, EngineConfig
from sagacore.stacks import STACKS as REGISTERED
from sagacore.stacks import Stack
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload

COST = CostModel.from_presets("llama-3-8b", "a100-80gb")


class KeepTTL(LRU):
    """Pin a session's KV for a while during each tool call."""

    name = "test-ttl"

    def retention(self, session: SessionView, ctx: CacheContext) -> RetentionDecision:
        return RetentionDecision(Retention.KEEP, ttl_s=0.7)


class SwapOut(LRU):
    name = "test-swap"

    def retention(self, session: SessionView, ctx: CacheContext) -> RetentionDecision:
        return RetentionDecision(Retention.SWAP)


class DropAll(LRU):
    name = "test-drop"

    def retention(self, session: SessionView, ctx: CacheContext) -> RetentionDecision:
        return RetentionDecision(Retention.DROP)


class Largest(LRU):
    """Evict the largest entry (a policy whose choice is not LRU's)."""

    name = "test-largest"

    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        return max(range(len(candidates)), key=lambda i: (candidates[i].tokens, -i))


class AllToFirst(SagaAffinity):
    """Every call to worker 0; idle workers steal (work stealing under stress)."""

    def __init__(self) -> None:
        super().__init__(idle_s=0.05)

    def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
        return 0


STACKS: dict[str, str | Stack] = {
    **{name: name for name in REGISTERED},  # every registered stack
    "ttl": Stack("ttl", "session-affinity", "fcfs", lambda c: KeepTTL()),
    "swap": Stack("swap", "least-loaded", "fcfs", lambda c: SwapOut()),
    "drop": Stack("drop", "round-robin", "lpm", lambda c: DropAll()),
    "largest-prio": Stack("largest-prio", "cache-aware", lambda c: Priority(), lambda c: Largest()),
    "fcfs-rr": Stack("fcfs-rr", "round-robin", lambda c: FCFS()),
    "steal": Stack("steal", lambda c: AllToFirst(), "fcfs", lambda c: KeepTTL()),
}


@st.composite
def workloads(draw: st.DrawFn, max_tasks: int = 6, max_steps: int = 6) -> Workload:
    """Chains and small DAGs sharing system prompts, with tools and arrivals."""
    n = draw(st.integers(1, max_tasks))
    next_id = [100]

    def seg(tokens: int) -> Segment:
        next_id[0] += 1
        return Segment(next_id[0], tokens)

    systems = [Segment(1, draw(st.integers(1, 90))), Segment(2, draw(st.integers(1, 90)))]
    tasks = []
    for t in range(n):
        k = draw(st.integers(1, max_steps))
        dag = draw(st.booleans()) and k >= 3
        steps: list[Step] = []
        for i in range(k):
            if i == 0:
                prompt: tuple[Segment, ...] = (draw(st.sampled_from(systems)),
                                               seg(draw(st.integers(1, 120))))
                deps: tuple[int, ...] = ()
            elif dag and i < k - 1:
                prompt = (*steps[0].context, seg(draw(st.integers(1, 60))))
                deps = (0,)
            elif dag:
                prompt = (*steps[0].context, seg(draw(st.integers(1, 60))))
                deps = tuple(range(1, i))
            else:
                prev = steps[-1].context
                if draw(st.integers(0, 9)) == 0:
                    prev = prev[: draw(st.integers(1, len(prev)))]
                prompt = (*prev, seg(draw(st.integers(1, 150))))
                deps = (i - 1,)
            tool = draw(st.sampled_from([None, "bash", "search"]))
            steps.append(
                Step(
                    index=i,
                    prompt=prompt,
                    output_tokens=draw(st.sampled_from([1, 2, 17, 40, 120, 300])),
                    output_id=seg(1).id,
                    tool=tool,
                    tool_seconds=draw(st.floats(0, 3.0)) if tool else 0.0,
                    deps=deps,
                )
            )
        arrival = draw(st.sampled_from([0.0, 0.5, float(t), draw(st.floats(0, 20))]))
        tasks.append(Task(TaskId(f"t{t}"), tuple(steps), arrival_s=arrival))
    return Workload(tuple(tasks))


def largest_call(w: Workload) -> int:
    """Tokens of the largest call's context."""
    return max(s.prompt_tokens + s.output_tokens for t in w for s in t.steps)


@st.composite
def clusters(draw: st.DrawFn, min_kv_tokens: int = 0) -> ClusterConfig:
    """1-3 instances with a small KV cache and token budget (memory pressure, chunking)."""
    # 32: one block beyond the largest call, and vLLM's null block
    kv = min_kv_tokens + draw(st.sampled_from([32, 100, 400, 1600, 100_000]))
    engine = EngineConfig(
        max_num_batched_tokens=draw(st.sampled_from([64, 256, 8192])),
        max_num_seqs=draw(st.sampled_from([2, 4, 256])),
        kv_capacity_tokens=kv,
    )
    return ClusterConfig(draw(st.integers(1, 3)), COST, engine)
