"""Reuse intervals of a cache trace: the decision variables of the offline problem.

Node ``u`` looked up by request ``j`` can be a hit only if ``u`` stayed cached since the
last request ``i < j`` whose *context* contained it: the **interval** ``(u, i, j)``.
Holding ``u`` over the interval occupies ``size(u)`` tokens during the gaps
``i, i+1, ..., j-1`` (gap ``t`` lies between requests ``t`` and ``t+1``). A lookup with
no earlier context occurrence is a compulsory (cold) miss.

Along a lookup path the interval starts never increase with depth (every request whose
context holds a node holds its parent), so the nodes of ``P_j`` that share a start form a
contiguous run. Grouping each run into one variable (:func:`reuse_intervals` with
``grouped=True``) changes no LP value (``docs/caching.md``, Lemma 2) and shrinks agent
traces, where a whole session history shares one interval, by orders of magnitude.

Examples
--------
>>> from sagacore.bounds.trace import CacheTrace
>>> tr = CacheTrace.from_paths([[(1, 4), (2, 2)], [(1, 4), (2, 2)], [(1, 4)]])
>>> iv = reuse_intervals(tr, grouped=False)
>>> iv.start.tolist(), iv.end.tolist(), iv.size.tolist(), iv.parent.tolist()
([0, 0, 1], [1, 1, 2], [4, 2, 4], [-1, 0, -1])
>>> g = reuse_intervals(tr, grouped=True)
>>> g.size.tolist(), g.cold_tokens
([6, 4], 6)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from sagacore.bounds.trace import CacheTrace

__all__ = ["Intervals", "reuse_intervals"]

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Intervals:
    """Reuse intervals (or runs of them), one LP/IP variable each.

    Variable ``k`` means: keep the member nodes ``members[member_ptr[k]:member_ptr[k+1]]``
    (a root-ward to leaf-ward run of one lookup path) cached from request ``start[k]``
    until request ``end[k]``, which then hits them. The LP requires
    ``x[k] <= x[parent[k]]``: a run is a hit only with the run above it.
    """

    start: IntArray
    """Request after which the run is held."""
    end: IntArray
    """Request that hits it."""
    size: IntArray
    """Tokens of the run."""
    parent: IntArray
    """Variable of the run just above on the same lookup path (``-1`` when none)."""
    member_ptr: IntArray
    """CSR offsets into :attr:`members`."""
    members: IntArray
    """Node ids of each run, root-ward first."""
    n_requests: int
    """Requests in the trace."""
    lookup_tokens: int
    """Prompt tokens over all requests."""
    cold_tokens: int
    """Prompt tokens with no earlier occurrence (misses under any policy)."""

    def __len__(self) -> int:
        return len(self.start)

    @property
    def max_hit_tokens(self) -> int:
        """Tokens an infinite cache would hit: ``lookup_tokens - cold_tokens``."""
        return self.lookup_tokens - self.cold_tokens

    def load_matrix(self) -> sp.csr_matrix:
        """Sparse ``(gaps, variables)`` matrix: tokens each variable holds in each gap.

        Dense in the interval lengths; use only for small traces (the LP uses the
        difference form of :meth:`load_increments`).
        """
        gaps = max(self.n_requests - 1, 0)
        lengths = self.end - self.start
        rows = np.concatenate(
            [np.arange(a, b, dtype=np.int64) for a, b in zip(self.start, self.end, strict=True)]
            or [np.zeros(0, dtype=np.int64)]
        )
        cols = np.repeat(np.arange(len(self), dtype=np.int64), lengths)
        vals = np.repeat(self.size.astype(np.float64), lengths)
        return sp.csr_matrix((vals, (rows, cols)), shape=(gaps, len(self)))

    def load_increments(self) -> sp.csr_matrix:
        """Sparse ``(gaps, variables)`` matrix ``B``: the load in gap ``t`` is ``sum(B[:t+1]) @ x``.

        A variable adds its size at gap ``start`` and removes it at gap ``end`` (when that
        gap exists): two nonzeros per variable, where :meth:`load_matrix` has one per gap
        covered.
        """
        gaps = max(self.n_requests - 1, 0)
        k = np.arange(len(self), dtype=np.int64)
        keep = self.end < gaps
        rows = np.concatenate([self.start, self.end[keep]])
        cols = np.concatenate([k, k[keep]])
        vals = np.concatenate([self.size, -self.size[keep]]).astype(np.float64)
        return sp.csr_matrix((vals, (rows, cols)), shape=(gaps, len(self)))

    def load(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Tokens held in each gap by the (possibly fractional) decision ``x``."""
        inc = self.load_increments() @ np.asarray(x, dtype=np.float64)
        return np.asarray(np.cumsum(inc), dtype=np.float64)


