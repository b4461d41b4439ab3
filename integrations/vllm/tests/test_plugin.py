"""Contract tests of the ``--scheduler-cls`` plug-in (sagacore_vllm.plugin) in real vLLM.

Each test builds a real vLLM 0.33 scheduler through the engine adapter, with
``scheduler_cls`` set to the plug-in (resolved by vLLM's own resolver, as ``vllm serve``
resolves it), and checks one decision of a sagacore policy in vLLM's state: the waiting
order, the preemption victim, a TTL pin (taken, released at expiry, at the program's next
call, under memory pressure), DROP, SWAP without a connector, admission control, and
programs without metadata. They skip only when vLLM is not importable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

pytest.importorskip("vllm")

from sagacore.engine import CostModel
from sagacore.errors import ConfigError
from sagacore.policy import (
    CacheContext,
    CacheEntryView,
    CachePolicy,
    CallView,
    Retention,
    RetentionDecision,
    Scheduler,
    SessionView,
    WorkerView,
)
from sagacore.stacks import BuildContext, Stack
from sagacore_vllm.client import ProgramMetadata
from sagacore_vllm.engine import VllmEngine, VllmEngineConfig
from sagacore_vllm.plugin import (
    KeyedRequestQueue,
    PluginConfig,
    SagaAsyncScheduler,
    SagaMixin,
    SagaScheduler,
)

PLUGIN = "sagacore_vllm.plugin.SagaScheduler"
ASYNC_PLUGIN = "sagacore_vllm.plugin.SagaAsyncScheduler"


# --- resolution ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [PLUGIN, ASYNC_PLUGIN])
def test_the_classes_resolve_through_vllms_own_resolver(name: str) -> None:
    from vllm.config import SchedulerConfig
    from vllm.utils.import_utils import resolve_obj_by_qualname
    from vllm.v1.core.sched.async_scheduler import AsyncScheduler
    from vllm.v1.core.sched.scheduler import Scheduler as VllmScheduler

    cls = resolve_obj_by_qualname(name)
    config = SchedulerConfig(max_model_len=2048, is_encoder_decoder=False, scheduler_cls=name)
    assert config.get_scheduler_cls() is cls  # what EngineCore calls to build it
    assert issubclass(cls, SagaMixin) and issubclass(cls, VllmScheduler)
    # the synchronous class must not be an AsyncScheduler (that turns async scheduling off)
    assert issubclass(cls, AsyncScheduler) == (cls is SagaAsyncScheduler)
    assert (cls is SagaScheduler) == (name == PLUGIN)


@pytest.mark.parametrize("name", [PLUGIN, ASYNC_PLUGIN])
def test_both_classes_run_a_stack_in_the_engine(name: str) -> None:
    engine = VllmEngine(
        VllmEngineConfig(num_gpu_blocks=64, scheduler_cls=name,
                     additional_config={"sagacore": {"stack": "vtc"}})
    )
    sched = engine.scheduler
    assert type(sched).__name__ == name.rsplit(".", 1)[1]
    assert sched.sagacore_policy.name == "vtc"
    assert isinstance(sched.waiting, KeyedRequestQueue)
    engine.add_request("a", list(range(1, 101)), 3, session_id="p",
                       extra_args=ProgramMetadata("p", step=0, last=True).xargs())
    engine.add_request("b", list(range(1, 51)), 3)
    finished = [rid for r in engine.run_until_idle() for rid in r.finished]
    assert sorted(finished) == ["a", "b"]
    assert sched.sagacore_stats.programs == 2
    assert not sched._programs  # both ended: "a" flagged last, "b" is its own program


def test_settings_are_validated_with_the_bad_value() -> None:
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['stak'\]"):
        PluginConfig.from_additional_config({"sagacore": {"stak": "saga"}})
    with pytest.raises(ConfigError, match="tp must be an integer >= 1, got 0"):
        PluginConfig.from_additional_config({"sagacore": {"tp": 0}})
    with pytest.raises(ConfigError, match="worker_id must be an integer in"):
        PluginConfig(worker_id=2, instances=2)
    assert PluginConfig.from_additional_config({}) == PluginConfig()
    from sagacore.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="unknown stack 'nope'"):
        VllmEngine(VllmEngineConfig(num_gpu_blocks=64, scheduler_cls=PLUGIN,
                                additional_config={"sagacore": {"stack": "nope"}}))


# --- helpers ------------------------------------------------------------------------------


def _engine(scheduler: Scheduler, cache: CachePolicy | None = None, *, blocks: int = 64,
            budget: int = 2048, seqs: int = 128, settings: dict[str, Any] | None = None,
            ) -> VllmEngine:
    engine = VllmEngine(
        VllmEngineConfig(num_gpu_blocks=blocks, max_num_batched_tokens=budget,
                     max_num_seqs=seqs, scheduler_cls=PLUGIN,
                     additional_config={"sagacore": {"stack": "vllm-apc", **(settings or {})}})
    )
    from sagacore.cache.lru import LRU

    stack = Stack("test", router="session-affinity", scheduler=lambda ctx: scheduler,
                  cache=lambda ctx: cache if cache is not None else LRU())
    cost = CostModel.from_presets("llama-3-8b", "a100-80gb")
    engine.scheduler.sagacore_use(stack, BuildContext(cost, 1, (blocks - 1) * 16))
    return engine


def _add(engine: VllmEngine, rid: str, prompt: Sequence[int], out: int, *, at: float = 0.0,
         program: str | None = None, step: int | None = None, tool: str | None = None,
         last: bool = False, parents: tuple[int, ...] | None = None) -> None:
    meta = None
    if program is not None:
        meta = ProgramMetadata(program, step=step, tool=tool if tool is not None else "",
                               last=last, parents=parents).xargs()
    engine.add_request(rid, list(prompt), out, arrival_time=at, session_id=program,
                       extra_args=meta)


def _admission_order(engine: VllmEngine) -> list[str]:
    order: list[str] = []
    while engine.has_unfinished_requests():
        order += [a.request_id for a in engine.step().admissions]
    return order


def _prompt(k: int, n: int) -> list[int]:
    return [1000 * k + j for j in range(1, n + 1)]


class ShortestFirst(Scheduler):
    name: ClassVar[str] = "shortest-first"

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        return (call.prompt_tokens, call.ready_s)


class LongestFirstByKey(Scheduler):
    """Victim by key: the running request with the largest key is preempted."""

    name: ClassVar[str] = "longest-first"
    victim_by_key: ClassVar[bool] = True

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        return (-call.prompt_tokens, call.ready_s)


# --- ordering and victims -----------------------------------------------------------------


def test_the_schedulers_key_orders_vllms_waiting_queue() -> None:
    # one request at a time (max_num_seqs=1): the admission order is the queue's order
    fcfs = _engine(ShortestFirst(), seqs=1)
    sizes = {"a": 300, "b": 100, "c": 200}
    for i, (rid, n) in enumerate(sizes.items()):
        _add(fcfs, rid, _prompt(i + 1, n), 2, at=float(i))
    assert _admission_order(fcfs) == ["b", "c", "a"]


def test_a_victim_by_key_is_the_running_request_of_largest_key() -> None:
    # 12 usable blocks of 16 tokens; "short" is admitted first, "long" last; both grow by
    # 60 outputs and one must be preempted: "short" (the larger key under longest-first),
    # not the one admitted last ("long"), which vLLM's FCFS would pick
    engine = _engine(LongestFirstByKey(), blocks=13, budget=256)
    assert engine.scheduler.policy.value == "priority"
    _add(engine, "short", _prompt(2, 80), 60, at=0.0)
    engine.step(0.0)
    _add(engine, "long", _prompt(1, 96), 60, at=0.1)
    preempted = [rid for r in engine.run_until_idle() for rid in r.preempted]
    assert preempted and set(preempted) == {"short"}


# --- retention ----------------------------------------------------------------------------


class Pin(CachePolicy):
    """LRU eviction; KEEP pinned for ``ttl`` seconds, or another fixed decision."""

    name: ClassVar[str] = "pin"

    def __init__(self, decision: RetentionDecision) -> None:
        self.decision = decision
        self.sessions: list[tuple[str, str, int, bool]] = []

    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        return min(range(len(candidates)), key=lambda i: candidates[i].last_access_s)

    def retention(self, session: SessionView, ctx: CacheContext) -> RetentionDecision:
        self.sessions.append((session.task_id, session.tool, session.step, session.has_successor))
        return self.decision


def _finish(engine: VllmEngine, now: float) -> None:
    t = now
    while engine.has_unfinished_requests():
        engine.step(t)
        t += 0.01


def test_keep_with_a_ttl_pins_the_blocks_until_the_ttl_ends() -> None:
    policy = Pin(RetentionDecision(Retention.KEEP, ttl_s=5.0))
    engine = _engine(ShortestFirst(), policy, blocks=64)
    free0 = engine.num_free_blocks()
    _add(engine, "p#0", _prompt(1, 160), 4, program="p", step=0, tool="bash")
    _finish(engine, 0.0)
    assert policy.sessions == [("p", "bash", 0, True)]
    pinned = 10  # 163 tokens of KV: 10 full blocks pinned, the partial one freed
    assert engine.num_free_blocks() == free0 - pinned
    engine.step(4.0)  # nothing to do, before the expiry
    assert engine.num_free_blocks() == free0 - pinned
    assert engine.next_event_s() == pytest.approx(0.03 + 5.0, abs=0.05)
    engine.step(5.1)
    assert engine.num_free_blocks() == free0
    st = engine.scheduler.sagacore_stats
    assert (st.pins, st.pins_expired) == (1, 1)
    # still cached after the pin: the next call hits it
    _add(engine, "p#1", _prompt(1, 160) + [7] * 4 + _prompt(9, 20), 2, at=6.0, program="p",
         step=1, last=True)
    assert engine.step(6.0).admissions[0].num_cached_tokens == 160


def test_a_pin_ends_when_the_programs_next_call_is_admitted() -> None:
    engine = _engine(ShortestFirst(), Pin(RetentionDecision(Retention.KEEP, ttl_s=60.0)))
    free0 = engine.num_free_blocks()
    _add(engine, "p#0", _prompt(1, 160), 4, program="p", step=0, tool="bash")
    _finish(engine, 0.0)
    _add(engine, "p#1", _prompt(1, 160) + [7] * 4 + _prompt(9, 20), 2, at=1.0, program="p",
         step=1, last=True)
    record = engine.step(1.0)
    assert record.admissions[0].num_cached_tokens == 160
    assert engine.scheduler.sagacore_stats.pins_reused == 1
    _finish(engine, 1.01)
    assert engine.num_free_blocks() == free0  # the pin did not leak
    assert not engine.scheduler._programs


def test_the_pinned_blocks_a_next_call_does_not_reuse_are_free_for_the_requests_after_it() -> None:
    # 20 usable blocks; p pins its 10 full blocks; p#1 reuses 4 of them (a 64-token
    # prefix) and needs 2 more; q#0 (13 blocks) fits only if the 6 pinned blocks p#1 does
    # not reuse are free: the pin ends when p#1 is admitted, within vLLM's admission loop,
    # as the simulator releases a hold when the next call is admitted
    engine = _engine(ShortestFirst(), Pin(RetentionDecision(Retention.KEEP, ttl_s=60.0)),
                     blocks=21, settings={"release_pins_under_pressure": False})
    _add(engine, "p#0", _prompt(1, 160), 4, program="p", step=0, tool="bash")
    _finish(engine, 0.0)
    assert engine.num_free_blocks() == 10
    _add(engine, "p#1", _prompt(1, 64) + _prompt(9, 32), 2, at=1.0, program="p", step=1,
         last=True)
    _add(engine, "q#0", _prompt(2, 200), 2, at=1.0, program="q", step=0, last=True)
    record = engine.step(1.0)
    assert [(a.request_id, a.num_cached_tokens) for a in record.admissions] == [
        ("p#1", 64), ("q#0", 0)]
    assert engine.scheduler.sagacore_stats.pins_reused == 1


@pytest.mark.parametrize("release", [True, False])
def test_pins_are_released_under_pressure_before_a_request_is_refused(release: bool) -> None:
    # 20 usable blocks; program p pins 10; a 200-token request of another program needs 13
    engine = _engine(ShortestFirst(), Pin(RetentionDecision(Retention.KEEP, ttl_s=30.0)),
                     blocks=21, settings={"release_pins_under_pressure": release})
    _add(engine, "p#0", _prompt(1, 160), 4, program="p", step=0, tool="bash")
    _finish(engine, 0.0)
    _add(engine, "q#0", _prompt(2, 200), 2, at=1.0, program="q", step=0, last=True)
    record = engine.step(1.0)
    st = engine.scheduler.sagacore_stats
    if release:
        assert [a.request_id for a in record.admissions] == ["q#0"]
        assert st.pins_released_for_pressure == 1
    else:
        assert record.is_empty and st.pins_released_for_pressure == 0
        assert engine.next_event_s() == pytest.approx(30.03, abs=0.05)  # the twin waits so long
        assert [a.request_id for a in engine.step(31.0).admissions] == ["q#0"]
        assert st.pins_expired == 1


@pytest.mark.parametrize("left", [0.5, 2.0])
def test_a_pin_about_to_expire_is_waited_for_not_released(left: float) -> None:
    """Released only if its time left exceeds the time to recompute what it holds."""
    engine = _engine(ShortestFirst(), Pin(RetentionDecision(Retention.KEEP, ttl_s=30.0)),
                     blocks=21)
    _add(engine, "p#0", _prompt(1, 160), 4, program="p", step=0, tool="bash")
    _finish(engine, 0.0)
    expiry = engine.next_event_s()
    assert expiry is not None
    recompute = 10 * 16 * engine.scheduler._recompute_pt  # the 10 pinned blocks
    now = expiry - left * recompute
    _add(engine, "q#0", _prompt(2, 200), 2, at=now, program="q", step=0, last=True)
    record = engine.step(now)
    released = engine.scheduler.sagacore_stats.pins_released_for_pressure
    assert released == (1 if left > 1 else 0)
    assert [a.request_id for a in record.admissions] == (["q#0"] if left > 1 else [])


def test_drop_evicts_the_calls_blocks_and_swap_without_a_connector_keeps_them() -> None:
    for action, hit in ((Retention.DROP, 0), (Retention.SWAP, 160)):
        engine = _engine(ShortestFirst(), Pin(RetentionDecision(action)))
        _add(engine, "p#0", _prompt(1, 160), 4, program="p", step=0, tool="bash")
        _finish(engine, 0.0)
        _add(engine, "p#1", _prompt(1, 160) + [7] * 4 + _prompt(9, 20), 2, at=1.0,
             program="p", step=1, last=True)
        assert engine.step(1.0).admissions[0].num_cached_tokens == hit, action
        st = engine.scheduler.sagacore_stats
        assert (st.drops, st.swaps_kept) == ((1, 0) if action is Retention.DROP else (0, 1))


def test_no_retention_without_a_tool_and_for_a_request_without_metadata() -> None:
    policy = Pin(RetentionDecision(Retention.KEEP, ttl_s=60.0))
    engine = _engine(ShortestFirst(), policy)
    free0 = engine.num_free_blocks()
    _add(engine, "plain", _prompt(1, 160), 4)                   # no metadata at all
    _add(engine, "x#0", _prompt(2, 160), 4, program="x", step=0)  # tool "" : no tool
    _finish(engine, 0.0)
    assert policy.sessions == [] and engine.num_free_blocks() == free0
    assert list(engine.scheduler._programs) == ["x"]  # "plain" was a program of one call


# --- admission control and preemption for waiting requests -------------------------------


class NotProgramB(ShortestFirst):
    """Admission control: defers every call of program "b"."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int, int]] = []

    def admit(self, call: CallView, worker: WorkerView, now: float) -> bool:
        self.asked.append((call.task_id, worker.worker_id, worker.pool_tokens))
        return call.task_id != "b"


