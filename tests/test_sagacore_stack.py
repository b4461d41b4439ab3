"""The ``sagacore`` stack and its pieces: SRPT with aging, working-set admission control
(the Scheduler.admit hook in the simulator), break-even retention."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sagacore.policy import CacheContext, CallView, Retention, Scheduler, WorkerView
from sagacore.sched.admission import AdmissionConfig, SagacoreScheduler, with_admission
from sagacore.sched.fcfs import FCFS
from sagacore.sched.srpt_aging import SRPTAging, SRPTAgingConfig
from sagacore.sim import simulate
from sagacore.sim.config import ClusterConfig
from sagacore.stacks import STACKS, BuildContext, get_stack
from sagacore.testing.fairness import SimpleCall
from sagacore.workload.load import load_workload
from sagacore.workload.model import TaskId
from sagacore.workload.predictor import Predictor

SMALL = ClusterConfig.from_gpus(1, tp=1, model="llama-2-7b", gpu="a100-80gb")
"""One instance of 113,936 KV tokens: generated SWE agents (contexts to ~40K) contend."""


@dataclasses.dataclass
class _Worker:
    worker_id: int = 0
    running_calls: int = 1
    pool_tokens: int = 100_000
    cached_share: float = 1.0
    """Share of any call's prompt this worker still caches."""

    def cached_prefix_tokens(self, call: CallView) -> int:
        return int(self.cached_share * call.prompt_tokens)


class Counting(SagacoreScheduler):
    """Counts the admission decisions."""

    def __init__(self, predictor: Predictor | None) -> None:
        super().__init__(predictor)
        self.deferred = 0
        self.admitted = 0

    def admit(self, call: CallView, worker: WorkerView, now: float) -> bool:
        ok = super().admit(call, worker, now)
        self.deferred += not ok
        self.admitted += ok
        return ok


def test_registered_and_alias() -> None:
    s, best = get_stack("sagacore"), get_stack("sagacore-best")
    assert s.uses_predictor and s.prefix_caching
    assert (best.router, best.scheduler, best.cache) == (s.router, s.scheduler, s.cache)
    assert "sagacore" in STACKS


def test_low_load_equals_vllm_apc_per_task() -> None:
    """Where nothing competes (a large cache, tasks rarely overlap), the same schedule as
    vllm-apc task by task: no call waits as long as the copy of its KV would take, so
    idle stealing moves nothing (without its copy rule it moved calls here and the
    schedule differed)."""
    w = load_workload("swe-bench", tasks=10, rate=0.2, seed=1)
    cluster = ClusterConfig.from_gpus(2, tp=1, model="llama-3-8b")
    a = simulate(w, "vllm-apc", cluster).tct_by_task()
    c = simulate(w, "sagacore", cluster)
    b = c.tct_by_task()
    assert a.keys() == b.keys()
    for t in a:
        assert b[t] == pytest.approx(a[t], rel=0.01), t
    assert c.migrations == 0
    from sagacore.route.idle_steal import IdleSteal

    def bare(ctx: BuildContext) -> IdleSteal:
        return IdleSteal()  # no copy rule

    eager = dataclasses.replace(get_stack("sagacore"), name="eager", router=bare)
    assert simulate(w, eager, cluster).migrations > 0


def test_a_call_moves_only_once_it_has_waited_its_copy() -> None:
    """idle-steal built for a run lets a call move only once it has waited as long as
    the copy of its cached KV takes; built bare, it has no such rule."""
    from types import SimpleNamespace as NS

    from sagacore.engine import CostModel
    from sagacore.route.idle_steal import IdleSteal

    cost = CostModel.from_presets("llama-3-70b", "a100-80gb", tp=4)
    ctx = BuildContext(cost, 2, 400_000)
    r = IdleSteal.from_context(ctx)
    copy = cost.migration_seconds(50_000)
    thief = NS(worker_id=1, free_tokens=300_000, pool_tokens=400_000)
    call = NS(task_id="t", prompt_tokens=50_000, cached_tokens=50_000, ready_s=10.0)
    busy = [NS(worker_id=0, queued_calls=1, load=0.9)]  # ticks that find a queue
    r.rebalance(busy, 10.0 + 0.5 * copy)
    assert not r.stealable(call, thief)
    r.rebalance(busy, 10.0 + 1.01 * copy)
    assert r.stealable(call, thief)
    assert IdleSteal().stealable(NS(**{**vars(call), "ready_s": 1e9}), thief)


