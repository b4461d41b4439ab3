"""Contract tests of the engine adapter (sagacore_vllm.engine) over a real vLLM scheduler.

They skip only when vLLM is not importable.
"""

from __future__ import annotations

from collections import Counter

import pytest

pytest.importorskip("vllm")

from sagacore.errors import ConfigError
from sagacore_vllm.engine import (
    VLLM_VERSION,
    StepRecord,
    VllmEngine,
    VllmEngineConfig,
    vllm_version,
)


def _check_invariants(engine: VllmEngine, record: StepRecord) -> None:
    c = engine.config
    assert record.num_scheduled_tokens <= c.max_num_batched_tokens
    assert len(record.chunks) <= c.max_num_seqs
    assert record.num_running <= c.max_num_seqs
    assert record.num_blocks_used + record.num_blocks_free == c.num_usable_blocks
    assert 0 <= record.num_blocks_used <= c.num_usable_blocks
    assert len({ch.request_id for ch in record.chunks}) == len(record.chunks)
    for ch in record.chunks:
        assert ch.num_new_tokens >= 1 and ch.num_context_tokens >= 0
        if ch.is_decode:
            assert ch.num_new_tokens == 1
    for adm in record.admissions:
        assert adm.num_cached_tokens % c.block_size == 0
        assert 0 <= adm.num_cached_tokens <= adm.num_tokens - 1


def _run(engine: VllmEngine) -> list[StepRecord]:
    records = engine.run_until_idle()
    for r in records:
        _check_invariants(engine, r)
    return records


def test_installed_vllm_is_the_pinned_version() -> None:
    assert vllm_version() == VLLM_VERSION


def test_200_requests_of_550_plus_50_complete_with_exact_output_lengths() -> None:
    engine = VllmEngine(
        VllmEngineConfig(num_gpu_blocks=8192, max_num_batched_tokens=2048, max_num_seqs=128)
    )
    for i in range(200):
        # Distinct prompts: no prefix sharing between requests.
        prompt = [(i * 7919 + j * 31) % 30000 for j in range(550)]
        engine.add_request(f"r{i}", prompt, max_tokens=50, arrival_time=0.0)
    records = _run(engine)
    finished = [rid for r in records for rid in r.finished]
    assert sorted(finished) == sorted(f"r{i}" for i in range(200))
    assert Counter(rid for r in records for rid in r.sampled) == {f"r{i}": 50 for i in range(200)}
    assert sum(r.prefill_tokens for r in records) == 200 * 550
    assert sum(r.decode_seqs for r in records) == 200 * 49
    assert not any(r.preempted for r in records)
    assert sum(a.num_cached_tokens for r in records for a in r.admissions) == 0
    assert records[-1].num_blocks_used == 0 and records[-1].num_running == 0
    # Prefill is bound by the token budget and decode by the request slots.
    assert 200 * 550 // 2048 < len(records) < 300


def test_first_schedule_reports_the_prefix_cache_hit() -> None:
    engine = VllmEngine(VllmEngineConfig(num_gpu_blocks=256))
    prefix = list(range(100, 164))  # 64 tokens = 4 blocks
    engine.add_request("a", [*prefix, 1, 2, 3], max_tokens=3)
    _run(engine)
    assert engine.cached_prefix_tokens([*prefix, 9]) == 64
    engine.add_request("b", [*prefix, 4, 5], max_tokens=3, session_id="s")
    record = engine.step()
    (adm,) = record.admissions
    assert (adm.request_id, adm.num_cached_tokens, adm.num_tokens, adm.resumed) == (
        "b",
        64,
        66,
        False,
    )
    (chunk,) = record.chunks
    assert (chunk.num_new_tokens, chunk.num_context_tokens, chunk.is_decode) == (2, 64, False)
    assert record.prefill_context_tokens == 64 and record.prefill_tokens == 2
    assert record.prefill_attention_pairs == 2 * 64 + 3


def test_prefix_hit_includes_the_previous_calls_output() -> None:
    # An agent's next call = previous prompt + its output + a tool observation; the
    # output tokens are the fixed synthetic token, so the next prompt can repeat them.
    engine = VllmEngine(VllmEngineConfig(num_gpu_blocks=256, output_token_id=11))
    first = list(range(200, 248))  # 48 tokens
    engine.add_request("call1", first, max_tokens=17)
    _run(engine)
    second = first + [11] * 17 + list(range(300, 340))
    assert engine.cached_prefix_tokens(second) == 64  # 48 + 16 of the 17 outputs
    engine.add_request("call2", second, max_tokens=1)
    assert engine.step().admissions[0].num_cached_tokens == 64


def test_no_hit_without_prefix_caching() -> None:
    engine = VllmEngine(VllmEngineConfig(num_gpu_blocks=256, enable_prefix_caching=False))
    engine.add_request("a", [*list(range(64)), 1], max_tokens=1)
    _run(engine)
    engine.add_request("b", [*list(range(64)), 2], max_tokens=1)
    assert engine.step().admissions[0].num_cached_tokens == 0
    assert engine.cached_prefix_tokens(list(range(65))) == 0