def test_admission_control_defers_without_blocking_the_queue() -> None:
    sched = NotProgramB()
    engine = _engine(sched)
    _add(engine, "b#0", _prompt(1, 50), 2, program="b", step=0, last=True)
    _add(engine, "c#0", _prompt(2, 100), 2, program="c", step=0, last=True)
    record = engine.step(0.0)
    assert [a.request_id for a in record.admissions] == ["c#0"]  # b first by key, deferred
    assert ("b", 0, 64 * 16) in sched.asked
    assert engine.scheduler.sagacore_stats.deferred >= 1
    assert engine.request_counts() == (1, 1)  # b still waits


class PreemptForShort(ShortestFirst):
    preemptive: ClassVar[bool] = True


def test_a_preemptive_scheduler_preempts_a_larger_key_for_the_head_of_the_queue() -> None:
    # 12 usable blocks; "big" (150 tokens, 10 blocks) runs; "small" (40 tokens) cannot fit
    # until the running request of larger key is preempted (vLLM alone never does this)
    engine = _engine(PreemptForShort(), blocks=13)
    _add(engine, "big", _prompt(1, 150), 20)
    engine.step(0.0)
    _add(engine, "small", _prompt(2, 40), 2, at=0.1)
    record = engine.step(0.1)
    assert record.preempted == ("big",)
    assert [a.request_id for a in record.admissions] == ["small"]
    assert engine.scheduler.sagacore_stats.preemptions_for_waiting == 1
    finished = [rid for r in engine.run_until_idle() for rid in r.finished]
    assert sorted(finished) == ["big", "small"]