def test_admission_defers_under_pressure_and_fast_equals_step() -> None:
    """In overload the gate defers new programs; fast and step mode still agree exactly,
    and every task completes; recomputation falls well below vllm-apc's."""
    w = load_workload("swe-bench", tasks=9, rate=20.0, seed=0)
    made: list[Counting] = []

    def build(ctx: BuildContext) -> Scheduler:
        made.append(Counting(ctx.predictor))
        return made[-1]

    stack = dataclasses.replace(get_stack("sagacore"), name="counting", scheduler=build)
    fast = simulate(w, stack, SMALL, mode="fast", checked=True)
    step = simulate(w, stack, SMALL, mode="step", checked=True)
    assert made[0].deferred > 0 and made[0].deferred == made[1].deferred
    assert fast.tct_by_task() == step.tct_by_task()
    assert fast.tasks_completed == len(w)
    apc = simulate(w, "vllm-apc", SMALL)
    assert fast.prefill_tokens_computed < 0.5 * apc.prefill_tokens_computed


def test_admission_rules() -> None:
    a = with_admission(FCFS(), AdmissionConfig(growth_share=1.0))
    w = _Worker(pool_tokens=50_000)
    assert a.admit(SimpleCall(task_id=TaskId("p"), prompt_tokens=1_600), w, 0.0)
    reserved = a.working_set(0)
    assert 30_000 < reserved < 50_000  # the prior's peak: 1.6K + ~75 calls x 430 tokens
    # a second new program would not fit: deferred, and so is any later new one then
    assert not a.admit(SimpleCall(task_id=TaskId("q"), prompt_tokens=100), w, 1.0)
    assert not a.admit(SimpleCall(task_id=TaskId("r"), prompt_tokens=100), _Worker(0, 1, 10**9), 1.0)
    # ... but at another scheduling point a program that fits is admitted
    assert a.admit(SimpleCall(task_id=TaskId("r"), prompt_tokens=100), _Worker(0, 1, 10**9), 2.0)
    # a started program always resumes; an idle worker never defers (rule i)
    assert a.admit(SimpleCall(task_id=TaskId("p"), step=1, prompt_tokens=2_000), w, 3.0)
    assert a.admit(SimpleCall(task_id=TaskId("s"), prompt_tokens=1_600), _Worker(0, 0, 1), 4.0)
    # the reservations leave with their programs
    for t in ("p", "r", "s"):
        a.observe_task_end(TaskId(t), 5.0)
    assert a.working_set(0) == 0.0


def test_a_program_whose_kv_is_gone_stops_reserving() -> None:
    """Between calls a program reserves only while the worker still holds its KV."""
    for share, admitted in ((1.0, False), (0.4, True)):
        a = with_admission(FCFS(), AdmissionConfig(growth_share=1.0))
        w = _Worker(pool_tokens=50_000, cached_share=share)
        p0 = SimpleCall(task_id=TaskId("p"), prompt_tokens=1_600)
        assert a.admit(p0, w, 0.0)
        a.observe_call_end(p0, 100, 1.0)  # p goes into a tool
        held = a.working_set(0)
        assert held > 30_000
        assert a.admit(SimpleCall(task_id=TaskId("q"), prompt_tokens=100), w, 2.0) is admitted
        if admitted:  # p's reservation left; it comes back when p resumes
            assert a.working_set(0) < held
            a.admit(SimpleCall(task_id=TaskId("p"), step=1, prompt_tokens=1_700), w, 3.0)
            assert a.working_set(0) > held


