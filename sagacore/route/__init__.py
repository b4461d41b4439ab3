"""Placement and balancing: round robin, session affinity, cache-aware, work stealing, ...

``ROUTERS`` maps a policy name to ``"module:Class"``; :func:`make_router` builds
one with its default configuration.
"""

from __future__ import annotations

import importlib

from sagacore.errors import UnknownNameError
from sagacore.policy import Router

__all__ = ["ROUTERS", "make_router"]

ROUTERS: dict[str, str] = {
    "round-robin": "sagacore.route.basic:RoundRobin",
    "least-loaded": "sagacore.route.basic:LeastLoaded",
    "session-affinity": "sagacore.route.basic:SessionAffinity",
    "cache-aware": "sagacore.route.basic:CacheAware",
    "saga-affinity": "sagacore.route.saga:SagaAffinity",
    "idle-steal": "sagacore.route.idle_steal:IdleSteal",
    "preble": "sagacore.route.preble:Preble",
    "autellix": "sagacore.route.autellix:AutellixLB",
    "shortest-backlog": "sagacore.route.backlog:ShortestBacklog",
}


def make_router(name: str) -> Router:
    """A new router of the named policy, with its default configuration."""
    try:
        module, cls = ROUTERS[name].split(":")
    except KeyError:
        raise UnknownNameError("router", name, list(ROUTERS)) from None
    obj = getattr(importlib.import_module(module), cls)()
    assert isinstance(obj, Router)
    return obj
