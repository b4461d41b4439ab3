"""The cost model: how long one batch step of an LLM engine instance takes.

An *instance* is one vLLM-like engine (continuous batching, chunked prefill, paged KV
cache) running one model on ``tp`` GPUs with tensor parallelism. :class:`CostModel`
prices its batch steps from the model's shapes and the GPU's datasheet with a roofline,
scaled by efficiency factors calibrated on published measurements (see
``docs/cost-model.md``), and prices moving KV cache to the host (swap) or to another
instance (migration).

Every method is pure, cheap (a few float operations) and takes scalars, so a simulator
can call it per step, or sum a run of decode steps in closed form with
:meth:`CostModel.decode_steps_seconds` and invert that sum with
:meth:`CostModel.decode_steps_within`.

Examples
--------
>>> from sagacore.engine import CostModel
>>> cost = CostModel.from_presets("llama-3-8b", "a100-80gb")
>>> cost.kv_capacity_tokens()
436032
>>> round(cost.prefill_seconds(2048) * 1e3, 1)  # ms
142.8
>>> round(cost.decode_step_seconds(32, 32 * 2048) * 1e3, 2)  # 32 sequences of 2048 tokens
18.95
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from sagacore.engine.specs import GPUSpec, ModelSpec, get_gpu, get_model
from sagacore.errors import ConfigError
from sagacore.validate import at_least, positive, positive_int

__all__ = [
    "DEFAULT_ALLREDUCE_LATENCY_S",
    "DEFAULT_BANDWIDTH_EFFICIENCY",
    "DEFAULT_COMPUTE_EFFICIENCY",
    "DEFAULT_ROOFLINE_EXPONENT",
    "DEFAULT_STEP_OVERHEAD_S",
    "CostModel",
    "StepBreakdown",
    "attention_pairs",
    "roofline",
]

_GIB = 2**30

#: Default fraction of peak FLOP/s that GEMMs and attention reach (calibrated; see docs).
DEFAULT_COMPUTE_EFFICIENCY = 0.70
#: Default fraction of peak HBM bandwidth that weight and KV streaming reach (calibrated).
DEFAULT_BANDWIDTH_EFFICIENCY = 0.74
#: Default fixed time per engine step: scheduling, input preparation, sampling (calibrated).
DEFAULT_STEP_OVERHEAD_S = 1.9e-3
#: Default latency of one tensor-parallel all-reduce, beyond its bandwidth term (calibrated).
DEFAULT_ALLREDUCE_LATENCY_S = 24e-6
#: Default exponent ``p`` of the smooth roofline ``(c**p + m**p) ** (1 / p)`` (calibrated).
DEFAULT_ROOFLINE_EXPONENT = 1.2


def roofline(compute_s: float, memory_s: float, exponent: float) -> float:
    """Time of a kernel that needs `compute_s` of compute and `memory_s` of memory traffic.

    The smooth roofline ``(compute_s**p + memory_s**p) ** (1 / p)`` with ``p`` the
    `exponent`: ``p = inf`` is the classic roofline ``max(compute_s, memory_s)`` (perfect
    overlap), ``p = 1`` their sum (no overlap). Real kernels overlap imperfectly near the
    ridge point, where the two times are equal.

    Examples
    --------
    >>> from sagacore.engine.cost import roofline
    >>> roofline(3.0, 4.0, 2.0)
    5.0
    >>> roofline(3.0, 4.0, float("inf"))
    4.0
    """
    big = max(compute_s, memory_s)
    if big <= 0.0 or math.isinf(exponent):
        return big
    small = min(compute_s, memory_s)
    return big * float((1.0 + (small / big) ** exponent) ** (1.0 / exponent))


def attention_pairs(new_tokens: float, cached_tokens: float = 0) -> float:
    """Attention (query, key) pairs of one prefill chunk: ``n * c + n * (n + 1) / 2``.

    Token ``i`` (1-based) of a chunk of ``n`` new tokens attends to the ``c`` cached
    tokens before the chunk and to the first ``i`` tokens of the chunk (causal mask).
    Summed over the chunks of a batch, this is ``prefill_attention_pairs`` of
    :meth:`CostModel.step_seconds`.

    Parameters
    ----------
    new_tokens
        Tokens the chunk computes, ``n``.
    cached_tokens
        Tokens already in the KV cache that the chunk attends to, ``c``.

    Examples
    --------
    >>> from sagacore.engine.cost import attention_pairs
    >>> attention_pairs(4)  # 1 + 2 + 3 + 4
    10.0
    >>> attention_pairs(4, cached_tokens=100)
    410.0
    """
    n = positive("new_tokens", new_tokens, zero_ok=True)
    c = positive("cached_tokens", cached_tokens, zero_ok=True)
    return n * c + n * (n + 1) / 2


class StepBreakdown(NamedTuple):
    """The four terms of one step's time, in seconds (see :meth:`CostModel.step_seconds`)."""

    overhead_s: float
    """Fixed per-step time (``step_overhead_s``); 0 for an empty step."""
    linear_s: float
    """Weight GEMMs: roofline of their compute and of streaming the weights."""
    attention_s: float
    """Attention: roofline of its compute and of streaming the KV cache."""
    communication_s: float
    """Tensor-parallel all-reduces (0 when ``tp == 1``)."""

    @property
    def total_s(self) -> float:
        """Sum of the four terms: the step's time."""
        return self.overhead_s + self.linear_s + self.attention_s + self.communication_s