def test_growth_is_learned_online() -> None:
    """A program's growth per call comes from what programs of its type showed, then
    from its own, not from the prior alone."""
    a = with_admission(FCFS(), AdmissionConfig(growth_share=1.0))
    w = _Worker(pool_tokens=10**9, cached_share=0.0)
    for step in range(3):  # p grows by 10 tokens a call
        c = SimpleCall(task_id=TaskId("p"), step=step, prompt_tokens=1_000 + 10 * step)
        assert a.admit(c, w, float(step))
        a.observe_call_end(c, 10, step + 0.5)
    before = a.working_set(0)
    q = SimpleCall(task_id=TaskId("q"), prompt_tokens=1_000)
    a.admit(q, w, 4.0)
    # q reserves its prompt plus ~10 tokens for each of the prior's ~75 calls (the prior's
    # 430 tokens a call would reserve over 30,000)
    assert 1_000 < a.working_set(0) - before < 3_000
    # once q has grown by 1,000 tokens in one call, its own growth counts as much as
    # the type's (prior_weight 1), whose mean is then (10 + 10 + 1,000) / 3 a call
    a.observe_call_end(q, 10, 4.5)
    q1 = SimpleCall(task_id=TaskId("q"), step=1, prompt_tokens=2_000)
    assert a.admit(q1, w, 5.0)
    a.observe_call_end(q1, 10, 5.5)
    assert a.growth_per_call(a.book.record(q1), 430.0) == pytest.approx((1_000 + 340) / 2)


def test_prompts_that_fluctuate_without_growing_reserve_no_growth() -> None:
    """Browser-like programs whose prompt is a page observation (up and down, no net
    growth) learn a growth of zero: the type's mean of signed differences, not of their
    positive parts (those would average half the swing, ~500 tokens a call here)."""
    a = with_admission(FCFS(), AdmissionConfig(growth_share=1.0))
    w = _Worker(pool_tokens=10**9)
    for step, prompt in enumerate([3_000, 4_000, 3_000, 4_000, 3_000]):
        c = SimpleCall(task_id=TaskId("p"), step=step, prompt_tokens=prompt)
        assert a.admit(c, w, float(step))
        a.observe_call_end(c, 10, step + 0.5)
    q = SimpleCall(task_id=TaskId("q"), prompt_tokens=3_000)
    assert a.growth_per_call(a.book.record(q), 430.0) == 0.0
    before = a.working_set(0)
    a.admit(q, w, 6.0)
    assert a.working_set(0) - before < 3_500  # its prompt and one call's output


def test_a_shared_prefix_is_reserved_once() -> None:
    """What a new program finds cached (a system prompt other programs computed) is not
    its own to reserve: two programs with the same prompt, one arriving to a cold worker
    and one to a worker caching 60% of it, differ by that 60% in their reservations."""
    reserved = []
    for share in (0.0, 0.6):
        a = with_admission(FCFS(), AdmissionConfig(growth_share=1.0))
        a.admit(SimpleCall(task_id=TaskId("p"), prompt_tokens=2_000), _Worker(
            pool_tokens=10**9, cached_share=share), 0.0)
        reserved.append(a.working_set(0))
    assert reserved[0] - reserved[1] == pytest.approx(0.6 * 2_000)


@dataclasses.dataclass
class _PrefixWorker(_Worker):
    """Caches a fixed shared prefix of every prompt, and ``own`` more of a call whose
    program's context it still holds (the whole prompt when ``own`` is None)."""

    shared: int = 1_400
    own: int | None = 0

    def cached_prefix_tokens(self, call: CallView) -> int:
        if call.step == 0 or self.own is None:
            return min(call.prompt_tokens, self.shared if call.step == 0 else call.prompt_tokens)
        return min(call.prompt_tokens, self.shared + self.own)