def test_finished_requests_leave_full_blocks_in_the_cache() -> None:
    engine = VllmEngine(VllmEngineConfig(num_gpu_blocks=64))
    engine.add_request("a", list(range(40)), max_tokens=8)  # 48 tokens: 3 full blocks
    records = _run(engine)
    last = records[-1]
    assert last.finished == ("a",)
    assert last.num_blocks_used == 0 and last.num_blocks_free == 63
    assert last.num_cached_blocks == 2  # the third fills only when token 48 is computed
    engine.add_request("b", list(range(40)), max_tokens=1)
    assert engine.step().admissions[0].num_cached_tokens == 32


def test_abort_frees_blocks_and_keeps_them_cached() -> None:
    engine = VllmEngine(VllmEngineConfig(num_gpu_blocks=64))
    engine.add_request("a", [*list(range(64)), 1], max_tokens=100)
    engine.step()
    engine.step()
    engine.abort_request("a")
    assert not engine.has_unfinished_requests()
    assert engine.cached_prefix_tokens([*list(range(64)), 2]) == 64


def test_priority_policy_admits_lower_priority_value_first() -> None:
    engine = VllmEngine(
        VllmEngineConfig(
            num_gpu_blocks=64, max_num_seqs=1, max_num_batched_tokens=64, policy="priority"
        )
    )
    engine.add_request("low", [1] * 20, max_tokens=2, priority=3, arrival_time=0.0)
    engine.add_request("high", [2] * 20, max_tokens=2, priority=0, arrival_time=5.0)
    engine.add_request("high-later", [3] * 20, max_tokens=2, priority=0, arrival_time=6.0)
    order = [a.request_id for r in _run(engine) for a in r.admissions]
    assert order == ["high", "high-later", "low"]


@pytest.mark.parametrize(("policy", "victim"), [("fcfs", "second"), ("priority", "first")])
def test_preemption_when_blocks_run_out_then_resume(policy: str, victim: str) -> None:
    # 8 usable blocks; each request grows from 3 to 6 blocks, so both cannot fit.
    engine = VllmEngine(VllmEngineConfig(num_gpu_blocks=9, policy=policy))
    engine.add_request("first", [1] * 48, max_tokens=40, priority=9)
    engine.add_request("second", [2] * 48, max_tokens=40, priority=0)
    records = _run(engine)
    preempted = [rid for r in records for rid in r.preempted]
    assert preempted and set(preempted) == {victim}
    resumed = [a for r in records for a in r.admissions if a.resumed]
    assert [a.request_id for a in resumed] == preempted
    assert Counter(rid for r in records for rid in r.sampled) == {"first": 40, "second": 40}
    assert any(r.num_blocks_free == 0 for r in records)


def test_eos_output_token_does_not_end_requests_early() -> None:
    engine = VllmEngine(VllmEngineConfig(num_gpu_blocks=64, output_token_id=2))  # Llama EOS id
    engine.add_request("a", list(range(10)), max_tokens=12)
    records = _run(engine)
    assert len(records) == 12 and records[-1].finished == ("a",)


def test_chunked_prefill_and_long_prefill_threshold() -> None:
    engine = VllmEngine(
        VllmEngineConfig(
            num_gpu_blocks=256,
            max_num_batched_tokens=256,
            max_num_seqs=8,
            long_prefill_token_threshold=64,
        )
    )
    engine.add_request("long", list(range(1000, 1600)), max_tokens=1)
    engine.add_request("other", list(range(2000, 2600)), max_tokens=1)
    record = engine.step()
    # Two requests share the step, so each prefill chunk is capped at 64 tokens.
    assert [(c.request_id, c.num_new_tokens) for c in record.chunks] == [
        ("long", 64),
        ("other", 64),
    ]
    records = [record, *_run(engine)]
    assert sum(r.prefill_tokens for r in records) == 1200
    contexts = [c.num_context_tokens for r in records for c in r.chunks if c.request_id == "long"]
    assert contexts == sorted(contexts) and contexts[0] == 0


def test_without_chunked_prefill_a_prompt_is_scheduled_whole() -> None:
    engine = VllmEngine(
        VllmEngineConfig(
            num_gpu_blocks=256,
            max_num_batched_tokens=1024,
            max_model_len=1024,
            enable_chunked_prefill=False,
        )
    )
    engine.add_request("a", list(range(700)), max_tokens=2)
    assert engine.step().chunks[0].num_new_tokens == 700


def test_steps_are_deterministic() -> None:
    def run() -> list[StepRecord]:
        engine = VllmEngine(
            VllmEngineConfig(num_gpu_blocks=40, max_num_batched_tokens=128, max_num_seqs=8)
        )
        for i in range(12):
            engine.add_request(f"q{i}", [i % 3] * 32 + list(range(i, i + 40)), max_tokens=5 + i)
        return _run(engine)

    assert run() == run()


