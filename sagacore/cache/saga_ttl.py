"""SAGA's tool-call-aware TTL, with WA-LRU eviction.

When a session enters a tool call and will call the LLM again, its KV is pinned for

    TTL = min(P95 * (1 - 0.5 m), 300 s),   m = clip((used - 0.7) / 0.2, 0, 1)

where P95 is the 95th percentile of the tool type's duration, asked of the shared
predictor (:meth:`~sagacore.workload.predictor.Predictor.tool_duration_percentile`: the
predictor keeps the tool-time statistics, this module the rule), and ``used`` the
cache's used fraction. The rule and its settings (:class:`SagaTTLConfig`) are this
module's; :func:`saga_ttl_seconds` and :func:`memory_pressure` are the formulas.
Eviction is SAGA's WA-LRU (:class:`~sagacore.cache.walru.WALRU`), composed
(:class:`~sagacore.cache.retention.RetentionPolicy`). Follows the paper.

Where the paper is silent (our choices): without a predictor, or for a session with no
successor, the KV stays cached unpinned (``KEEP`` without TTL, as vLLM would); a TTL of
0 is returned as unpinned too.

Examples
--------
>>> from types import SimpleNamespace as S
>>> from sagacore.policy import CacheContext
>>> from sagacore.workload.predictor import Predictor
>>> ctx = CacheContext(now=0.0, capacity_tokens=100, used_tokens=50, predictor=Predictor())
>>> s = S(task_id="t", agent_type="a", step=0, tool="bash", context_tokens=10,
...       has_successor=True)
>>> d = SagaTTL().retention(s, ctx)
>>> d.action.value, round(d.ttl_s, 3)  # the prior P95 of a 0.25 s median tool
('keep', 1.295)
>>> type(SagaTTL().eviction).__name__
'WALRU'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sagacore.cache.retention import RetentionPolicy
from sagacore.cache.walru import WALRU
from sagacore.errors import ConfigError
from sagacore.policy import (
    CacheContext,
    CachePolicy,
    Retention,
    RetentionDecision,
    SessionView,
)
from sagacore.validate import finite_number, positive

__all__ = ["SagaTTL", "SagaTTLConfig", "memory_pressure", "saga_ttl_seconds"]


def memory_pressure(used_fraction: float, *, start: float = 0.7, span: float = 0.2) -> float:
    """SAGA's memory pressure ``m = clip((used - start) / span, 0, 1)``.

    Examples
    --------
    >>> memory_pressure(0.5), round(memory_pressure(0.8), 12), memory_pressure(0.95)
    (0.0, 0.5, 1.0)
    """
    used = finite_number("memory_used_fraction", used_fraction, lo=0.0)
    if not span > 0:
        raise ConfigError(f"pressure span must be > 0, got {span!r}")
    return min(1.0, max(0.0, (used - start) / span))


def saga_ttl_seconds(
    p95_s: float,
    memory_used_fraction: float,
    *,
    max_ttl_s: float = 300.0,
    pressure_start: float = 0.7,
    pressure_span: float = 0.2,
    pressure_weight: float = 0.5,
) -> float:
    """SAGA's tool-call TTL: ``min(P95 * (1 - pressure_weight * m), max_ttl_s)``.

    ``m`` is :func:`memory_pressure`. The result lies in ``[0, max_ttl_s]`` and does not
    increase with ``memory_used_fraction``.

    Examples
    --------
    >>> [round(saga_ttl_seconds(10.0, used), 12) for used in (0.5, 0.8, 1.0)]
    [10.0, 7.5, 5.0]
    >>> saga_ttl_seconds(1000.0, 0.0)
    300.0
    """
    if isinstance(p95_s, bool) or not isinstance(p95_s, int | float) or not p95_s >= 0:
        raise ConfigError(f"p95_s must be a number >= 0 (inf allowed), got {p95_s!r}")
    p95 = float(p95_s)
    m = memory_pressure(memory_used_fraction, start=pressure_start, span=pressure_span)
    return min(p95 * (1.0 - pressure_weight * m), max_ttl_s)


@dataclass(frozen=True, slots=True)
class SagaTTLConfig:
    """SAGA's TTL settings (the paper's values).

    Raises :class:`~sagacore.errors.ConfigError` showing the bad value.
    """

    ttl_percentile: float = 0.95
    """Percentile of the tool duration the TTL starts from (P95), in [0, 1)."""
    max_ttl_s: float = 300.0
    """Cap of the TTL, seconds."""
    pressure_start: float = 0.7
    """Memory-used fraction at which the pressure ``m`` starts to rise, in [0, 1]."""
    pressure_span: float = 0.2
    """Width of the rise: ``m = 1`` at ``pressure_start + pressure_span``."""
    pressure_weight: float = 0.5
    """TTL shrink at full pressure, in [0, 1]: ``TTL = P95 (1 - weight m)``."""

    def __post_init__(self) -> None:
        q = finite_number("ttl_percentile", self.ttl_percentile, lo=0.0, hi=1.0)
        if q >= 1:
            raise ConfigError(f"ttl_percentile must be < 1, got {q!r}")
        positive("max_ttl_s", self.max_ttl_s, zero_ok=True)
        finite_number("pressure_start", self.pressure_start, lo=0.0, hi=1.0)
        positive("pressure_span", self.pressure_span)
        finite_number("pressure_weight", self.pressure_weight, lo=0.0, hi=1.0)

    def ttl(self, p_s: float, memory_used_fraction: float) -> float:
        """The TTL for a tool whose ``ttl_percentile`` duration is ``p_s`` seconds."""
        return saga_ttl_seconds(
            p_s,
            memory_used_fraction,
            max_ttl_s=self.max_ttl_s,
            pressure_start=self.pressure_start,
            pressure_span=self.pressure_span,
            pressure_weight=self.pressure_weight,
        )


class SagaTTL(RetentionPolicy):
    """SAGA's TTL pin while a tool runs, over WA-LRU eviction.

    Parameters
    ----------
    config
        The TTL settings (:class:`SagaTTLConfig`).
    eviction
        The eviction policy (default: a fresh :class:`~sagacore.cache.walru.WALRU`).
    """

    name: ClassVar[str] = "saga-ttl"
    needs_predictor: ClassVar[bool] = True

    def __init__(self, config: SagaTTLConfig | None = None, *,
                 eviction: CachePolicy | None = None) -> None:
        super().__init__(eviction if eviction is not None else WALRU())
        self.config = config if config is not None else SagaTTLConfig()

    def retention(self, session: SessionView, ctx: CacheContext) -> RetentionDecision:
        """``KEEP`` pinned for SAGA's TTL (unpinned without predictor or successor)."""
        if ctx.predictor is None or not session.has_successor:
            return RetentionDecision(Retention.KEEP)
        c = self.config
        p = ctx.predictor.tool_duration_percentile(session.tool, c.ttl_percentile)
        ttl = c.ttl(p, min(1.0, ctx.used_fraction))
        return RetentionDecision(Retention.KEEP, ttl if ttl > 0 else None)
