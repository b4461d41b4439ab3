"""Deprecated: the exact models moved to :mod:`sagacore.theory.models`.

The proof models are references for the checkers and must stay independent of the
policies they check, so they live in :mod:`sagacore.theory`, apart from
:mod:`sagacore.sched`. This module re-exports them for code written against the old
path and warns (``DeprecationWarning``) when one is used; import from
``sagacore.theory.models`` instead.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

_MOVED = frozenset({
    "AfsRun", "AfsTask", "Agent", "AgentRun", "HrrnJob", "HrrnRun", "Request", "TagRule",
    "VtcRun", "serve_afs", "serve_agents", "serve_hrrn", "serve_vtc"})
"""The names that moved."""


def __getattr__(name: str) -> Any:
    """``sagacore.theory.models.<name>``, with a deprecation warning."""
    if name in _MOVED:
        warnings.warn(f"sagacore.sched.models moved to sagacore.theory.models ({name})",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module("sagacore.theory.models"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
