"""The offline bounds of a trace at one capacity, as one record (``sagacore bound --json``).

:func:`run_bounds` loads a trace and computes FOO-L/FOO-U, Belady's MIN and the exact
integer program (``docs/caching.md``); ``sagacore bound`` prints its record and
``sagacore reproduce`` tables it.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from sagacore.bounds.limits import IP_MAX_VARIABLES
from sagacore.errors import ConfigError
from sagacore.workload.readers import BadLines

__all__ = ["METHODS", "run_bounds"]

METHODS = ("foo", "belady", "exact", "all")
"""The bounds :func:`run_bounds` can compute (``all``: every one)."""


def run_bounds(
    path: str | Path,
    capacity_tokens: int,
    *,
    method: str = "all",
    format: str = "auto",
    head: int | None = None,
    exact_max_variables: int = IP_MAX_VARIABLES,
    exact_time_limit_s: float = 60.0,
    working_set: bool = True,
    on_bad_lines: BadLines | str = "error",
) -> dict[str, Any]:
    """What ``sagacore bound --json`` prints, as a dict."""
    from sagacore.bounds import FooSolver, belady, exact, load_cache_trace

    if capacity_tokens < 1:
        raise ConfigError(f"--capacity-tokens must be >= 1, got {capacity_tokens}")
    if method not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if head is not None and head < 1:
        raise ConfigError(f"--head must be >= 1, got {head}")
    if exact_max_variables < 0:
        raise ConfigError(f"--exact-max-variables must be >= 0, got {exact_max_variables}")
    if not (math.isfinite(exact_time_limit_s) and exact_time_limit_s > 0):
        raise ConfigError(f"--exact-time-limit must be a number > 0, got {exact_time_limit_s}")
    trace, _ = load_cache_trace(path, format=format, head=head, on_bad_lines=on_bad_lines)
    out: dict[str, Any] = {
        "trace": str(path),
        "capacity_tokens": capacity_tokens,
        "working_set": working_set,
        "requests": trace.n_requests,
        "blocks": trace.n_nodes,
        "lookup_tokens": trace.lookup_tokens,
        "foo_lower": None,
        "foo_upper": None,
        "belady": None,
        "exact": None,
    }
    t0 = time.perf_counter()
    if method in ("foo", "all"):
        r = FooSolver(trace, working_set=working_set).solve(capacity_tokens)
        out.update(
            foo_lower=r.lower,
            foo_lower_certified=r.lower_certified,
            foo_upper=r.upper,
            cold_tokens=r.cold_tokens,
            lp_variables=r.lp_variables,
            lp_constraints=r.lp_constraints,
            lp_nonzeros=r.lp_nonzeros,
            foo_seconds=r.build_seconds + r.solve_seconds,
        )
    if method in ("belady", "all"):
        tb = time.perf_counter()
        out["belady"] = belady(trace, capacity_tokens, working_set=working_set)
        out["belady_seconds"] = time.perf_counter() - tb
    if method in ("exact", "all"):
        value, secs = exact(
            trace,
            capacity_tokens,
            working_set=working_set,
            max_variables=exact_max_variables,
            time_limit_s=exact_time_limit_s,
        )
        out["exact"] = value
        out["exact_seconds"] = secs
    out["solve_seconds"] = time.perf_counter() - t0
    return out
