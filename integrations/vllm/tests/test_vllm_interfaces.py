"""Contract tests pinning the vLLM 0.33 internals that sagacore_vllm.engine relies on.

vLLM's scheduler interface is not public; these tests call it directly (not through the
adapter) so that an upgrade that changes it fails here, with the interface named,
rather than deep inside the twin. They skip only when vLLM is not importable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

vllm = pytest.importorskip("vllm")

import torch  # noqa: E402
from vllm.config import (  # noqa: E402
    CacheConfig,
    DeviceConfig,
    ModelConfig,
    SchedulerConfig,
    VllmConfig,
)
from vllm.sampling_params import SamplingParams  # noqa: E402
from vllm.utils.hashing import sha256  # noqa: E402
from vllm.v1.core.kv_cache_utils import get_request_block_hasher, init_none_hash  # noqa: E402
from vllm.v1.core.sched.output import SchedulerOutput  # noqa: E402
from vllm.v1.core.sched.scheduler import Scheduler  # noqa: E402
from vllm.v1.kv_cache_interface import (  # noqa: E402
    FullAttentionSpec,
    KVCacheConfig,
    KVCacheGroupSpec,
)
from vllm.v1.outputs import ModelRunnerOutput  # noqa: E402
from vllm.v1.request import Request, RequestStatus  # noqa: E402
from vllm.v1.structured_output import StructuredOutputManager  # noqa: E402

BLOCK = 16


def test_version_is_the_pinned_one() -> None:
    assert vllm.__version__ == "0.33.0"


def _hasher() -> Any:
    init_none_hash(sha256)
    return get_request_block_hasher(BLOCK, sha256)


def _request(rid: str, prompt: list[int], max_tokens: int = 4, **kw: Any) -> Request:
    return Request(
        request_id=rid,
        prompt_token_ids=prompt,
        sampling_params=SamplingParams(max_tokens=max_tokens, ignore_eos=True),
        pooling_params=None,
        block_hasher=_hasher(),
        **kw,
    )


def _scheduler(
    tmp_path: Path,
    *,
    blocks: int = 256,
    policy: str = "fcfs",
    budget: int = 2048,
    max_seqs: int = 64,
) -> Scheduler:
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "vocab_size": 1000,
                "max_position_embeddings": 4096,
            }
        )
    )
    model = ModelConfig(
        model=str(tmp_path),
        skip_tokenizer_init=True,
        max_model_len=4096,
        dtype="float32",
        generation_config="vllm",
    )
    sched = SchedulerConfig(
        max_model_len=4096,
        is_encoder_decoder=False,
        max_num_batched_tokens=budget,
        max_num_seqs=max_seqs,
        policy=policy,
        async_scheduling=False,
    )
    cache = CacheConfig(block_size=BLOCK, enable_prefix_caching=True)
    cache.num_gpu_blocks = blocks
    config = VllmConfig(
        model_config=model,
        scheduler_config=sched,
        cache_config=cache,
        device_config=DeviceConfig(device="cpu"),
    )
    kv = KVCacheConfig(
        num_blocks=blocks,
        kv_cache_tensors=[],
        kv_cache_groups=[
            KVCacheGroupSpec(
                ["l0", "l1"],
                FullAttentionSpec(
                    block_size=BLOCK, num_kv_heads=2, head_size=16, dtype=torch.float32
                ),
            )
        ],
    )
    return Scheduler(
        vllm_config=config,
        kv_cache_config=kv,
        structured_output_manager=StructuredOutputManager(config),
        block_size=BLOCK,
        log_stats=False,
    )


def _step(s: Scheduler, token: int = 7) -> SchedulerOutput:
    out = s.schedule()
    ids = list(out.num_scheduled_tokens)
    sampled = [
        [token] if s.requests[r].num_computed_tokens >= s.requests[r].num_tokens else []
        for r in ids
    ]
    s.update_from_output(
        out,
        ModelRunnerOutput(
            req_ids=ids,
            req_id_to_index={r: i for i, r in enumerate(ids)},
            sampled_token_ids=sampled,
        ),
    )
    return out


# -- Request ----------------------------------------------------------------------------


def test_request_construction_fields() -> None:
    r = _request("r", list(range(40)), max_tokens=3, arrival_time=2.5, priority=4, session_id="s1")
    assert (r.request_id, r.num_prompt_tokens, r.num_tokens, r.max_tokens) == ("r", 40, 40, 3)
    assert (r.arrival_time, r.priority, r.session_id) == (2.5, 4, "s1")
    assert r.status == RequestStatus.WAITING
    assert r.num_computed_tokens == 0 and list(r.output_token_ids) == []
    assert len(r.block_hashes) == 40 // BLOCK  # only full blocks are hashed


def test_priority_request_ordering_is_priority_then_arrival() -> None:
    a = _request("a", [1] * 20, priority=1, arrival_time=0.0)
    b = _request("b", [1] * 20, priority=0, arrival_time=9.0)
    c = _request("c", [1] * 20, priority=0, arrival_time=1.0)
    assert sorted([a, b, c]) == [c, b, a]


# -- block hashing ----------------------------------------------------------------------


def test_block_hashes_chain_over_the_prefix() -> None:
    base = list(range(64))
    same = _request("x", [*base, 1, 2, 3])
    other_tail = _request("y", base[:48] + [999] * 16)
    other_head = _request("z", [999, *base[1:]])
    assert _request("w", base).block_hashes == same.block_hashes[:4]
    assert other_tail.block_hashes[:3] == same.block_hashes[:3]
    assert other_tail.block_hashes[3] != same.block_hashes[3]
    # The first block differs, so every block hash differs (chained on the parent).
    assert all(h1 != h2 for h1, h2 in zip(other_head.block_hashes, same.block_hashes, strict=True))


def test_block_hashes_are_deterministic_across_hashers() -> None:
    first = _request("a", list(range(50))).block_hashes
    init_none_hash(sha256)
    again = Request(
        request_id="b",
        prompt_token_ids=list(range(50)),
        sampling_params=SamplingParams(max_tokens=1),
        pooling_params=None,
        block_hasher=get_request_block_hasher(BLOCK, sha256),
    ).block_hashes
    assert first == again


def test_block_hashes_extend_with_output_tokens() -> None:
    r = _request("a", list(range(30)))
    assert len(r.block_hashes) == 1
    r.append_output_token_ids(7)
    r.append_output_token_ids(7)
    assert len(r.block_hashes) == 2  # 32 tokens: the second block is now full


# -- Scheduler --------------------------------------------------------------------------


def test_scheduler_builds_from_a_config_json_only(tmp_path: Path) -> None:
    s = _scheduler(tmp_path, blocks=100)
    assert s.kv_cache_manager.block_pool.num_gpu_blocks == 100
    assert s.kv_cache_manager.block_pool.get_num_free_blocks() == 99  # null block
    assert s.kv_cache_manager.enable_caching
    assert not s.has_unfinished_requests()


def test_partial_prefill_gets_no_token_and_request_finishes_at_max_tokens(tmp_path: Path) -> None:
    s = _scheduler(tmp_path, budget=64)
    s.add_request(_request("a", list(range(100)), max_tokens=3))
    first = _step(s)
    assert first.num_scheduled_tokens == {"a": 64}
    assert [n.req_id for n in first.scheduled_new_reqs] == ["a"]
    assert list(s.requests["a"].output_token_ids) == []
    assert _step(s).num_scheduled_tokens == {"a": 36}
    assert list(s.requests["a"].output_token_ids) == [7]
    _step(s)
    _step(s)
    assert not s.has_unfinished_requests()


def test_eos_token_does_not_stop_an_ignore_eos_request(tmp_path: Path) -> None:
    s = _scheduler(tmp_path)
    req = _request("a", list(range(20)), max_tokens=5)
    s.add_request(req)
    steps = 0
    while s.has_unfinished_requests():
        _step(s, token=2)  # the config.json's eos id
        steps += 1
    assert steps == 5 and len(req.output_token_ids) == 5
    assert req.status == RequestStatus.FINISHED_LENGTH_CAPPED


def test_shared_64_token_prefix_hits_the_cache(tmp_path: Path) -> None:
    s = _scheduler(tmp_path)
    prefix = list(range(64))
    s.add_request(_request("a", [*prefix, 500, 501, 502], max_tokens=2))
    while s.has_unfinished_requests():
        _step(s)
    # Finished: its blocks are free but stay in the prefix cache.
    pool = s.kv_cache_manager.block_pool
    assert pool.get_num_free_blocks() == pool.num_gpu_blocks - 1
    assert len(pool.cached_block_hash_to_block) == 4
    s.add_request(_request("b", [*prefix, 600, 601], max_tokens=2))
    out = _step(s)
    (new,) = out.scheduled_new_reqs
    assert new.req_id == "b" and new.num_computed_tokens == 64
    assert out.num_scheduled_tokens == {"b": 2}
    # A prompt equal to the cached prefix hits only up to a block boundary below its
    # length: vLLM always recomputes the last token.
    s.add_request(_request("c", prefix, max_tokens=1))
    (new,) = _step(s).scheduled_new_reqs
    assert new.num_computed_tokens == 48


@pytest.mark.parametrize(("policy", "first"), [("priority", "urgent"), ("fcfs", "lazy")])
def test_priority_policy_reorders_the_waiting_queue(
    tmp_path: Path, policy: str, first: str
) -> None:
    s = _scheduler(tmp_path, policy=policy, max_seqs=1, budget=64)
    s.add_request(_request("lazy", [1] * 20, priority=5, arrival_time=0.0))
    s.add_request(_request("urgent", [2] * 20, priority=0, arrival_time=1.0))
    assert list(_step(s).num_scheduled_tokens) == [first]


def test_preemption_when_blocks_run_out(tmp_path: Path) -> None:
    # 8 usable blocks; two requests of 48 prompt tokens (3 blocks each) that each grow
    # to 48 + 40 tokens (6 blocks): they cannot both fit, so one is preempted.
    s = _scheduler(tmp_path, blocks=9)
    s.add_request(_request("a", [1] * 48, max_tokens=40))
    s.add_request(_request("b", [2] * 48, max_tokens=40))
    preempted: set[str] = set()
    steps = 0
    while s.has_unfinished_requests():
        out = _step(s)
        preempted |= set(out.preempted_req_ids or ())
        steps += 1
        assert steps < 1000
    assert preempted == {"b"}  # FCFS preempts the most recently admitted
