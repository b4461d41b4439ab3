"""Property tests of the bound chain on random small traces (docs/caching.md, section 4).

FOO-L <= exact OPT <= FOO-U, the two exact methods agree, Belady >= OPT (and equal
when blocks have unit size), the radix (prefix-closed) optimum is at least the general
one, and the prefix rows leave the LP value unchanged.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sagacore.bounds import CacheTrace, FooSolver, belady, exact_dp, exact_ip
from sagacore.workload.model import Segment

TOL = 1e-6


@st.composite
def cache_traces(
    draw: st.DrawFn,
    *,
    max_requests: int = 6,
    max_size: int = 3,
    max_nodes: int = 10,
    outputs: bool = True,
) -> CacheTrace:
    """A small trace: each request extends a prefix of an earlier context (or starts anew)."""
    n = draw(st.integers(1, max_requests))
    contexts: list[tuple[Segment, ...]] = []
    reqs: list[tuple[tuple[Segment, ...], tuple[Segment, ...], float]] = []
    next_id = 1
    nodes = 0
    for t in range(n):
        base: tuple[Segment, ...] = ()
        if contexts and draw(st.booleans()):
            src = draw(st.sampled_from(contexts))
            base = src[: draw(st.integers(0, len(src)))]
        grow = draw(st.integers(0 if base else 1, 2))
        grow = (
            min(grow, max(max_nodes - nodes, 0)) if base else max(1, min(grow, max_nodes - nodes))
        )
        new = []
        for _ in range(grow):
            new.append(Segment(next_id, draw(st.integers(1, max_size))))
            next_id += 1
        prompt = base + tuple(new)
        ctx = prompt
        if outputs and nodes + grow < max_nodes and draw(st.booleans()):
            ctx = (*prompt, Segment(next_id, draw(st.integers(1, max_size))))
            next_id += 1
        nodes += len(ctx) - len(base)
        contexts.append(ctx)
        reqs.append((prompt, ctx, float(t)))
    return CacheTrace.from_segments(reqs)


@given(cache_traces(), st.integers(0, 8), st.booleans())
def test_bound_chain(tr: CacheTrace, capacity: int, ws: bool) -> None:
    opt = exact_dp(tr, capacity, working_set=ws)
    assert exact_ip(tr, capacity, working_set=ws) == opt
    r = FooSolver(tr, working_set=ws).solve(capacity)
    assert r.lower_certified <= r.lower + TOL
    assert r.lower <= opt + TOL
    assert opt <= r.upper <= r.upper_rounded
    closed = exact_dp(tr, capacity, closed=True, working_set=ws)
    assert opt <= closed <= belady(tr, capacity, working_set=ws)
    if ws:  # the working set only constrains: every bound can only grow
        assert exact_dp(tr, capacity) <= opt
        assert FooSolver(tr).solve(capacity).lower <= r.lower + TOL


@given(cache_traces(max_size=1, max_nodes=12), st.integers(0, 6))
def test_unit_sizes_belady_is_optimal_with_prefixes(tr: CacheTrace, capacity: int) -> None:
    opt = exact_dp(tr, capacity)
    assert belady(tr, capacity) == opt == exact_dp(tr, capacity, closed=True)


@given(cache_traces(), st.integers(0, 8))
def test_prefix_rows_and_grouping_leave_the_lp_unchanged(tr: CacheTrace, capacity: int) -> None:
    for ws in (False, True):
        plain = FooSolver(tr, working_set=ws).solve(capacity).lower
        full = FooSolver(tr, working_set=ws, prefix_rows=True, grouped=False).solve(capacity).lower
        assert abs(plain - full) <= TOL * max(1.0, plain)


@given(
    st.lists(st.integers(1, 4), min_size=1, max_size=9),
    st.integers(0, 4),
)
def test_unit_flat_belady_equals_opt_and_lp_is_integral(seq: list[int], capacity: int) -> None:
    tr = CacheTrace.from_paths([[(s, 1)] for s in seq])
    opt = exact_dp(tr, capacity)
    assert belady(tr, capacity) == opt
    r = FooSolver(tr).solve(capacity)
    assert abs(r.lower - opt) <= TOL  # unit sizes: the interval matrix is totally unimodular
    assert r.upper == opt
