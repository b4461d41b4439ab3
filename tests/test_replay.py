"""Cache-only replay over the prefix store: accounting, retention, a differential test
against a plain LRU reference, and the bound property (every policy >= FOO-L)."""

from __future__ import annotations

from collections import OrderedDict
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagacore.bounds import CacheTrace, FooSolver, belady
from sagacore.cache import CACHE_POLICIES
from sagacore.cache.lru import LRU
from sagacore.cache.replay import ReplayConfig, replay
from sagacore.errors import ConfigError
from sagacore.policy import (
    CacheContext,
    Retention,
    RetentionDecision,
    SessionView,
)
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload

TOL = 1e-6


def chain(
    tid: str,
    sizes: list[int],
    *,
    arrival: float = 0.0,
    tool_s: float = 1.0,
    base: int = 0,
    system: Segment | None = None,
) -> Task:
    """A ReAct task: each prompt is the previous context plus an observation."""
    steps: list[Step] = []
    prompt: tuple[Segment, ...] = (system,) if system else ()
    for i, n in enumerate(sizes):
        prompt = (*(steps[-1].context if steps else prompt), Segment(base + 2 * i + 1, n))
        last = i == len(sizes) - 1
        steps.append(
            Step(
                i,
                prompt,
                1,
                base + 2 * i + 2,
                tool=None if last else "bash",
                tool_seconds=0.0 if last else tool_s,
                deps=(i - 1,) if i else (),
            )
        )
    return Task(TaskId(tid), tuple(steps), arrival_s=arrival)


class Always(LRU):
    """LRU that always answers the same retention."""

    name: ClassVar[str] = "always"

    def __init__(self, decision: RetentionDecision) -> None:
        self.decision = decision

    def retention(self, session: SessionView, ctx: CacheContext) -> RetentionDecision:
        return self.decision


def test_session_reuses_its_context() -> None:
    w = Workload((chain("a", [100, 40, 30]),))
    r = replay(w, "lru", ReplayConfig(capacity_tokens=10_000))
    # step 1 reuses 100 + 1 output token, step 2 reuses 141 + 1
    assert (r.hit_tokens, r.lookup_tokens) == (101 + 142, 100 + 141 + 172)
    assert r.miss_cost_tokens == r.lookup_tokens - r.hit_tokens
    assert (r.hits, r.misses, r.requests) == (2, 1, 3)
    assert r.to_json()["requests_per_second"] > 0


def test_zero_capacity_and_bad_config() -> None:
    w = Workload((chain("a", [10, 5]),))
    r = replay(w, "lru", ReplayConfig(capacity_tokens=0))
    assert r.hit_tokens == 0 and r.miss_cost_tokens == r.lookup_tokens
    with pytest.raises(ConfigError, match="capacity_tokens"):
        ReplayConfig(capacity_tokens=-1)
    with pytest.raises(ConfigError, match="block_tokens"):
        ReplayConfig(capacity_tokens=10, block_tokens=0)


def test_drop_swap_and_pinned_keep() -> None:
    sys_prompt = Segment(999, 50)
    a = chain("a", [100, 20], system=sys_prompt, tool_s=10.0)  # context 151, tool 0..10 s
    c = chain("c", [100], arrival=1.0, base=100, system=sys_prompt)  # 101 private
    b = chain("b", [50], arrival=5.0, base=200, system=sys_prompt)  # needs 51 more
    w = Workload((a, b, c))
    cfg = ReplayConfig(capacity_tokens=280)  # 252 used when b comes: 23 must go
    keep = replay(w, Always(RetentionDecision(Retention.KEEP)), cfg)
    pin = replay(w, Always(RetentionDecision(Retention.KEEP, ttl_s=60.0)), cfg)
    drop = replay(w, Always(RetentionDecision(Retention.DROP)), cfg)
    swap = replay(w, Always(RetentionDecision(Retention.SWAP)), cfg)
    # unpinned, LRU takes a's oldest tail; pinned, it takes c's instead
    assert keep.hit_tokens == 50 + 50 + (151 - 23)
    assert pin.hit_tokens == 50 + 50 + 151
    # at a's tool the system prompt is still a's alone, so it goes too
    assert drop.dropped_tokens == 151 and drop.hit_tokens == 50 + 50
    assert swap.swap_in_tokens == 171 - 50 - 20 and swap.hit_tokens == drop.hit_tokens
    assert swap.miss_cost_tokens == drop.miss_cost_tokens - 101
    assert swap.single_tier_cost_tokens == drop.single_tier_cost_tokens


def test_pins_yield_to_a_call_that_cannot_run() -> None:
    a = chain("a", [100, 20], tool_s=10.0)
    b = chain("b", [150], arrival=5.0, base=100)
    w = Workload((a, b))
    r = replay(
        w, Always(RetentionDecision(Retention.KEEP, ttl_s=60.0)), ReplayConfig(capacity_tokens=200)
    )
    assert r.extra["pins_broken"] == 1 and r.uncached_calls == 0


