"""SAGA's tool-call-aware TTL, with WA-LRU eviction.

When a session enters a tool call and will call the LLM again, its KV is pinned for

    TTL = min(P95 * (1 - 0.5 m), 300 s),   m = clip((used - 0.7) / 0.2, 0, 1)

where P95 is the 95th percentile of the tool type's log-normal duration fit
(:meth:`~sagacore.workload.predictor.Predictor.saga_ttl`, the one implementation of the
formula) and ``used`` the cache's used fraction. Eviction is SAGA's WA-LRU
(:class:`~sagacore.cache.walru.WALRU`). Follows the paper.

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
"""

from __future__ import annotations

from typing import ClassVar

from sagacore.cache.walru import WALRU
from sagacore.policy import (
    CacheContext,
    Retention,
    RetentionDecision,
    SessionView,
)

__all__ = ["SagaTTL"]


class SagaTTL(WALRU):
    """WA-LRU eviction plus SAGA's TTL pin while a tool runs."""

    name: ClassVar[str] = "saga-ttl"

    def retention(self, session: SessionView, ctx: CacheContext) -> RetentionDecision:
        """``KEEP`` pinned for SAGA's TTL (unpinned without predictor or successor)."""
        if ctx.predictor is None or not session.has_successor:
            return RetentionDecision(Retention.KEEP)
        ttl = ctx.predictor.saga_ttl(session.tool, min(1.0, ctx.used_fraction))
        return RetentionDecision(Retention.KEEP, ttl if ttl > 0 else None)
