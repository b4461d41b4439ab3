"""SGLang's RadixAttention eviction: least recently used leaf of the radix tree.

Follows SGLang (Zheng et al., 2024; ``RadixCache.evict``): only leaves no request
references are evictable, the one with the oldest access time goes first, and a parent
becomes a candidate once its last child is gone. The store
(:class:`~sagacore.cache.store.PrefixStore`) already offers exactly the unreferenced
leaves, so the policy itself is LRU over them.

Where it differs from vLLM's automatic prefix caching (:class:`~sagacore.cache.lru.LRU`):
vLLM frees a finished request's blocks tail first into one queue, so among blocks freed
at the same instant the *deepest* goes first; SGLang's heap compares access times only.
Here ties in ``last_access_s`` go to the deeper entry (larger ``prefix_tokens``), then
the older ``entry_id``, which is what SGLang's leaf-by-leaf walk amounts to for a path
released at once. Where the paper is silent (the order among equal times) this is our
choice.

Examples
--------
>>> from types import SimpleNamespace as E
>>> from sagacore.policy import CacheContext
>>> ctx = CacheContext(now=9.0, capacity_tokens=100, used_tokens=100)
>>> a = E(entry_id=1, last_access_s=2.0, prefix_tokens=10)
>>> b = E(entry_id=2, last_access_s=2.0, prefix_tokens=30)
>>> c = E(entry_id=3, last_access_s=1.0, prefix_tokens=5)
>>> RadixLRU().victim([a, b, c], ctx), RadixLRU().victim([a, b], ctx)
(2, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from sagacore.policy import CacheContext, CacheEntryView, CachePolicy

__all__ = ["RadixLRU"]


class RadixLRU(CachePolicy):
    """Evict the least recently used leaf; ties: the deeper one, then the older id."""

    name: ClassVar[str] = "radix-lru"

    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        """Index of the least recently accessed candidate."""
        best = 0
        c0 = candidates[0]
        best_key = (c0.last_access_s, -c0.prefix_tokens, c0.entry_id)
        for i in range(1, len(candidates)):
            c = candidates[i]
            key = (c.last_access_s, -c.prefix_tokens, c.entry_id)
            if key < best_key:
                best, best_key = i, key
        return best
