"""Hardware and model specifications, and their preset registries.

A :class:`ModelSpec` holds what the cost model needs of a dense decoder-only transformer
(its shapes and parameter count); a :class:`GPUSpec` holds a GPU's datasheet numbers.
Presets are plain dicts, :data:`MODELS` and :data:`GPUS`; :func:`get_model` and
:func:`get_gpu` look a name up and raise :class:`~sagacore.errors.UnknownNameError`
for an unknown one.

Examples
--------
>>> from sagacore.engine.specs import get_gpu, get_model
>>> m = get_model("llama-3-8b")
>>> m.kv_bytes_per_token  # 2 (K and V) x 32 layers x 8 KV heads x 128 x 2 bytes
131072
>>> round(m.weight_bytes / 2**30, 2)  # GiB, as vLLM logs "model weights take 14.96GiB"
14.96
>>> get_gpu("h100-80gb").hbm_bandwidth
3350000000000.0
"""

from __future__ import annotations

from dataclasses import dataclass

from sagacore.errors import ConfigError, UnknownNameError
from sagacore.validate import positive, positive_int

__all__ = [
    "GPUS",
    "MODELS",
    "GPUSpec",
    "ModelSpec",
    "get_gpu",
    "get_model",
]

_GIB = 2**30


@dataclass(frozen=True)
class ModelSpec:
    """Shapes of a dense decoder-only transformer (Llama-style: GQA attention, gated MLP).

    Parameters
    ----------
    name
        Preset name, for messages and reports.
    num_layers
        Number of transformer blocks.
    hidden_size
        Model (residual stream) width.
    num_heads
        Number of attention (query) heads.
    num_kv_heads
        Number of key/value heads (grouped-query attention); divides ``num_heads``.
    head_dim
        Width of one attention head.
    intermediate_size
        Width of the MLP's hidden layer.
    vocab_size
        Vocabulary size (rows of the embedding table and of the LM head).
    num_params
        Total parameter count, embeddings and LM head included.
    tie_word_embeddings
        Whether the LM head shares the embedding table's weights.
    dtype_bytes
        Bytes per weight and per activation element (2 for bf16/fp16).
    kv_dtype_bytes
        Bytes per element of the KV cache (2 for bf16/fp16, 1 for fp8).

    Examples
    --------
    >>> from sagacore.engine.specs import ModelSpec
    >>> tiny = ModelSpec("tiny", num_layers=2, hidden_size=64, num_heads=4, num_kv_heads=2,
    ...                  head_dim=16, intermediate_size=128, vocab_size=1000, num_params=200_000)
    >>> tiny.kv_bytes_per_token
    256
    >>> ModelSpec("bad", 2, 64, 4, 3, 16, 128, 1000, 200_000)
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: ModelSpec.num_kv_heads (3) must divide num_heads (4)
    """

    name: str
    """Preset name, for messages and reports."""
    num_layers: int
    """Number of transformer blocks."""
    hidden_size: int
    """Model (residual stream) width."""
    num_heads: int
    """Number of attention (query) heads."""
    num_kv_heads: int
    """Number of key/value heads (grouped-query attention); divides ``num_heads``."""
    head_dim: int
    """Width of one attention head."""
    intermediate_size: int
    """Width of the MLP's hidden layer."""
    vocab_size: int
    """Vocabulary size (rows of the embedding table and of the LM head)."""
    num_params: int
    """Total parameter count, embeddings and LM head included."""
    tie_word_embeddings: bool = False
    """Whether the LM head shares the embedding table's weights."""
    dtype_bytes: float = 2
    """Bytes per weight and per activation element (2 for bf16/fp16)."""
    kv_dtype_bytes: float = 2
    """Bytes per element of the KV cache (2 for bf16/fp16, 1 for fp8)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"ModelSpec.name must be a non-empty string, got {self.name!r}")
        for field in (
            "num_layers",
            "hidden_size",
            "num_heads",
            "num_kv_heads",
            "head_dim",
            "intermediate_size",
            "vocab_size",
            "num_params",
        ):
            positive_int(f"ModelSpec.{field}", getattr(self, field))
        positive("ModelSpec.dtype_bytes", self.dtype_bytes)
        positive("ModelSpec.kv_dtype_bytes", self.kv_dtype_bytes)
        if not isinstance(self.tie_word_embeddings, bool):
            raise ConfigError(
                f"ModelSpec.tie_word_embeddings must be a bool, got {self.tie_word_embeddings!r}"
            )
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(
                f"ModelSpec.num_kv_heads ({self.num_kv_heads}) must divide "
                f"num_heads ({self.num_heads})"
            )
        if self.body_params <= 0:
            raise ConfigError(
                f"ModelSpec.num_params ({self.num_params}) must exceed the embedding and "
                f"LM-head parameters ({self.num_params - self.body_params})"
            )

    @property
    def embedding_params(self) -> int:
        """Parameters of one vocabulary matrix (``vocab_size * hidden_size``)."""
        return self.vocab_size * self.hidden_size

    @property
    def body_params(self) -> int:
        """Parameters of the transformer blocks: all but the embedding table and LM head."""
        vocab_matrices = 1 if self.tie_word_embeddings else 2
        return self.num_params - vocab_matrices * self.embedding_params

    @property
    def shape_params(self) -> int:
        """Parameter count implied by the shapes (biases ignored); checks ``num_params``."""
        h, hd = self.hidden_size, self.head_dim
        attention = h * self.num_heads * hd * 2 + h * self.num_kv_heads * hd * 2
        mlp = 3 * h * self.intermediate_size
        norms = 2 * h
        vocab_matrices = 1 if self.tie_word_embeddings else 2
        return (
            self.num_layers * (attention + mlp + norms) + vocab_matrices * self.embedding_params + h
        )

    @property
    def weight_bytes(self) -> float:
        """Bytes of all weights as stored on the GPUs (``num_params * dtype_bytes``)."""
        return self.num_params * self.dtype_bytes

    @property
    def streamed_weight_bytes(self) -> float:
        """Bytes of weights read from memory by one forward pass.

        All weights but the input embedding table, of which only the rows of the batch's
        tokens are gathered (negligible). With tied embeddings the table is read once, as
        the LM head.
        """
        return (self.body_params + self.embedding_params) * self.dtype_bytes

    @property
    def kv_bytes_per_token(self) -> int:
        """Bytes of KV cache one token occupies: ``2 * layers * kv_heads * head_dim * bytes``."""
        return int(2 * self.num_layers * self.num_kv_heads * self.head_dim * self.kv_dtype_bytes)

    @property
    def attention_flops_per_pair(self) -> int:
        """FLOPs of attention for one (query token, key token) pair, over all layers.

        ``Q K^T`` and ``P V`` each cost ``2 * head_dim`` FLOPs per pair and query head.
        """
        return 4 * self.num_layers * self.num_heads * self.head_dim


@dataclass(frozen=True)
class GPUSpec:
    """Datasheet numbers of one GPU.

    Parameters
    ----------
    name
        Preset name, for messages and reports.
    peak_flops
        Peak dense bf16/fp16 tensor-core throughput, FLOP/s (no sparsity).
    hbm_bandwidth
        Peak memory (HBM) bandwidth, bytes/s.
    memory_bytes
        Memory capacity as CUDA reports it (what vLLM calls ``total_gpu_memory``), bytes.
    interconnect_bandwidth
        Intra-node GPU-to-GPU bandwidth (NVLink) per GPU and direction, bytes/s.
    pcie_bandwidth
        Host link (PCIe) bandwidth per GPU and direction, bytes/s.

    Examples
    --------
    >>> from sagacore.engine.specs import GPUSpec
    >>> GPUSpec("toy", peak_flops=1e12, hbm_bandwidth=1e11, memory_bytes=2**30,
    ...         interconnect_bandwidth=1e10, pcie_bandwidth=0)
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: GPUSpec.pcie_bandwidth must be a finite number > 0, got 0
    """

    name: str
    """Preset name, for messages and reports."""
    peak_flops: float
    """Peak dense bf16/fp16 tensor-core throughput, FLOP/s (no sparsity)."""
    hbm_bandwidth: float
    """Peak memory (HBM) bandwidth, bytes/s."""
    memory_bytes: float
    """Memory capacity as CUDA reports it (what vLLM calls ``total_gpu_memory``), bytes."""
    interconnect_bandwidth: float
    """Intra-node GPU-to-GPU bandwidth (NVLink) per GPU and direction, bytes/s."""
    pcie_bandwidth: float
    """Host link (PCIe) bandwidth per GPU and direction, bytes/s."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"GPUSpec.name must be a non-empty string, got {self.name!r}")
        for field in (
            "peak_flops",
            "hbm_bandwidth",
            "memory_bytes",
            "interconnect_bandwidth",
            "pcie_bandwidth",
        ):
            positive(f"GPUSpec.{field}", getattr(self, field))


