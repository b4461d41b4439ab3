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