def test_the_preemption_for_the_head_counts_the_blocks_the_running_pass_takes() -> None:
    # 12 usable blocks; "big" (112 tokens: 7 full blocks) runs; "small" (80 tokens, 5
    # blocks) fits the 5 free blocks, but big's next token needs an 8th block first: vLLM
    # grows its running requests before it admits, so small fits only if big is
    # preempted, as sagacore's simulator decides (its running pass comes first too)
    engine = _engine(PreemptForShort(), blocks=13)
    _add(engine, "big", _prompt(1, 112), 20)
    engine.step(0.0)
    assert engine.scheduler.kv_cache_manager.block_pool.get_num_free_blocks() == 5
    _add(engine, "small", _prompt(2, 80), 2, at=0.1)
    record = engine.step(0.1)
    assert record.preempted == ("big",)
    assert [a.request_id for a in record.admissions] == ["small"]
    # the victim's blocks went back to the free queue (none is left held): small's 5
    # blocks are the only ones in use
    sched = engine.scheduler
    assert sched.kv_cache_manager.block_pool.get_num_free_blocks() == 12 - 5
    assert not sched._held
    finished = [rid for r in engine.run_until_idle() for rid in r.finished]
    assert sorted(finished) == ["big", "small"]


class Ranked(Scheduler):
    """Preemptive, by a fixed rank per program."""

    name: ClassVar[str] = "ranked"
    preemptive: ClassVar[bool] = True

    def __init__(self, ranks: dict[str, int]) -> None:
        self.ranks = ranks

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        return (self.ranks[call.task_id],)


