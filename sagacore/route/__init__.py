"""Placement and balancing: round robin, session affinity, cache-aware, work stealing, ...

``ROUTERS`` maps a policy name to ``"module:Class"``; :func:`make_router` builds
one with its default configuration.
"""

from __future__ import annotations

import importlib

from sagacore.errors import UnknownNameError
from sagacore.policy import Router

__all__ = ["ROUTERS", "make_router"]

ROUTERS: dict[str, str] = {}


def make_router(name: str) -> Router:
    """A new router of the named policy, with its default configuration."""
    try:
        module, cls = ROUTERS[name].split(":")
    except KeyError:
        raise UnknownNameError("router", name, list(ROUTERS)) from None
    obj = getattr(importlib.import_module(module), cls)()
    assert isinstance(obj, Router)
    return obj