def test_cost_arguments_feed_the_cost_model_signature() -> None:
    engine = VllmEngine(VllmEngineConfig(num_gpu_blocks=64))
    engine.add_request("a", list(range(30)), max_tokens=3)
    engine.add_request("b", list(range(100, 120)), max_tokens=1)
    first = engine.step()
    assert first.cost_arguments() == {
        "prefill_tokens": 50,
        "prefill_context_tokens": 0,
        "decode_seqs": 0,
        "decode_context_tokens": 0,
        "prefill_attention_pairs": 30 * 31 // 2 + 20 * 21 // 2,
    }
    second = engine.step()
    assert (second.decode_seqs, second.decode_context_tokens, second.prefill_tokens) == (1, 30, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"block_size": 0}, "block_size must be a positive integer, got 0"),
        ({"num_gpu_blocks": 1}, "num_gpu_blocks must be at least 2"),
        ({"policy": "lifo"}, "policy must be one of"),
        ({"max_num_batched_tokens": 64, "max_num_seqs": 128}, "must be >= max_num_seqs (128)"),
        (
            {"enable_chunked_prefill": False, "max_num_batched_tokens": 512},
            "without chunked prefill",
        ),
        ({"output_token_id": 40000}, "output_token_id must be"),
        ({"long_prefill_token_threshold": -1}, "long_prefill_token_threshold must be"),
    ],
)
def test_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        VllmEngineConfig(**kwargs)  # type: ignore[arg-type]


def test_request_validation() -> None:
    engine = VllmEngine(
        VllmEngineConfig(num_gpu_blocks=16, max_model_len=128, max_num_batched_tokens=128)
    )
    engine.add_request("a", [1, 2, 3], max_tokens=1)
    with pytest.raises(ConfigError, match="already in the engine"):
        engine.add_request("a", [1], max_tokens=1)
    with pytest.raises(ConfigError, match="empty prompt"):
        engine.add_request("b", [], max_tokens=1)
    with pytest.raises(ConfigError, match="outside"):
        engine.add_request("b", [40000], max_tokens=1)
    with pytest.raises(ConfigError, match="max_tokens must be >= 1"):
        engine.add_request("b", [1], max_tokens=0)
    with pytest.raises(ConfigError, match="exceeds max_model_len"):
        engine.add_request("b", [1] * 100, max_tokens=29)


def test_docstring_examples() -> None:
    import doctest

    import sagacore_vllm.engine as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_scripted_outputs_are_sampled_and_a_follow_up_hits_them() -> None:
    engine = VllmEngine(VllmEngineConfig(num_gpu_blocks=64, vocab_size=1000))
    prompt = list(range(100, 140))
    outputs = [900 + i for i in range(25)]
    engine.add_request("a", prompt, max_tokens=25, output_token_ids=outputs)
    records = engine.run_until_idle()
    assert records[-1].finished == ("a",)
    # prompt (40) + output (25) = 65 tokens, the last without KV: 64 cached
    assert engine.cached_prefix_tokens([*prompt, *outputs, 5]) == 64
    # the default token would not have matched the scripted output
    assert engine.cached_prefix_tokens([*prompt, *([7] * 25), 5]) == 32
    with pytest.raises(ConfigError, match="output_token_ids"):
        engine.add_request("b", prompt, max_tokens=3, output_token_ids=[1, 2])
    with pytest.raises(ConfigError, match="output_token_ids"):
        engine.add_request("c", prompt, max_tokens=1, output_token_ids=[5000])


def test_block_reuse_tracking_reports_idle_hit_blocks_by_when_they_went_idle() -> None:
    engine = VllmEngine(VllmEngineConfig(num_gpu_blocks=64, track_block_reuse=True))
    prompt = list(range(64))
    engine.add_request("a", prompt, max_tokens=1)
    first = engine.run_until_idle()
    assert first[-1].finished == ("a",)
    last = first[-1].step
    engine.add_request("b", [*prompt, 1, 2], max_tokens=3)
    record = engine.step()
    (adm,) = record.admissions
    # 4 blocks of "a" sat idle since the end of its last step
    assert adm.num_cached_tokens == 64 and adm.reused_idle == ((last, True, 4),)
    # while "b" holds them they are not idle: a concurrent hit credits nothing
    engine.add_request("c", [*prompt, 3, 4], max_tokens=2)
    (adm_c,) = engine.step().admissions
    assert adm_c.num_cached_tokens == 64 and adm_c.reused_idle == ()
    assert record.num_blocks_used_in_step >= 5


def test_full_input_admission_is_vllms_default_and_can_be_turned_off() -> None:
    def admitted_second(full: bool) -> bool:
        # 40 usable blocks; "a" holds 30, "b" needs 20 blocks in all but 8 for its chunk
        engine = VllmEngine(
            VllmEngineConfig(
                num_gpu_blocks=41,
                max_num_batched_tokens=128,
                max_num_seqs=4,
                scheduler_reserve_full_isl=full,
            )
        )
        engine.add_request("a", list(range(470)), max_tokens=20)
        for _ in range(4):
            engine.step()
        engine.add_request("b", list(range(1000, 1320)), max_tokens=2)
        return any(a.request_id == "b" for a in engine.step().admissions)

    assert VllmEngineConfig().scheduler_reserve_full_isl
    assert not admitted_second(True)
    assert admitted_second(False)