def test_a_request_preempted_for_the_head_waits_behind_the_queue_for_the_rest_of_the_step() -> None:
    # 16 usable blocks; "big" (7 blocks, rank 1) runs; "small" (rank 0, 9 blocks) needs it
    # preempted; "mid" (rank 2, 3 blocks) fits what is left. vLLM puts the victim at the
    # front of its queue, where it would stop the admission (it needs 8 blocks); the
    # simulator's admission pass goes on with the calls after the head, and so does the
    # plug-in: the victim waits at the back until the next step sorts the queue
    engine = _engine(Ranked({"small": 0, "big": 1, "mid": 2}), blocks=17)
    _add(engine, "big", _prompt(1, 112), 20)
    engine.step(0.0)
    _add(engine, "small", _prompt(2, 144), 2, at=0.1)
    _add(engine, "mid", _prompt(3, 48), 2, at=0.1)
    record = engine.step(0.1)
    assert record.preempted == ("big",)
    assert [a.request_id for a in record.admissions] == ["small", "mid"]
    finished = [rid for r in engine.run_until_idle() for rid in r.finished]
    assert sorted(finished) == ["big", "mid", "small"]



def test_a_preemptive_scheduler_preempts_for_each_waiting_call_in_one_step() -> None:
    # 20 usable blocks; "x" (rank 3) and "y" (rank 4) run, 7 blocks each, and each takes
    # an 8th in the running pass: 4 are left. A fan-out makes "a" (rank 0, 9 blocks) and
    # "b" (rank 1, 5 blocks) ready together. As the simulator's admission pass does, the
    # plug-in preempts y for a, then x for b, in the same step (before, it preempted for
    # the head only: b waited for the next step)
    engine = _engine(Ranked({"a": 0, "b": 1, "x": 3, "y": 4}), blocks=21)
    _add(engine, "x", _prompt(1, 112), 20)
    _add(engine, "y", _prompt(2, 112), 20)
    engine.step(0.0)
    sched = engine.scheduler
    assert sched.kv_cache_manager.block_pool.get_num_free_blocks() == 6
    _add(engine, "a", _prompt(3, 144), 2, at=0.1)
    _add(engine, "b", _prompt(4, 80), 2, at=0.1)
    record = engine.step(0.1)
    assert sorted(record.preempted) == ["x", "y"]
    assert [a.request_id for a in record.admissions] == ["a", "b"]
    assert sched.sagacore_stats.preemptions_for_waiting == 2
    assert not sched._held
    finished = [rid for r in engine.run_until_idle() for rid in r.finished]
    assert sorted(finished) == ["a", "b", "x", "y"]


