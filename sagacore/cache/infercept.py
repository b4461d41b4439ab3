"""InferCept: on each tool call, preserve, discard or swap the KV, whichever wastes least.

InferCept (Abhyankar et al., ICML 2024) measures the *waste* of each option as GPU
memory times the time it is unproductive, and picks the least:

- **preserve**: the session's ``n`` context tokens sit idle for the interception time
  ``T``: ``waste = n * T``;
- **discard**: on return the context is recomputed, taking ``t_recompute = n * r``; the
  recomputation holds its own memory and stalls the running batch's ``B`` tokens:
  ``waste = (n + B) * t_recompute``;
- **swap**: the context goes to host memory and back, taking ``t_swap = n * s`` (the
  ``swap_seconds_per_token`` of :class:`~sagacore.policy.CacheContext`, both ways); the
  part of the transfer not hidden behind computation stalls the batch:
  ``waste = (n + B) * t_swap * (1 - swap_overlap)``.

``T`` is the predictor's expected duration of the tool (InferCept profiles the
interception time per tool type; the predictor's log-normal mean stands in for it) and
``B`` the other tokens in use. Eviction of what stays cached is vLLM's LRU. Follows the
paper's waste rule; the overlap fraction (InferCept chunks swaps to overlap them with
compute within a budget) is our parameter, 0 by default, and the per-token costs fall
back to :class:`InferCeptConfig` when the context gives none.

Examples
--------
>>> from types import SimpleNamespace as S
>>> from sagacore.policy import CacheContext
>>> from sagacore.workload.predictor import Predictor
>>> s = S(task_id="t", agent_type="a", step=0, tool="bash", context_tokens=1000,
...       has_successor=True)
>>> ctx = CacheContext(now=0.0, capacity_tokens=100_000, used_tokens=90_000,
...                    predictor=Predictor(), recompute_seconds_per_token=1e-4,
...                    swap_seconds_per_token=2e-5)
>>> InferCept().retention(s, ctx).action.value  # a 0.4 s tool: preserving wastes least
'keep'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sagacore.cache.retention import RetentionPolicy
from sagacore.errors import ConfigError
from sagacore.policy import (
    CacheContext,
    CachePolicy,
    Retention,
    RetentionDecision,
    SessionView,
)
from sagacore.validate import positive

__all__ = ["InferCept", "InferCeptConfig", "waste"]


@dataclass(frozen=True, slots=True)
class InferCeptConfig:
    """Fallback costs and the swap overlap."""

    recompute_s_per_token: float = 1e-4
    """Prefill seconds per token when the context gives none."""
    swap_s_per_token: float = 2.6e-5
    """Host round trip seconds per token when the context gives none (Llama-3-70B KV,
    320 KiB per token, over about 25 GB/s each way)."""
    swap_overlap: float = 0.0
    """Fraction of a swap hidden behind computation, in [0, 1]."""

    def __post_init__(self) -> None:
        positive("recompute_s_per_token", self.recompute_s_per_token)
        positive("swap_s_per_token", self.swap_s_per_token)
        if not 0.0 <= self.swap_overlap <= 1.0:
            raise ConfigError(f"swap_overlap must be in [0, 1], got {self.swap_overlap!r}")


def waste(
    context_tokens: float,
    batch_tokens: float,
    tool_seconds: float,
    recompute_s: float,
    swap_s: float,
    swap_overlap: float = 0.0,
) -> dict[Retention, float]:
    """InferCept's waste (token-seconds) of each retention option.

    Examples
    --------
    >>> w = waste(1000, 9000, tool_seconds=10.0, recompute_s=0.1, swap_s=0.02)
    >>> min(w, key=w.__getitem__).value
    'swap'
    """
    n = context_tokens
    return {
        Retention.KEEP: n * tool_seconds,
        Retention.DROP: (n + batch_tokens) * recompute_s,
        Retention.SWAP: (n + batch_tokens) * swap_s * (1.0 - swap_overlap),
    }


class InferCept(RetentionPolicy):
    """Least-waste preserve/discard/swap at each tool call; LRU eviction."""

    name: ClassVar[str] = "infercept"
    needs_predictor: ClassVar[bool] = True

    def __init__(self, config: InferCeptConfig | None = None, *, eviction: CachePolicy | None = None) -> None:
        super().__init__(eviction)
        self.config = config if config is not None else InferCeptConfig()

    def retention(self, session: SessionView, ctx: CacheContext) -> RetentionDecision:
        """The option of least :func:`waste` (ties: keep, then swap, then drop)."""
        c = self.config
        if ctx.predictor is None or not session.has_successor:
            return RetentionDecision(Retention.KEEP)
        n = float(session.context_tokens)
        w = waste(
            n,
            max(0.0, ctx.used_tokens - n),
            ctx.predictor.tool_duration(session.tool).mean(),
            n * (ctx.recompute_seconds_per_token or c.recompute_s_per_token),
            n * (ctx.swap_seconds_per_token or c.swap_s_per_token),
            c.swap_overlap,
        )
        order = (Retention.KEEP, Retention.SWAP, Retention.DROP)
        return RetentionDecision(min(order, key=lambda r: w[r]))