@dataclass(frozen=True)
class CostModel:
    r"""Roofline cost model of one engine instance: `model` on `tp` GPUs of type `gpu`.

    Parameters
    ----------
    model
        The served model.
    gpu
        The GPU type; the instance uses `tp` of them.
    tp
        Tensor-parallel degree. Must divide the model's attention heads, and either divide
        its KV heads or be a multiple of them (KV heads are then replicated, as in vLLM).
    compute_efficiency
        Fraction of ``gpu.peak_flops`` that GEMMs and attention reach, in (0, 1].
    bandwidth_efficiency
        Fraction of ``gpu.hbm_bandwidth`` that streaming weights and KV reach, in (0, 1].
    interconnect_efficiency
        Fraction of ``gpu.interconnect_bandwidth`` an all-reduce reaches, in (0, 1].
    step_overhead_s
        Fixed time of every non-empty step (CPU scheduling, input preparation, kernel
        launches, sampling), seconds.
    allreduce_latency_s
        Fixed latency of one all-reduce, seconds; a step runs ``2 * num_layers`` of them
        when ``tp > 1``.
    gpu_memory_utilization
        Fraction of each GPU's memory the instance may use, as vLLM's
        ``gpu_memory_utilization`` (default 0.9, vLLM's default).
    reserved_memory_bytes
        Memory per GPU that is neither weights nor KV cache (CUDA context, activations at
        their peak, CUDA graphs), bytes.
    tp_reserved_memory_bytes
        Extra memory per GPU reserved when ``tp > 1`` (NCCL and custom all-reduce
        buffers), bytes.
    block_size
        Tokens per KV-cache block; capacity is a whole number of blocks (vLLM: 16).
    pcie_efficiency
        Fraction of ``gpu.pcie_bandwidth`` that a KV swap reaches, in (0, 1].
    migration_bandwidth
        Bandwidth of the link that carries KV between instances, per GPU (each of the
        `tp` shards moves over its own link), bytes/s.
    migration_latency_s
        Fixed latency of one migration (connection, handshake, first byte), seconds.
    roofline_exponent
        Exponent ``p >= 1`` of the smooth roofline that combines a kernel's compute and
        memory times (:func:`roofline`); ``math.inf`` gives the classic ``max``.

    Notes
    -----
    **Step time.** A step computes ``T = P + D`` tokens: ``P`` prefill tokens (chunks of
    prompts) and one token for each of ``D`` decoding sequences. With ``F`` the per-GPU
    peak FLOP/s times `compute_efficiency`, ``B`` the HBM bandwidth times
    `bandwidth_efficiency`, ``N`` the NVLink bandwidth times `interconnect_efficiency` and
    ``R(c, m) = (c^p + m^p)^{1/p}`` the smooth roofline (:func:`roofline`),

    .. math::

        t = t_0 + R\Big(\frac{2 W_b T + 2 V h D}{tp\,F}, \frac{S_w}{tp\,B}\Big)
            + R\Big(\frac{a\,(Q + C_d + D)}{tp\,F}, \frac{k\,(C_p + P + C_d + D)}{B}\Big)
            + [tp > 1]\; 2L\Big(\alpha + \frac{2 (tp-1)}{tp} \frac{T h s}{N}\Big)

    where ``t0`` is `step_overhead_s`; ``W_b`` the parameters of the transformer blocks;
    ``V h`` those of the LM head (logits are computed for decoding sequences only);
    ``S_w`` the bytes of weights streamed per pass; ``a`` the attention FLOPs per
    (query, key) pair over all layers, ``4 L n_h d``; ``Q`` the prefill attention pairs;
    ``C_p`` and ``C_d`` the cached context tokens that the prefill chunks and the decoding
    sequences attend to (read once from the KV cache; the new tokens' KV is written);
    ``k`` the KV bytes per token held by one GPU; ``L`` the layers, ``h`` the hidden size,
    ``s`` bytes per activation and ``alpha`` `allreduce_latency_s`. The first roofline is
    the weight GEMMs', the second attention's: the two kernel classes run one after the
    other, so their times add, as do the all-reduces (two per layer). An empty step
    costs 0. Every term is non-decreasing in every argument.

    **Decode runs in closed form.** In a decode-only step both of attention's times are
    proportional to ``C_d + D``, so its roofline is ``R(a / (tp F), k / B) * (C_d + D)``
    and a step's time is affine in its context: ``intercept(D) + slope * C_d``
    (:meth:`decode_cost_coefficients`). A run of ``n`` steps of a batch of ``D``
    sequences whose total context grows by ``D`` per step therefore sums to
    ``n * intercept + slope * (n * C + D * n * (n - 1) / 2)``
    (:meth:`decode_steps_seconds`), which :meth:`decode_steps_within` inverts.

    **KV capacity.** Per GPU, ``memory_bytes * gpu_memory_utilization`` minus the
    weights' share (``weight_bytes / tp``) and the reserved memory is KV cache; it holds
    whole blocks of `block_size` tokens of ``k`` bytes each (vLLM's accounting).

    Examples
    --------
    >>> from sagacore.engine import CostModel, get_gpu, get_model
    >>> cost = CostModel(get_model("llama-3-70b"), get_gpu("a100-80gb"), tp=4)
    >>> cost.kv_bytes_per_token()  # for the whole instance; each GPU holds a quarter
    327680
    >>> CostModel(get_model("llama-3-8b"), get_gpu("a100-80gb"), tp=3)
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: tp=3 does not divide the 32 attention heads of llama-3-8b
    >>> CostModel(get_model("llama-3-70b"), get_gpu("a100-80gb"), tp=1)
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: llama-3-70b does not fit on 1 x a100-80gb: weights need 131.42 GiB per GPU, 71.24 GiB usable (gpu_memory_utilization=0.9), 3.05 GiB reserved
    """

    model: ModelSpec
    """The served model."""
    gpu: GPUSpec
    """The GPU type; the instance uses `tp` of them."""
    tp: int = 1
    """Tensor-parallel degree."""
    compute_efficiency: float = DEFAULT_COMPUTE_EFFICIENCY
    """Fraction of peak FLOP/s that GEMMs and attention reach, in (0, 1]."""
    bandwidth_efficiency: float = DEFAULT_BANDWIDTH_EFFICIENCY
    """Fraction of peak HBM bandwidth that streaming weights and KV reach, in (0, 1]."""
    interconnect_efficiency: float = 0.8
    """Fraction of NVLink bandwidth an all-reduce reaches, in (0, 1] (assumed, not fitted)."""
    step_overhead_s: float = DEFAULT_STEP_OVERHEAD_S
    """Fixed time of every non-empty step, seconds."""
    allreduce_latency_s: float = DEFAULT_ALLREDUCE_LATENCY_S
    """Fixed latency of one all-reduce (``2 * num_layers`` per step when ``tp > 1``), seconds."""
    gpu_memory_utilization: float = 0.9
    """Fraction of each GPU's memory the instance may use (vLLM's default 0.9)."""
    reserved_memory_bytes: float = 3.05 * _GIB
    """Memory per GPU that is neither weights nor KV cache, bytes (vLLM log, Llama-3-8B)."""
    tp_reserved_memory_bytes: float = 1.79 * _GIB
    """Extra memory per GPU reserved when ``tp > 1`` (communication buffers), bytes."""
    block_size: int = 16
    """Tokens per KV-cache block (vLLM's default 16)."""
    pcie_efficiency: float = 0.8
    """Fraction of PCIe bandwidth that a KV swap reaches, in (0, 1] (assumed, not fitted)."""
    migration_bandwidth: float = 25e9
    """Bandwidth of the inter-instance link per GPU, bytes/s (200 Gb/s InfiniBand HDR)."""
    migration_latency_s: float = 1e-3
    """Fixed latency of one KV migration, seconds (assumed)."""
    roofline_exponent: float = DEFAULT_ROOFLINE_EXPONENT
    """Exponent ``p >= 1`` of the smooth roofline (``math.inf``: classic max; calibrated)."""

    def __post_init__(self) -> None:
        if not isinstance(self.model, ModelSpec):
            raise ConfigError(f"CostModel.model must be a ModelSpec, got {self.model!r}")
        if not isinstance(self.gpu, GPUSpec):
            raise ConfigError(f"CostModel.gpu must be a GPUSpec, got {self.gpu!r}")
        for name in ("tp", "block_size"):
            positive_int(f"CostModel.{name}", getattr(self, name))
        for name in (
            "compute_efficiency",
            "bandwidth_efficiency",
            "interconnect_efficiency",
            "gpu_memory_utilization",
            "pcie_efficiency",
        ):
            value = getattr(self, name)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not 0 < value <= 1:
                raise ConfigError(f"CostModel.{name} must be in (0, 1], got {value!r}")
        for name in (
            "step_overhead_s",
            "allreduce_latency_s",
            "reserved_memory_bytes",
            "tp_reserved_memory_bytes",
            "migration_latency_s",
        ):
            positive(f"CostModel.{name}", getattr(self, name), zero_ok=True)
        at_least("CostModel.roofline_exponent", self.roofline_exponent, 1)
        positive("CostModel.migration_bandwidth", self.migration_bandwidth)
        m = self.model
        if m.num_heads % self.tp:
            raise ConfigError(
                f"tp={self.tp} does not divide the {m.num_heads} attention heads of {m.name}"
            )
        if m.num_kv_heads % self.tp and self.tp % m.num_kv_heads:
            raise ConfigError(
                f"tp={self.tp} neither divides nor is a multiple of the {m.num_kv_heads} "
                f"KV heads of {m.name}"
            )
        if self.kv_capacity_tokens() < self.block_size:
            usable = self.gpu.memory_bytes * self.gpu_memory_utilization
            reserved = self._reserved_bytes_per_gpu
            raise ConfigError(
                f"{m.name} does not fit on {self.tp} x {self.gpu.name}: weights need "
                f"{self.weight_bytes_per_gpu / _GIB:.2f} GiB per GPU, "
                f"{usable / _GIB:.2f} GiB usable "
                f"(gpu_memory_utilization={self.gpu_memory_utilization}), "
                f"{reserved / _GIB:.2f} GiB reserved"
            )

    @classmethod
    def from_presets(cls, model: str, gpu: str, tp: int = 1) -> CostModel:
        """Build a cost model with default parameters from preset names.

        Other parameters can then be changed with :func:`dataclasses.replace`.

        Raises
        ------
        UnknownNameError
            If `model` or `gpu` names no preset.
        ConfigError
            If `tp` does not suit the model, or the model does not fit.

        Examples
        --------
        >>> from sagacore.engine import CostModel
        >>> CostModel.from_presets("llama-3-70b", "h100-80gb", tp=4).tp
        4
        """
        return cls(get_model(model), get_gpu(gpu), tp=tp)

    # --- memory ---------------------------------------------------------------------------

    @property
    def kv_heads_per_gpu(self) -> int:
        """KV heads each GPU holds: ``num_kv_heads / tp``, at least 1 (replication)."""
        return max(1, self.model.num_kv_heads // self.tp)

    @property
    def kv_bytes_per_token_per_gpu(self) -> float:
        """KV-cache bytes one token occupies on each GPU of the instance."""
        m = self.model
        return 2 * m.num_layers * self.kv_heads_per_gpu * m.head_dim * m.kv_dtype_bytes

    @property
    def weight_bytes_per_gpu(self) -> float:
        """Weight bytes each GPU holds (``weight_bytes / tp``)."""
        return self.model.weight_bytes / self.tp

    @property
    def _reserved_bytes_per_gpu(self) -> float:
        extra = self.tp_reserved_memory_bytes if self.tp > 1 else 0.0
        return self.reserved_memory_bytes + extra

    def kv_bytes_per_token(self) -> int:
        """KV-cache bytes of one token, over the whole instance (the model's, unsharded).

        Examples
        --------
        >>> from sagacore.engine import CostModel
        >>> CostModel.from_presets("llama-3-8b", "h100-80gb").kv_bytes_per_token()
        131072
        """
        return self.model.kv_bytes_per_token

    def kv_memory_bytes_per_gpu(self) -> float:
        """Memory each GPU gives the KV cache: usable memory less weights and reserve.

        Negative when the weights do not fit (construction then fails).
        """
        usable = self.gpu.memory_bytes * self.gpu_memory_utilization
        return usable - self.weight_bytes_per_gpu - self._reserved_bytes_per_gpu

    def kv_capacity_tokens(self) -> int:
        """Tokens the instance's KV cache holds: whole blocks fitting in each GPU's share.

        Examples
        --------
        >>> from sagacore.engine import CostModel
        >>> CostModel.from_presets("llama-3-8b", "h100-80gb").kv_capacity_tokens()
        436544
        >>> CostModel.from_presets("llama-3-70b", "h100-80gb", tp=4).kv_capacity_tokens()
        440448
        """
        block_bytes = self.block_size * self.kv_bytes_per_token_per_gpu
        blocks = math.floor(max(0.0, self.kv_memory_bytes_per_gpu()) / block_bytes)
        return blocks * self.block_size

    # --- step time ------------------------------------------------------------------------

    @cached_property
    def _coefficients(self) -> tuple[float, float, float, float, float, float, float]:
        m, g, tp = self.model, self.gpu, self.tp
        flops = tp * g.peak_flops * self.compute_efficiency
        hbm = g.hbm_bandwidth * self.bandwidth_efficiency
        per_token_linear = 2 * m.body_params / flops
        per_seq_lm_head = 2 * m.embedding_params / flops
        weights = m.streamed_weight_bytes / (tp * hbm)
        per_pair = m.attention_flops_per_pair / flops
        per_kv_token = self.kv_bytes_per_token_per_gpu / hbm
        if tp > 1:
            link = g.interconnect_bandwidth * self.interconnect_efficiency
            comm_fixed = 2 * m.num_layers * self.allreduce_latency_s
            volume = 2 * (tp - 1) / tp * m.hidden_size * m.dtype_bytes
            comm_per_token = 2 * m.num_layers * volume / link
        else:
            comm_fixed = comm_per_token = 0.0
        return (
            per_token_linear,
            per_seq_lm_head,
            weights,
            per_pair,
            per_kv_token,
            comm_fixed,
            comm_per_token,
        )

    def kernel_seconds(self, flops_per_gpu: float, bytes_per_gpu: float) -> float:
        """Roofline time of one kernel on one GPU of the instance, seconds.

        The pricing rule of every term of :meth:`step_seconds`, applied to one kernel:
        ``roofline(flops / (peak_flops * compute_efficiency), bytes / (hbm_bandwidth *
        bandwidth_efficiency), roofline_exponent)``. A measured operator table
        (:mod:`sagacore.engine.profile`) compares its kernels with this, so the two share
        one pricing rule.

        Examples
        --------
        >>> from sagacore.engine import CostModel
        >>> cost = CostModel.from_presets("llama-3-8b", "h100-80gb")
        >>> cost.kernel_seconds(0, 0)
        0.0
        >>> cost.kernel_seconds(2e12, 0) == 2e12 / (cost.gpu.peak_flops * cost.compute_efficiency)
        True
        """
        c = positive("flops_per_gpu", flops_per_gpu, zero_ok=True)
        m = positive("bytes_per_gpu", bytes_per_gpu, zero_ok=True)
        return roofline(
            c / (self.gpu.peak_flops * self.compute_efficiency),
            m / (self.gpu.hbm_bandwidth * self.bandwidth_efficiency),
            self.roofline_exponent,
        )

    def step_breakdown(
        self,
        prefill_tokens: float = 0,
        prefill_context_tokens: float = 0,
        decode_seqs: float = 0,
        decode_context_tokens: float = 0,
        *,
        prefill_attention_pairs: float | None = None,
    ) -> StepBreakdown:
        """The terms of :meth:`step_seconds`, which is their sum (same arguments).

        Examples
        --------
        >>> from sagacore.engine import CostModel
        >>> b = CostModel.from_presets("llama-3-8b", "a100-80gb").step_breakdown(2048)
        >>> b.linear_s > b.attention_s > b.communication_s == 0.0
        True
        """
        p = positive("prefill_tokens", prefill_tokens, zero_ok=True)
        cp = positive("prefill_context_tokens", prefill_context_tokens, zero_ok=True)
        d = positive("decode_seqs", decode_seqs, zero_ok=True)
        cd = positive("decode_context_tokens", decode_context_tokens, zero_ok=True)
        single_chunk = p * cp + p * (p + 1) / 2
        if prefill_attention_pairs is None:
            q = single_chunk
        else:
            q = positive("prefill_attention_pairs", prefill_attention_pairs, zero_ok=True)
            if not p * (1 - 1e-12) <= q <= single_chunk * (1 + 1e-12):
                raise ConfigError(
                    f"prefill_attention_pairs must lie in [prefill_tokens, prefill_tokens * "
                    f"(prefill_context_tokens + (prefill_tokens + 1) / 2)] = "
                    f"[{p:g}, {single_chunk:g}], got {prefill_attention_pairs!r}"
                )
        if p == 0 and cp > 0:
            raise ConfigError(
                f"prefill_context_tokens must be 0 without prefill tokens, got {cp:g}"
            )
        if d == 0 and cd > 0:
            raise ConfigError(f"decode_context_tokens must be 0 without decode_seqs, got {cd:g}")
        if p + d == 0:
            return StepBreakdown(0.0, 0.0, 0.0, 0.0)
        return StepBreakdown(*self._terms(p, cp, d, cd, q))

    def _terms(
        self, p: float, cp: float, d: float, cd: float, q: float
    ) -> tuple[float, float, float, float]:
        """The four terms of a non-empty step from checked aggregates (no validation)."""
        tokens = p + d
        lin, lm, weights, pair, kv, comm_fixed, comm_tok = self._coefficients
        r = self.roofline_exponent
        return (
            self.step_overhead_s,
            roofline(lin * tokens + lm * d, weights, r),
            roofline(pair * (q + cd + d), kv * (cp + p + cd + d), r),
            comm_fixed + comm_tok * tokens,
        )

    def step_seconds_trusted(
        self, prefill_tokens: int, prefill_context_tokens: int, decode_seqs: int,
        decode_context_tokens: int, prefill_attention_pairs: float,
    ) -> float:
        """:meth:`step_seconds` of a non-empty step, without checking the arguments.

        For mechanisms that build the aggregates themselves (the simulator's inner loop):
        the same value as :meth:`step_seconds` for valid arguments, bit for bit; anything
        else is undefined. Users should call :meth:`step_seconds`.

        Examples
        --------
        >>> from sagacore.engine import CostModel
        >>> cost = CostModel.from_presets("llama-3-8b", "h100-80gb")
        >>> cost.step_seconds_trusted(512, 4096, 64, 96000, 512 * 4096 + 512 * 513 / 2) == (
        ...     cost.step_seconds(512, 4096, 64, 96000))
        True
        """
        # _terms and roofline inlined, the same operations in the same order (integer
        # sums of token counts are exact in floats, so they may be added as ints)
        lin, lm, weights, pair, kv, comm_fixed, comm_tok, r, inv_r, o = self._trusted
        d = decode_seqs
        tokens = prefill_tokens + d
        c = lin * tokens + lm * d
        if c > weights:
            big, small = c, weights
        else:
            big, small = weights, c
        if big > 0.0 and inv_r:
            big = big * float((1.0 + (small / big) ** r) ** inv_r)
        total = o + big
        c = pair * (prefill_attention_pairs + decode_context_tokens + d)
        m = kv * (prefill_context_tokens + prefill_tokens + decode_context_tokens + d)
        if c > m:
            big, small = c, m
        else:
            big, small = m, c
        if big > 0.0 and inv_r:
            big = big * float((1.0 + (small / big) ** r) ** inv_r)
        return total + big + (comm_fixed + comm_tok * tokens)

    @cached_property
    def _trusted(
        self,
    ) -> tuple[float, float, float, float, float, float, float, float, float, float]:
        """:attr:`_coefficients`, the roofline exponent, its inverse (0: infinite) and the overhead."""
        r = self.roofline_exponent
        return (*self._coefficients, r, 0.0 if math.isinf(r) else 1.0 / r, self.step_overhead_s)

    def step_seconds(
        self,
        prefill_tokens: float = 0,
        prefill_context_tokens: float = 0,
        decode_seqs: float = 0,
        decode_context_tokens: float = 0,
        *,
        prefill_attention_pairs: float | None = None,
    ) -> float:
        """Time of one mixed (chunked-prefill) batch step, seconds.

        Every argument is an aggregate over the batch; the formula is in the class Notes.
        The time is non-decreasing in every argument, affine in ``decode_context_tokens``
        and in ``prefill_attention_pairs`` (each inside one max), and 0 for an empty step.

        Parameters
        ----------
        prefill_tokens
            ``P``: new tokens of all prefill chunks in the step.
        prefill_context_tokens
            ``C_p``: sum over the prefill chunks of their cached tokens (the context before
            the chunk, read from the KV cache).
        decode_seqs
            ``D``: decoding sequences, one new token each.
        decode_context_tokens
            ``C_d``: sum over the decoding sequences of their cached tokens.
        prefill_attention_pairs
            ``Q``: sum over the prefill chunks of :func:`attention_pairs` ``(n_i, c_i)``.
            Default: ``attention_pairs(P, C_p)``, exact when the step holds one prefill
            chunk (vLLM's usual case) and an upper bound otherwise.

        Raises
        ------
        ConfigError
            If an argument is negative or not finite, a context is given without its
            tokens, or ``prefill_attention_pairs`` is outside its possible range.

        Examples
        --------
        >>> from sagacore.engine import CostModel
        >>> cost = CostModel.from_presets("llama-3-8b", "h100-80gb")
        >>> cost.step_seconds() == 0.0
        True
        >>> mixed = cost.step_seconds(512, 4096, decode_seqs=64, decode_context_tokens=64 * 1500)
        >>> cost.decode_step_seconds(64, 64 * 1500) < mixed < (
        ...     cost.decode_step_seconds(64, 64 * 1500) + cost.prefill_seconds(512, 4096))
        True
        """
        return self.step_breakdown(
            prefill_tokens,
            prefill_context_tokens,
            decode_seqs,
            decode_context_tokens,
            prefill_attention_pairs=prefill_attention_pairs,
        ).total_s

    def prefill_seconds(self, new_tokens: float, cached_tokens: float = 0) -> float:
        """Time of a step that prefills one chunk of `new_tokens` after `cached_tokens`.

        Attention over the cached context is included (its compute and reading its KV).

        Examples
        --------
        >>> from sagacore.engine import CostModel
        >>> cost = CostModel.from_presets("llama-3-8b", "h100-80gb")
        >>> cost.prefill_seconds(512, cached_tokens=4096) < cost.prefill_seconds(4608)
        True
        """
        return self.step_seconds(new_tokens, cached_tokens)

    def decode_step_seconds(self, batch_size: float, total_context_tokens: float) -> float:
        """Time of one decode step of `batch_size` sequences holding `total_context_tokens`.

        `total_context_tokens` is the sum of the sequences' cached tokens (before this
        step's token).

        Examples
        --------
        >>> from sagacore.engine import CostModel
        >>> cost = CostModel.from_presets("llama-3-8b", "h100-80gb")
        >>> round(cost.decode_step_seconds(1, 1000) * 1e3, 2)
        8.01
        """
        return self.step_seconds(decode_seqs=batch_size, decode_context_tokens=total_context_tokens)

    def decode_cost_coefficients(self, batch_size: float) -> tuple[float, float]:
        """``(intercept, slope)`` with ``decode_step_seconds(b, C) == intercept + slope * C``.

        Exact for every ``C >= 0`` (up to float rounding); ``(0, 0)`` for an empty batch.

        Examples
        --------
        >>> from sagacore.engine import CostModel
        >>> cost = CostModel.from_presets("llama-3-8b", "h100-80gb")
        >>> a, s = cost.decode_cost_coefficients(8)
        >>> abs(a + s * 5000 - cost.decode_step_seconds(8, 5000)) < 1e-15
        True
        """
        d = positive("batch_size", batch_size, zero_ok=True)
        if d == 0:
            return 0.0, 0.0
        lin, lm, weights, pair, kv, comm_fixed, comm_tok = self._coefficients
        r = self.roofline_exponent
        slope = roofline(pair, kv, r)
        intercept = (
            self.step_overhead_s
            + roofline((lin + lm) * d, weights, r)
            + slope * d
            + comm_fixed
            + comm_tok * d
        )
        return intercept, slope

    def decode_steps_seconds(self, batch_size: float, context_tokens: float, steps: float) -> float:
        """Total time of `steps` consecutive decode steps of a fixed batch, in closed form.

        The batch's total context is `context_tokens` at the first step and grows by
        `batch_size` per step (each sequence adds the token it decoded), so the result is
        ``sum(decode_step_seconds(b, context_tokens + j * b) for j in range(steps))``
        computed as ``n * intercept + slope * (n * C + b * n * (n - 1) / 2)``.

        Examples
        --------
        >>> from sagacore.engine import CostModel
        >>> cost = CostModel.from_presets("llama-3-8b", "h100-80gb")
        >>> stepwise = sum(cost.decode_step_seconds(8, 256 + 8 * j) for j in range(127))
        >>> abs(cost.decode_steps_seconds(8, 256, 127) - stepwise) < 1e-12
        True
        """
        d = positive("batch_size", batch_size, zero_ok=True)
        c = positive("context_tokens", context_tokens, zero_ok=True)
        n = positive("steps", steps, zero_ok=True)
        if d == 0 and c > 0:
            raise ConfigError(f"context_tokens must be 0 without a batch, got {c:g}")
        intercept, slope = self.decode_cost_coefficients(d)
        return n * intercept + slope * (n * c + d * n * (n - 1) / 2)

    def decode_steps_within(self, batch_size: float, context_tokens: float, seconds: float) -> int:
        """The most decode steps of a fixed batch that complete within `seconds`.

        The largest integer ``n >= 0`` with ``decode_steps_seconds(b, C, n) <= seconds``:
        what a simulator needs to advance a decode-only batch to a deadline.

        Raises
        ------
        ConfigError
            If `batch_size` is 0 (decode steps of nothing take no time) or an argument is
            negative.

        Examples
        --------
        >>> from sagacore.engine import CostModel
        >>> cost = CostModel.from_presets("llama-3-8b", "h100-80gb")
        >>> n = cost.decode_steps_within(8, 256, 0.5)
        >>> cost.decode_steps_seconds(8, 256, n) <= 0.5 < cost.decode_steps_seconds(8, 256, n + 1)
        True
        """
        d = positive("batch_size", batch_size, zero_ok=True)
        c = positive("context_tokens", context_tokens, zero_ok=True)
        budget = positive("seconds", seconds, zero_ok=True)
        if d == 0:
            raise ConfigError("batch_size must be > 0 to count decode steps, got 0")
        intercept, slope = self.decode_cost_coefficients(d)
        # n * intercept + slope * (n * c + d * n * (n - 1) / 2) <= budget, a quadratic in n.
        qa = slope * d / 2
        qb = intercept + slope * c - qa
        if qa > 0:
            n = math.floor((-qb + math.sqrt(qb * qb + 4 * qa * budget)) / (2 * qa))
        else:
            n = math.floor(budget / qb)
        n = max(n, 0)
        while n > 0 and self.decode_steps_seconds(d, c, n) > budget:
            n -= 1
        while self.decode_steps_seconds(d, c, n + 1) <= budget:
            n += 1
        return n

    # --- moving KV --------------------------------------------------------------------------

    def swap_seconds(self, tokens: float) -> float:
        """Time to copy the KV of `tokens` tokens between GPU and host memory (either way).

        Each GPU copies its shard over its own PCIe link, at `pcie_efficiency` of the
        link's bandwidth.

        Examples
        --------
        >>> from sagacore.engine import CostModel
        >>> cost = CostModel.from_presets("llama-3-8b", "a100-80gb")
        >>> round(cost.swap_seconds(10_000), 4)  # 1.31 GB at 25.6 GB/s
        0.0512
        """
        n = positive("tokens", tokens, zero_ok=True)
        return (
            n * self.kv_bytes_per_token_per_gpu / (self.gpu.pcie_bandwidth * self.pcie_efficiency)
        )

    def migration_seconds(self, tokens: float) -> float:
        """Time to move the KV of `tokens` tokens to another instance (same model and `tp`).

        ``migration_latency_s`` plus the bytes each GPU sends over its link at
        ``migration_bandwidth``; 0 for no tokens.

        Examples
        --------
        >>> from sagacore.engine import CostModel
        >>> cost = CostModel.from_presets("llama-3-70b", "a100-80gb", tp=4)
        >>> round(cost.migration_seconds(10_000), 4)
        0.0338
        """
        n = positive("tokens", tokens, zero_ok=True)
        if n == 0:
            return 0.0
        return (
            self.migration_latency_s
            + n * self.kv_bytes_per_token_per_gpu / self.migration_bandwidth
        )
