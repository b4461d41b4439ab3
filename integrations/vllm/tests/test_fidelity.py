"""Fidelity of sagacore's simulator against real vLLM 0.33 schedulers, in CI.

A small WebArena-like workload (short chains, a shared system prompt) on one instance
whose KV pool is small enough to preempt and evict runs through both the simulator's
vLLM stacks and the twin. The errors are computed each run and must stay within the
bounds docs/vllm-twin.md states (and measured on this configuration):

- per-task TCT error ``|sim - twin| / twin``: median <= 2%, p90 <= 5%;
- prefix-cache hit rates within 1 point.

The one cause of these errors on FCFS stacks is vLLM's null block (block 0 of the pool
holds no KV, so vLLM has one block fewer than the simulator): giving the twin one more
block than the simulator's pool makes the two agree exactly, which the second test
checks (a regression test for every other difference the docs list as fixed).

They skip only when vLLM is not importable.
"""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("vllm")

from sagacore.sim.cluster import Simulation
from sagacore.sim.config import ClusterConfig, EngineConfig
from sagacore.workload.generators import GENERATORS, PoissonArrivals
from sagacore.workload.generators.webarena import WebArenaConfig
from sagacore.workload.model import Workload
from sagacore_vllm.bridge import SegmentTokens
from sagacore_vllm.fidelity import FIDELITY_STACKS, compare, format_table, twin_settings
from sagacore_vllm.harness import run_twin

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


def test_simulator_stays_within_the_documented_error_bounds() -> None:
    rows = compare(workload(), cluster(), ["vllm", "vllm-apc"])
    print(format_table(rows))
    assert sum(r.twin.preemptions for r in rows) > 0  # the comparison exercises preemption
    for r in rows:
        assert r.tasks == 20 and r.sim.tasks_completed == 20
        assert r.error_quantile(0.5) <= MEDIAN_BOUND, r.stack
        assert r.error_quantile(0.9) <= P90_BOUND, r.stack
        assert abs(r.sim_hit_rate - r.twin_hit_rate) <= HIT_BOUND, r.stack


@pytest.mark.parametrize("name", ["vllm", "vllm-apc"])
def test_with_vllms_null_block_matched_the_two_agree_exactly(name: str) -> None:
    w, c = workload(), cluster()
    stack = FIDELITY_STACKS[name]
    sim_blocks = Simulation(w, stack, c).workers[0].store.capacity_blocks
    router, policy, caching = twin_settings(stack)
    from sagacore.sim import simulate

    sim = simulate(w, stack, c)
    twin = run_twin(
        w,
        c,
        router=router,
        policy=policy,
        prefix_caching=caching,
        table=SegmentTokens.for_workload(w),
        adjust=lambda e: dataclasses.replace(e, num_gpu_blocks=sim_blocks + 1),
    )
    s, t = sim.tct_by_task(), twin.tct_by_task()
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
