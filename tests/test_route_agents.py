"""Contract tests of the agent-aware routers: saga-affinity, preble, autellix."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from sagacore.errors import ConfigError
from sagacore.policy import Router
from sagacore.route import ROUTERS, make_router
from sagacore.route.autellix import AutellixLB
from sagacore.route.preble import Preble
from sagacore.route.saga import SagaAffinity

NEW = ["saga-affinity", "preble", "autellix"]


@dataclass
class W:
    worker_id: int
    load: float
    queued_calls: int = 0
    running_calls: int = 0
    pool_tokens: int = 10_000
    cached: dict[str, int] = field(default_factory=dict)

    @property
    def free_tokens(self) -> int:
        return max(0, int(self.pool_tokens * (1 - self.load)))

    def cached_prefix_tokens(self, call: C) -> int:
        return min(self.cached.get(str(call.task_id), 0), call.prompt_tokens)


@dataclass
class C:
    task_id: str
    prompt_tokens: int = 4000


def random_workers(rng: random.Random, n: int) -> list[W]:
    return [
        W(i, rng.random() * 1.2, rng.randrange(4), rng.randrange(4),
          cached={f"t{j}": rng.randrange(5000) for j in range(3) if rng.random() < 0.5})
        for i in range(n)
    ]


@pytest.mark.parametrize("name", NEW)
def test_registered_and_valid_ids_deterministic(name: str) -> None:
    assert name in ROUTERS
    r1, r2 = make_router(name), make_router(name)
    assert isinstance(r1, Router) and r1.name == name
    rng = random.Random(0)
    for step in range(300):
        ws = random_workers(rng, rng.randrange(1, 6))
        call = C(f"t{rng.randrange(3)}", rng.choice([100, 2048, 3000, 9000]))
        a, b = r1.route(call, ws, float(step)), r2.route(call, ws, float(step))
        assert a == b
        assert a in {w.worker_id for w in ws}
        if rng.random() < 0.1:
            r1.observe_task_end(call.task_id, float(step))
            r2.observe_task_end(call.task_id, float(step))


@pytest.mark.parametrize("name", NEW)
def test_ids_need_not_be_positions(name: str) -> None:
    ws = [W(7, 0.5), W(3, 0.2), W(5, 0.9)]
    r = make_router(name)
    assert r.route(C("a"), ws, 0.0) == 3
    assert r.route(C("a"), ws[::-1], 1.0) in {3, 5, 7}


def test_saga_affinity_threshold() -> None:
    r = SagaAffinity(load_threshold=0.8)
    ws = [W(0, 0.3), W(1, 0.1)]
    assert r.route(C("s"), ws, 0.0) == 1
    ws[1].load = 0.79
    assert r.route(C("s"), ws, 1.0) == 1  # below 0.8: sticks though not least loaded
    ws[1].load = 0.8
    assert r.route(C("s"), ws, 2.0) == 0  # at the threshold: moves to the least loaded
    ws[1].load = 0.0
    assert r.route(C("s"), ws, 3.0) == 0  # and the affinity moved with it
    r.observe_migration("s", 0, 1, 4.0)
    assert r.route(C("s"), ws, 5.0) == 1
    r.observe_task_end("s", 6.0)
    assert "s" not in r.homes
    ws[0].load, ws[1].load = 0.0, 0.5
    assert r.route(C("s"), ws, 7.0) == 0  # forgotten: placed afresh
    with pytest.raises(ConfigError):
        SagaAffinity(load_threshold=-1)


def test_saga_affinity_threshold_is_a_parameter() -> None:
    r = SagaAffinity(load_threshold=0.5)
    ws = [W(0, 0.3), W(1, 0.1)]
    r.route(C("s"), ws, 0.0)
    ws[1].load = 0.6
    assert r.route(C("s"), ws, 1.0) == 0


def test_preble_exploit_threshold() -> None:
    call = C("p", 1000)
    ws = [W(0, 0.1), W(1, 0.15, cached={"p": 501})]
    assert Preble().route(call, ws, 0.0) == 1  # more than half cached: exploit
    ws[1].cached["p"] = 500
    assert Preble().route(call, ws, 0.0) == 0  # not more than half: least load cost
    assert Preble(exploit_ratio=0.4).route(call, ws, 0.0) == 1
    ws[1].cached["p"] = 900
    ws[1].load = 0.9
    assert Preble().route(call, ws, 0.0) == 0  # exploited worker overloaded: rebalance
    assert Preble(rebalance_ratio=10.0).route(call, ws, 0.0) == 1
    with pytest.raises(ConfigError):
        Preble(exploit_ratio=1.5)


def test_preble_load_cost_counts_eviction() -> None:
    call = C("p", 5000)
    full = W(0, 0.95)  # 500 free: must evict 4500
    half = W(1, 0.5)
    assert Preble.load_cost(call, full, 0) == 9500 + 4500 + 5000
    assert Preble.load_cost(call, half, 0) == 5000 + 0 + 5000
    assert Preble().route(call, [full, half], 0.0) == 1
    r = Preble()
    r.observe_task_end("p", 1.0)  # stateless: a no-op


def test_autellix_locality_and_imbalance() -> None:
    r = AutellixLB(short_tokens=2048, imbalance=0.5)
    ws = [W(0, 0.2), W(1, 0.1)]
    assert r.route(C("p", 9000), ws, 0.0) == 1
    ws[1].load = 0.7  # 0.7 - 0.2 = 0.5: not more than the threshold
    assert r.route(C("p", 9000), ws, 1.0) == 1
    assert r.route(C("p", 2048), ws, 2.0) == 0  # short: least loaded, home kept
    assert r.homes["p"] == 1
    ws[1].load = 0.71
    assert r.route(C("p", 9000), ws, 3.0) == 0  # imbalanced: rebalanced, home moves
    ws[1].load = 0.0
    assert r.route(C("p", 9000), ws, 4.0) == 0
    r.observe_task_end("p", 5.0)
    assert r.homes == {}
    assert r.route(C("p", 9000), ws, 6.0) == 1
    with pytest.raises(ConfigError):
        AutellixLB(imbalance=-0.1)


@pytest.mark.parametrize("name", ["saga-affinity", "autellix"])
def test_sessions_are_forgotten(name: str) -> None:
    r = make_router(name)
    ws = [W(0, 0.1), W(1, 0.2)]
    for i in range(50):
        r.route(C(f"t{i}", 9000), ws, float(i))
        r.observe_task_end(f"t{i}", float(i))
    assert isinstance(r, SagaAffinity | AutellixLB)
    assert r.homes == {}


def test_saga_stealing_needs_an_idle_thief_and_an_overloaded_victim() -> None:
    r = SagaAffinity()
    busy = [W(0, 0.9, queued_calls=2), W(1, 0.85, queued_calls=0), W(2, 0.6, queued_calls=1)]
    # worker 1's queue is empty, but its load is above the threshold: not a thief; the
    # loads are within 2x of each other: no skew
    assert r.rebalance(busy, 0.0) == [] and r.rebalance(busy, 0.2) == []
    calm = [W(0, 0.9, queued_calls=1), W(1, 0.5, queued_calls=0), W(2, 0.6, queued_calls=1)]
    r = SagaAffinity()
    assert r.rebalance(calm, 0.0) == []  # empty, but not yet for 100 ms
    # worker 2 waits but is below the threshold and within 2x of the thief: not a victim
    assert r.rebalance(calm, 0.1) == [(0, 1)]
    calm[0].queued_calls = 0
    assert r.rebalance(calm, 0.2) == []  # worker 2 is the only one waiting: not overloaded


def test_saga_stealing_one_call_per_thief_and_no_more_than_waits() -> None:
    r = SagaAffinity()
    ws = [W(0, 1.0, queued_calls=1), W(1, 0.1), W(2, 0.1), W(3, 0.1)]
    r.rebalance(ws, 0.0)
    pairs = r.rebalance(ws, 0.1)
    assert pairs == [(0, 1)]  # one call waits: the first thief takes it
    ws[0].queued_calls = 5
    assert r.rebalance(ws, 0.2) == [(0, 1), (0, 2), (0, 3)]


def test_saga_stealing_is_seeded_and_can_be_off() -> None:
    def run(seed: int) -> list[list[tuple[int, int]]]:
        r = SagaAffinity(seed=seed)
        ws = [W(0, 0.9, queued_calls=3), W(1, 0.95, queued_calls=3), W(2, 0.0), W(3, 0.0)]
        return [r.rebalance(ws, 0.1 * k) for k in range(6)]

    assert run(1) == run(1)
    assert {src for pairs in run(1) for src, _ in pairs} == {0, 1}
    off = SagaAffinity(steal=False)
    assert off.rebalance_interval_s is None
    assert off.rebalance([W(0, 1.0, queued_calls=3), W(1, 0.0)], 1.0) == []
    assert SagaAffinity().rebalance_interval_s == 0.1
    with pytest.raises(ConfigError, match="idle_s"):
        SagaAffinity(idle_s=0)
    with pytest.raises(ConfigError, match="steal_ratio"):
        SagaAffinity(steal_ratio=0.5)


def test_saga_stealing_forgets_an_instance_no_longer_offered() -> None:
    """A lost instance's stale 'queue empty' entry must not hide a live queue (found with
    ``--faults lose:...``): with instance 3 gone, idle 1 and 2 steal from busy 0."""
    from types import SimpleNamespace as W

    from sagacore.route.saga import SagaAffinity

    r = SagaAffinity(idle_s=0.1)
    four = [W(worker_id=i, queued_calls=0, load=0.1) for i in range(4)]
    assert r.rebalance(four, 0.0) == []  # nothing waits anywhere
    three = [W(worker_id=0, queued_calls=5, load=0.9),
             W(worker_id=1, queued_calls=0, load=0.1),
             W(worker_id=2, queued_calls=0, load=0.1)]
    assert sorted(r.rebalance(three, 1.0)) == [(0, 1), (0, 2)]