@pytest.mark.parametrize("own, reserves", [(0, False), (None, True)])
def test_only_a_context_the_next_call_reuses_is_reserved(own: int | None, reserves: bool) -> None:
    """A browser-like program whose next prompt keeps only the shared system prompt (own
    0) stops reserving once one resume of its type has shown that; a coding-like one,
    whose next prompt extends its context (own None: all of it cached), keeps its
    reservation, and a new program is then deferred as before."""
    a = with_admission(FCFS(), AdmissionConfig(growth_share=1.0))
    w = _PrefixWorker(pool_tokens=40_000, own=own)
    assert a.reused_share("t") == 1.0  # before any resume: protect everything
    p0 = SimpleCall(task_id=TaskId("p"), agent_type="t", prompt_tokens=3_000)
    assert a.admit(p0, w, 0.0)
    a.observe_call_end(p0, 100, 1.0)
    p1 = SimpleCall(task_id=TaskId("p"), agent_type="t", step=1, prompt_tokens=3_200)
    assert a.admit(p1, w, 2.0)
    assert a.reused_share("t") == (1.0 if reserves else 0.0)
    assert (a.working_set(0) > 20_000) is reserves
    q = SimpleCall(task_id=TaskId("q"), agent_type="t", prompt_tokens=30_000)
    assert a.admit(q, w, 3.0) is not reserves


def test_a_call_admitted_again_after_preemption_is_not_a_reuse_sample() -> None:
    """A preempted call finds its own prompt cached when it is admitted again: that is
    not its program's context reused, and does not raise the type's share."""
    a = with_admission(FCFS(), AdmissionConfig(growth_share=1.0))
    w = _PrefixWorker(pool_tokens=10**9, own=0)
    p0 = SimpleCall(task_id=TaskId("p"), agent_type="t", prompt_tokens=3_000)
    a.admit(p0, w, 0.0)
    a.observe_call_end(p0, 100, 1.0)
    p1 = SimpleCall(task_id=TaskId("p"), agent_type="t", step=1, prompt_tokens=3_000)
    a.admit(p1, w, 2.0)
    assert a.reused_share("t") == 0.0
    a.admit(p1, _PrefixWorker(pool_tokens=10**9, own=None), 3.0)  # after a preemption
    assert a.reused_share("t") == 0.0


def test_growth_share_orders_the_reservation() -> None:
    call = SimpleCall(task_id=TaskId("p"), prompt_tokens=1_600)
    res = []
    for g in (0.0, 0.5, 1.0):
        a = with_admission(FCFS(), AdmissionConfig(growth_share=g))
        a.admit(call, _Worker(cached_share=0.0), 0.0)
        res.append(a.working_set(0))
    assert res[0] == 1_600 and res[0] < res[1] < res[2]
    with pytest.raises(Exception, match="growth_share"):
        AdmissionConfig(growth_share=1.5)


@given(
    remaining=st.lists(st.integers(0, 200), min_size=1, max_size=6),
    fresh_prompt=st.integers(1, 50_000),
)
def test_aging_overtakes_every_fresh_program(remaining: list[int], fresh_prompt: int) -> None:
    """No starvation: a program that arrived more than its own ``R / aging`` before the
    others comes before every one of them, whatever their predictions, and a program's
    key does not move while it waits (the module's argument)."""
    s = SRPTAging()
    for i, done in enumerate(remaining):
        for k in range(done):
            s.observe_call_end(SimpleCall(task_id=TaskId(f"t{i}"), step=k), 90, 0.0)
    fresh = [SimpleCall(task_id=TaskId(f"t{i}"), prompt_tokens=fresh_prompt,
                        task_arrival_s=1e7) for i in range(len(remaining))]
    assert all(s.key(c, 1e7)[0] >= 1e7 for c in fresh)
    big = SimpleCall(task_id=TaskId("old"), prompt_tokens=50_000 + fresh_prompt)
    old = dataclasses.replace(big, task_arrival_s=1e7 - s.remaining_seconds(big) - 1.0)
    assert all(s.key(old, 1e7) < s.key(c, 1e7) for c in fresh)
    assert all(s.key(c, 1e7) == s.key(c, 2e7) for c in [*fresh, old])


