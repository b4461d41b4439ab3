"""TTL holds released under memory pressure (``SimConfig.release_pins_under_pressure``)
and released holds made the most recently used (``SimConfig.released_pins_most_recent``).

Hand-built cases on one instance of 20 usable KV blocks (16 tokens each), FCFS, LRU,
and a cache policy that pins every session for a TTL set per task. The rule, as
sagacore's vLLM plug-in applies it (docs/vllm-plugin.md): at a scheduling point, when
the head of the queue does not fit, holds are released nearest expiry first, skipping
the head's own task's hold and any hold whose time left is at most the time to
recompute its blocks, until the head fits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import pytest

from sagacore.cache.lru import LRU
from sagacore.errors import ConfigError
from sagacore.policy import CacheContext, Retention, RetentionDecision, SessionView
from sagacore.sim import build_policies
from sagacore.sim.cluster import Simulation
from sagacore.sim.config import ClusterConfig, EngineConfig, SimConfig
from sagacore.sim.observe import EventLog
from sagacore.stacks import BuildContext, Stack
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload

BLOCK = 16
CLUSTER = ClusterConfig.from_gpus(
    1, tp=1, model="llama-3-8b", gpu="a100-80gb",
    engine=EngineConfig(kv_capacity_tokens=21 * BLOCK),  # 20 usable blocks + the null block
)
PER_TOKEN = CLUSTER.cost.prefill_seconds(2048) / 2048
"""The recompute price the rule reads (the cost model's prefill seconds per token)."""


class FixedTTL(LRU):
    """LRU eviction; every session is pinned for its task's TTL while its tool runs."""

    name: ClassVar[str] = "fixed-ttl"

    def __init__(self, ttl: Mapping[str, float]) -> None:
        self.ttl = dict(ttl)

    def retention(self, session: SessionView, ctx: CacheContext) -> RetentionDecision:
        return RetentionDecision(Retention.KEEP, self.ttl[session.task_id])


def stack(ttl: Mapping[str, float]) -> Stack:
    def build(ctx: BuildContext) -> FixedTTL:
        return FixedTTL(ttl)

    return Stack("pins", router="round-robin", scheduler="fcfs", cache=build)


def chain(name: str, seg: int, prompt: int, *, arrival: float = 0.0, tool_s: float = 50.0,
          new: int = 40, out: int = 8) -> Task:
    """Two calls separated by a tool: the second's prompt is the first's context + ``new``."""
    first = Step(0, (Segment(seg, prompt),), out, seg + 1, tool="bash", tool_seconds=tool_s)
    second = Step(1, (Segment(seg, prompt), Segment(seg + 1, out), Segment(seg + 2, new)),
                  out, seg + 3, deps=(0,))
    return Task(TaskId(name), (first, second), arrival_s=arrival)


def single(name: str, seg: int, prompt: int, arrival: float) -> Task:
    return Task(TaskId(name), (Step(0, (Segment(seg, prompt),), 8, seg + 1),), arrival_s=arrival)


def run(tasks: tuple[Task, ...], ttl: Mapping[str, float], *, release: bool,
        mode: str = "fast", most_recent: bool = False) -> tuple[Simulation, EventLog]:
    log = EventLog()
    config = SimConfig(mode=mode, checked=True,  # type: ignore[arg-type]
                       release_pins_under_pressure=release,
                       released_pins_most_recent=most_recent)
    sim = Simulation(Workload(tasks), build_policies(stack(ttl), CLUSTER), CLUSTER, config,
                     observers=[log])
    sim.run()
    return sim, log


def starts(log: EventLog) -> dict[str, tuple[float, int]]:
    """``task#step`` -> (time of its first admission, prompt tokens it hit)."""
    out: dict[str, tuple[float, int]] = {}
    for e in log.events:
        if e.kind == "call_start":
            out.setdefault(f"{e.task_id}#{e.step}", (e.time, int(e.tokens or 0)))
    return out


def first_end(task: Task, ttl: float) -> float:
    """When ``task``'s first call ends alone (its hold starts then)."""
    _, log = run((task,), {task.id: ttl}, release=False)
    return min(e.time for e in log.events if e.kind == "call_end")


# p pins 10 full blocks (168 tokens of context) while its 50 s tool runs; q, a call of
# another task, needs 16 blocks of the 10 left free
P = chain("p", 1, 160)
HELD_BLOCKS = 10


@pytest.mark.parametrize("mode", ["fast", "step"])
def test_a_hold_is_released_when_the_head_does_not_fit(mode: str) -> None:
    tasks = (P, single("q", 10, 250, arrival=1.0))
    sim, log = run(tasks, {"p": 100.0}, release=True, mode=mode)
    s = starts(log)
    assert sim.pins_released_for_pressure == 1
    assert s["q#0"][0] == 1.0  # admitted on arrival
    # q took 17 blocks (its prompt, then its output): 10 free, then 7 of p's released
    # context, reclaimed from its tail
    assert s["p#1"][1] == (HELD_BLOCKS - 7) * BLOCK


def test_off_by_default_the_head_waits_for_the_hold() -> None:
    assert SimConfig().release_pins_under_pressure is False
    assert SimConfig().released_pins_most_recent is False
    tasks = (P, single("q", 10, 250, arrival=1.0))
    sim, log = run(tasks, {"p": 100.0}, release=False)
    s = starts(log)
    assert sim.pins_released_for_pressure == 0
    # q, at the head, waits for p's hold to expire (p#1, ready after p's 50 s tool, waits
    # behind q); q then evicts 7 blocks of p's context
    end = first_end(P, 100.0)
    assert s["q#0"][0] == end + 100.0
    assert s["p#1"][1] == (HELD_BLOCKS - 7) * BLOCK


@pytest.mark.parametrize(("left_over_cost", "released"), [(0.5, False), (2.0, True)])
def test_a_hold_about_to_expire_is_waited_for(left_over_cost: float, released: bool) -> None:
    """A hold whose time left is at most the recompute of its blocks is not released:
    the head waits for it to expire."""
    ttl = 3.0
    end = first_end(P, ttl)
    recompute = HELD_BLOCKS * BLOCK * PER_TOKEN
    arrival = end + ttl - left_over_cost * recompute  # time left at q's arrival
    sim, log = run((P, single("q", 10, 250, arrival=arrival)), {"p": ttl}, release=True)
    q_start = starts(log)["q#0"][0]
    assert sim.pins_released_for_pressure == int(released)
    assert q_start == (arrival if released else end + ttl)


def test_the_heads_own_hold_is_never_released() -> None:
    """p#1 (the head) needs 8 new blocks, 6 are free; p's own hold expires first, but only
    s's is released, so p#1 hits every block of its context."""
    p = chain("p", 1, 160, tool_s=1.0, new=120)  # p#1: 18 blocks, 10 of them held by p
    s = chain("s", 20, 64, tool_s=30.0)  # holds 4 blocks
    sim, log = run((p, s), {"p": 5.0, "s": 20.0}, release=True)
    got = starts(log)
    assert sim.pins_released_for_pressure == 1
    ready = max(e.time for e in log.events if e.kind == "call_ready" and e.task_id == "p")
    assert got["p#1"] == (ready, HELD_BLOCKS * BLOCK)
    # p#1 grew to 19 blocks (its prompt, then its output): 9 new, the 6 free ones and 3
    # of s's released 4, so s#1 hits 1 of its 4
    assert got["s#1"][1] == 1 * BLOCK
    # without the release, p#1 waits for s's hold to leave room; nothing is released
    held, log2 = run((p, s), {"p": 5.0, "s": 20.0}, release=False)
    assert held.pins_released_for_pressure == 0
    assert starts(log2)["p#1"][0] > ready


@pytest.mark.parametrize("most_recent", [False, True])
def test_a_released_hold_becomes_the_most_recently_used(most_recent: bool) -> None:
    task = Task(TaskId("p"), (Step(0, (Segment(1, 160),), 8, 2, tool="bash", tool_seconds=10.0),))
    end = first_end(task, 2.0)
    sim, _ = run((task,), {"p": 2.0}, release=False, most_recent=most_recent)
    (entry,) = sim.workers[0].store.entries()
    assert entry.ref == 0 and entry.cached == HELD_BLOCKS
    assert entry.last_access_s == (end + 2.0 if most_recent else end)


def test_the_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match="release_pins_under_pressure must be True or False, "
                       "got 'yes'"):
        SimConfig(release_pins_under_pressure="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="released_pins_most_recent"):
        SimConfig(released_pins_most_recent=None)  # type: ignore[arg-type]
