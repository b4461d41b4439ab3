"""``sagacore``: the recommended cache policy: predicted-next-use eviction, break-even retention.

**Eviction** is :class:`~sagacore.cache.next_use.NextUse`'s (largest predicted time to
next use; in LRU order wherever it has not learned enough), the online policy closest
to FOO-L on the agent traces (``docs/caching.md``, Section 5).

**Retention across a tool call** weighs holding the session's ``n`` tokens of KV
against recomputing them, with the shared predictor's distribution ``D`` of the tool's
duration (its log-normal fit):

- *keep, pinned for* ``tau``: the benefit is the prefill saved if the tool returns
  within the pin, ``F(tau) * n * r`` (``r`` seconds of prefill per token); the cost is
  the memory held meanwhile, priced at the memory pressure ``m`` (the fraction of KV in
  use): ``m * (n / C) * E[min(D, tau)]`` GPU-seconds (holding free memory costs nothing,
  holding the last free block costs the whole GPU). ``tau`` maximises benefit minus
  cost over the quantiles of ``D`` (:func:`~sagacore.cache.continuum.best_ttl`), so it
  shrinks as pressure grows and with the tool's predicted length;
- *swap* to host memory, when pinning is not worth it and the KV is sure to be evicted
  otherwise (what is free, ``C - used``, cannot hold it: ``n > (1 - m) C``), and the
  round trip costs less than recomputing (``s < r``);
- otherwise *keep, unpinned*: the KV stays cached and eviction decides (better than
  dropping it, which frees nothing that eviction would not).

So at low pressure sessions are pinned through their tools (cheap: memory is free) and
the schedule is LRU's wherever nothing is evicted; under pressure pins shrink to the
tools likely to end soon. Without a predictor, or for a session with no later call,
the KV stays cached unpinned. The learned state is per policy object (one per cache).

Examples
--------
>>> from types import SimpleNamespace as S
>>> from sagacore.policy import CacheContext
>>> from sagacore.workload.predictor import Predictor
>>> s = S(task_id="t", agent_type="a", step=0, tool="bash", context_tokens=20_000,
...       has_successor=True)
>>> pol = SagacoreCache()
>>> calm = CacheContext(now=0.0, capacity_tokens=400_000, used_tokens=40_000,
...                     predictor=Predictor(), recompute_seconds_per_token=1e-4)
>>> d = pol.retention(s, calm)
>>> d.action.value, d.ttl_s is not None and d.ttl_s > 1.0   # pinned through the tool
('keep', True)
>>> p = Predictor()
>>> for d in (400.0, 800.0) * 5:                       # a tool that runs ~10 minutes
...     p.observe_tool_duration("build", d)
>>> slow = S(task_id="t", agent_type="a", step=0, tool="build", context_tokens=20_000,
...          has_successor=True)
>>> full = CacheContext(now=0.0, capacity_tokens=400_000, used_tokens=390_000,
...                     predictor=p, recompute_seconds_per_token=1e-4,
...                     swap_seconds_per_token=2e-5)
>>> pol.retention(slow, full).action.value            # not worth pinning; would be evicted
'swap'
>>> pol.retention(s, full).ttl_s is not None          # a short tool is still worth a pin
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from sagacore.cache._common import positive
from sagacore.cache.continuum import best_ttl
from sagacore.cache.next_use import NextUse, NextUseConfig
from sagacore.policy import (
    CACHE_ONLY,
    CacheContext,
    CacheEntryView,
    CachePolicy,
    Retention,
    RetentionDecision,
    SessionView,
)
from sagacore.workload.model import TaskId

__all__ = ["SagacoreCache", "SagacoreCacheConfig"]


@dataclass(frozen=True, slots=True)
class SagacoreCacheConfig:
    """Parameters of :class:`SagacoreCache` (fallbacks only: the context's costs win)."""

    recompute_s_per_token: float = 1e-4
    """Prefill seconds per token when the context gives none."""
    swap_s_per_token: float = 2.6e-5
    """Host round trip seconds per token when the context gives none."""
    max_ttl_s: float = 300.0
    """Longest pin, seconds (SAGA's and Continuum's cap)."""
    swap: bool = True
    """Whether to swap KV that would surely be evicted (see the module notes)."""
    next_use: NextUseConfig = field(default_factory=NextUseConfig)
    """The eviction ranking's parameters."""

    def __post_init__(self) -> None:
        positive("recompute_s_per_token", self.recompute_s_per_token)
        positive("swap_s_per_token", self.swap_s_per_token)
        positive("max_ttl_s", self.max_ttl_s)


class SagacoreCache(CachePolicy):
    """Next-use eviction and break-even keep/swap retention (module docs)."""

    name: ClassVar[str] = "sagacore"

    def __init__(self, config: SagacoreCacheConfig | None = None) -> None:
        self.config = config if config is not None else SagacoreCacheConfig()
        self.ranking = NextUse(self.config.next_use)

    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        """:class:`~sagacore.cache.next_use.NextUse`'s victim."""
        return self.ranking.victim(candidates, ctx)

    def observe_access(self, entry: CacheEntryView, now: float) -> None:
        """Feeds the ranking's reuse model."""
        self.ranking.observe_access(entry, now)

    def observe_tool_end(self, task_id: TaskId, tool: str, seconds: float, now: float) -> None:
        """Feeds the ranking's gap model."""
        self.ranking.observe_tool_end(task_id, tool, seconds, now)

    def retention(self, session: SessionView, ctx: CacheContext) -> RetentionDecision:
        """Pin for the break-even TTL, else swap what would surely be evicted, else keep."""
        self.ranking.retention(session, ctx)  # the ranking records the session's features
        c = self.config
        if ctx.predictor is None or not session.has_successor or ctx.capacity_tokens <= 0:
            return CACHE_ONLY
        n = float(session.context_tokens)
        cap = float(ctx.capacity_tokens)
        m = min(1.0, max(0.0, ctx.used_fraction))
        r = ctx.recompute_seconds_per_token or c.recompute_s_per_token
        ttl = best_ttl(
            ctx.predictor.tool_duration(session.tool),
            benefit_s=n * r,
            hold_cost_per_s=m * n / cap,
            max_ttl_s=c.max_ttl_s,
        )
        if ttl > 0:
            return RetentionDecision(Retention.KEEP, ttl)
        s = ctx.swap_seconds_per_token or c.swap_s_per_token
        if c.swap and s < r and n > (1.0 - m) * cap:
            return RetentionDecision(Retention.SWAP)
        return CACHE_ONLY