def reuse_intervals(trace: CacheTrace, *, grouped: bool = True) -> Intervals:
    """The reuse intervals of ``trace`` (vectorised; linear in the path lengths).

    Parameters
    ----------
    trace
        The cache trace.
    grouped
        Merge the nodes of a lookup path that share an interval into one variable
        (exact for the LP; for the integer program keep ``False``: a run may be split).
    """
    n = trace.n_requests
    lengths = np.diff(trace.path_ptr)
    occ_node = trace.path_nodes
    occ_req = np.repeat(np.arange(n, dtype=np.int64), lengths)
    occ_pos = np.arange(len(occ_node), dtype=np.int64) - np.repeat(trace.path_ptr[:-1], lengths)
    occ_lookup = occ_pos < np.repeat(trace.lookup_len, lengths)
    # previous context occurrence of the same node
    order = np.lexsort((occ_req, occ_node))
    prev = np.full(len(occ_node), -1, dtype=np.int64)
    same = occ_node[order[1:]] == occ_node[order[:-1]]
    prev[order[1:][same]] = occ_req[order[:-1][same]]
    sizes = trace.size[occ_node]
    lookup_tokens = int(sizes[occ_lookup].sum())
    cold_tokens = int(sizes[occ_lookup & (prev < 0)].sum())

    sel = np.flatnonzero(occ_lookup & (prev >= 0))  # occurrence index, request order
    if not grouped or len(sel) == 0:
        # parent interval: the occurrence one position up in the same path
        var_of_occ = np.full(len(occ_node), -1, dtype=np.int64)
        var_of_occ[sel] = np.arange(len(sel), dtype=np.int64)
        par = np.where(occ_pos[sel] > 0, var_of_occ[np.maximum(sel - 1, 0)], -1)
        return Intervals(
            start=prev[sel],
            end=occ_req[sel],
            size=sizes[sel].astype(np.int64),
            parent=par,
            member_ptr=np.arange(len(sel) + 1, dtype=np.int64),
            members=occ_node[sel].astype(np.int64),
            n_requests=n,
            lookup_tokens=lookup_tokens,
            cold_tokens=cold_tokens,
        )
    # a new run starts where the request or the start changes
    s_req = occ_req[sel]
    s_prev = prev[sel]
    new_run = np.ones(len(sel), dtype=bool)
    new_run[1:] = (s_req[1:] != s_req[:-1]) | (s_prev[1:] != s_prev[:-1])
    run_id = np.cumsum(new_run) - 1
    heads = np.flatnonzero(new_run)
    n_runs = len(heads)
    run_size = np.bincount(run_id, weights=sizes[sel], minlength=n_runs).astype(np.int64)
    head_occ = sel[heads]
    run_of_occ = np.full(len(occ_node), -1, dtype=np.int64)
    run_of_occ[sel] = run_id
    par = np.where(occ_pos[head_occ] > 0, run_of_occ[np.maximum(head_occ - 1, 0)], -1)
    ptr = np.append(heads, len(sel)).astype(np.int64)
    return Intervals(
        start=s_prev[heads],
        end=s_req[heads],
        size=run_size,
        parent=par,
        member_ptr=ptr,
        members=occ_node[sel].astype(np.int64),
        n_requests=n,
        lookup_tokens=lookup_tokens,
        cold_tokens=cold_tokens,
    )