def test_replay_is_deterministic_and_timed_mode_runs() -> None:
    w = Workload(
        tuple(chain(f"t{k}", [30, 20, 10], arrival=k * 0.5, base=10 * k) for k in range(4))
    )
    for name in sorted(CACHE_POLICIES):
        a = replay(w, name, ReplayConfig(capacity_tokens=150))
        b = replay(w, name, ReplayConfig(capacity_tokens=150))
        assert (a.hit_tokens, a.swap_in_tokens) == (b.hit_tokens, b.swap_in_tokens)
        t = replay(
            w, name, ReplayConfig(capacity_tokens=150, timed_calls=True, default_llm_seconds=0.3)
        )
        assert t.requests == 12


# ---------------------------------------------------------------- differential
def reference_lru(requests: list[list[int]], capacity: int) -> list[int]:
    """A plain block LRU (unit blocks, longest cached prefix), hits per request."""
    cache: OrderedDict[tuple[int, ...], None] = OrderedDict()
    out = []
    for path in requests:
        keys = [tuple(path[: i + 1]) for i in range(len(path))]
        hit = 0
        for k in keys:
            if k not in cache:
                break
            hit += 1
        for k in reversed(keys):  # the leaf is older than its prefix, as vLLM frees tail first
            cache[k] = None
            cache.move_to_end(k)
        while len(cache) > capacity:
            cache.popitem(last=False)
        out.append(hit)
    return out


@given(
    st.lists(st.lists(st.integers(1, 3), min_size=1, max_size=4), min_size=1, max_size=12),
    st.integers(4, 12),
)
def test_lru_matches_a_plain_reference(paths: list[list[int]], capacity: int) -> None:
    # one-step tasks at distinct times, unit blocks: LRU over the store's leaves drains
    # leaf tails first, which is block LRU with prefixes more recent than their leaves
    tasks = tuple(
        Task(
            TaskId(f"r{t:03d}"),
            (Step(0, tuple(Segment(s, 1) for s in p), 1, 10**6 + t),),
            arrival_s=float(t),
        )
        for t, p in enumerate(paths)
    )
    w = Workload(tasks)
    r = replay(w, LRU(), ReplayConfig(capacity_tokens=capacity, cache_outputs=False))
    # the store keeps a request's blocks only while their total fits (no partial request)
    fits = [p for p in paths if len(p) <= capacity]
    if len(fits) == len(paths):
        assert r.hit_tokens == sum(reference_lru(paths, capacity))


# ---------------------------------------------------------------- the bound property
@st.composite
def workloads(draw: st.DrawFn) -> Workload:
    n_tasks = draw(st.integers(1, 4))
    system = Segment(7777, draw(st.integers(1, 4)))
    tasks = []
    for k in range(n_tasks):
        sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
        shared = draw(st.booleans())
        tasks.append(
            chain(
                f"t{k}",
                sizes,
                arrival=float(draw(st.integers(0, 4))),
                tool_s=float(draw(st.integers(0, 3))),
                base=100 * (k + 1),
                system=system if shared else None,
            )
        )
    return Workload(tuple(tasks))


@settings(max_examples=25)
@given(workloads(), st.integers(0, 30), st.sampled_from(sorted(CACHE_POLICIES)))
def test_every_policy_pays_at_least_foo_lower(w: Workload, capacity: int, name: str) -> None:
    tr = CacheTrace.from_workload(w)
    r = replay(w, name, ReplayConfig(capacity_tokens=capacity))
    assert r.requests == tr.n_requests and r.lookup_tokens == tr.lookup_tokens
    bound = FooSolver(tr, working_set=True).solve(capacity)
    assert r.single_tier_cost_tokens >= bound.lower - TOL
    assert FooSolver(tr).solve(capacity).lower <= bound.lower + TOL
    if name == "lru":
        assert belady(tr, capacity, working_set=True) >= bound.lower - TOL


def test_a_parallel_steps_pin_replaces_its_siblings() -> None:
    """A session holds one pin at a time (as in the simulator): when two parallel steps
    both enter a tool with a TTL pin, the second pin replaces the first, so nothing
    stays pinned once the task has moved on (it used to leak the first pin forever).
    Timed calls: both parallel calls end before either sibling starts again."""
    ctx0 = (Segment(1, 100), Segment(2, 10))
    steps = (
        Step(0, (Segment(1, 100),), 10, 2),
        Step(1, (*ctx0, Segment(3, 20)), 5, 4, tool="bash", tool_seconds=1.0, deps=(0,)),
        Step(2, (*ctx0, Segment(5, 20)), 5, 6, tool="bash", tool_seconds=1.0, deps=(0,)),
        Step(3, (*ctx0, Segment(5, 20), Segment(6, 5), Segment(7, 10)), 5, 8, deps=(1, 2)),
    )
    a = Task(TaskId("a"), steps)
    b = Task(TaskId("b"), (Step(0, (Segment(100, 280),), 10, 101),), arrival_s=100.0)
    pin = Always(RetentionDecision(Retention.KEEP, ttl_s=1000.0))
    cfg = ReplayConfig(capacity_tokens=300, timed_calls=True, default_llm_seconds=1.0)
    r = replay(Workload((a, b)), pin, cfg)
    # b's 290 tokens fit once every entry of a is unpinned and evictable
    assert r.uncached_calls == 0
    assert r.requests == 5
