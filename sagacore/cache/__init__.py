"""KV retention policies (one module each) and the prefix-cache store they run in.

``CACHE_POLICIES`` maps a policy name to ``"module:Class"``; :func:`make_cache_policy` builds
one with its default configuration.
"""

from __future__ import annotations

import importlib

from sagacore.errors import UnknownNameError
from sagacore.policy import CachePolicy

__all__ = ["CACHE_POLICIES", "make_cache_policy"]

CACHE_POLICIES: dict[str, str] = {
    "lru": "sagacore.cache.lru:LRU",
    "radix-lru": "sagacore.cache.radix_lru:RadixLRU",
    "walru": "sagacore.cache.walru:WALRU",
    "saga-ttl": "sagacore.cache.saga_ttl:SagaTTL",
    "continuum-ttl": "sagacore.cache.continuum:ContinuumTTL",
    "kvflow": "sagacore.cache.kvflow:KVFlow",
    "infercept": "sagacore.cache.infercept:InferCept",
    "astraea": "sagacore.cache.astraea:Astraea",
    "next-use": "sagacore.cache.next_use:NextUse",
    "sagacore": "sagacore.cache.sagacore:SagacoreCache",
}


def make_cache_policy(name: str) -> CachePolicy:
    """A new cache policy of the named policy, with its default configuration."""
    try:
        module, cls = CACHE_POLICIES[name].split(":")
    except KeyError:
        raise UnknownNameError("cache policy", name, list(CACHE_POLICIES)) from None
    obj = getattr(importlib.import_module(module), cls)()
    assert isinstance(obj, CachePolicy)
    return obj
