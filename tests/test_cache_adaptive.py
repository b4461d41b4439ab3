"""The adaptive ``sagacore`` cache policy: the duel score (Belady's verdict on the two
experts' disagreements), the store's lookup hook, and the selector following the expert
that is right on workloads where one of them is made wrong on purpose."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sagacore.cache.adaptive import Duel
from sagacore.cache.lru import LRU
from sagacore.cache.next_use import NextUse
from sagacore.cache.replay import ReplayConfig, replay
from sagacore.cache.sagacore import SagacoreCache, SagacoreCacheConfig
from sagacore.cache.store import PrefixStore
from sagacore.errors import ConfigError
from sagacore.policy import CacheContext, CacheEntryView
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload


# --- the score --------------------------------------------------------------------------
def test_needed_first_loses() -> None:
    d = Duel(half_life=math.inf)
    d.record(1, 2)
    d.record(3, 4)
    d.observe([9, 2])  # expert 1's nominee needed first: expert 0 was right
    assert d.wins == [1.0, 0.0] and d.leader == 0
    d.observe([3])  # expert 0's nominee needed first
    assert d.wins == [1.0, 1.0] and d.leader == 0  # a tie follows expert 0
    d.record(5, 6)
    d.observe([5, 6])  # both in one request: the first in the prompt decides
    assert d.wins == [1.0, 2.0] and d.leader == 1 and d.decided == 3 and d.open_duels == 0


def test_a_win_is_what_the_wrong_nominee_cost() -> None:
    d = Duel(half_life=math.inf)
    d.record(1, 2, 100.0, 5.0)
    d.record(3, 4, 100.0, 5.0)
    d.observe([2])  # expert 1's small nominee needed first: expert 0 wins its 5 tokens
    d.observe([3])  # expert 0's large nominee needed first: expert 1 wins 100
    assert d.wins == [5.0, 100.0] and d.leader == 1


def test_a_decided_duel_is_not_decided_again_and_open_pairs_are_not_repeated() -> None:
    d = Duel(half_life=math.inf)
    d.record(1, 2)
    d.record(1, 2)
    d.record(2, 1)
    d.record(7, 7)  # same key: no information
    assert d.open_duels == 1
    d.observe([1])
    d.observe([1])
    d.observe([2])
    assert d.decided == 1 and d.wins == [0.0, 1.0]


def test_one_key_in_several_duels() -> None:
    d = Duel(half_life=math.inf)
    d.record(1, 2)
    d.record(3, 1)
    d.observe([1])
    assert d.wins == [1.0, 1.0] and d.open_duels == 0


def test_decay_halves_a_win_after_half_life_verdicts() -> None:
    d = Duel(half_life=3)
    d.record(1, 2)
    d.observe([1])  # expert 1 wins once
    for k in range(3):
        d.record(10 + k, 20 + k)
        d.observe([20 + k])  # then expert 0 three times
    assert d.wins[1] == pytest.approx(0.5)
    assert d.wins[0] == pytest.approx(sum(0.5 ** (j / 3) for j in range(3)))


def test_recent_verdicts_outweigh_old_ones() -> None:
    d = Duel(half_life=8)
    for k in range(100):  # expert 0 right 100 times long ago
        d.record(k, 1000 + k)
        d.observe([1000 + k])
    assert d.leader == 0
    for k in range(20):  # then wrong 20 times in a row
        d.record(2000 + k, 3000 + k)
        d.observe([2000 + k])
    assert d.leader == 1
    never = Duel(half_life=math.inf)
    for k in range(100):
        never.record(k, 1000 + k)
        never.observe([1000 + k])
    for k in range(20):
        never.record(2000 + k, 3000 + k)
        never.observe([2000 + k])
    assert never.leader == 0


def test_open_duels_are_bounded_oldest_forgotten_first() -> None:
    d = Duel(half_life=math.inf, max_open=3)
    for k in range(5):
        d.record(k, 100 + k)
    assert d.open_duels == 3
    d.observe([0, 1])  # forgotten
    assert d.decided == 0
    d.observe([104])
    assert d.decided == 1 and d.leader == 0


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5), st.integers(0, 5)), max_size=60))
def test_wins_count_the_decided_duels(ops: list[tuple[bool, int, int]]) -> None:
    d = Duel(half_life=math.inf)
    for is_record, a, b in ops:
        if is_record:
            d.record(a, b)
        else:
            d.observe([a, b])
    assert sum(d.wins) == d.decided  # unit costs
    assert d.open_duels <= 15  # pairs of six keys


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), True, "64"])
def test_bad_half_life(bad: object) -> None:
    with pytest.raises(ConfigError, match="half_life"):
        Duel(half_life=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="half_life"):
        SagacoreCacheConfig(half_life=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, 2.5, True])
def test_bad_max_open(bad: object) -> None:
    with pytest.raises(ConfigError, match="max_open"):
        Duel(half_life=1.0, max_open=bad)  # type: ignore[arg-type]


# --- the store's hook -------------------------------------------------------------------
class Recorder(LRU):
    def __init__(self) -> None:
        self.lookups: list[tuple[int, ...]] = []

    def observe_lookup(self, segments: Sequence[int], now: float) -> None:
        self.lookups.append(tuple(segments))


def test_store_reports_every_lookup_and_entries_carry_their_last_segment() -> None:
    pol = Recorder()
    store = PrefixStore(capacity_blocks=100, policy=pol, block_size=1)
    lease = store.acquire((1, 2), (10, 20), 20, 0.0)
    store.grow(lease, 25, 0.0)
    store.commit(lease, (1, 2, 3), (10, 20, 25), 25, 0.0)
    store.release(lease, 0.0)
    store.acquire((1, 2, 3, 4), (10, 20, 25, 30), 30, 1.0)
    assert pol.lookups == [(1, 2), (1, 2, 3, 4)]
    (leaf,) = store.entries()
    assert leaf.last_segment == 3


# --- the selector on replays ------------------------------------------------------------
def chain(tid: str, n: int, *, base: int, arrival: float, gap: float, obs: int) -> Task:
    """A ReAct session of ``n`` calls, each prompt the previous context plus ``obs`` tokens."""
    steps: list[Step] = []
    prompt: tuple[Segment, ...] = ()
    for i in range(n):
        prompt = (*(steps[-1].context if steps else ()), Segment(base + 2 * i, obs))
        last = i == n - 1
        steps.append(Step(i, prompt, 10, base + 2 * i + 1, tool=None if last else "bash",
                          tool_seconds=0.0 if last else gap, deps=(i - 1,) if i else ()))
    return Task(TaskId(tid), tuple(steps), arrival_s=arrival)


def sessions(k: int = 12) -> Workload:
    """Overlapping sessions with steady gaps: the one used longest ago returns soonest
    (round robin), so evicting the most recently used is right and LRU is wrong."""
    return Workload(tuple(
        chain(f"s{j}", 8, base=1000 * j, arrival=0.1 * j, gap=5.0 + 0.01 * j, obs=50)
        for j in range(k)
    ))


def recency(k: int = 24) -> Workload:
    """Short sessions arriving one after another: the recently used are the live ones,
    so evicting the least recently used (a finished session) is right."""
    return Workload(tuple(
        chain(f"r{j}", 5, base=1000 * j, arrival=2.0 * j, gap=1.0 + 0.01 * j, obs=50)
        for j in range(k)
    ))


class Backwards(NextUse):
    """A ranking that is wrong on purpose: it nominates the most recently used entry."""

    def rank(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        return max(range(len(candidates)),
                   key=lambda i: (candidates[i].last_access_s, candidates[i].entry_id))


class Oracle(NextUse):
    """A ranking that reads the future: the entry needed last (never: first)."""

    def __init__(self, w: Workload) -> None:
        super().__init__()
        self.when: dict[int, list[float]] = {}
        for t in w.tasks:
            now = t.arrival_s
            for s in t.steps:
                for seg in s.prompt:
                    self.when.setdefault(seg.id, []).append(now)
                now += s.tool_seconds

    def rank(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        def nxt(e: CacheEntryView) -> float:
            key = getattr(e, "last_segment", None)
            later = [x for x in self.when.get(key, []) if x > ctx.now] if key is not None else []
            return min(later) if later else math.inf
        return max(range(len(candidates)), key=lambda i: nxt(candidates[i]))


def run(w: Workload, ranking: NextUse | None, cap: int, **kw: object) -> tuple[int, SagacoreCache]:
    pol = SagacoreCache(SagacoreCacheConfig(**kw))  # type: ignore[arg-type]
    if ranking is not None:
        pol.ranking = ranking
    r = replay(w, pol, ReplayConfig(capacity_tokens=cap))
    return r.single_tier_cost_tokens, pol


@pytest.mark.parametrize("cap", [600, 900])
def test_follows_lru_when_the_ranking_is_wrong(cap: int) -> None:
    w = recency()
    lru = replay(w, LRU(), ReplayConfig(capacity_tokens=cap)).single_tier_cost_tokens
    stuck, _ = run(w, Backwards(), cap, adaptive=False)
    cost, pol = run(w, Backwards(), cap)
    assert pol.duel.decided > 0 and pol.duel.leader == 1
    assert cost < stuck  # the wrong ranking alone pays more
    assert cost <= lru * 1.05  # and following LRU costs about what LRU does


def test_follows_the_ranking_when_it_is_right() -> None:
    w = sessions()
    cap = 2500
    lru = replay(w, LRU(), ReplayConfig(capacity_tokens=cap)).single_tier_cost_tokens
    alone, _ = run(w, Oracle(w), cap, adaptive=False)
    cost, pol = run(w, Oracle(w), cap)
    assert alone < lru  # the round robin is LRU's worst case
    assert pol.duel.leader == 0 and pol.duel.wins[0] > pol.duel.wins[1]
    assert cost == alone


@dataclass(frozen=True)
class View:
    """A CacheEntryView without the store's ``last_segment`` (an engine's own cache)."""

    entry_id: int
    last_access_s: float
    tokens: int = 100
    prefix_tokens: int = 100
    created_s: float = 0.0
    hits: int = 0
    task_id: TaskId | None = None
    step: int | None = None
    tool: str | None = None
    tool_started_s: float | None = None


def test_without_keys_it_is_next_use() -> None:
    pol, ref = SagacoreCache(), NextUse()
    ctx = CacheContext(now=100.0, capacity_tokens=1000, used_tokens=900)
    for k in range(30):
        cands = [View(j, float((j * 7 + k) % 11), hits=j % 3) for j in range(6)]
        assert pol.victim(cands, ctx) == ref.victim(cands, ctx)
    assert pol.duel.open_duels == 0


def test_deterministic() -> None:
    w = sessions()
    timing = {"wall_seconds", "requests_per_second"}
    a, b = (
        {k: v for k, v in replay(w, "sagacore", ReplayConfig(capacity_tokens=2000)).to_json().items()
         if k not in timing}
        for _ in range(2)
    )
    assert a == b
