"""Deprecated: the theorem API moved to :mod:`sagacore.theory.theorems`.

``proofs/*/check.py`` written against the old path keep working: this module
re-exports the names and warns (``DeprecationWarning``) when one is used.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

_MOVED = frozenset({
    "CheckResult", "Obligation", "Theorem", "TheoremReport", "Violation", "Witness",
    "first_violation", "run_theorem", "to_json", "violations"})
"""The names that moved."""


def __getattr__(name: str) -> Any:
    """``sagacore.theory.theorems.<name>``, with a deprecation warning."""
    if name in _MOVED:
        warnings.warn(f"sagacore.testing.theorems moved to sagacore.theory.theorems ({name})",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module("sagacore.theory.theorems"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
