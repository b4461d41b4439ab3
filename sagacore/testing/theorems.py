"""Deprecated: the theorem API moved to :mod:`sagacore.theory.theorems`.

``proofs/*/check.py`` written against the old path keep working: this module
re-exports the names and warns (``DeprecationWarning``) when imported.
"""

from __future__ import annotations

import warnings

from sagacore.theory.theorems import (
    CheckResult,
    Obligation,
    Theorem,
    TheoremReport,
    Violation,
    Witness,
    first_violation,
    run_theorem,
    to_json,
    violations,
)

__all__ = [
    "CheckResult",
    "Obligation",
    "Theorem",
    "TheoremReport",
    "Violation",
    "Witness",
    "first_violation",
    "run_theorem",
    "to_json",
    "violations",
]

warnings.warn("sagacore.testing.theorems moved to sagacore.theory.theorems",
              DeprecationWarning, stacklevel=2)
