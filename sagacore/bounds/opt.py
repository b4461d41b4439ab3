"""Exact offline optimum (OPT) on small cache traces: integer program and brute force.

Two independent methods, cross-checked by the tests:

- :func:`exact_ip`: the interval integer program (``docs/caching.md``, section 2)
  solved with HiGHS (scipy's ``milp``);
- :func:`exact_dp`: dynamic programming over every reachable cache content, for tiny
  traces (a handful of blocks); with ``closed=True`` it restricts the cache to
  prefix-closed contents (a radix tree, as SGLang keeps it).

Examples
--------
>>> from sagacore.bounds.trace import CacheTrace
>>> tr = CacheTrace.from_paths([[(1, 2), (2, 1)], [(3, 1)], [(1, 2), (2, 1)]])
>>> exact_dp(tr, 3), exact_ip(tr, 3)
(4, 4)
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from sagacore.bounds.intervals import Intervals, reuse_intervals
from sagacore.bounds.limits import DP_MAX_NODES, IP_MAX_VARIABLES
from sagacore.bounds.trace import CacheTrace
from sagacore.errors import ConfigError, SolverError

__all__ = ["DP_MAX_NODES", "IP_MAX_VARIABLES", "exact", "exact_dp", "exact_ip"]



def _check_capacity(capacity_tokens: int) -> None:
    if capacity_tokens < 0:
        raise ConfigError(f"capacity_tokens must be >= 0, got {capacity_tokens}")


def exact_ip(
    trace: CacheTrace,
    capacity_tokens: int,
    *,
    working_set: bool = False,
    time_limit_s: float | None = None,
) -> int:
    """OPT by the interval integer program (HiGHS branch and bound).

    Variables: one binary per reuse interval of a single block (ungrouped), constraint
    rows: the capacity of every gap between requests, and ``x[u] <= x[parent(u)]`` for
    intervals ending at the same request (a block is a hit only with its prefix).

    Parameters
    ----------
    trace
        The cache trace.
    capacity_tokens
        Cache capacity, tokens.
    working_set
        Add a row per request whose context fits: what is kept across it plus its
        context fits in the capacity (``docs/caching.md``, section 1).
    time_limit_s
        Give up after this long (raises :class:`~sagacore.errors.SolverError`).

    Returns
    -------
    int
        Minimum prefill tokens over all cache schedules.

    Raises
    ------
    SolverError
        When HiGHS does not prove optimality.

    Notes
    -----
    Exact for the model of ``docs/caching.md`` (any set of blocks may be cached, a block
    is a hit only when its whole prefix is), Theorem 1 there.
    """
    _check_capacity(capacity_tokens)
    iv = reuse_intervals(trace, grouped=False)
    if len(iv) == 0:
        return iv.lookup_tokens
    # HiGHS's branch and bound through scipy's ``milp`` (no cvxpy canonicalisation:
    # about 1 ms on the checkers' traces instead of 8; the optimum is unique)
    from scipy.optimize import Bounds, LinearConstraint, milp

    g = len(iv)
    blocks: list[sp.csr_matrix] = []
    upper: list[npt.NDArray[np.float64]] = []
    if iv.n_requests > 1:
        blocks.append(iv.load_matrix())
        upper.append(np.full(iv.n_requests - 1, float(capacity_tokens)))
    if working_set:
        span, room = _span_rows(trace, iv, capacity_tokens)
        if span.shape[0]:
            blocks.append(span)
            upper.append(room)
    child = np.flatnonzero(iv.parent >= 0)
    if len(child):  # x[child] - x[parent(child)] <= 0
        r = np.arange(len(child), dtype=np.int64)
        blocks.append(sp.csr_matrix(
            (np.concatenate([np.ones(len(child)), -np.ones(len(child))]),
             (np.concatenate([r, r]), np.concatenate([child, iv.parent[child]]))),
            shape=(len(child), g)))
        upper.append(np.zeros(len(child)))
    cons = ([LinearConstraint(sp.vstack(blocks, format="csr"), -np.inf, np.concatenate(upper))]
            if blocks else [])
    opts: dict[str, Any] = {"disp": False}
    if time_limit_s is not None:
        opts["time_limit"] = float(time_limit_s)
    res = milp(-iv.size.astype(np.float64), constraints=cons, integrality=np.ones(g),
               bounds=Bounds(0.0, 1.0), options=opts)
    if res.status != 0 or res.x is None:
        raise SolverError(f"exact integer program: {res.message} (status {res.status}), "
                          "not optimal")
    hit = round(float(iv.size @ np.round(res.x)))
    return iv.lookup_tokens - hit


def _span_rows(
    trace: CacheTrace, iv: Intervals, capacity_tokens: int
) -> tuple[sp.csr_matrix, npt.NDArray[np.float64]]:
    """Rows ``start < t < end`` for requests whose context fits, and their room."""
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    room: list[float] = []
    for t in range(trace.n_requests):
        w = int(trace.size[trace.context(t)].sum())
        if w > capacity_tokens:
            continue
        r = len(room)
        room.append(float(capacity_tokens - w))
        for k in np.flatnonzero((iv.start < t) & (t < iv.end)):
            rows.append(r)
            cols.append(int(k))
            vals.append(float(iv.size[k]))
    mat = sp.csr_matrix((vals, (rows, cols)), shape=(len(room), len(iv)))
    return mat, np.asarray(room, dtype=np.float64)


def exact_dp(
    trace: CacheTrace, capacity_tokens: int, *, closed: bool = False, working_set: bool = False
) -> int:
    """OPT by dynamic programming over cache contents (tiny traces only).

    After each request the cache may hold any subset of (what it held) plus (the
    request's context) that fits in ``capacity_tokens``; a prompt block is a hit when it
    and all blocks before it on the prompt are held. Blocks never looked up again are
    dropped (they cannot help).

    Parameters
    ----------
    trace
        The cache trace, with at most :data:`DP_MAX_NODES` blocks.
    capacity_tokens
        Cache capacity, tokens.
    closed
        Allow only prefix-closed contents (a block only with its parent), the radix
        tree model. Its optimum is at least the unrestricted one; equal for unit sizes
        (``docs/caching.md``, Theorem 4).
    working_set
        While a request whose context fits runs, what is kept besides its context plus
        the context fits in the capacity.

    Returns
    -------
    int
        Minimum prefill tokens.
    """
    _check_capacity(capacity_tokens)
    nn = trace.n_nodes
    if nn > DP_MAX_NODES:
        raise ConfigError(f"exact_dp handles at most {DP_MAX_NODES} blocks, trace has {nn}")
    size = trace.size.tolist()
    parent = trace.parent.tolist()
    n = trace.n_requests
    # nodes looked up after request t
    future = [0] * (n + 1)
    for t in range(n - 1, -1, -1):
        m = 0
        for v in trace.lookup(t):
            m |= 1 << v
        future[t] = future[t + 1] | m
    sizes_of: dict[int, int] = {}

    def fits(mask: int) -> bool:
        s = sizes_of.get(mask)
        if s is None:
            s = sum(size[v] for v in range(nn) if mask >> v & 1)
            sizes_of[mask] = s
        return s <= capacity_tokens

    def is_closed(mask: int) -> bool:
        return all(parent[v] < 0 or mask >> parent[v] & 1 for v in range(nn) if mask >> v & 1)

    states: dict[int, int] = {0: 0}
    for t in range(n):
        look = trace.lookup(t)
        ctx_mask = 0
        for v in trace.context(t):
            ctx_mask |= 1 << v
        keep_mask = future[t + 1]
        w = sum(size[v] for v in trace.context(t))
        room = capacity_tokens - w if working_set and w <= capacity_tokens else None
        nxt: dict[int, int] = {}
        for s, c in states.items():
            miss = 0
            hit = True
            for v in look:
                if hit and not s >> v & 1:
                    hit = False
                if not hit:
                    miss += size[v]
            c2 = c + miss
            cand = (s | ctx_mask) & keep_mask
            sub = cand
            while True:
                ok = fits(sub) and (not closed or is_closed(sub))
                if ok and room is not None:
                    outside = sub & ~ctx_mask
                    ok = sum(size[v] for v in range(nn) if outside >> v & 1) <= room
                if ok:
                    if c2 < nxt.get(sub, 1 << 62):
                        nxt[sub] = c2
                if sub == 0:
                    break
                sub = (sub - 1) & cand
        states = nxt
    return min(states.values())


def exact(
    trace: CacheTrace,
    capacity_tokens: int,
    *,
    working_set: bool = False,
    max_variables: int = IP_MAX_VARIABLES,
    time_limit_s: float = 60.0,
) -> tuple[int | None, float]:
    """OPT when the trace is small enough, else ``None``; with the seconds spent.

    Uses :func:`exact_ip` when the trace has at most ``max_variables`` reuse intervals
    and HiGHS proves optimality within ``time_limit_s``.

    Examples
    --------
    >>> from sagacore.bounds.trace import CacheTrace
    >>> exact(CacheTrace.from_paths([[(1, 3)], [(1, 3)]]), 3)[0]
    3
    """
    t0 = time.perf_counter()
    iv = reuse_intervals(trace, grouped=False)
    if len(iv) > max_variables:
        return None, time.perf_counter() - t0
    try:
        value: int | None = exact_ip(
            trace, capacity_tokens, working_set=working_set, time_limit_s=time_limit_s
        )
    except SolverError:
        value = None
    return value, time.perf_counter() - t0