def test_the_preemption_pass_stops_where_vllms_admission_loop_stops() -> None:
    # the same, with a token budget that a's prompt exhausts (145 tokens: x's decode
    # and a's 144; y, preempted before vLLM schedules, takes none): vLLM's admission
    # loop stops after a, so nothing is preempted for b
    engine = _engine(Ranked({"a": 0, "b": 1, "x": 3, "y": 4}), blocks=21, budget=145, seqs=8)
    _add(engine, "x", _prompt(1, 112), 20)
    engine.step(0.0)
    _add(engine, "y", _prompt(2, 112), 20)
    engine.step(0.05)
    engine.step(0.06)
    _add(engine, "a", _prompt(3, 144), 2, at=0.1)
    _add(engine, "b", _prompt(4, 80), 2, at=0.1)
    record = engine.step(0.1)
    assert record.preempted == ("y",)
    assert [a.request_id for a in record.admissions] == ["a"]
    assert engine.scheduler.sagacore_stats.preemptions_for_waiting == 1

# --- what the policies observe ------------------------------------------------------------


class Recorder(ShortestFirst):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.service: dict[str, int] = {}
        self.seconds = 0.0
        self.views: list[tuple[int, float, int]] = []

    def observe_task_arrival(self, task: Any, now: float) -> None:
        self.events.append(("arrive", str(task.id)))

    def observe_call_start(self, call: CallView, now: float) -> None:
        self.events.append(("start", f"{call.task_id}#{call.step}"))
        self.views.append((call.steps_done, call.task_tool_s, call.task_attained_tokens))

    def observe_service(self, call: CallView, tokens: int, seconds: float, now: float) -> None:
        self.service[call.task_id] = self.service.get(call.task_id, 0) + tokens
        self.seconds += seconds

    def observe_call_end(self, call: CallView, output_tokens: int, now: float) -> None:
        self.events.append(("end", f"{call.task_id}#{call.step}"))

    def observe_task_end(self, task_id: str, now: float) -> None:
        self.events.append(("task_end", str(task_id)))


