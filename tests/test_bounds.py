"""Offline bounds: the cache trace, reuse intervals, Belady, exact OPT, FOO-L/FOO-U."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

from sagacore.bounds import (
    CacheTrace,
    FooSolver,
    belady,
    exact,
    exact_dp,
    exact_ip,
    foo_bounds,
    reuse_intervals,
    top_fill,
)
from sagacore.errors import ConfigError, WorkloadError
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload

MODULES = [
    "sagacore.bounds",
    "sagacore.bounds.trace",
    "sagacore.bounds.intervals",
    "sagacore.bounds.offline_min",
    "sagacore.bounds.opt",
    "sagacore.bounds.foo",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


# ---------------------------------------------------------------- the trace
def test_trace_shares_prefix_nodes_and_not_suffixes() -> None:
    # the same segment id after different prefixes is a different block
    tr = CacheTrace.from_paths([[(1, 5), (2, 5)], [(3, 5), (2, 5)], [(1, 5), (2, 5)]])
    assert tr.n_nodes == 4
    assert tr.lookup(0) == tr.lookup(2)
    assert tr.lookup(1)[1] != tr.lookup(0)[1]
    assert tr.parent.tolist() == [-1, 0, -1, 2]
    assert tr.depth.tolist() == [1, 2, 1, 2]


def test_trace_rejects_bad_input() -> None:
    a, b = Segment(1, 2), Segment(2, 2)
    with pytest.raises(WorkloadError, match="prefix"):
        CacheTrace.from_segments([((a, b), (b,), 0.0)])
    with pytest.raises(WorkloadError, match="before"):
        CacheTrace.from_segments([((a,), (a,), 1.0), ((a,), (a,), 0.0)])


def test_trace_from_workload_orders_calls_by_start_time() -> None:
    sys_prompt = Segment(1, 100)
    a0 = Step(0, (sys_prompt, Segment(2, 10)), 5, 3, tool="bash", tool_seconds=10.0)
    a1 = Step(1, (*a0.context, Segment(4, 20)), 5, 5, deps=(0,))
    b0 = Step(0, (sys_prompt, Segment(6, 10)), 5, 7)
    w = Workload(
        (Task(TaskId("a"), (a0, a1)), Task(TaskId("b"), (b0,), arrival_s=5.0)),
    )
    tr = CacheTrace.from_workload(w)
    assert tr.times.tolist() == [0.0, 5.0, 10.0]
    # request 2 (a's second call) looks up a's whole first context
    assert tr.lookup(2)[:3] == tr.context(0)
    assert tr.lookup_tokens == 110 + 110 + 135
    no_out = CacheTrace.from_workload(w, cache_outputs=False)
    assert no_out.context(0) == no_out.lookup(0)


# ---------------------------------------------------------------- intervals
def test_intervals_group_runs_and_chain_parents() -> None:
    # request 2 reuses node 0 from request 1 and node 1 from request 0
    tr = CacheTrace.from_paths([[(1, 1), (2, 2)], [(1, 1)], [(1, 1), (2, 2), (3, 4)]])
    iv = reuse_intervals(tr, grouped=True)
    assert iv.start.tolist() == [0, 1, 0]
    assert iv.end.tolist() == [1, 2, 2]
    assert iv.parent.tolist() == [-1, -1, 1]
    assert iv.cold_tokens == 1 + 2 + 4
    assert iv.lookup_tokens == 3 + 1 + 7
    dense = iv.load_matrix().toarray()
    assert dense.tolist() == [[1, 0, 2], [0, 1, 2]]
    x = np.array([1.0, 0.5, 1.0])
    assert iv.load(x).tolist() == (dense @ x).tolist()


def test_grouping_merges_session_history() -> None:
    # an agent session: every call reuses the whole previous context
    segs = [Segment(i, 10) for i in range(1, 8)]
    reqs = [(tuple(segs[: 2 * k + 1]), tuple(segs[: 2 * k + 2]), float(k)) for k in range(3)]
    tr = CacheTrace.from_segments(reqs)
    assert len(reuse_intervals(tr, grouped=True)) == 2
    assert len(reuse_intervals(tr, grouped=False)) == 2 + 4


def test_top_fill_moves_mass_rootward() -> None:
    tr = CacheTrace.from_paths([[(1, 2)], [(1, 2), (2, 2)], [(1, 2), (2, 2)]])
    iv = reuse_intervals(tr, grouped=False)
    # request 2 has two runs: node 0 (from request 1) and node 1 (from request 1)
    x = np.zeros(len(iv))
    x[-1] = 1.0  # the deeper block held, the root not: infeasible for prefixes
    y = top_fill(iv, x)
    assert y[-2] == 1.0 and y[-1] == 0.0


# ---------------------------------------------------------------- Belady
def test_belady_textbook_sequence() -> None:
    # unit sizes, no prefixes: MIN is optimal
    seq = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5]
    tr = CacheTrace.from_paths([[(s, 1)] for s in seq])
    assert tr.is_flat() and tr.is_unit()
    assert belady(tr, 3) == exact_dp(tr, 3) == exact_ip(tr, 3) == 7


def test_belady_minimal_counterexample_variable_sizes() -> None:
    # A(2) B(1) B A with capacity 2: MIN evicts A (farthest) and pays it twice
    tr = CacheTrace.from_paths([[(1, 2)], [(2, 1)], [(2, 1)], [(1, 2)]])
    assert belady(tr, 2) == 5
    assert exact_dp(tr, 2) == exact_ip(tr, 2) == 4


def test_belady_keeps_cache_prefix_closed_and_counts_longest_prefix() -> None:
    tr = CacheTrace.from_paths([[(1, 1), (2, 1), (3, 1)], [(4, 1)], [(1, 1), (2, 1), (3, 1)]])
    # capacity 2: keep the first two blocks, re-prefill the third and the new request
    assert belady(tr, 2) == 3 + 1 + 1
    with pytest.raises(ConfigError):
        belady(tr, -1)


# ---------------------------------------------------------------- exact OPT
def test_exact_dp_closed_costs_more_for_variable_sizes() -> None:
    # minimal example (docs/caching.md): keeping a child while its parent is out pays
    x, a, b = (9, 2), (1, 1), (2, 2)
    tr = CacheTrace.from_paths([[x], [a, b], [x], [a], [a, b]])
    general = exact_dp(tr, 4)
    closed = exact_dp(tr, 4, closed=True)
    assert general == exact_ip(tr, 4)
    assert closed > general


def test_exact_dp_refuses_large_traces() -> None:
    tr = CacheTrace.from_paths([[(i, 1)] for i in range(30)])
    with pytest.raises(ConfigError, match="at most"):
        exact_dp(tr, 2)


def test_exact_returns_none_when_too_large() -> None:
    tr = CacheTrace.from_paths([[(1, 1)], [(1, 1)], [(1, 1)]])
    value, seconds = exact(tr, 1)
    assert value == 1 and seconds >= 0
    assert exact(tr, 1, max_variables=1)[0] is None


# ---------------------------------------------------------------- FOO
def test_foo_known_values() -> None:
    # two blocks of 2 reused across a request of 2; capacity 3 holds 1.5 of them
    tr = CacheTrace.from_paths([[(1, 2), (2, 2)], [(3, 2)], [(1, 2), (2, 2)]])
    r = foo_bounds(tr, 3)
    assert r.lower == pytest.approx(7.0)
    assert r.lower_certified <= r.lower + 1e-6
    assert r.upper == exact_ip(tr, 3) == 8
    assert r.upper_rounded >= r.upper
    assert r.lp_variables > 0 and r.solve_seconds >= 0
    assert set(r.to_json()) >= {"lower", "upper", "lp_variables", "solve_seconds"}


def test_foo_solver_reuses_problem_across_capacities() -> None:
    tr = CacheTrace.from_paths([[(1, 2), (2, 2)], [(3, 2)], [(1, 2), (2, 2)], [(3, 2)]])
    s = FooSolver(tr)
    lows = [s.solve(c).lower for c in (0, 2, 4, 6, 100)]
    assert lows == sorted(lows, reverse=True)
    assert lows[0] == tr.lookup_tokens
    assert lows[-1] == pytest.approx(reuse_intervals(tr).cold_tokens)


def test_foo_degenerate_traces() -> None:
    one = CacheTrace.from_paths([[(1, 5)]])
    r = foo_bounds(one, 10)
    assert r.lower == r.upper == 5
    distinct = CacheTrace.from_paths([[(1, 5)], [(2, 5)]])
    assert foo_bounds(distinct, 10).upper == 10
    with pytest.raises(ConfigError):
        foo_bounds(distinct, -1)


def test_prefix_rows_do_not_change_the_lp() -> None:
    tr = CacheTrace.from_paths(
        [[(1, 3), (2, 1)], [(1, 3), (3, 2)], [(4, 2)], [(1, 3), (2, 1)], [(1, 3), (3, 2)]]
    )
    for c in (1, 3, 4, 6):
        plain = FooSolver(tr).solve(c).lower
        rows = FooSolver(tr, prefix_rows=True).solve(c).lower
        ungrouped = FooSolver(tr, prefix_rows=True, grouped=False).solve(c).lower
        assert plain == pytest.approx(rows) == pytest.approx(ungrouped)


def test_working_set_tightens_the_bounds() -> None:
    # two sessions of 3 tokens alternate; capacity 4 keeps one beside a running one
    tr = CacheTrace.from_paths([[(1, 3)], [(2, 3)], [(1, 3)], [(2, 3)], [(1, 3)]])
    plain = FooSolver(tr).solve(4)
    ws = FooSolver(tr, working_set=True).solve(4)
    assert plain.lower == pytest.approx(8.0)  # without a working set two reuses fit
    assert ws.lower == pytest.approx(12.0)  # with it, a third of each
    assert ws.lower > plain.lower
    assert exact_dp(tr, 4, working_set=True) == exact_ip(tr, 4, working_set=True)
    assert ws.lower <= exact_dp(tr, 4, working_set=True) <= ws.upper
    assert belady(tr, 4, working_set=True) >= exact_dp(tr, 4, working_set=True)
