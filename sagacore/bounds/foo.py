"""FOO-L and FOO-U: the interval LP bounds of Berger, Beckmann and Harchol-Balter
(SIGMETRICS 2018), adapted to prefix caches.

FOO-L relaxes the interval integer program (:func:`~sagacore.bounds.opt.exact_ip`):
each reuse interval may be held fractionally, and the prefix rows are dropped (they do
not change the LP value, Lemma 3 of ``docs/caching.md``). What remains is Berger et al.'s
interval LP, a min-cost flow, over the prefix-aware reuse intervals: maximise the tokens
hit subject to the tokens held in every gap between requests being at most the
capacity. FOO-U rounds an optimal LP solution to a feasible integral schedule that
respects the prefix constraint, then fills leftover room greedily.

The LP is built once per trace with the capacity as a cvxpy Parameter, so
:meth:`FooSolver.solve` at several capacities reuses the canonicalised problem.

Examples
--------
>>> from sagacore.bounds.trace import CacheTrace
>>> tr = CacheTrace.from_paths([[(1, 2), (2, 2)], [(3, 2)], [(1, 2), (2, 2)]])
>>> r = foo_bounds(tr, 3)
>>> round(r.lower, 6), r.upper
(7.0, 8)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import cvxpy as cp
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from sagacore.bounds._highs import highs_options
from sagacore.bounds.intervals import Intervals, reuse_intervals
from sagacore.bounds.trace import CacheTrace
from sagacore.errors import ConfigError, SolverError

__all__ = ["FooResult", "FooSolver", "foo_bounds", "top_fill"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FooResult:
    """FOO-L and FOO-U at one capacity, with the size of the LP and its solve time."""

    capacity_tokens: int
    """Cache capacity, tokens."""
    lower: float
    """FOO-L: a lower bound on OPT's prefill tokens (the LP optimum)."""
    lower_certified: float
    """A lower bound from the LP dual (valid whatever the solver's tolerances)."""
    upper: int
    """FOO-U: prefill tokens of a feasible schedule, so an upper bound on OPT."""
    upper_rounded: int
    """FOO-U before the greedy fill (Berger et al.'s rounding alone)."""
    lookup_tokens: int
    """Prompt tokens of the trace (the cost of an empty cache)."""
    cold_tokens: int
    """Compulsory misses (first lookups)."""
    lp_variables: int
    """Columns of the LP."""
    lp_constraints: int
    """Rows of the LP (bounds excluded)."""
    lp_nonzeros: int
    """Nonzeros of the LP's constraint matrix."""
    build_seconds: float
    """Time to extract intervals and build the problem (shared across capacities)."""
    solve_seconds: float
    """Time of this solve (canonicalisation after the first solve is cached)."""
    status: str
    """cvxpy status of the solve."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def top_fill(iv: Intervals, x: FloatArray) -> FloatArray:
    """Move each request's hit tokens to the shallowest runs of its prompt.

    For every request ``j`` the tokens ``sum(size * x)`` over the runs ending at ``j``
    are reassigned greedily root-ward first. The result hits as many tokens, holds no
    more in any gap (Lemma 3 of ``docs/caching.md``), and satisfies the prefix rows
    ``x[k] <= x[parent[k]]``, with at most one fractional run per request.
    """
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    out = np.zeros_like(x)
    if len(x) == 0:
        return out
    # runs of one request are contiguous, root-ward first
    mass = iv.size * x
    ends = iv.end
    boundaries = np.flatnonzero(np.diff(ends)) + 1
    first = np.concatenate([[0], boundaries])
    req_mass = np.add.reduceat(mass, first)
    req_of = np.repeat(np.arange(len(first)), np.diff(np.append(first, len(x))))
    cum = np.cumsum(iv.size.astype(np.float64))
    base = np.repeat(cum[first] - iv.size[first], np.diff(np.append(first, len(x))))
    before = cum - iv.size - base  # tokens of the request's runs above this one
    remaining = req_mass[req_of] - before
    out = np.clip(remaining / iv.size, 0.0, 1.0)
    return np.asarray(out, dtype=np.float64)


class FooSolver:
    """The FOO LP of one trace, built once, solvable at several capacities.

    Parameters
    ----------
    trace
        The cache trace.
    working_set
        Also require that while request ``t`` runs, its whole context (``W_t`` tokens)
        fits beside what the cache keeps across it: for every request with
        ``W_t <= C``, the tokens held over both gaps around ``t`` and not part of its
        context are at most ``C - W_t`` (every engine holds a running call's KV in GPU
        memory; ``docs/caching.md``, section 1). A request with ``W_t > C`` cannot run
        cached and adds no row. False gives the classical model (caching with bypass,
        no working set), whose bound is weaker but holds for any mechanism.
    prefix_rows
        Also add the rows ``x[k] <= x[parent[k]]``. They leave the optimum unchanged
        (Lemma 3); the option exists so that the tests can check that.
    grouped
        One variable per run of a prompt's blocks sharing an interval (default; exact
        for the LP by Lemma 2) instead of one per block.

    Notes
    -----
    Guarantee: ``lower_certified <= lower ~ FOO-L <= OPT <= upper`` for every capacity,
    where OPT is the minimum prefill of any cache schedule (of the same model: with or
    without the working set) at any granularity down to single tokens (Theorems 1 and 2
    of ``docs/caching.md``; checked by ``proofs/kv_caching/check.py`` and
    ``tests/test_bounds_properties.py``).
    """

    def __init__(
        self,
        trace: CacheTrace,
        *,
        working_set: bool = False,
        prefix_rows: bool = False,
        grouped: bool = True,
    ):
        t0 = time.perf_counter()
        self.trace = trace
        self.working_set = working_set
        self.intervals = iv = reuse_intervals(trace, grouped=grouped)
        n = iv.n_requests
        g = len(iv)
        gaps = max(n - 1, 0)
        self._incr = inc = iv.load_increments()
        self._context = np.asarray(
            np.add.reduceat(trace.size[trace.path_nodes], trace.path_ptr[:-1])
            if len(trace.path_nodes)
            else np.zeros(n),
            dtype=np.float64,
        )
        self._capacity = cp.Parameter(nonneg=True, name="capacity")
        self._x = x = cp.Variable(g, name="x")
        cons: list[cp.Constraint] = [x >= 0, x <= 1]
        rows = 0
        nnz = 0
        self._cap_cons: cp.Constraint | None = None
        self._ws_cons: cp.Constraint | None = None
        self._ws_rhs: cp.Parameter | None = None
        if g and gaps:
            load = cp.Variable(gaps, name="load")
            diff = sp.diags(
                [np.ones(gaps), -np.ones(gaps - 1)], [0, -1], shape=(gaps, gaps), format="csr"
            )
            cons.append(diff @ load == inc @ x)
            self._cap_cons = load <= self._capacity
            cons.append(self._cap_cons)
            rows += 2 * gaps
            nnz += int(diff.nnz + inc.nnz + gaps)
            if working_set and n > 2:
                # request t (1..n-2 has gaps on both sides): load[t-1] - ending_at(t) x
                ends = self._ending_matrix()[1:gaps]
                self._ws_rhs = cp.Parameter(gaps - 1, name="ws_rhs")
                self._ws_cons = load[: gaps - 1] - ends @ x <= self._ws_rhs
                cons.append(self._ws_cons)
                rows += gaps - 1
                nnz += int(ends.nnz + gaps - 1)
        child = np.flatnonzero(iv.parent >= 0)
        if prefix_rows and len(child):
            cons.append(x[child] <= x[iv.parent[child]])
            rows += len(child)
            nnz += 2 * len(child)
        self._problem = cp.Problem(cp.Maximize(iv.size.astype(np.float64) @ x), cons)
        self.lp_variables = g + (gaps if self._cap_cons is not None else 0)
        self.lp_constraints = rows
        self.lp_nonzeros = nnz
        self.build_seconds = time.perf_counter() - t0
        self.last_solution: FloatArray | None = None

    def _ending_matrix(self) -> sp.csr_matrix:
        """``(requests, variables)``: size of each variable in the row of its end."""
        iv = self.intervals
        k = np.arange(len(iv), dtype=np.int64)
        return sp.csr_matrix(
            (iv.size.astype(np.float64), (iv.end, k)), shape=(iv.n_requests, len(iv))
        )

    def request_room(self, capacity_tokens: int) -> FloatArray:
        """Tokens the cache may keep across each request (``inf`` without working set).

        ``C - W_t`` when the context ``W_t`` of request ``t`` fits, else ``C``.
        """
        n = self.intervals.n_requests
        if not self.working_set:
            return np.full(n, np.inf)
        w = self._context
        return np.where(w <= capacity_tokens, capacity_tokens - w, float(capacity_tokens))

    def solve(self, capacity_tokens: int) -> FooResult:
        """FOO-L and FOO-U at ``capacity_tokens``.

        Raises
        ------
        SolverError
            When HiGHS does not report an optimal solution.
        """
        if capacity_tokens < 0:
            raise ConfigError(f"capacity_tokens must be >= 0, got {capacity_tokens}")
        iv = self.intervals
        t0 = time.perf_counter()
        if len(iv) == 0 or self._cap_cons is None:
            # nothing can be reused (or a single request)
            x_opt = np.zeros(len(iv))
            hit_lp = 0.0
            status = cp.OPTIMAL
            certified_hit = 0.0
        else:
            self._capacity.value = float(capacity_tokens)
            if self._ws_rhs is not None:
                self._ws_rhs.value = self.request_room(capacity_tokens)[1:-1]
            try:
                self._problem.solve(solver=cp.HIGHS, **highs_options())  # type: ignore[no-untyped-call]
            except cp.error.SolverError as exc:
                raise SolverError(f"HiGHS failed on the FOO LP: {exc}") from None
            status = str(self._problem.status)
            if status != cp.OPTIMAL or self._x.value is None:
                raise SolverError(f"FOO LP: status {status}, not optimal")
            x_opt = np.clip(np.asarray(self._x.value, dtype=np.float64), 0.0, 1.0)
            hit_lp = float(self._problem.value)
            certified_hit = self._dual_bound(capacity_tokens)
        solve_s = time.perf_counter() - t0
        self.last_solution = x_opt
        rounded, filled = self._round(x_opt, capacity_tokens)
        return FooResult(
            capacity_tokens=capacity_tokens,
            lower=iv.lookup_tokens - hit_lp,
            lower_certified=iv.lookup_tokens - certified_hit,
            upper=iv.lookup_tokens - filled,
            upper_rounded=iv.lookup_tokens - rounded,
            lookup_tokens=iv.lookup_tokens,
            cold_tokens=iv.cold_tokens,
            lp_variables=self.lp_variables,
            lp_constraints=self.lp_constraints,
            lp_nonzeros=self.lp_nonzeros,
            build_seconds=self.build_seconds,
            solve_seconds=solve_s,
            status=status,
        )

    # ---------------------------------------------------------------- internals
    def _dual_bound(self, capacity_tokens: int) -> float:
        """Weak duality: prices ``y >= 0`` on gap rows, ``z >= 0`` on request rows.

        Any such prices bound the hit tokens of every feasible ``x`` by
        ``C sum(y) + sum(room_t z_t) + sum_k max(0, size_k (1 - price_k))``, where
        ``price_k`` sums ``y`` over the gaps ``k`` covers and ``z`` over the requests it
        spans.
        """
        assert self._cap_cons is not None
        dual = self._cap_cons.dual_value
        if dual is None:  # pragma: no cover - HiGHS always returns duals for LPs
            return float(self.intervals.max_hit_tokens)
        iv = self.intervals
        y = np.maximum(np.asarray(dual, dtype=np.float64), 0.0)
        cy = np.concatenate([[0.0], np.cumsum(y)])
        price = cy[iv.end] - cy[iv.start]  # sum of y over gaps start..end-1
        bound = capacity_tokens * float(y.sum())
        if self._ws_cons is not None and self._ws_cons.dual_value is not None:
            z = np.zeros(iv.n_requests)
            z[1:-1] = np.maximum(np.asarray(self._ws_cons.dual_value, dtype=np.float64), 0.0)
            cz = np.concatenate([[0.0], np.cumsum(z)])
            price = price + (cz[iv.end] - cz[np.minimum(iv.start + 1, iv.end)])
            bound += float((self.request_room(capacity_tokens) * z)[1:-1].sum())
        reduced = iv.size * (1.0 - price)
        return float(bound + np.maximum(reduced, 0.0).sum())

    def _round(self, x: FloatArray, capacity: int) -> tuple[int, int]:
        """(hit tokens of the rounded schedule, hit tokens after the greedy fill)."""
        iv = self.intervals
        g = len(iv)
        if g == 0:
            return 0, 0
        xt = top_fill(iv, x)
        keep = xt >= 1.0 - 1e-9
        par = iv.parent
        has_par = par >= 0
        # prefix: a run is kept only with the run above it (parents come first)
        for k in np.flatnonzero(has_par & keep):
            if not keep[par[k]]:
                keep[k] = False
        starts, ends, sizes = iv.start, iv.end, iv.size
        # room left in every gap (capacity rows) and across every request (working set)
        gap_room = capacity - np.cumsum(self._incr @ keep.astype(np.float64))
        req_room = self.request_room(capacity).astype(np.float64)
        for k in np.flatnonzero(keep):
            req_room[starts[k] + 1 : ends[k]] -= sizes[k]
        tol = 1e-6

        def overfull(k: int) -> bool:
            s, e = int(starts[k]), int(ends[k])
            return bool(np.any(gap_room[s:e] < -tol) or np.any(req_room[s + 1 : e] < -tol))

        if np.any(gap_room < -tol) or np.any(req_room < -tol):
            # solver tolerance overshoot: drop kept runs through overfull rows
            for k in np.flatnonzero(keep)[::-1]:
                if overfull(int(k)):
                    keep[k] = False
                    gap_room[starts[k] : ends[k]] += sizes[k]
                    req_room[starts[k] + 1 : ends[k]] += sizes[k]
            for k in np.flatnonzero(has_par & keep):
                if not keep[par[k]]:
                    keep[k] = False
                    gap_room[starts[k] : ends[k]] += sizes[k]
                    req_room[starts[k] + 1 : ends[k]] += sizes[k]
        rounded = int(sizes[keep].sum())
        # greedy fill: most-wanted runs first, whole runs or their top blocks
        full = keep.copy()
        partial_hit = 0
        order = np.lexsort((np.arange(g), -xt))
        node_size = self.trace.size
        for k in order:
            if full[k] or (has_par[k] and not full[par[k]]):
                continue
            s, e = int(starts[k]), int(ends[k])
            room = float(gap_room[s:e].min()) if e > s else float(capacity)
            if e > s + 1:
                room = min(room, float(req_room[s + 1 : e].min()))
            if room <= 0:
                continue
            if sizes[k] <= room:
                take = int(sizes[k])
                full[k] = True
            else:
                members = iv.members[iv.member_ptr[k] : iv.member_ptr[k + 1]]
                take = 0
                for v in members:
                    sv = int(node_size[v])
                    if take + sv > room:
                        break
                    take += sv
                partial_hit += take
            if take:
                gap_room[s:e] -= take
                req_room[s + 1 : e] -= take
        filled = int(sizes[full].sum()) + partial_hit
        return rounded, filled


def foo_bounds(trace: CacheTrace, capacity_tokens: int, *, working_set: bool = False) -> FooResult:
    """FOO-L and FOO-U of ``trace`` at one capacity (see :class:`FooSolver`).

    Notes
    -----
    ``FOO-L <= OPT <= FOO-U``: Theorems 1 and 2 of ``docs/caching.md``, checked by
    ``proofs/kv_caching/check.py``.
    """
    return FooSolver(trace, working_set=working_set).solve(capacity_tokens)