def test_srpt_prefers_the_program_nearer_its_end() -> None:
    s = SRPTAging(SRPTAgingConfig(aging=1.0))
    for k in range(60):
        s.observe_call_end(SimpleCall(task_id=TaskId("a"), step=k), 90, 0.0)
    near = SimpleCall(task_id=TaskId("a"), step=60, prompt_tokens=26_000, ready_s=5.0)
    new = SimpleCall(task_id=TaskId("b"), prompt_tokens=1_600, ready_s=0.0)
    assert s.key(near, 5.0) < s.key(new, 5.0)  # although it became ready later
    assert SRPTAging.victim_by_key


@pytest.mark.parametrize("used", [0.0, 0.5, 0.9, 0.99])
def test_sagacore_retention_pin_shrinks_with_pressure(used: float) -> None:
    from sagacore.cache.sagacore import SagacoreCache as Plain
    from sagacore.cache.sagacore import SagacoreCacheConfig

    def SagacoreCache() -> Plain:
        return Plain(SagacoreCacheConfig(pin=True, swap=True))

    p = Predictor()
    for d in (1.0, 3.0, 10.0, 30.0, 2.0, 5.0, 20.0, 8.0, 4.0, 15.0):
        p.observe_tool_duration("t", d)
    sess = type("S", (), dict(task_id="x", agent_type="a", step=0, tool="t",
                              context_tokens=40_000, has_successor=True))()

    def ttl(u: float) -> float:
        d = SagacoreCache().retention(sess, CacheContext(
            0.0, 100_000, int(u * 100_000), p, 2e-5, 1e-4))
        return d.ttl_s if d.ttl_s is not None else 0.0

    assert ttl(0.0) >= ttl(used) >= 0.0
    low = SagacoreCache().retention(sess, CacheContext(0.0, 100_000, 0, p, 2e-5, 1e-4))
    assert low.action is Retention.KEEP and low.ttl_s is not None and low.ttl_s > 10.0
    d = SagacoreCache().retention(sess, CacheContext(0.0, 100_000, int(used * 100_000), p,
                                                     2e-5, 1e-4))
    if d.action is Retention.SWAP:  # only when what is free cannot hold the session's KV
        assert 40_000 > (1 - used) * 100_000
    assert not math.isnan(ttl(used))
    # the registry's policy (cache-only replay) neither pins nor swaps
    plain = Plain().retention(sess, CacheContext(0.0, 100_000, int(used * 100_000), p,
                                                 2e-5, 1e-4))
    assert plain.action is Retention.KEEP and plain.ttl_s is None


class _Recording(SagacoreScheduler):
    """Writes down every admission question: (time, worker, running calls, new, answer)."""

    def __init__(self, predictor: Predictor | None) -> None:
        super().__init__(predictor)
        self.asked: list[tuple[float, int, int, bool, bool]] = []

    def admit(self, call: CallView, worker: WorkerView, now: float) -> bool:
        new = call.task_id not in self._where
        ok = super().admit(call, worker, now)
        self.asked.append((now, worker.worker_id, worker.running_calls, new, ok))
        return ok


def test_admission_keeps_its_no_starvation_rules_in_the_simulator() -> None:
    """``sagacore-admission-rule`` (docs/proofs/srpt_aging.md) on a real overloaded run:
    new programs are deferred, never on a worker with nothing running, started programs
    never, rule (ii) within each scheduling point; and every program completes."""
    w = load_workload("swe-bench", tasks=9, rate=20.0, seed=0)
    made: list[_Recording] = []

    def build(ctx: BuildContext) -> Scheduler:
        made.append(_Recording(ctx.predictor))
        return made[-1]

    stack = dataclasses.replace(get_stack("sagacore"), name="recording", scheduler=build)
    res = simulate(w, stack, SMALL)
    asked = made[0].asked
    assert res.tasks_completed == len(w)
    assert any(new and not ok for _, _, _, new, ok in asked)  # the gate binds here
    assert all(ok for _, _, _, new, ok in asked if not new)  # rule (iii)
    assert all(ok for _, _, run, new, ok in asked if new and run == 0)  # rule (i)
    deferred_at: set[tuple[float, int]] = set()
    for now, wid, _, new, ok in asked:  # rule (ii)
        if new and (now, wid) in deferred_at:
            assert not ok
        if new and not ok:
            deferred_at.add((now, wid))
