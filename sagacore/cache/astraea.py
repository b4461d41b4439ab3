"""Astraea's adaptive KV manager: keep, swap or drop by memory pressure and cost.

Astraea (SPEC.md: state-aware scheduling over the job lifecycle) decides, for each job
entering an I/O wait, whether to keep its KV in GPU memory, swap it to host memory or
drop it and recompute later, "by memory pressure and the cost of each choice (memory x
time held, against transfer or recompute time)". The public description stops there;
this module fixes the rule (our choices, each a :class:`AstraeaKVConfig` field):

- below ``low_pressure`` of the cache used, memory is free: **keep**;
- otherwise each option is priced in GPU seconds with the memory price rising linearly
  from 0 at ``low_pressure`` to ``memory_weight`` when full:
  ``keep = price * (n / capacity) * E[D]`` (the session's share of memory for the
  expected tool time ``E[D]``), ``swap = n * s`` (the transfer out and back),
  ``drop = n * r`` (the recomputation), and the cheapest wins (ties: keep, swap, drop).

Eviction of cached KV is LRU (Astraea is silent on it). Job classification
(I/O- or compute-bound) and HRRN ordering are scheduler concerns.

Examples
--------
>>> from types import SimpleNamespace as S
>>> from sagacore.policy import CacheContext
>>> from sagacore.workload.predictor import Predictor
>>> s = S(task_id="t", agent_type="a", step=0, tool="bash", context_tokens=50_000,
...       has_successor=True)
>>> low = CacheContext(0.0, 100_000, 20_000, Predictor())
>>> AstraeaKV().retention(s, low).action.value
'keep'
"""

from __future__ import annotations

import warnings
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

__all__ = ["AstraeaKV", "AstraeaKVConfig"]


@dataclass(frozen=True, slots=True)
class AstraeaKVConfig:
    """Parameters of Astraea's keep/swap/drop rule (paper silent on the exact form)."""

    low_pressure: float = 0.5
    """Used fraction below which KV is always kept."""
    memory_weight: float = 10.0
    """Price of holding the whole cache for one second when full, in GPU seconds."""
    recompute_s_per_token: float = 1e-4
    """Prefill seconds per token when the context gives none."""
    swap_s_per_token: float = 2.6e-5
    """Host round trip seconds per token when the context gives none."""
    allow_swap: bool = True
    """Whether host memory may be used (False: keep or drop only)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.low_pressure < 1.0:
            raise ConfigError(f"low_pressure must be in [0, 1), got {self.low_pressure!r}")
        positive("memory_weight", self.memory_weight, zero_ok=True)
        positive("recompute_s_per_token", self.recompute_s_per_token)
        positive("swap_s_per_token", self.swap_s_per_token)


class AstraeaKV(RetentionPolicy):
    """Pressure-priced keep/swap/drop while a tool runs; LRU eviction."""

    name: ClassVar[str] = "astraea"
    needs_predictor: ClassVar[bool] = True

    def __init__(self, config: AstraeaKVConfig | None = None, *, eviction: CachePolicy | None = None) -> None:
        super().__init__(eviction)
        self.config = config if config is not None else AstraeaKVConfig()

    def costs(self, session: SessionView, ctx: CacheContext) -> dict[Retention, float]:
        """GPU-second cost of each option (see the module notes)."""
        c = self.config
        n = float(session.context_tokens)
        used = min(1.0, ctx.used_fraction)
        price = c.memory_weight * max(0.0, used - c.low_pressure) / (1.0 - c.low_pressure)
        expected = ctx.predictor.tool_duration(session.tool).mean() if ctx.predictor else 1.0
        share = n / ctx.capacity_tokens if ctx.capacity_tokens else 1.0
        out = {
            Retention.KEEP: price * share * expected,
            Retention.DROP: n * (ctx.recompute_seconds_per_token or c.recompute_s_per_token),
        }
        if c.allow_swap:
            out[Retention.SWAP] = n * (ctx.swap_seconds_per_token or c.swap_s_per_token)
        return out

    def retention(self, session: SessionView, ctx: CacheContext) -> RetentionDecision:
        """Keep below ``low_pressure``; else the cheapest option."""
        if not session.has_successor or ctx.used_fraction < self.config.low_pressure:
            return RetentionDecision(Retention.KEEP)
        costs = self.costs(session, ctx)
        order = [r for r in (Retention.KEEP, Retention.SWAP, Retention.DROP) if r in costs]
        return RetentionDecision(min(order, key=lambda r: costs[r]))


_RENAMED = {"Astraea": "AstraeaKV", "AstraeaConfig": "AstraeaKVConfig"}


def __getattr__(name: str) -> object:
    """The names this module had before ``Astraea`` came to mean only the scheduler
    (:class:`sagacore.sched.astraea.Astraea`): deprecated, with a warning."""
    new = _RENAMED.get(name)
    if new is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"sagacore.cache.astraea.{name} is deprecated: use {new} (Astraea is "
                  "the scheduler, sagacore.sched.astraea.Astraea)", DeprecationWarning,
                  stacklevel=2)
    return globals()[new]
