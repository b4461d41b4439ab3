"""Offline optima for KV prefix caching: Belady's MIN, exact OPT, FOO-L and FOO-U.

The problem they solve is defined in ``docs/caching.md`` (and stated for the checkers
in ``proofs/kv_caching/STATEMENT.md``): a trace of requests, each a prompt path in a
prefix tree of sized blocks; a prompt block is a hit only when it and its whole prefix
are cached; the cost is the prompt tokens prefilled; the cache holds at most a given
number of tokens between requests.

Examples
--------
>>> from sagacore.bounds import CacheTrace, belady, exact_ip, foo_bounds
>>> tr = CacheTrace.from_paths([[(1, 2), (2, 2)], [(3, 2)], [(1, 2), (2, 2)]])
>>> r = foo_bounds(tr, 3)
>>> r.lower <= exact_ip(tr, 3) <= r.upper <= belady(tr, 3)
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sagacore.bounds.foo import FooResult, FooSolver, foo_bounds, top_fill
    from sagacore.bounds.intervals import Intervals, reuse_intervals
    from sagacore.bounds.offline_min import belady, next_lookup
    from sagacore.bounds.opt import exact, exact_dp, exact_ip
    from sagacore.bounds.trace import CacheTrace, call_times, load_cache_trace

# Imported on first use, so that importing sagacore.bounds (or sagacore.bounds.trace)
# does not load cvxpy, which takes over a second.
_LAZY: dict[str, str] = {
    "FooResult": "foo",
    "FooSolver": "foo",
    "foo_bounds": "foo",
    "top_fill": "foo",
    "Intervals": "intervals",
    "reuse_intervals": "intervals",
    "belady": "offline_min",
    "next_lookup": "offline_min",
    "exact": "opt",
    "exact_dp": "opt",
    "exact_ip": "opt",
    "CacheTrace": "trace",
    "call_times": "trace",
    "load_cache_trace": "trace",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "CacheTrace",
    "FooResult",
    "FooSolver",
    "Intervals",
    "belady",
    "call_times",
    "exact",
    "exact_dp",
    "exact_ip",
    "foo_bounds",
    "load_cache_trace",
    "next_lookup",
    "reuse_intervals",
    "top_fill",
]
