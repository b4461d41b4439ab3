"""Fidelity of sagacore's simulator against real vLLM 0.33 schedulers, in CI.

A small WebArena-like workload (short chains, a shared system prompt) on one instance
whose KV pool is small enough to preempt and evict runs through both the simulator's
vLLM stacks and the twin. The simulator models every difference docs/vllm-twin.md
found (vLLM's null block, whole-input admission, the FCFS and priority victims,
prefix blocks cached when scheduled), so the two agree to rounding: per-task TCT,
preemptions, batch steps and prefill tokens computed and reused, on every stack. A
burst of tasks that share a system prompt checks prefix blocks cached at schedule
time, and the null-block ablation checks that one block of difference shows.

Every other sagacore stack runs inside vLLM through the ``--scheduler-cls`` plug-in
(sagacore_vllm.plugin) and is held to the fidelity target: median per-task TCT error
within 2%, or 5% where the plug-in reports a documented difference (work stealing off;
a SWAP kept cached without a KV offloading connector). What vLLM does in the plug-in's
place the simulator models when asked, and the comparison asks it: vLLM evicts LRU
whatever the cache policy's ``victim``, and TTL pins are released under pressure by
default and freed to the most recently used end of vLLM's free queue. The plug-in
running vLLM's own policies (FCFS, priority) must equal vLLM's native ones exactly.

They skip only when vLLM is not importable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import SimpleNamespace

import pytest

pytest.importorskip("vllm")

from sagacore.sim import simulate
from sagacore.sim.config import ClusterConfig, EngineConfig, SimConfig
from sagacore.sim.result import SimResult
from sagacore.stacks import STACKS, Stack
from sagacore.workload.generators import GENERATORS, PoissonArrivals
from sagacore.workload.generators.webarena import WebArenaConfig
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload
from sagacore_vllm.bridge import SegmentTokens
from sagacore_vllm.engine import VllmEngineConfig
from sagacore_vllm.fidelity import (
    EXACT_BOUND,
    FIDELITY_STACKS,
    NOTED_BOUND,
    VllmEviction,
    compare,
    evicts_lru,
    fidelity_stack,
    format_table,
    sim_config,
    sim_stack_for,
    twin_settings,
)
from sagacore_vllm.harness import TwinRun, run_twin

MEDIAN_BOUND = 0.02
P90_BOUND = 0.05
HIT_BOUND = 0.01


def workload() -> Workload:
    config = WebArenaConfig(
        steps_median=6.0, max_steps=8, output_median_tokens=40.0, max_output_tokens=96
    )
    return GENERATORS["webarena"](
        tasks=20, seed=0, arrivals=PoissonArrivals(rate_per_min=240), config=config
    )


def cluster() -> ClusterConfig:
    return ClusterConfig.from_gpus(
        1,
        tp=1,
        model="llama-3-8b",
        gpu="a100-80gb",
        engine=EngineConfig(kv_capacity_tokens=6000),
    )


def _assert_exact(sim: SimResult, twin: TwinRun) -> None:
    s, t = sim.tct_by_task(), twin.tct_by_task()
    assert s.keys() == t.keys()
    assert max(abs(s[k] - t[k]) / t[k] for k in t) < 1e-9
    assert (
        sim.preemptions,
        sim.batch_steps,
        sim.prefill_tokens_computed,
        sim.prefill_tokens_reused,
    ) == (
        twin.preemptions,
        twin.batch_steps,
        twin.prefill_tokens_computed,
        twin.prefill_tokens_reused,
    )


def _twin(w: Workload, c: ClusterConfig, stack: Stack,
          adjust: Callable[[VllmEngineConfig], VllmEngineConfig] | None = None) -> TwinRun:
    router, policy, caching = twin_settings(stack)
    return run_twin(w, c, router=router, policy=policy, prefix_caching=caching,
                    table=SegmentTokens.for_workload(w), adjust=adjust)


def test_error_table_under_memory_pressure() -> None:
    rows = compare(workload(), cluster(), ["vllm", "vllm-apc"])
    print(format_table(rows))
    assert sum(r.twin.preemptions for r in rows) > 0  # the comparison exercises preemption
    for r in rows:
        assert r.tasks == 20 and r.sim.tasks_completed == 20
        assert r.error_quantile(0.5) <= MEDIAN_BOUND, r.stack
        assert r.error_quantile(0.9) <= P90_BOUND, r.stack
        assert abs(r.sim_hit_rate - r.twin_hit_rate) <= HIT_BOUND, r.stack


@pytest.mark.parametrize("name", sorted(FIDELITY_STACKS))
def test_the_simulator_and_vllm_agree_exactly(name: str) -> None:
    w, c = workload(), cluster()
    stack = FIDELITY_STACKS[name]
    sim = simulate(w, stack, c)
    twin = _twin(w, c, stack)
    assert twin.preemptions > 0
    _assert_exact(sim, twin)


def test_one_block_more_in_vllm_shows() -> None:
    """The null block matters: vLLM with one usable block more than the simulator drifts."""
    w, c = workload(), cluster()
    stack = FIDELITY_STACKS["vllm"]
    sim = simulate(w, stack, c)
    twin = _twin(w, c, stack, lambda e: dataclasses.replace(e, num_gpu_blocks=e.num_gpu_blocks + 1))
    s, t = sim.tct_by_task(), twin.tct_by_task()
    assert max(abs(s[k] - t[k]) / t[k] for k in t) > 1e-6


def test_a_burst_sharing_a_system_prompt_hits_blocks_cached_at_schedule_time() -> None:
    """Three tasks with one 1,400-token system prompt arrive together on one instance.

    vLLM caches the first prefill's full blocks when it schedules them, so the second and
    third calls, admitted in the same step, reuse 1,392 tokens each (87 whole blocks).
    """
    system = Segment(1, 1400)
    tasks = tuple(
        Task(TaskId(f"t{i}"), (Step(0, (system, Segment(10 + i, 50)), 20, 20 + i),))
        for i in range(3)
    )
    w = Workload(tasks)
    c = ClusterConfig.from_gpus(1, tp=1, model="llama-3-8b", gpu="a100-80gb")
    stack = FIDELITY_STACKS["vllm-apc"]
    sim = simulate(w, stack, c)
    twin = _twin(w, c, stack)
    assert sim.prefill_tokens_reused == 2 * 1392
    _assert_exact(sim, twin)


PLUGIN_STACKS = sorted(set(STACKS) - set(FIDELITY_STACKS))


def test_the_required_stacks_run_through_the_plugin() -> None:
    for name in ("saga", "continuum", "autellix", "justitia", "vtc", "sagacore"):
        assert name in PLUGIN_STACKS
        assert fidelity_stack(name)[1]


@pytest.mark.parametrize("name", PLUGIN_STACKS)
def test_every_stack_inside_vllm_agrees_with_the_simulator(name: str) -> None:
    """Pins held until they expire, as the simulator holds them (``--pins hold``)."""
    (row,) = compare(workload(), cluster(), [name], release_pins=False)
    print(format_table([row]))
    assert row.plugin and row.tasks == 20 and row.twin.tasks_completed == 20
    assert row.bound == (NOTED_BOUND if row.notes else EXACT_BOUND)
    assert row.error_quantile(0.5) <= row.bound, (name, row.notes)
    assert abs(row.sim_hit_rate - row.twin_hit_rate) <= 2 * HIT_BOUND, name
    assert not any("released" in n for n in row.notes)


@pytest.mark.parametrize(("native", "stack"), [("vllm-apc", "vllm-apc"),
                                                ("vllm-apc-priority", "vllm-apc-priority")])
def test_the_plugin_running_vllms_own_policies_is_vllm(native: str, stack: str) -> None:
    """sagacore's FCFS and priority schedulers through the plug-in make vLLM's decisions."""
    w, c = workload(), cluster()
    plain = _twin(w, c, FIDELITY_STACKS[native])
    plugged = run_twin(w, c, stack=FIDELITY_STACKS[stack], table=SegmentTokens.for_workload(w))
    assert plugged.stack.startswith("twin:plugin:") and plugged.plugin_stats is not None
    assert plain.preemptions > 0
    assert plain.tct_by_task() == plugged.tct_by_task()
    assert (plain.preemptions, plain.batch_steps, plain.prefill_tokens_reused) == (
        plugged.preemptions, plugged.batch_steps, plugged.prefill_tokens_reused)


@pytest.mark.parametrize("cache", ["saga-ttl", "walru"])
def test_sagas_cache_policy_alone_agrees_exactly(cache: str) -> None:
    """FCFS order with SAGA's cache policy: TTL pins (read at memory pressure as the
    simulator reads it) and WA-LRU, which vLLM replaces by LRU without effect here."""
    w, c = workload(), cluster()
    stack = dataclasses.replace(fidelity_stack("saga")[0], scheduler="fcfs", cache=cache)
    sim = simulate(w, stack, c)
    twin = run_twin(w, c, stack=stack, table=SegmentTokens.for_workload(w),
                    plugin_settings={"release_pins_under_pressure": False})
    assert twin.plugin_stats is not None
    assert (twin.plugin_stats["pins"] > 0) == (cache == "saga-ttl")
    _assert_exact(sim, twin)


def test_the_async_plugin_class_makes_the_same_decisions() -> None:
    """``SagaAsyncScheduler`` (what ``vllm serve`` loads for async scheduling), stepped in
    lock step, schedules exactly as ``SagaScheduler`` does."""
    w, c = workload(), cluster()
    stack, _ = fidelity_stack("saga")
    runs = [run_twin(w, c, stack=stack, plugin_cls=f"sagacore_vllm.plugin.{cls}")
            for cls in ("SagaScheduler", "SagaAsyncScheduler")]
    assert runs[0].preemptions > 0
    assert runs[0].tct_by_task() == runs[1].tct_by_task()
    assert (runs[0].batch_steps, runs[0].plugin_stats) == (runs[1].batch_steps,
                                                           runs[1].plugin_stats)


@pytest.mark.parametrize("name", ["continuum", "sagacore"])
def test_pins_released_under_pressure_are_modelled_by_the_simulator(name: str) -> None:
    """The plug-in's default (``--pins release``) against the simulator releasing TTL
    holds by the same rule (``SimConfig.release_pins_under_pressure``): the same pins are
    released, the release is not noted as a difference, and the exact bound holds."""
    (row,) = compare(workload(), cluster(), [name])  # the plug-in's default
    assert row.twin.plugin_stats is not None
    released = row.twin.plugin_stats["pins_released_for_pressure"]
    assert released > 0
    assert row.modelled[-1] == (f"TTL pins released under memory pressure: {released} in "
                                f"the simulator, {released} inside vLLM")
    assert not any("released" in n for n in row.notes)  # modelled: no difference
    assert row.error_quantile(0.5) <= EXACT_BOUND
    assert row.sim.preemptions == row.twin.preemptions


def test_continuum_releasing_pins_agrees_exactly_under_pressure() -> None:
    """docs/vllm-plugin.md's WebArena run (40 tasks at 20/min, 40,000 KV tokens): the
    simulator releases the pins the plug-in releases, when it releases them (1.38% of
    median error and 18 preemptions against 26 before a head that stopped fitting after
    a step's running calls made the next step a scheduling point)."""
    from sagacore.cli.simulate import load_workload

    w = load_workload("webarena", tasks=40, rate=20, seed=0)
    c = ClusterConfig.from_gpus(4, tp=4, model="llama-3-70b", gpu="a100-80gb",
                                engine=EngineConfig(kv_capacity_tokens=40_000))
    (row,) = compare(w, c, ["continuum"])
    assert row.twin.plugin_stats is not None
    released = row.twin.plugin_stats["pins_released_for_pressure"]
    assert released > 100
    assert row.modelled[0].endswith(f"{released} in the simulator, {released} inside vLLM")
    assert row.sim.preemptions == row.twin.preemptions > 0
    assert row.error_quantile(0.5) < 1e-4 and max(row.errors) < 1e-4


def test_a_learned_eviction_ranking_is_not_taken_for_lru() -> None:
    """sagacore's next-use ranking evicts LRU until it has learned, so a probe of a fresh
    policy took it for LRU; the check reads the code instead."""
    from sagacore.cache.lru import lru_index
    from sagacore.cache.sagacore import SagacoreCache
    from sagacore.policy import CacheContext
    from sagacore.workload.model import TaskId

    fresh = SagacoreCache()
    cands = [SimpleNamespace(entry_id=i, tokens=16, prefix_tokens=64, last_access_s=t,
                             created_s=0.0, hits=0, task_id=TaskId(f"t{i}"), step=0,
                             tool=None, tool_started_s=None, last_segment=None)
             for i, t in enumerate((5.0, 1.0, 3.0))]
    ctx = CacheContext(now=10.0, capacity_tokens=1 << 20, used_tokens=1 << 19)
    assert fresh.victim(cands, ctx) == lru_index(cands) == 1  # looks like LRU, fresh
    assert not evicts_lru(STACKS["sagacore"])
    assert not evicts_lru(STACKS["saga"]) and not evicts_lru(STACKS["kvflow"])
    for name in ("continuum", "autellix", "justitia", "vtc", "infercept", "astraea"):
        assert evicts_lru(STACKS[name]), name


def test_the_simulator_evicts_as_vllm_does_for_the_plugin() -> None:
    """The simulator's side of a plug-in stack evicts LRU; its retention is the policy's."""
    from sagacore.cache.continuum import ContinuumTTL
    from sagacore.cache.lru import LRU
    from sagacore.cache.sagacore import SagacoreCache
    from sagacore.stacks import BuildContext
    from sagacore.workload.predictor import Predictor

    c = cluster()
    ctx = BuildContext(c.cost, 1, c.kv_capacity_tokens, Predictor())
    built = sim_stack_for(fidelity_stack("sagacore")[0], True).build_cache(ctx)
    assert isinstance(built, VllmEviction) and isinstance(built.inner, SagacoreCache)
    assert type(sim_stack_for(STACKS["kvflow"], True).build_cache(ctx)) is LRU  # no retention
    assert isinstance(sim_stack_for(STACKS["continuum"], True).build_cache(ctx), ContinuumTTL)
    assert sim_stack_for(STACKS["sagacore"], False) is STACKS["sagacore"]  # native: as is


def test_sagacore_holding_pins_agrees_exactly_with_vllms_eviction_modelled() -> None:
    """docs/vllm-plugin.md's WebArena run with pins held: 2.14% of median error with the
    stack of 016efbe (32 preemptions against 38) while the simulator evicted by sagacore's
    next-use ranking, where vLLM evicts LRU (a preempted call's blocks survived in the
    simulator only); with vLLM's eviction modelled the schedules agree to rounding. The
    ablation puts the difference back and notes it (its size moves with the stack)."""
    from sagacore.cli.simulate import load_workload

    w = load_workload("webarena", tasks=40, rate=20, seed=0)
    c = ClusterConfig.from_gpus(4, tp=4, model="llama-3-70b", gpu="a100-80gb",
                                engine=EngineConfig(kv_capacity_tokens=40_000))
    (row,) = compare(w, c, ["sagacore"], release_pins=False)
    assert any("vLLM evicts LRU, the simulator too" in m for m in row.modelled)
    assert not any("evicts" in n for n in row.notes)
    assert row.sim.preemptions == row.twin.preemptions > 0
    assert row.error_quantile(0.5) < 1e-4 and max(row.errors) < 1e-3
    (before,) = compare(w, c, ["sagacore"], ["sim-policy-eviction"], release_pins=False)
    assert any("vLLM evicts LRU, the simulator by the policy" in n for n in before.notes)
    assert max(before.errors) > 0.01


def test_the_simulator_mirrors_what_the_plugin_does_with_pins() -> None:
    assert sim_config(False, release_pins=True) == SimConfig()  # vLLM's own policies
    held = sim_config(True, release_pins=False)
    assert not held.release_pins_under_pressure and held.released_pins_most_recent
    assert sim_config(True, release_pins=True).release_pins_under_pressure


def test_a_task_parallel_workload_agrees_exactly() -> None:
    """DAG tasks (a planner, parallel branches with their own tools, a join) under memory
    pressure: the twin makes a join ready when its last branch's tool ends, as the
    simulator does, and the plug-in hears each branch's own tool time (before it did, it
    took the time until the join for every branch, and ``continuum`` learned longer tools
    than the simulator: 2.39% of median error on docs/vllm-plugin.md's 40-task run)."""
    from sagacore.cli.simulate import load_workload

    w = load_workload("task-parallel", tasks=20, rate=20, seed=0)
    assert sum(1 for t in w for s in t.steps if len(s.deps) > 1) == 20  # a join per task
    c = ClusterConfig.from_gpus(4, tp=4, model="llama-3-70b", gpu="a100-80gb",
                                engine=EngineConfig(kv_capacity_tokens=40_000))
    for row in compare(w, c, ["vllm-apc", "continuum"]):
        assert row.sim.preemptions == row.twin.preemptions > 0, row.stack
        assert max(row.errors) < 1e-9, row.stack
        assert row.sim_hit_rate == pytest.approx(row.twin_hit_rate, abs=1e-12)