def test_the_hooks_see_a_program_across_its_calls() -> None:
    rec = Recorder()
    engine = _engine(rec)

    def price(record: Any) -> float:
        return 0.5

    _add(engine, "p#0", _prompt(1, 100), 3, program="p", step=0, tool="bash")
    t = 0.0
    while engine.has_unfinished_requests():
        engine.step(t, price)
        t += 0.5
    _add(engine, "p#1", _prompt(1, 100) + [7] * 3 + _prompt(2, 10), 2, at=t + 2.0,
         program="p", step=1, last=True)
    t += 2.0
    while engine.has_unfinished_requests():
        engine.step(t, price)
        t += 0.5
    assert rec.events == [("arrive", "p"), ("start", "p#0"), ("end", "p#0"),
                          ("start", "p#1"), ("end", "p#1"), ("task_end", "p")]
    # prompt + outputs of both calls; the second call recomputes only its new tokens
    assert rec.service["p"] == 100 + 2 + (113 - 96) + 1
    assert rec.seconds == pytest.approx(0.5 * 5)  # 3 + 2 steps of 0.5 s, one request each
    # the second call sees one finished call, the tool's 2 s and the first call's tokens
    assert rec.views[1] == (1, pytest.approx(2.0), 100 + 2)


class ParentsRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.parents: dict[str, tuple[int, ...]] = {}
        self.tool_s: dict[str, float] = {}

    def observe_call_start(self, call: CallView, now: float) -> None:
        super().observe_call_start(call, now)
        self.parents[f"{call.task_id}#{call.step}"] = tuple(call.parents)
        self.tool_s[f"{call.task_id}#{call.step}"] = call.task_tool_s


