"""Retention policies over an eviction policy: two decisions, two objects.

A cache policy makes two decisions (:class:`~sagacore.policy.CachePolicy`): the
**eviction** decision (:meth:`~sagacore.policy.CachePolicy.victim`: which cached piece
goes first when memory is short) and the **retention** decision
(:meth:`~sagacore.policy.CachePolicy.retention`: keep, swap or drop a session's KV while
its tool runs). Many published systems contribute only a retention rule and evict as
vLLM does (Continuum, InferCept, Astraea's KV manager): a :class:`RetentionPolicy`
implements :meth:`~sagacore.policy.CachePolicy.retention` and asks the eviction policy
it is given (default :class:`~sagacore.cache.lru.LRU`) for every victim.

Examples
--------
>>> from types import SimpleNamespace
>>> from sagacore.policy import CacheContext, RetentionDecision, Retention
>>> class AlwaysSwap(RetentionPolicy):
...     def retention(self, session, ctx):
...         return RetentionDecision(Retention.SWAP)
>>> old = SimpleNamespace(entry_id=7, last_access_s=1.0)
>>> new = SimpleNamespace(entry_id=3, last_access_s=2.0)
>>> AlwaysSwap().victim([new, old], CacheContext(now=5.0, capacity_tokens=100, used_tokens=90))
1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from sagacore.cache.lru import LRU
from sagacore.policy import CacheContext, CacheEntryView, CachePolicy

__all__ = ["RetentionPolicy"]


class RetentionPolicy(CachePolicy):
    """A cache policy whose own rule is the retention decision; it evicts by ``eviction``.

    Subclasses override :meth:`~sagacore.policy.CachePolicy.retention` only.

    Parameters
    ----------
    eviction
        The eviction policy asked for every victim (default: a fresh
        :class:`~sagacore.cache.lru.LRU`). Only its :meth:`victim` is asked: its
        ``observe_*`` hooks are not called, so it must be a ranking that learns nothing
        from them (LRU, WA-LRU, KVFlow's).
    """

    name: ClassVar[str] = "retention"

    def __init__(self, eviction: CachePolicy | None = None) -> None:
        self.eviction: CachePolicy = eviction if eviction is not None else LRU()
        """The eviction policy (the other decision)."""

    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        """The eviction policy's victim."""
        return self.eviction.victim(candidates, ctx)
