"""Size limits of the exact solvers, importable without loading cvxpy."""

from __future__ import annotations

__all__ = ["DP_MAX_NODES", "IP_MAX_VARIABLES"]

DP_MAX_NODES = 22
"""Largest number of blocks :func:`sagacore.bounds.opt.exact_dp` accepts."""

IP_MAX_VARIABLES = 20_000
"""Largest number of interval variables :func:`sagacore.bounds.opt.exact` hands to the
integer program."""
