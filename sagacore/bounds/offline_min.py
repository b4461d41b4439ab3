"""Belady's MIN on cache traces: evict the block whose next use is farthest.

Examples
--------
>>> from sagacore.bounds.trace import CacheTrace
>>> tr = CacheTrace.from_paths([[(1, 1)], [(2, 1)], [(3, 1)], [(1, 1)], [(2, 1)]])
>>> belady(tr, 2)
3
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import numpy.typing as npt

from sagacore.bounds.trace import CacheTrace
from sagacore.errors import ConfigError

__all__ = ["belady", "next_lookup"]


def next_lookup(trace: CacheTrace) -> npt.NDArray[np.float64]:
    """For each context occurrence, the next request that looks its node up (``inf``: none).

    Aligned with ``trace.path_nodes``: entry ``k`` belongs to the node at
    ``path_nodes[k]`` in the request whose context contains position ``k``.
    """
    n = trace.n_requests
    lengths = np.diff(trace.path_ptr)
    node = trace.path_nodes
    req = np.repeat(np.arange(n, dtype=np.int64), lengths)
    pos = np.arange(len(node), dtype=np.int64) - np.repeat(trace.path_ptr[:-1], lengths)
    is_lookup = pos < np.repeat(trace.lookup_len, lengths)
    order = np.lexsort((req, node))
    m = len(order)
    s_node = node[order]
    s_req = req[order]
    s_lookup = is_lookup[order]
    big = np.int64(m)
    mark = np.where(s_lookup, np.arange(m, dtype=np.int64), big)
    # first lookup position at or after each sorted position
    after = np.minimum.accumulate(mark[::-1])[::-1]
    nxt_pos = np.full(m, big, dtype=np.int64)
    nxt_pos[:-1] = after[1:]
    valid = nxt_pos < m
    valid[valid] = s_node[nxt_pos[valid]] == s_node[valid]
    out_sorted = np.full(m, math.inf)
    out_sorted[valid] = s_req[nxt_pos[valid]]
    out = np.empty(m, dtype=np.float64)
    out[order] = out_sorted
    return out


def belady(trace: CacheTrace, capacity_tokens: int, *, working_set: bool = False) -> int:
    """Miss cost (prefill tokens) of Belady's MIN applied to the trace's blocks.

    At each request the longest cached prefix of the prompt is a hit and the rest is
    prefilled; then the request's context blocks are cached and, while more than
    ``capacity_tokens`` are held, the block whose next lookup is farthest is evicted
    (ties: the deeper block first, so the cache stays prefix-closed; a block never
    looked up again goes first). The request's own new blocks may go at once, which is
    bypassing. With ``working_set``, before a request whose context (``W`` tokens)
    fits, blocks outside its context are evicted (farthest next use first) until they
    hold at most ``capacity_tokens - W``: the request's KV must be resident while it
    runs.

    Parameters
    ----------
    trace
        The cache trace.
    capacity_tokens
        Cache capacity, tokens (at least 0).
    working_set
        Enforce the working-set constraint of ``docs/caching.md`` (section 1).

    Returns
    -------
    int
        Prompt tokens prefilled over the whole trace.

    Notes
    -----
    Optimal (equal to exact OPT, bypass model) when blocks have unit size and unit cost,
    with or without the prefix constraint, provided outputs are new blocks (a context
    never re-creates a block already seen, as in real traces): Theorem 3 of
    ``docs/caching.md`` (``docs/caching.md#theorem-3-belady-is-optimal-for-unit-blocks``),
    checked by ``proofs/kv_caching/check.py`` (``kv-belady-unit``). Otherwise it is only a
    feasible schedule, so its cost is an upper bound on OPT; the same document records
    minimal counterexamples with variable sizes (below) and with re-created blocks.

    Examples
    --------
    Variable sizes break it (a minimal counterexample, see ``docs/caching.md``):

    >>> tr = CacheTrace.from_paths([[(1, 2)], [(2, 1)], [(2, 1)], [(1, 2)]])
    >>> from sagacore.bounds.opt import exact_dp
    >>> belady(tr, 2), exact_dp(tr, 2)
    (5, 4)
    """
    if capacity_tokens < 0:
        raise ConfigError(f"capacity_tokens must be >= 0, got {capacity_tokens}")
    nxt_occ = next_lookup(trace)
    size = trace.size.tolist()
    depth = trace.depth.tolist()
    ptr = trace.path_ptr.tolist()
    nodes = trace.path_nodes.tolist()
    lookup_len = trace.lookup_len.tolist()
    nxt_list = nxt_occ.tolist()
    cached = [False] * trace.n_nodes
    key = [0.0] * trace.n_nodes
    heap: list[tuple[float, int, int]] = []
    used = 0
    cost = 0
    for t in range(trace.n_requests):
        a, b = ptr[t], ptr[t + 1]
        if working_set:
            in_ctx = 0
            ctx_size = 0
            members = set(nodes[a:b])
            for v in members:
                ctx_size += size[v]
                if cached[v]:
                    in_ctx += size[v]
            if ctx_size <= capacity_tokens:
                skipped: list[tuple[float, int, int]] = []
                while used - in_ctx + ctx_size > capacity_tokens:
                    item = heapq.heappop(heap)
                    neg, _, v = item
                    if not (cached[v] and key[v] == -neg):
                        continue
                    if v in members:
                        skipped.append(item)
                        continue
                    cached[v] = False
                    used -= size[v]
                for item in skipped:
                    heapq.heappush(heap, item)
        hit = True
        for k in range(a, a + lookup_len[t]):
            v = nodes[k]
            if hit and not cached[v]:
                hit = False
            if not hit:
                cost += size[v]
        for k in range(a, b):
            v = nodes[k]
            nv = nxt_list[k]
            key[v] = nv
            if not cached[v]:
                cached[v] = True
                used += size[v]
            heapq.heappush(heap, (-nv, -depth[v], v))
        while used > capacity_tokens:
            neg, _, v = heapq.heappop(heap)
            if cached[v] and key[v] == -neg:
                cached[v] = False
                used -= size[v]
    return cost
