"""SAGA's workflow-aware LRU (WA-LRU).

Evicts the candidate with the highest

    P_evict = 0.3 * idle / idle_max + 0.5 * (1 - P_reuse) + 0.2 * size / size_max

(SPEC.md; the weights are :class:`WALRUConfig` fields). ``idle = now - last_access_s``,
``size`` the tokens evicting the entry frees, and the maxima are over the candidates
offered in this call. ``P_reuse`` is the predictor's
:meth:`~sagacore.workload.predictor.Predictor.p_reuse` of the owning session:
``sum over successors u of P(v -> u) * overlap`` with the ReAct overlap
``n_cur / (n_cur + E[observation tokens])`` (an EMA per tool). Follows the paper there.

Where the paper is silent (our choices, each a parameter):

- an entry shared by several sessions (``task_id is None``: a common system prompt) has
  ``P_reuse = shared_reuse`` (default 1: every new task of the type reads it);
- a session the predictor no longer tracks (ended) or without a predictor: ``P_reuse = 0``;
- the reuse probability is that of the session's latest step (its cached context is the
  leaf), and ties go to the older ``entry_id``.

Examples
--------
>>> from types import SimpleNamespace as E
>>> from sagacore.policy import CacheContext
>>> ctx = CacheContext(now=10.0, capacity_tokens=100, used_tokens=90)
>>> shared = E(entry_id=1, last_access_s=0.0, tokens=50, task_id=None)
>>> ended = E(entry_id=2, last_access_s=8.0, tokens=10, task_id="t")
>>> WALRU().victim([shared, ended], ctx)  # 0.3*1 + 0 + 0.2*1 = 0.5 < 0.3*0.2 + 0.5 + 0.04
1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from sagacore.errors import ConfigError, WorkloadError
from sagacore.policy import CacheContext, CacheEntryView, CachePolicy
from sagacore.validate import positive

__all__ = ["WALRU", "WALRUConfig"]


@dataclass(frozen=True, slots=True)
class WALRUConfig:
    """Weights of WA-LRU's eviction score (SAGA's defaults)."""

    w_idle: float = 0.3
    """Weight of the normalised idle time."""
    w_reuse: float = 0.5
    """Weight of ``1 - P_reuse``."""
    w_size: float = 0.2
    """Weight of the normalised size."""
    shared_reuse: float = 1.0
    """``P_reuse`` of an entry shared by several sessions (paper silent)."""

    def __post_init__(self) -> None:
        for name in ("w_idle", "w_reuse", "w_size"):
            positive(name, getattr(self, name), zero_ok=True)
        if not 0.0 <= self.shared_reuse <= 1.0:
            raise ConfigError(f"shared_reuse must be in [0, 1], got {self.shared_reuse!r}")


class WALRU(CachePolicy):
    """SAGA's WA-LRU eviction (retention: the default, keep unpinned).

    Parameters
    ----------
    config
        Weights (:class:`WALRUConfig`).
    """

    name: ClassVar[str] = "walru"
    needs_predictor: ClassVar[bool] = True

    def __init__(self, config: WALRUConfig | None = None) -> None:
        self.config = config if config is not None else WALRUConfig()

    def p_reuse(self, entry: CacheEntryView, ctx: CacheContext) -> float:
        """SAGA's ``P_reuse`` of the entry (see the module notes)."""
        task = entry.task_id
        if task is None:
            return self.config.shared_reuse
        if ctx.predictor is None:
            return 0.0
        try:
            return ctx.predictor.p_reuse(task)
        except WorkloadError:  # tracked but no step observed yet
            return 0.0

    def scores(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> list[float]:
        """``P_evict`` of each candidate."""
        c = self.config
        now = ctx.now
        idle = [max(0.0, now - e.last_access_s) for e in candidates]
        size = [float(e.tokens) for e in candidates]
        idle_max = max(idle) or 1.0
        size_max = max(size) or 1.0
        return [
            c.w_idle * i / idle_max
            + c.w_reuse * (1.0 - self.p_reuse(e, ctx))
            + c.w_size * s / size_max
            for e, i, s in zip(candidates, idle, size, strict=True)
        ]

    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        """Index of the candidate with the highest ``P_evict`` (ties: older id)."""
        scores = self.scores(candidates, ctx)
        best = 0
        for i in range(1, len(candidates)):
            if scores[i] > scores[best] or (
                scores[i] == scores[best] and candidates[i].entry_id < candidates[best].entry_id
            ):
                best = i
        return best