def test_a_dags_parents_reach_the_policy_and_each_parents_tool_counts_once() -> None:
    """A diamond sent with its parents: the join's CallView lists both branches, and the
    program's tool time counts each finished parent's tool once (the planner's tool once,
    not once per branch); a program without parents metadata is a chain."""
    rec = ParentsRecorder()
    engine = _engine(rec)
    ends: dict[str, float] = {}

    def price(record: Any) -> float:
        return 0.5

    def run(t: float) -> float:
        while engine.has_unfinished_requests():
            record = engine.step(t, price)
            t += 0.5
            for rid in record.finished:
                ends[rid] = t
        return t

    _add(engine, "p#0", _prompt(1, 100), 3, program="p", step=0, tool="plan", parents=())
    _add(engine, "q#0", _prompt(5, 40), 2, program="q", step=0, tool="bash")
    t = run(0.0)
    t0 = t + 1.0
    head = _prompt(1, 100) + [7] * 3
    _add(engine, "p#1", head + _prompt(2, 10), 2, at=t0, program="p", step=1, tool="search",
         parents=(0,))
    _add(engine, "p#2", head + _prompt(3, 10), 6, at=t0, program="p", step=2, tool="search",
         parents=(0,))
    _add(engine, "q#1", _prompt(5, 40) + [7] * 2 + _prompt(6, 5), 2, at=t0, program="q",
         step=1, last=True)
    t = run(t0)
    assert ends["p#1"] < ends["p#2"]
    t3 = t + 1.0
    _add(engine, "p#3", head + _prompt(4, 10), 2, at=t3, program="p", step=3, last=True,
         parents=(1, 2))
    run(t3)
    assert rec.parents == {"p#0": (), "q#0": (), "p#1": (0,), "p#2": (0,), "q#1": (0,),
                           "p#3": (1, 2)}
    assert rec.tool_s["p#1"] == rec.tool_s["p#2"] == pytest.approx(t0 - ends["p#0"])
    assert rec.tool_s["p#3"] == pytest.approx(
        (t0 - ends["p#0"]) + (t3 - ends["p#1"]) + (t3 - ends["p#2"]))
    assert ("task_end", "p") in rec.events and ("task_end", "q") in rec.events


def _twin_with_plugin(task: Any, rec: Recorder) -> tuple[Any, Any]:
    """Run ``task`` on a one-instance twin whose vLLM runs the plug-in with ``rec`` as
    its scheduler (LRU cache, session affinity); returns the engine and the task's result."""
    from sagacore.cache.lru import LRU
    from sagacore_vllm.twin import Twin

    config = VllmEngineConfig(num_gpu_blocks=64, scheduler_cls=PLUGIN,
                              additional_config={"sagacore": {"stack": "vllm-apc"}})
    twin = Twin([config], lambda p, cp, d, cd: 0.01 + 1e-5 * p + 1e-3 * d)
    stack = Stack("test", router="session-affinity", scheduler=lambda ctx: rec,
                  cache=lambda ctx: LRU())
    cost = CostModel.from_presets("llama-3-8b", "a100-80gb")
    (engine,) = twin.engines
    engine.scheduler.sagacore_use(stack, BuildContext(cost, 1, 63 * 16))
    (res,) = twin.run([task]).tasks
    return engine, res


