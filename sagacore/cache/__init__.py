"""KV retention policies (one module each) and the prefix-cache store they run in.

``CACHE_POLICIES`` maps a policy name to ``"module:Class"``; :func:`make_cache_policy` builds
one: from a :class:`~sagacore.build.BuildContext` when given (what a stack does), else with
its default configuration. A cache policy reads the shared predictor from each
:class:`~sagacore.policy.CacheContext` when it decides, not when it is built, so a name
alone builds it fully (cache-only replay does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sagacore.build import policy_class
from sagacore.policy import CachePolicy

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.build import BuildContext

__all__ = ["CACHE_POLICIES", "cache_policy_class", "make_cache_policy"]

CACHE_POLICIES: dict[str, str] = {
    "lru": "sagacore.cache.lru:LRU",
    "radix-lru": "sagacore.cache.radix_lru:RadixLRU",
    "walru": "sagacore.cache.walru:WALRU",
    "saga-ttl": "sagacore.cache.saga_ttl:SagaTTL",
    "continuum-ttl": "sagacore.cache.continuum:ContinuumTTL",
    "kvflow": "sagacore.cache.kvflow:KVFlow",
    "infercept": "sagacore.cache.infercept:InferCept",
    "astraea": "sagacore.cache.astraea:AstraeaKV",
    "next-use": "sagacore.cache.next_use:NextUse",
    "sagacore": "sagacore.cache.sagacore:SagacoreCache",
}


def cache_policy_class(name: str) -> type[CachePolicy]:
    """The cache policy class called ``name`` (not built)."""
    cls = policy_class(CACHE_POLICIES, "cache policy", name)
    assert issubclass(cls, CachePolicy)
    return cls


def make_cache_policy(name: str, ctx: BuildContext | None = None) -> CachePolicy:
    """A new cache policy of the named policy (from ``ctx`` when given, else its default
    configuration)."""
    cls = cache_policy_class(name)
    return cls.from_context(ctx) if ctx is not None else cls()
