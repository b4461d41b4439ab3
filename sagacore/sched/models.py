"""Deprecated: the exact models moved to :mod:`sagacore.theory.models`.

The proof models are references for the checkers and must stay independent of the
policies they check, so they live in :mod:`sagacore.theory`, apart from
:mod:`sagacore.sched`. This module re-exports them for code written against the old
path and warns (``DeprecationWarning``) when imported; import from
``sagacore.theory.models`` instead.
"""

from __future__ import annotations

import warnings

from sagacore.theory.models import (
    AfsRun,
    AfsTask,
    Agent,
    AgentRun,
    HrrnJob,
    HrrnRun,
    Request,
    TagRule,
    VtcRun,
    serve_afs,
    serve_agents,
    serve_hrrn,
    serve_vtc,
)

__all__ = [
    "AfsRun",
    "AfsTask",
    "Agent",
    "AgentRun",
    "HrrnJob",
    "HrrnRun",
    "Request",
    "TagRule",
    "VtcRun",
    "serve_afs",
    "serve_agents",
    "serve_hrrn",
    "serve_vtc",
]

warnings.warn("sagacore.sched.models moved to sagacore.theory.models",
              DeprecationWarning, stacklevel=2)
