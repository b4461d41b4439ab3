"""Least recently used eviction: vLLM's automatic prefix caching and SGLang's radix cache.

vLLM keeps the blocks no running request uses in a free queue ordered by the time they
were freed (a request's blocks enter it tail first when it finishes), and reclaims
blocks from its head. SGLang evicts the leaf of its radix tree with the oldest access
time. Both are "the cached prefix piece used least recently goes first", which is what
:class:`LRU` answers over the evictable leaves the store offers
(:class:`~sagacore.cache.store.PrefixStore` stamps an entry's ``last_access_s`` when a
call starts using it and when the last user releases it). Ties go to the older entry
(smaller ``entry_id``).

Examples
--------
>>> from types import SimpleNamespace
>>> from sagacore.policy import CacheContext
>>> old = SimpleNamespace(entry_id=7, last_access_s=1.0)
>>> new = SimpleNamespace(entry_id=3, last_access_s=2.0)
>>> LRU().victim([new, old], CacheContext(now=5.0, capacity_tokens=100, used_tokens=90))
1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from sagacore.policy import CacheContext, CacheEntryView, CachePolicy

__all__ = ["LRU", "lru_index"]


def lru_index(candidates: Sequence[CacheEntryView]) -> int:
    """Index of the least recently used candidate (ties: smallest ``entry_id``): the one
    implementation of LRU's choice, which :class:`LRU` and the policies that evict by
    LRU (:class:`~sagacore.cache.retention.RetentionPolicy`, ``sagacore``'s duel) ask."""
    best = 0
    first = candidates[0]
    best_t, best_id = first.last_access_s, first.entry_id
    for i in range(1, len(candidates)):
        c = candidates[i]
        t = c.last_access_s
        if t < best_t or (t == best_t and c.entry_id < best_id):
            best, best_t, best_id = i, t, c.entry_id
    return best


class LRU(CachePolicy):
    """Evict the entry with the oldest ``last_access_s`` (ties: smallest ``entry_id``).

    Retention while a tool runs is the default: keep the KV cached, unpinned.
    """

    name: ClassVar[str] = "lru"

    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        """Index of the least recently used candidate (:func:`lru_index`)."""
        return lru_index(candidates)