# --- presets ------------------------------------------------------------------------------
# Model shapes are those of each model's Hugging Face config.json; num_params is the
# checkpoint's parameter count (it agrees with ModelSpec.shape_params within 0.1%).

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "llama-3-8b",
            num_layers=32,
            hidden_size=4096,
            num_heads=32,
            num_kv_heads=8,
            head_dim=128,
            intermediate_size=14336,
            vocab_size=128256,
            num_params=8_030_261_248,
        ),
        ModelSpec(
            "llama-3-70b",
            num_layers=80,
            hidden_size=8192,
            num_heads=64,
            num_kv_heads=8,
            head_dim=128,
            intermediate_size=28672,
            vocab_size=128256,
            num_params=70_553_706_496,
        ),
        ModelSpec(
            "qwen2.5-7b",
            num_layers=28,
            hidden_size=3584,
            num_heads=28,
            num_kv_heads=4,
            head_dim=128,
            intermediate_size=18944,
            vocab_size=152064,
            num_params=7_615_616_512,
        ),
        # Llama-2 presets exist for the validation points measured on them.
        ModelSpec(
            "llama-2-7b",
            num_layers=32,
            hidden_size=4096,
            num_heads=32,
            num_kv_heads=32,
            head_dim=128,
            intermediate_size=11008,
            vocab_size=32000,
            num_params=6_738_415_616,
        ),
        ModelSpec(
            "llama-2-70b",
            num_layers=80,
            hidden_size=8192,
            num_heads=64,
            num_kv_heads=8,
            head_dim=128,
            intermediate_size=28672,
            vocab_size=32000,
            num_params=68_976_648_192,
        ),
    )
}
"""Model presets by name (Llama-3 8B/70B apply to Llama-3.1 too: same shapes)."""