def test_the_twin_sends_a_dags_parents_to_the_plugin() -> None:
    """The twin's request metadata carries each call's parents and their tools' run
    times: the policy inside vLLM sees a join's branches and the tools the simulator
    sees (each branch's own, not the time until the join), and the program ends with
    its join."""
    from sagacore_vllm.twin import AgentTask, LLMCall

    rec = ParentsRecorder()
    plan = tuple(range(100, 164))
    head = plan + (7,) * 4
    task = AgentTask("d", 0.0, (
        LLMCall(plan, 4, tool="plan", tool_seconds=0.2),
        LLMCall(head + tuple(range(300, 332)), 2, tool="search", deps=(0,), tool_seconds=0.5),
        LLMCall(head + tuple(range(400, 432)), 8, tool="search", deps=(0,), tool_seconds=0.1),
        LLMCall(head + tuple(range(500, 540)), 2, deps=(1, 2)),
    ))
    _, res = _twin_with_plugin(task, rec)
    assert rec.parents == {"d#0": (), "d#1": (0,), "d#2": (0,), "d#3": (1, 2)}
    _, _, c2, c3 = res.calls
    assert c3.ready_s - c2.finish_s > 0.1  # the join waited longer than branch 2's tool
    # the join's view: the planner's tool, then each branch's own tool
    assert rec.tool_s["d#1"] == rec.tool_s["d#2"] == 0.2
    assert rec.tool_s["d#3"] == pytest.approx(0.2 + 0.5 + 0.1)
    assert rec.events[-1] == ("task_end", "d")
    assert [e for e in rec.events if e[0] == "arrive"] == [("arrive", "d")]


class EndRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.ended_at: dict[str, float] = {}

    def observe_task_end(self, task_id: str, now: float) -> None:
        super().observe_task_end(task_id, now)
        self.ended_at[str(task_id)] = now


def test_a_dag_that_ends_with_parallel_calls_ends_when_both_have_finished() -> None:
    """A planner and two parallel last calls, no join: the twin flags the one sent last
    (``sagacore_last``); it finishes first, and the plug-in ends the program when the
    other, sent before it, finishes too, not after ``program_idle_s``."""
    from sagacore_vllm.twin import AgentTask, LLMCall

    rec = EndRecorder()
    plan = tuple(range(100, 164))
    head = plan + (7,) * 4
    task = AgentTask("s", 0.0, (
        LLMCall(plan, 4, tool="plan", tool_seconds=0.2),
        LLMCall(head + tuple(range(300, 332)), 24, deps=(0,)),
        LLMCall(head + tuple(range(400, 432)), 2, deps=(0,)),
    ))
    engine, res = _twin_with_plugin(task, rec)
    _, c1, c2 = res.calls
    assert c2.finish_s < c1.finish_s  # the call flagged last finished first
    ends = [e for e in rec.events if e[0] in ("end", "task_end")]
    assert ends == [("end", "s#0"), ("end", "s#2"), ("end", "s#1"), ("task_end", "s")]
    assert rec.ended_at["s"] == pytest.approx(c1.finish_s)
    assert not engine.scheduler._programs


def test_the_program_ends_only_when_its_calls_sent_before_the_last_have_finished() -> None:
    """Sent directly: a call flagged last that finishes while an earlier call of its
    program still runs does not end the program; the earlier call's end does."""
    rec = Recorder()
    engine = _engine(rec)

    def price(record: Any) -> float:
        return 0.5

    _add(engine, "p#0", _prompt(1, 40), 12, program="p", step=0, tool="", parents=())
    _add(engine, "p#1", _prompt(2, 40), 2, program="p", step=1, last=True, parents=())
    t = 0.0
    ended: list[str] = []
    while engine.has_unfinished_requests():
        record = engine.step(t, price)
        t += 0.5
        ended += record.finished
        if ended == ["p#1"]:
            assert ("task_end", "p") not in rec.events
            assert list(engine.scheduler._programs) == ["p"]
    assert ended == ["p#1", "p#0"]
    assert rec.events[-2:] == [("end", "p#0"), ("task_end", "p")]
    assert not engine.scheduler._programs
