"""Contract and property tests of the cost model."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sagacore.engine import (
    CostModel,
    StepBreakdown,
    attention_pairs,
    get_gpu,
    get_model,
    roofline,
)
from sagacore.errors import ConfigError

INSTANCES = [
    ("llama-3-8b", "a100-80gb", 1),
    ("llama-3-8b", "h100-80gb", 2),
    ("llama-3-70b", "a100-80gb", 4),
    ("llama-3-70b", "h200", 8),
    ("qwen2.5-7b", "h200", 1),
    ("qwen2.5-7b", "a100-80gb", 4),
]
COSTS = [CostModel.from_presets(m, g, tp) for m, g, tp in INSTANCES]

costs = st.sampled_from(COSTS)
tokens = st.integers(min_value=0, max_value=32_768)
positive_tokens = st.integers(min_value=1, max_value=32_768)
contexts = st.integers(min_value=0, max_value=2_000_000)
batch_sizes = st.integers(min_value=1, max_value=1024)
deltas = st.integers(min_value=0, max_value=10_000)


@st.composite
def steps(draw: st.DrawFn) -> tuple[int, int, int, int]:
    """A consistent step: a context only where there are tokens."""
    p = draw(tokens)
    cp = draw(contexts) if p else 0
    d = draw(st.integers(min_value=0, max_value=1024))
    cd = draw(contexts) if d else 0
    return p, cp, d, cd


# --- contract -----------------------------------------------------------------------------


def test_empty_step_costs_nothing() -> None:
    for cost in COSTS:
        assert cost.step_seconds() == 0.0
        assert cost.prefill_seconds(0) == 0.0
        assert cost.decode_step_seconds(0, 0) == 0.0
        assert cost.decode_steps_seconds(8, 1000, 0) == 0.0
        assert cost.step_breakdown() == StepBreakdown(0.0, 0.0, 0.0, 0.0)


def test_breakdown_sums_to_step_and_has_no_comm_without_tp() -> None:
    cost = CostModel.from_presets("llama-3-8b", "a100-80gb")
    b = cost.step_breakdown(512, 1000, 16, 16 * 900)
    assert b.total_s == cost.step_seconds(512, 1000, 16, 16 * 900)
    assert b.overhead_s == cost.step_overhead_s
    assert b.communication_s == 0.0
    tp4 = CostModel.from_presets("llama-3-70b", "a100-80gb", 4).step_breakdown(512)
    assert tp4.communication_s > 0.0


def test_prefill_and_decode_are_special_cases_of_step() -> None:
    cost = COSTS[0]
    assert cost.prefill_seconds(700, 300) == cost.step_seconds(700, 300)
    assert cost.decode_step_seconds(5, 5000) == cost.step_seconds(0, 0, 5, 5000)


def test_kv_bytes_per_token_is_the_models() -> None:
    for cost in COSTS:
        assert cost.kv_bytes_per_token() == cost.model.kv_bytes_per_token
        replicated = cost.kv_bytes_per_token_per_gpu * cost.tp
        assert replicated >= cost.kv_bytes_per_token()


def test_kv_heads_replicate_beyond_kv_head_count() -> None:
    cost = CostModel.from_presets("qwen2.5-7b", "a100-80gb", 4)  # 4 KV heads, tp 4
    assert cost.kv_heads_per_gpu == 1
    wide = CostModel.from_presets("llama-3-70b", "h200", 8)  # 8 KV heads, tp 8
    assert wide.kv_heads_per_gpu == 1
    gqa = CostModel(get_model("llama-3-8b"), get_gpu("h200"), tp=2)
    assert gqa.kv_heads_per_gpu == 4


def test_kv_capacity_is_whole_blocks_of_the_budget() -> None:
    for cost in COSTS:
        cap = cost.kv_capacity_tokens()
        assert cap % cost.block_size == 0
        budget = cost.kv_memory_bytes_per_gpu()
        assert cap * cost.kv_bytes_per_token_per_gpu <= budget
        assert (cap + cost.block_size) * cost.kv_bytes_per_token_per_gpu > budget


def test_kv_capacity_matches_vllm_accounting_by_hand() -> None:
    # 79.22 GiB x 0.9 - 14.96 GiB weights - 3.05 GiB reserve = 53.29 GiB of 128 KiB tokens.
    cost = CostModel.from_presets("llama-3-8b", "h100-80gb")
    assert cost.kv_capacity_tokens() == pytest.approx(53.29 * 2**30 / 131072, abs=32)


def test_kv_capacity_grows_with_memory_utilization() -> None:
    cost = CostModel.from_presets("llama-3-8b", "a100-80gb")
    more = dataclasses.replace(cost, gpu_memory_utilization=0.95)
    assert more.kv_capacity_tokens() > cost.kv_capacity_tokens()


def test_instance_that_does_not_fit_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"llama-3-70b does not fit on 1 x h100-80gb"):
        CostModel.from_presets("llama-3-70b", "h100-80gb", 1)
    with pytest.raises(ConfigError, match="does not fit"):
        CostModel.from_presets("llama-3-8b", "a100-80gb").__class__(
            get_model("llama-3-8b"), get_gpu("a100-40gb"), gpu_memory_utilization=0.3
        )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tp": 3}, "tp=3 does not divide the 32 attention heads of llama-3-8b"),
        ({"tp": 0}, "CostModel.tp must be a positive integer, got 0"),
        ({"tp": 2.0}, "got 2.0"),
        ({"compute_efficiency": 0.0}, r"compute_efficiency must be in \(0, 1\], got 0.0"),
        ({"bandwidth_efficiency": 1.5}, "got 1.5"),
        ({"gpu_memory_utilization": -0.1}, "got -0.1"),
        ({"step_overhead_s": -1e-3}, "step_overhead_s must be a finite number >= 0, got -0.001"),
        ({"allreduce_latency_s": math.inf}, "got inf"),
        ({"block_size": 0}, "block_size must be a positive integer, got 0"),
        ({"migration_bandwidth": 0.0}, "migration_bandwidth must be a finite number > 0, got 0.0"),
        ({"roofline_exponent": 0.5}, "roofline_exponent must be a number >= 1, got 0.5"),
        ({"model": "llama-3-8b"}, "CostModel.model must be a ModelSpec, got 'llama-3-8b'"),
    ],
)
def test_cost_model_validation_shows_bad_value(changes: dict[str, object], message: str) -> None:
    base = {"model": get_model("llama-3-8b"), "gpu": get_gpu("h100-80gb")}
    with pytest.raises(ConfigError, match=message):
        CostModel(**{**base, **changes})  # type: ignore[arg-type]


def test_tp_must_suit_kv_heads() -> None:
    spec = dataclasses.replace(get_model("llama-3-8b"), num_heads=48, num_kv_heads=12)
    with pytest.raises(ConfigError, match="tp=8 neither divides nor is a multiple of the 12"):
        CostModel(spec, get_gpu("h200"), tp=8)


@pytest.mark.parametrize("bad", [-1, -0.5, math.nan, math.inf, True, "10"])
def test_bad_token_counts_raise_config_error(bad: object) -> None:
    cost = COSTS[0]
    with pytest.raises(ConfigError, match="must be a finite number >= 0, got"):
        cost.prefill_seconds(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="must be a finite number >= 0, got"):
        cost.decode_step_seconds(4, bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="tokens must be a finite number >= 0, got"):
        cost.swap_seconds(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="tokens must be a finite number >= 0, got"):
        cost.migration_seconds(bad)  # type: ignore[arg-type]


def test_context_without_tokens_is_rejected() -> None:
    cost = COSTS[0]
    with pytest.raises(ConfigError, match="decode_context_tokens must be 0 without decode_seqs"):
        cost.decode_step_seconds(0, 100)
    with pytest.raises(ConfigError, match="prefill_context_tokens must be 0 without prefill"):
        cost.step_seconds(0, 100)
    with pytest.raises(ConfigError, match="context_tokens must be 0 without a batch"):
        cost.decode_steps_seconds(0, 100, 3)


def test_prefill_attention_pairs_range_is_checked() -> None:
    cost = COSTS[0]
    with pytest.raises(ConfigError, match=r"= \[100, 5050\], got 99"):
        cost.step_seconds(100, prefill_attention_pairs=99)
    with pytest.raises(ConfigError, match="got 6000"):
        cost.step_seconds(100, prefill_attention_pairs=6000)


def test_several_prefill_chunks_cost_less_attention_than_one() -> None:
    cost = CostModel.from_presets("llama-3-8b", "a100-80gb")
    one = cost.step_seconds(8192)
    eight = cost.step_seconds(8192, prefill_attention_pairs=8 * attention_pairs(1024))
    assert eight < one
    assert cost.step_seconds(8192, prefill_attention_pairs=attention_pairs(8192)) == one


def test_decode_steps_within_needs_a_batch() -> None:
    with pytest.raises(ConfigError, match="batch_size must be > 0"):
        COSTS[0].decode_steps_within(0, 0, 1.0)
    assert COSTS[0].decode_steps_within(4, 100, 0.0) == 0


def test_swap_and_migration_costs() -> None:
    cost = CostModel.from_presets("llama-3-70b", "a100-80gb", 4)
    per_gpu = 10_000 * 327680 / 4
    assert cost.swap_seconds(10_000) == pytest.approx(per_gpu / (32e9 * 0.8))
    assert cost.migration_seconds(0) == 0.0
    assert cost.migration_seconds(10_000) == pytest.approx(1e-3 + per_gpu / 25e9)
    nvlink = dataclasses.replace(cost, migration_bandwidth=450e9, migration_latency_s=0.0)
    assert nvlink.migration_seconds(10_000) < cost.migration_seconds(10_000)


def test_classic_roofline_is_the_limit() -> None:
    assert roofline(2.0, 5.0, math.inf) == 5.0
    assert roofline(2.0, 5.0, 1.0) == 7.0
    assert roofline(0.0, 0.0, 1.2) == 0.0
    cost = dataclasses.replace(COSTS[0], roofline_exponent=math.inf)
    b = cost.step_breakdown(4096)
    assert b.linear_s == pytest.approx(
        max(
            2 * cost.model.body_params * 4096 / (cost.gpu.peak_flops * cost.compute_efficiency),
            cost.model.streamed_weight_bytes / (cost.gpu.hbm_bandwidth * cost.bandwidth_efficiency),
        )
    )


def test_cost_model_is_frozen_and_hashable() -> None:
    cost = COSTS[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cost.tp = 2  # type: ignore[misc]
    assert hash(cost) == hash(CostModel.from_presets("llama-3-8b", "a100-80gb", 1))


# --- properties ---------------------------------------------------------------------------


@given(costs, steps(), st.sampled_from(range(4)), deltas)
def test_step_time_is_monotone_in_every_argument(
    cost: CostModel, step: tuple[int, int, int, int], which: int, delta: int
) -> None:
    bigger = list(step)
    bigger[which] += delta
    if which == 1 and bigger[0] == 0:
        bigger[0] = 1  # a context needs tokens
    if which == 3 and bigger[2] == 0:
        bigger[2] = 1
    assert cost.step_seconds(*bigger) >= cost.step_seconds(*step)


@given(costs, batch_sizes, contexts, deltas)
def test_decode_step_monotone_in_batch_and_context(
    cost: CostModel, b: int, c: int, delta: int
) -> None:
    t = cost.decode_step_seconds(b, c)
    assert cost.decode_step_seconds(b, c + delta) >= t
    assert cost.decode_step_seconds(b + delta, c) >= t


@given(costs, positive_tokens, contexts, deltas)
def test_prefill_monotone_in_tokens_and_cache(cost: CostModel, n: int, c: int, delta: int) -> None:
    t = cost.prefill_seconds(n, c)
    assert cost.prefill_seconds(n + delta, c) >= t
    assert cost.prefill_seconds(n, c + delta) >= t


@given(costs, positive_tokens, st.integers(min_value=0, max_value=200_000))
def test_cached_prefix_is_never_slower_than_recomputing_it(cost: CostModel, n: int, c: int) -> None:
    assert cost.prefill_seconds(n, c) <= cost.prefill_seconds(n + c) * (1 + 1e-12)


@given(costs, steps())
def test_batching_never_costs_more_than_separate_steps(
    cost: CostModel, step: tuple[int, int, int, int]
) -> None:
    p, cp, d, cd = step
    mixed = cost.step_seconds(p, cp, d, cd)
    separate = cost.step_seconds(p, cp) + cost.step_seconds(0, 0, d, cd)
    assert mixed <= separate * (1 + 1e-12)
    assert mixed >= max(cost.step_seconds(p, cp), cost.step_seconds(0, 0, d, cd))


@given(costs, batch_sizes, contexts, st.integers(min_value=0, max_value=400))
def test_closed_form_decode_run_equals_stepwise_sum(
    cost: CostModel, b: int, c: int, n: int
) -> None:
    stepwise = math.fsum(cost.decode_step_seconds(b, c + j * b) for j in range(n))
    assert cost.decode_steps_seconds(b, c, n) == pytest.approx(stepwise, rel=1e-9, abs=1e-12)


@given(costs, batch_sizes, contexts)
def test_decode_coefficients_are_exact(cost: CostModel, b: int, c: int) -> None:
    intercept, slope = cost.decode_cost_coefficients(b)
    assert intercept + slope * c == pytest.approx(cost.decode_step_seconds(b, c), rel=1e-12)
    assert intercept > 0 and slope > 0


@given(costs, batch_sizes, contexts, st.floats(min_value=0, max_value=120))
def test_decode_steps_within_inverts_the_sum(
    cost: CostModel, b: int, c: int, seconds: float
) -> None:
    n = cost.decode_steps_within(b, c, seconds)
    assert n >= 0
    assert cost.decode_steps_seconds(b, c, n) <= seconds
    assert cost.decode_steps_seconds(b, c, n + 1) > seconds


@given(
    st.sampled_from(["llama-3-8b", "qwen2.5-7b"]),
    st.sampled_from(["a100-80gb", "h100-80gb", "h200"]),
    steps(),
)
def test_tensor_parallelism_never_speeds_up_superlinearly(
    model: str, gpu: str, step: tuple[int, int, int, int]
) -> None:
    one = CostModel.from_presets(model, gpu, 1).step_seconds(*step)
    for tp in (2, 4):
        assert tp * CostModel.from_presets(model, gpu, tp).step_seconds(*step) >= one * (1 - 1e-12)


@given(
    st.sampled_from(["a100-80gb", "h100-80gb", "h200"]),
    st.integers(min_value=512, max_value=32_768),
)
def test_tensor_parallelism_speeds_up_long_prefills(gpu: str, n: int) -> None:
    times = [CostModel.from_presets("llama-3-8b", gpu, tp).prefill_seconds(n) for tp in (1, 2, 4)]
    assert times[0] > times[1] > times[2]


def test_tensor_parallelism_adds_kv_capacity() -> None:
    for model, gpu in [("llama-3-8b", "a100-80gb"), ("llama-3-70b", "h200")]:
        caps = []
        for tp in (1, 2, 4, 8):
            try:
                caps.append(CostModel.from_presets(model, gpu, tp).kv_capacity_tokens())
            except ConfigError:
                continue  # does not fit at this tp
        assert len(caps) >= 2
        assert caps == sorted(caps)


@given(costs, st.integers(min_value=0, max_value=10**7), deltas)
def test_swap_and_migration_are_affine_and_monotone(cost: CostModel, n: int, delta: int) -> None:
    assert cost.swap_seconds(n + delta) >= cost.swap_seconds(n)
    assert cost.migration_seconds(n + delta) >= cost.migration_seconds(n)
    assert cost.swap_seconds(2 * n) == pytest.approx(2 * cost.swap_seconds(n))
