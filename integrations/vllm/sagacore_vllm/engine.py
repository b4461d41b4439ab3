"""A real vLLM V1 scheduler stepped on a CPU with no model: the twin's engine adapter.

This is the only module of sagacore that imports vLLM. It builds vLLM 0.33's own
``Scheduler`` (with its ``KVCacheManager``, block pool, prefix cache, request queues and
preemption) from a small frozen :class:`VllmEngineConfig`, feeds it requests, and steps it:
one ``schedule()`` followed by ``update_from_output()`` with a synthetic
``ModelRunnerOutput`` that samples one fixed token for every request whose scheduled
tokens reach the end of its sequence (a decode, or the last chunk of a prefill), exactly
as vLLM's model runner reports it. Each step returns an engine-agnostic
:class:`StepRecord`; nothing else of vLLM leaks out.

What is modelled: admission, chunked prefill under the token budget, prefix-cache hits
(vLLM's own block hashes and lookup), block allocation, LRU eviction of free cached
blocks, preemption by recomputation when blocks run out, FCFS and priority queues, and
requests finishing at exactly ``max_tokens`` output tokens. What is not: the model
forward pass and its time (price a step with :attr:`StepRecord.prefill_tokens` and the
other aggregates, e.g. through ``sagacore.engine.CostModel.step_seconds``), sampling
(every output token is :attr:`VllmEngineConfig.output_token_id`; EOS and stop strings never
end a request), CUDA graphs, speculative decoding, and async scheduling (the scheduler
is the synchronous one; vLLM's overlap of step N+1's scheduling with step N's forward is
not modelled).

Examples
--------
>>> from sagacore_vllm.engine import VllmEngineConfig, VllmEngine
>>> engine = VllmEngine(VllmEngineConfig(num_gpu_blocks=64, max_num_batched_tokens=64,
...                                   max_num_seqs=8))
>>> engine.add_request("a", list(range(100)), max_tokens=2)
>>> records = engine.run_until_idle()
>>> [r.num_scheduled_tokens for r in records]
[64, 36, 1]
>>> records[-1].finished
('a',)
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sagacore.errors import ConfigError, InvariantError

__all__ = [
    "VLLM_VERSION",
    "Admission",
    "ScheduledChunk",
    "SchedulingPolicy",
    "StepRecord",
    "VllmEngine",
    "VllmEngineConfig",
    "vllm_version",
]

#: The vLLM release this adapter is written and contract-tested against.
VLLM_VERSION = "0.33.0"

SchedulingPolicy = Literal["fcfs", "priority"]
_POLICIES: tuple[str, ...] = ("fcfs", "priority")


def vllm_version() -> str:
    """The installed vLLM version string (imports vLLM).

    Returns
    -------
    str
        ``vllm.__version__``, for example ``"0.33.0"``.
    """
    import vllm

    return str(vllm.__version__)


@dataclass(frozen=True)
class VllmEngineConfig:
    """Configuration of one simulated vLLM instance (scheduler and KV cache only).

    Field names follow vLLM's ``CacheConfig`` and ``SchedulerConfig``; the defaults are
    vLLM 0.33's, except the KV pool size, which a real deployment derives from GPU
    memory (``num_gpu_blocks`` in its startup log).

    Examples
    --------
    >>> VllmEngineConfig(num_gpu_blocks=1024, policy="priority").policy
    'priority'
    >>> VllmEngineConfig(block_size=0)
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: block_size must be a positive integer, got 0
    """

    num_gpu_blocks: int = 4096
    """KV blocks in the pool, as vLLM counts them: block 0 is vLLM's reserved null
    block, so ``num_gpu_blocks - 1`` blocks hold tokens."""
    block_size: int = 16
    """Tokens per KV block; also the prefix-cache hashing granularity."""
    max_num_batched_tokens: int = 2048
    """Token budget of one step (prefill chunks plus decodes)."""
    max_num_seqs: int = 128
    """Most requests running at once; at most ``max_num_batched_tokens``."""
    max_model_len: int = 8192
    """Longest sequence (prompt plus output) a request may reach."""
    enable_prefix_caching: bool = True
    """Automatic prefix caching: reuse full blocks whose token-prefix hash matches."""
    policy: SchedulingPolicy = "fcfs"
    """Waiting-queue order: ``"fcfs"`` by arrival, ``"priority"`` by (priority, arrival
    time, request id), lower first; under ``"priority"`` preemption evicts the running
    request that sorts last."""
    enable_chunked_prefill: bool = True
    """Split long prompts across steps under the token budget. Without it,
    ``max_num_batched_tokens`` must be at least ``max_model_len`` (vLLM's rule)."""
    long_prefill_token_threshold: int = 0
    """Most prompt tokens one request may prefill in a step when it is not alone in the
    batch; 0 means no cap (vLLM's default)."""
    long_prefill_token_threshold_adaptive: bool = False
    """Raise that cap to a fair share of the budget: ``max_num_batched_tokens`` divided
    by the number of queued and running requests."""
    scheduler_reserve_full_isl: bool = True
    """Admit a waiting request only if its whole sequence (not just its first chunk)
    fits in the free blocks (vLLM 0.33's default)."""
    output_token_id: int = 7
    """The token every synthetic sampling step produces. Requests carry
    ``ignore_eos=True``, so even an EOS id would not stop them."""
    vocab_size: int = 32000
    """Vocabulary size of the placeholder model; prompt token ids must be below it."""
    track_block_reuse: bool = False
    """Report, per admission, the prefix-cache hit blocks that were idle (cached, no
    request referencing them) and since when (:attr:`Admission.reused_idle`), for
    KV-utilisation accounting; costs a walk over a request's blocks when it ends."""
    scheduler_cls: str | None = None
    """Qualified name of the scheduler class (``--scheduler-cls``), resolved by vLLM's own
    ``SchedulerConfig.get_scheduler_cls``; None: vLLM's ``Scheduler``. For example
    ``"sagacore_vllm.plugin.SagaScheduler"`` (:mod:`sagacore_vllm.plugin`)."""
    additional_config: Mapping[str, Any] = field(default_factory=dict)
    """vLLM's ``additional_config`` (``--additional-config``), e.g.
    ``{"sagacore": {"stack": "saga"}}`` for the plug-in."""

    def __post_init__(self) -> None:
        for name in (
            "num_gpu_blocks",
            "block_size",
            "max_num_batched_tokens",
            "max_num_seqs",
            "max_model_len",
            "vocab_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.num_gpu_blocks < 2:
            raise ConfigError(
                f"num_gpu_blocks must be at least 2 (block 0 is vLLM's null block), "
                f"got {self.num_gpu_blocks}"
            )
        if self.max_num_batched_tokens < self.max_num_seqs:
            raise ConfigError(
                f"max_num_batched_tokens ({self.max_num_batched_tokens}) must be >= "
                f"max_num_seqs ({self.max_num_seqs}) (vLLM's rule)"
            )
        if self.policy not in _POLICIES:
            raise ConfigError(f"policy must be one of {_POLICIES}, got {self.policy!r}")
        if self.scheduler_cls is not None and (
            not isinstance(self.scheduler_cls, str) or "." not in self.scheduler_cls
        ):
            raise ConfigError(
                f"scheduler_cls must be a qualified name 'module.Class', got {self.scheduler_cls!r}"
            )
        if not isinstance(self.additional_config, Mapping):
            raise ConfigError(
                f"additional_config must be a mapping, got {self.additional_config!r}"
            )
        threshold = self.long_prefill_token_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
            raise ConfigError(
                f"long_prefill_token_threshold must be an integer >= 0, got {threshold!r}"
            )
        if not self.enable_chunked_prefill and self.max_num_batched_tokens < self.max_model_len:
            raise ConfigError(
                f"without chunked prefill, max_num_batched_tokens "
                f"({self.max_num_batched_tokens}) must be >= max_model_len "
                f"({self.max_model_len})"
            )
        token = self.output_token_id
        if (
            isinstance(token, bool)
            or not isinstance(token, int)
            or not 0 <= token < self.vocab_size
        ):
            raise ConfigError(
                f"output_token_id must be an integer in [0, vocab_size={self.vocab_size}), "
                f"got {token!r}"
            )

    @property
    def num_usable_blocks(self) -> int:
        """Blocks that can hold tokens: ``num_gpu_blocks - 1``."""
        return self.num_gpu_blocks - 1


def __getattr__(name: str) -> Any:
    """``EngineConfig``, the former name of :class:`VllmEngineConfig`, for existing imports:
    deprecated (``DeprecationWarning``), as it named two classes, this one and
    :class:`sagacore.sim.config.EngineConfig`."""
    if name == "EngineConfig":
        warnings.warn("sagacore_vllm.engine.EngineConfig is deprecated: use VllmEngineConfig "
                      "(sagacore.sim.config.EngineConfig is the simulator's)",
                      DeprecationWarning, stacklevel=2)
        return VllmEngineConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class ScheduledChunk:
    """The work one request gets in one step.

    Attributes
    ----------
    request_id
        The request.
    num_new_tokens
        Tokens computed for it this step.
    num_context_tokens
        Tokens of the request already in the KV cache before this chunk (computed
        earlier or hit in the prefix cache); the chunk's attention reads them.
    is_decode
        True for a decode: one new token right after an output token, at the end of the
        sequence. Prefill chunks (including recomputation after preemption) are False.
    """

    request_id: str
    num_new_tokens: int
    num_context_tokens: int
    is_decode: bool


@dataclass(frozen=True)
class Admission:
    """A request that entered the running set this step, with its prefix-cache hit.

    Attributes
    ----------
    request_id
        The request.
    num_cached_tokens
        Tokens vLLM found in its prefix cache at admission (its ``num_computed_tokens``
        before the first chunk): a multiple of the block size, and at most the sequence
        length minus one.
    num_tokens
        The sequence length at admission (prompt, plus outputs for a resumed request).
    resumed
        True when the request was preempted earlier and is being readmitted.
    reused_idle
        The hit blocks that no request referenced just before this admission (cached but
        idle), grouped by when they went idle: ``(step, at_end, blocks)``, where
        ``step`` is the index of the step that freed them, at its start (``at_end``
        False: a preemption) or at its end (True: a request finishing). Empty unless
        :attr:`VllmEngineConfig.track_block_reuse` is set.
    """

    request_id: str
    num_cached_tokens: int
    num_tokens: int
    resumed: bool
    reused_idle: tuple[tuple[int, bool, int], ...] = ()


@dataclass(frozen=True)
class StepRecord:
    """What one engine step did, in engine-agnostic terms.

    Attributes
    ----------
    step
        0-based index of the step on this engine.
    chunks
        Every request that got tokens this step, in vLLM's scheduling order.
    admissions
        Requests admitted (newly or after preemption) this step, with their cache hits.
    sampled
        Requests that produced an output token this step (decodes and last prefill
        chunks), in scheduling order; a request's first entry is its first token.
    preempted
        Requests preempted this step (their blocks freed, back to the waiting queue).
    finished
        Requests that finished this step (each at exactly its ``max_tokens``).
    num_blocks_used
        KV blocks referenced by requests after the step.
    num_blocks_used_in_step
        KV blocks referenced by requests while the step runs: after scheduling (new
        blocks allocated, preempted requests' blocks freed), before the requests that
        finish in the step free theirs.
    num_blocks_free
        KV blocks free after the step, including free blocks that still hold cached
        prefixes (evictable, LRU).
    num_cached_blocks
        Blocks currently registered in the prefix cache (used or free).
    num_waiting
        Requests waiting after the step (including preempted ones).
    num_running
        Requests running after the step.
    """

    step: int
    chunks: tuple[ScheduledChunk, ...]
    admissions: tuple[Admission, ...]
    sampled: tuple[str, ...]
    preempted: tuple[str, ...]
    finished: tuple[str, ...]
    num_blocks_used: int
    num_blocks_free: int
    num_cached_blocks: int
    num_waiting: int
    num_running: int
    num_blocks_used_in_step: int = 0
    duration_s: float = 0.0
    """The step's duration, when :meth:`VllmEngine.step` was given a price (else 0)."""

    @property
    def num_scheduled_tokens(self) -> int:
        """Tokens computed this step (prefill plus decode)."""
        return sum(c.num_new_tokens for c in self.chunks)

    @property
    def prefill_tokens(self) -> int:
        """``P``: new tokens of all prefill chunks (the cost model's ``prefill_tokens``)."""
        return sum(c.num_new_tokens for c in self.chunks if not c.is_decode)

    @property
    def prefill_context_tokens(self) -> int:
        """``C_p``: context (cached) tokens summed over the prefill chunks."""
        return sum(c.num_context_tokens for c in self.chunks if not c.is_decode)

    @property
    def prefill_attention_pairs(self) -> int:
        """``Q``: query-key pairs of the prefill chunks, ``sum n (c + (n + 1) / 2)``."""
        return sum(
            c.num_new_tokens * c.num_context_tokens + c.num_new_tokens * (c.num_new_tokens + 1) // 2
            for c in self.chunks
            if not c.is_decode
        )

    @property
    def decode_seqs(self) -> int:
        """``D``: decoding sequences this step."""
        return sum(1 for c in self.chunks if c.is_decode)

    @property
    def decode_context_tokens(self) -> int:
        """``C_d``: context tokens summed over the decoding sequences."""
        return sum(c.num_context_tokens for c in self.chunks if c.is_decode)

    @property
    def is_empty(self) -> bool:
        """True when nothing was scheduled."""
        return not self.chunks

    def cost_arguments(self) -> dict[str, int]:
        """Keyword arguments for ``CostModel.step_seconds`` describing this step.

        Returns
        -------
        dict of str to int
            ``prefill_tokens``, ``prefill_context_tokens``, ``decode_seqs``,
            ``decode_context_tokens`` and ``prefill_attention_pairs``.
        """
        return {
            "prefill_tokens": self.prefill_tokens,
            "prefill_context_tokens": self.prefill_context_tokens,
            "decode_seqs": self.decode_seqs,
            "decode_context_tokens": self.decode_context_tokens,
            "prefill_attention_pairs": self.prefill_attention_pairs,
        }


def _write_model_dir(config: VllmEngineConfig) -> Path:
    """Write a tiny Llama ``config.json`` (no weights, no tokenizer) to a temp dir."""
    directory = Path(tempfile.mkdtemp(prefix="sagacore-vllm-model-"))
    model = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": _NUM_LAYERS,
        "num_attention_heads": 4,
        "num_key_value_heads": _NUM_KV_HEADS,
        "head_dim": _HEAD_SIZE,
        "vocab_size": config.vocab_size,
        "max_position_embeddings": config.max_model_len,
        "rms_norm_eps": 1e-5,
        "torch_dtype": "float32",
        "bos_token_id": 1,
        "eos_token_id": 2,
        "tie_word_embeddings": False,
    }
    (directory / "config.json").write_text(json.dumps(model, indent=1), encoding="utf-8")
    return directory


_NUM_LAYERS = 2
_NUM_KV_HEADS = 2
_HEAD_SIZE = 16


class VllmEngine:
    """One vLLM V1 scheduler with its KV cache manager, stepped without a model.

    Parameters
    ----------
    config
        The instance's configuration.

    Notes
    -----
    Steps are deterministic: the same requests added in the same order give the same
    records (vLLM's block hashes use sha256 seeded with a fixed string unless
    ``PYTHONHASHSEED`` is set). Arrival times are whatever the caller passes (simulated
    seconds); vLLM uses them only to order the priority queue.

    Examples
    --------
    >>> engine = VllmEngine(VllmEngineConfig(num_gpu_blocks=64))
    >>> engine.add_request("a", list(range(64)), max_tokens=1)
    >>> _ = engine.run_until_idle()
    >>> engine.add_request("b", list(range(64)) + [5, 6], max_tokens=1)
    >>> engine.step().admissions[0].num_cached_tokens
    64
    """

    def __init__(self, config: VllmEngineConfig | None = None) -> None:
        self.config = config if config is not None else VllmEngineConfig()
        self._model_dir = _write_model_dir(self.config)
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._model_dir, True)
        self._scheduler: Any = None
        self._block_hasher: Callable[[Any], Any] | None = None
        self._step = 0
        self._scripts: dict[str, tuple[int, ...]] = {}
        self._preempted_ids: set[str] = set()
        # block reuse tracking (track_block_reuse): live block lists of admitted
        # requests, and the cached blocks nobody references: id -> (hash, step, at_end)
        self._req_blocks: dict[str, list[Any]] = {}
        self._idle: dict[int, tuple[Any, int, bool]] = {}
        self._now = 0.0
        self._build()

    # -- construction ---------------------------------------------------------------

    def _build(self) -> None:
        import torch
        from vllm.config import (
            CacheConfig,
            DeviceConfig,
            ModelConfig,
            SchedulerConfig,
            VllmConfig,
        )
        from vllm.utils.hashing import get_hash_fn_by_name
        from vllm.v1.core.kv_cache_utils import get_request_block_hasher, init_none_hash
        from vllm.v1.kv_cache_interface import (
            FullAttentionSpec,
            KVCacheConfig,
            KVCacheGroupSpec,
        )
        from vllm.v1.structured_output import StructuredOutputManager

        c = self.config
        model_config = ModelConfig(
            model=str(self._model_dir),
            skip_tokenizer_init=True,
            max_model_len=c.max_model_len,
            dtype="float32",
            generation_config="vllm",
        )
        scheduler_config = SchedulerConfig(
            max_model_len=c.max_model_len,
            is_encoder_decoder=False,
            max_num_batched_tokens=c.max_num_batched_tokens,
            max_num_seqs=c.max_num_seqs,
            enable_chunked_prefill=c.enable_chunked_prefill,
            long_prefill_token_threshold=c.long_prefill_token_threshold,
            long_prefill_token_threshold_adaptive=c.long_prefill_token_threshold_adaptive,
            policy=c.policy,
            async_scheduling=False,
            scheduler_reserve_full_isl=c.scheduler_reserve_full_isl,
            scheduler_cls=c.scheduler_cls,
        )
        cache_config = CacheConfig(
            block_size=c.block_size, enable_prefix_caching=c.enable_prefix_caching
        )
        cache_config.num_gpu_blocks = c.num_gpu_blocks
        vllm_config = VllmConfig(
            model_config=model_config,
            cache_config=cache_config,
            scheduler_config=scheduler_config,
            device_config=DeviceConfig(device="cpu"),
            additional_config=dict(c.additional_config),
        )
        self._check_survived(vllm_config)
        kv_cache_config = KVCacheConfig(
            num_blocks=c.num_gpu_blocks,
            kv_cache_tensors=[],
            kv_cache_groups=[
                KVCacheGroupSpec(
                    [f"model.layers.{i}.self_attn.attn" for i in range(_NUM_LAYERS)],
                    FullAttentionSpec(
                        block_size=c.block_size,
                        num_kv_heads=_NUM_KV_HEADS,
                        head_size=_HEAD_SIZE,
                        dtype=torch.float32,
                    ),
                )
            ],
        )
        hash_fn = get_hash_fn_by_name(vllm_config.cache_config.prefix_caching_hash_algo)
        init_none_hash(hash_fn)
        self._block_hasher = get_request_block_hasher(c.block_size, hash_fn)
        # the class vLLM's EngineCore would build: its own resolver reads scheduler_cls
        scheduler_cls = vllm_config.scheduler_config.get_scheduler_cls()
        self._scheduler = scheduler_cls(
            vllm_config=vllm_config,
            kv_cache_config=kv_cache_config,
            structured_output_manager=StructuredOutputManager(vllm_config),
            block_size=c.block_size,
            hash_block_size=c.block_size,
            log_stats=False,
        )
        if hasattr(self._scheduler, "sagacore_clock"):
            # the plug-in's clock: this engine's (simulated) time
            self._scheduler.sagacore_clock = self.now

    def _check_survived(self, vllm_config: Any) -> None:
        """vLLM's config post-processing must not have changed what we asked for."""
        c = self.config
        s = vllm_config.scheduler_config
        got = {
            "block_size": vllm_config.cache_config.block_size,
            "enable_prefix_caching": vllm_config.cache_config.enable_prefix_caching,
            "num_gpu_blocks": vllm_config.cache_config.num_gpu_blocks,
            "max_num_batched_tokens": s.max_num_batched_tokens,
            "max_num_seqs": s.max_num_seqs,
            "enable_chunked_prefill": s.enable_chunked_prefill,
            "policy": s.policy,
            "long_prefill_token_threshold": s.long_prefill_token_threshold,
            "scheduler_reserve_full_isl": s.scheduler_reserve_full_isl,
            "max_model_len": vllm_config.model_config.max_model_len,
        }
        for name, value in got.items():
            if value != getattr(c, name):
                raise InvariantError(
                    f"vLLM changed {name} from {getattr(c, name)!r} to {value!r} while "
                    f"building its config"
                )

    # -- requests -----------------------------------------------------------------------

    def add_request(
        self,
        request_id: str,
        prompt_token_ids: Sequence[int],
        max_tokens: int,
        *,
        arrival_time: float = 0.0,
        priority: int = 0,
        session_id: str | None = None,
        output_token_ids: Sequence[int] | None = None,
        extra_args: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue a request; it produces exactly ``max_tokens`` output tokens.

        Parameters
        ----------
        request_id
            Unique among the requests this engine has not yet finished.
        prompt_token_ids
            The prompt; ids in ``[0, vocab_size)``. Shared prefixes hit the prefix cache
            at block granularity.
        max_tokens
            Output tokens to generate (at least 1); the request finishes after exactly
            this many, never earlier.
        arrival_time
            Arrival time in the caller's clock; orders the priority queue's ties.
        priority
            Lower is served first under the ``"priority"`` policy; ignored by FCFS.
        session_id
            Optional session label, passed to vLLM's request (used by its KV events).
        output_token_ids
            The tokens the synthetic sampler produces for this request, in order
            (``max_tokens`` of them), so that a later prompt repeating this output hits
            its KV; default: :attr:`VllmEngineConfig.output_token_id` each time.
        extra_args
            The request's ``vllm_xargs`` (vLLM's ``SamplingParams.extra_args``), e.g. the
            program metadata of :class:`sagacore_vllm.client.ProgramMetadata`.

        Raises
        ------
        ConfigError
            If the id is already in use, the prompt is empty or has an id outside the
            vocabulary, ``max_tokens < 1``, prompt plus output exceed
            ``max_model_len``, or ``output_token_ids`` does not hold ``max_tokens`` ids
            of the vocabulary.
        """
        from vllm.sampling_params import SamplingParams
        from vllm.v1.request import Request

        c = self.config
        if request_id in self._scheduler.requests:
            raise ConfigError(f"request id {request_id!r} is already in the engine")
        prompt = [int(t) for t in prompt_token_ids]
        if not prompt:
            raise ConfigError(f"request {request_id!r}: empty prompt")
        bad = next((t for t in prompt if not 0 <= t < c.vocab_size), None)
        if bad is not None:
            raise ConfigError(
                f"request {request_id!r}: prompt token id {bad} outside [0, {c.vocab_size})"
            )
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ConfigError(
                f"request {request_id!r}: max_tokens must be >= 1, got {max_tokens!r}"
            )
        if len(prompt) + max_tokens > c.max_model_len:
            raise ConfigError(
                f"request {request_id!r}: prompt ({len(prompt)}) + max_tokens ({max_tokens}) "
                f"exceeds max_model_len ({c.max_model_len})"
            )
        script: tuple[int, ...] | None = None
        if output_token_ids is not None:
            script = tuple(int(t) for t in output_token_ids)
            if len(script) != max_tokens or any(not 0 <= t < c.vocab_size for t in script):
                raise ConfigError(
                    f"request {request_id!r}: output_token_ids must hold max_tokens="
                    f"{max_tokens} ids in [0, {c.vocab_size}), got {len(script)} ids"
                )
        params = SamplingParams(
            max_tokens=max_tokens,
            ignore_eos=True,
            temperature=0.0,
            extra_args=dict(extra_args) if extra_args is not None else None,
        )
        request = Request(
            request_id=request_id,
            prompt_token_ids=prompt,
            sampling_params=params,
            pooling_params=None,
            arrival_time=float(arrival_time),
            priority=int(priority),
            block_hasher=self._block_hasher,
            session_id=session_id,
        )
        self._scheduler.add_request(request)
        if script is not None:
            self._scripts[request_id] = script

    def abort_request(self, request_id: str) -> None:
        """Drop a waiting or running request; its full blocks stay in the prefix cache.

        Parameters
        ----------
        request_id
            The request; unknown or already finished ids are ignored.
        """
        from vllm.v1.request import RequestStatus

        self._scheduler.finish_requests([request_id], RequestStatus.FINISHED_ABORTED)
        self._scripts.pop(request_id, None)
        self._req_blocks.pop(request_id, None)
        self._preempted_ids.discard(request_id)

    # -- stepping -----------------------------------------------------------------------

    def has_unfinished_requests(self) -> bool:
        """True while some request is waiting or running."""
        return bool(self._scheduler.has_unfinished_requests())

    def now(self) -> float:
        """The engine's clock: the start of the step being scheduled, then its end once
        priced (see :meth:`step`); the plug-in's ``sagacore_clock``."""
        return self._now

    def next_event_s(self) -> float | None:
        """When the scheduler next changes on its own (a plug-in's pin expires), if ever."""
        f = getattr(self._scheduler, "sagacore_next_event_s", None)
        if f is None:
            return None
        t = f()
        return None if t is None else float(t)

    def step(
        self, now: float | None = None, price: Callable[[StepRecord], float] | None = None
    ) -> StepRecord:
        """Run one scheduler iteration and return what it did.

        Parameters
        ----------
        now
            The step's start time (the engine's clock during ``schedule()``); default: the
            clock as it is.
        price
            The duration of a non-empty step from its record (only its chunks are set when
            it is called). The clock then moves to the step's end before vLLM's
            ``update_from_output``, as a model runner's output returns at the end of the
            forward pass; :attr:`StepRecord.duration_s` holds it.

        Returns
        -------
        StepRecord
            The chunks scheduled, admissions with their prefix-cache hits, preemptions,
            finished requests and KV block counts after the step.
        """
        from vllm.v1.outputs import ModelRunnerOutput

        if now is not None:
            self._now = float(now)
        start = self._now
        sched = self._scheduler
        # schedule() changes no request's token counts, only num_computed_tokens; a
        # request was waiting before it exactly when it was not running
        running_before = {req.request_id for req in sched.running}
        output = sched.schedule()
        pool = sched.kv_cache_manager.block_pool
        used_in_step = self.config.num_usable_blocks - int(pool.get_num_free_blocks())
        preempted = tuple(sorted(output.preempted_req_ids or ()))
        self._preempted_ids.update(preempted)
        track = self.config.track_block_reuse and self.config.enable_prefix_caching
        if track:
            for rid in preempted:
                self._went_idle(rid, at_end=False)

        chunks: list[ScheduledChunk] = []
        admissions: list[Admission] = []
        req_ids: list[str] = []
        sampled: list[list[int]] = []
        default_token = self.config.output_token_id
        requests = sched.requests
        for rid, n in output.num_scheduled_tokens.items():
            req = requests[rid]
            num_tokens = req.num_tokens
            num_outputs = req.num_output_tokens
            # After schedule(), num_computed_tokens already includes this chunk.
            context = req.num_computed_tokens - n
            was_waiting = rid not in running_before
            if was_waiting:
                reused: tuple[tuple[int, bool, int], ...] = ()
                if track:
                    reused = self._admitted(rid, context)
                resumed = rid in self._preempted_ids
                self._preempted_ids.discard(rid)
                admissions.append(
                    Admission(rid, context, num_tokens, resumed=resumed, reused_idle=reused)
                )
            # a readmitted request's first chunk recomputes: a prefill even of one token
            is_decode = n == 1 and num_outputs > 0 and context == num_tokens - 1 and not was_waiting
            chunks.append(ScheduledChunk(rid, n, context, is_decode))
            req_ids.append(rid)
            if req.num_computed_tokens >= req.num_tokens:
                script = self._scripts.get(rid)
                sampled.append([script[num_outputs] if script is not None else default_token])
            else:
                sampled.append([])

        duration = 0.0
        if price is not None and chunks:
            duration = price(
                StepRecord(self._step, tuple(chunks), tuple(admissions), (), preempted, (),
                           0, 0, 0, 0, 0)
            )
            self._now = start + duration
        runner_output = ModelRunnerOutput(
            req_ids=req_ids,
            req_id_to_index={rid: i for i, rid in enumerate(req_ids)},
            sampled_token_ids=sampled,
        )
        engine_outputs = sched.update_from_output(output, runner_output)
        finished: list[str] = []
        for outputs in engine_outputs.values():
            for out in outputs.outputs:
                if out.finish_reason is not None:
                    finished.append(out.request_id)
        for rid in finished:
            self._scripts.pop(rid, None)
            if track:
                self._went_idle(rid, at_end=True)

        num_running, num_waiting = sched.get_request_counts()
        free = int(pool.get_num_free_blocks())
        record = StepRecord(
            step=self._step,
            chunks=tuple(chunks),
            admissions=tuple(admissions),
            sampled=tuple(rid for rid, toks in zip(req_ids, sampled, strict=True) if toks),
            preempted=preempted,
            finished=tuple(finished),
            num_blocks_used=self.config.num_usable_blocks - free,
            num_blocks_free=free,
            num_cached_blocks=len(pool.cached_block_hash_to_block),
            num_waiting=num_waiting,
            num_running=num_running,
            num_blocks_used_in_step=used_in_step,
            duration_s=duration,
        )
        self._step += 1
        return record

    def _went_idle(self, request_id: str, *, at_end: bool) -> None:
        """Note the cached blocks a freed request left with no reference."""
        blocks = self._req_blocks.pop(request_id, None)
        if not blocks:
            return
        idle = self._idle
        step = self._step
        for b in blocks:
            if b.ref_cnt == 0 and not b.is_null:
                h = b.block_hash
                if h is not None:
                    idle[b.block_id] = (h, step, at_end)

    def _admitted(self, request_id: str, cached_tokens: int) -> tuple[tuple[int, bool, int], ...]:
        """Track an admitted request's blocks; group its idle hit blocks by idle start."""
        manager = self._scheduler.kv_cache_manager.coordinator.single_type_managers[0]
        blocks = manager.req_to_blocks[request_id]
        self._req_blocks[request_id] = blocks
        groups: dict[tuple[int, bool], int] = {}
        idle = self._idle
        hit = cached_tokens // self.config.block_size
        for i, b in enumerate(blocks):
            entry = idle.pop(b.block_id, None)
            # a hit block idle until now: same content, and this request its only user
            if entry is not None and i < hit and entry[0] == b.block_hash and b.ref_cnt == 1:
                key = (entry[1], entry[2])
                groups[key] = groups.get(key, 0) + 1
        return tuple((step, at_end, n) for (step, at_end), n in sorted(groups.items()))

    def run_until_idle(self, max_steps: int = 1_000_000) -> list[StepRecord]:
        """Step until no request is waiting or running.

        Parameters
        ----------
        max_steps
            Safety limit on the number of steps.

        Returns
        -------
        list of StepRecord
            One record per step taken.

        Raises
        ------
        InvariantError
            If requests remain after ``max_steps`` steps, or a step schedules nothing
            while requests wait (a stall).
        """
        records: list[StepRecord] = []
        while self.has_unfinished_requests():
            if len(records) >= max_steps:
                raise InvariantError(f"requests still unfinished after {max_steps} steps")
            record = self.step()
            if record.is_empty and not record.finished and not record.preempted:
                raise InvariantError(
                    f"step {record.step} scheduled nothing with {record.num_waiting} waiting "
                    f"and {record.num_running} running requests"
                )
            records.append(record)
        return records

    # -- inspection ---------------------------------------------------------------------

    @property
    def num_steps(self) -> int:
        """Steps taken so far."""
        return self._step

    def num_computed_tokens(self, request_id: str) -> int:
        """Tokens of an unfinished request currently in its KV cache (vLLM's count)."""
        return int(self._scheduler.requests[request_id].num_computed_tokens)

    def output_token_ids(self, request_id: str) -> list[int]:
        """Output tokens an unfinished request has produced so far."""
        return list(self._scheduler.requests[request_id].output_token_ids)

    def cached_prefix_tokens(self, token_ids: Sequence[int]) -> int:
        """Tokens of ``token_ids`` that vLLM's prefix cache would hit right now.

        The lookup does not touch the cache (no LRU update, no stats). At most
        ``len(token_ids) - 1`` tokens are reported, as vLLM always recomputes the last.

        Parameters
        ----------
        token_ids
            A candidate prompt.

        Returns
        -------
        int
            A multiple of ``block_size``.
        """
        from vllm.sampling_params import SamplingParams
        from vllm.v1.request import Request

        probe = Request(
            request_id="__sagacore_probe__",
            prompt_token_ids=[int(t) for t in token_ids],
            sampling_params=SamplingParams(max_tokens=1),
            pooling_params=None,
            block_hasher=self._block_hasher,
        )
        manager = self._scheduler.kv_cache_manager
        if not manager.enable_caching or not probe.block_hashes:
            return 0
        max_hit = len(token_ids) - 1
        hit_blocks = manager.coordinator.find_longest_cache_hit(probe.block_hashes, max_hit)
        return int(hit_blocks[1])

    def request_counts(self) -> tuple[int, int]:
        """``(running, waiting)`` requests now (waiting includes preempted ones)."""
        running, waiting = self._scheduler.get_request_counts()
        return int(running), int(waiting)

    def num_free_blocks(self) -> int:
        """Blocks in vLLM's free queue (free, or cached with no request referencing them)."""
        return int(self._scheduler.kv_cache_manager.block_pool.get_num_free_blocks())

    def token_load(self, context_override: Mapping[str, int] | None = None) -> int:
        """KV tokens of running requests plus prompt tokens of waiting ones.

        Parameters
        ----------
        context_override
            Tokens to count instead of ``num_computed_tokens`` for some requests (for
            example their context before the step in flight).

        Returns
        -------
        int
            The sum, the numerator of sagacore's ``WorkerView.load``.
        """
        sched = self._scheduler
        over = context_override or {}
        total = sum(over.values())
        for req in sched.running:
            if req.request_id not in over:
                total += req.num_computed_tokens
        for req in sched.waiting:
            total += req.num_prompt_tokens
        return int(total)

    def kv_usage(self) -> float:
        """Fraction of usable blocks referenced by requests (vLLM's ``usage``)."""
        return float(self._scheduler.kv_cache_manager.usage)

    def close(self) -> None:
        """Delete the temporary model directory (also done at garbage collection)."""
        self._cleanup()

    @property
    def scheduler(self) -> Any:
        """The underlying ``vllm.v1.core.sched.scheduler.Scheduler`` (for tests)."""
        return self._scheduler