# GPU datasheets: NVIDIA A100 (SXM4), H100 (SXM5) and H200 (SXM) datasheets. NVLink is
# 600 GB/s (A100) or 900 GB/s (H100, H200) bidirectional, so half per direction; PCIe is
# Gen4 x16 (32 GB/s per direction) or Gen5 x16 (64 GB/s). memory_bytes is what CUDA
# reports, a little under the marketed size: 79.22 GiB on H100-80GB as vLLM logs it
# (vLLM PR #12126); 79.15 and 39.59 GiB on A100-80GB/40GB and 139.8 GiB on H200 are
# approximate values of the same kind.

GPUS: dict[str, GPUSpec] = {
    spec.name: spec
    for spec in (
        GPUSpec(
            "a100-40gb",
            peak_flops=312e12,
            hbm_bandwidth=1.555e12,
            memory_bytes=39.59 * _GIB,
            interconnect_bandwidth=300e9,
            pcie_bandwidth=32e9,
        ),
        GPUSpec(
            "a100-80gb",
            peak_flops=312e12,
            hbm_bandwidth=2.039e12,
            memory_bytes=79.15 * _GIB,
            interconnect_bandwidth=300e9,
            pcie_bandwidth=32e9,
        ),
        GPUSpec(
            "h100-80gb",
            peak_flops=989e12,
            hbm_bandwidth=3.35e12,
            memory_bytes=79.22 * _GIB,
            interconnect_bandwidth=450e9,
            pcie_bandwidth=64e9,
        ),
        GPUSpec(
            "h200",
            peak_flops=989e12,
            hbm_bandwidth=4.8e12,
            memory_bytes=139.8 * _GIB,
            interconnect_bandwidth=450e9,
            pcie_bandwidth=64e9,
        ),
    )
}
"""GPU presets by name."""


def get_model(name: str) -> ModelSpec:
    """Return the model preset called `name`.

    Raises
    ------
    UnknownNameError
        If there is no such preset; the message lists the known ones.

    Examples
    --------
    >>> from sagacore.engine.specs import get_model
    >>> get_model("llama-3-70b").num_layers
    80
    >>> get_model("gpt-5")
    Traceback (most recent call last):
    ...
    sagacore.errors.UnknownNameError: unknown model 'gpt-5'; known: llama-2-70b, llama-2-7b, llama-3-70b, llama-3-8b, qwen2.5-7b
    """
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownNameError("model", name, list(MODELS)) from None


def get_gpu(name: str) -> GPUSpec:
    """Return the GPU preset called `name`.

    Raises
    ------
    UnknownNameError
        If there is no such preset; the message lists the known ones.

    Examples
    --------
    >>> from sagacore.engine.specs import get_gpu
    >>> get_gpu("a100-80gb").peak_flops
    312000000000000.0
    """
    try:
        return GPUS[name]
    except KeyError:
        raise UnknownNameError("GPU", name, list(GPUS)) from None
