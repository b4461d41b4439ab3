"""The fluid (GPS) reference and the exact models: identities, differential checks, doctests.

The reference (:mod:`sagacore.theory.fluid`) and the policies' clocks
(:mod:`sagacore.sched.fluid`) are separate implementations; they are checked against
each other here, and each against the GPS identities.
"""

from __future__ import annotations

import doctest
from fractions import Fraction as Q

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sagacore.sched.fluid as fluid_mod
import sagacore.theory.fluid as theory_fluid_mod
import sagacore.theory.models as models_mod
from sagacore.errors import ConfigError
from sagacore.sched.fluid import ActiveSetClock, VirtualClock
from sagacore.sched.fluid import waterfill as policy_waterfill
from sagacore.testing.strategies import unit_agents
from sagacore.theory.fluid import FluidJob, GpsClock, fluid_schedule, waterfill
from sagacore.theory.models import Agent, serve_agents


@pytest.mark.parametrize("module", [fluid_mod, theory_fluid_mod, models_mod])
def test_doctests(module: object) -> None:
    res = doctest.testmod(module)  # type: ignore[arg-type]
    assert res.failed == 0 and res.attempted > 0


@given(unit_agents(max_agents=5))
def test_fluid_finish_is_when_virtual_time_reaches_the_tag(agents: list[Agent]) -> None:
    """GPS identity: without caps or gaps, job j finishes when V reaches V(a_j) + C_j/w_j."""
    res = fluid_schedule([FluidJob(a.arrival, a.units, weight=a.weight) for a in agents])
    vc: VirtualClock[Q] = VirtualClock(Q(1))
    order = sorted(range(len(agents)), key=lambda j: (agents[j].arrival, j))
    tags = {j: vc.push(j, agents[j].cost, weight=agents[j].weight, now=agents[j].arrival)
            for j in order}
    for j, a in enumerate(agents):
        assert res.finish[j] == vc.time_at(tags[j])
        assert res.virtual_time(res.finish[j]) == res.virtual_time(a.arrival) + a.cost / a.weight


@given(unit_agents(max_agents=5), st.lists(st.integers(0, 12), min_size=1, max_size=6))
def test_policy_clock_and_reference_clock_agree(agents: list[Agent], probes: list[int]) -> None:
    """Justitia's VirtualClock and the models' GpsClock, written apart, give the same tags
    (one push per unit, so sessions come back after their tag) and the same times."""
    vc: VirtualClock[Q] = VirtualClock(Q(2))
    gc: GpsClock[Q] = GpsClock(Q(2))
    pushes = sorted(((a.arrival + k, j, u, a.weight) for j, a in enumerate(agents)
                     for k, u in enumerate(a.units)), key=lambda p: (p[0], p[1]))
    top = Q(0)
    for now, j, u, w in pushes:
        tag = vc.push(j, u, weight=w, now=now)
        assert tag == gc.push(j, u, weight=w, now=now)
        top = max(top, tag)
    for p in probes:   # virtual times up to the last tag
        assert vc.time_at(top * p / 12) == gc.time_at(top * p / 12)
    with pytest.raises(ConfigError, match="never reaches"):
        gc.time_at(top + 1)


@given(st.lists(st.tuples(st.integers(1, 5), st.one_of(st.none(), st.integers(1, 5))),
                min_size=1, max_size=5), st.integers(1, 6))
def test_policy_and_reference_waterfill_agree(jobs: list[tuple[int, int | None]],
                                               cap: int) -> None:
    w = [Q(a) for a, _ in jobs]
    caps = [None if c is None else Q(c) for _, c in jobs]
    assert policy_waterfill(Q(cap), w, caps) == waterfill(Q(cap), w, caps)


def test_moved_names_still_import_from_the_old_paths_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="sagacore.theory.fluid.fluid_schedule"):
        old = fluid_mod.fluid_schedule  # type: ignore[attr-defined]
    assert old is fluid_schedule
    with pytest.raises(AttributeError):
        fluid_mod.no_such_name  # type: ignore[attr-defined]  # noqa: B018


@given(unit_agents(max_agents=4, max_gap=3))
def test_fluid_is_work_conserving_and_exact(agents: list[Agent]) -> None:
    jobs = [FluidJob(a.arrival, a.units, a.gaps, weight=a.weight) for a in agents]
    res = fluid_schedule(jobs)
    for j, a in enumerate(agents):
        assert res.finish[j] >= a.arrival + a.cost + sum(a.gaps, Q(0))
        assert len(res.phase_finish[j]) == len(a.units)
    # one job alone runs at full rate
    solo = fluid_schedule([jobs[0]])
    assert solo.finish[0] == agents[0].arrival + agents[0].cost + sum(agents[0].gaps, Q(0))


@given(unit_agents(max_agents=4))
def test_float_and_fraction_agree(agents: list[Agent]) -> None:
    exact = fluid_schedule([FluidJob(a.arrival, a.units, weight=a.weight) for a in agents])
    approx = fluid_schedule(
        [FluidJob(float(a.arrival), tuple(float(u) for u in a.units), weight=float(a.weight))
         for a in agents]
    )
    for x, y in zip(exact.finish, approx.finish, strict=True):
        assert float(x) == pytest.approx(y, rel=1e-9, abs=1e-9)


@given(st.lists(st.tuples(st.integers(1, 5), st.one_of(st.none(), st.integers(1, 5))),
                min_size=1, max_size=5), st.integers(1, 6))
def test_waterfill_is_max_min_fair(jobs: list[tuple[int, int | None]], cap: int) -> None:
    w = [Q(a) for a, _ in jobs]
    caps = [None if c is None else Q(c) for _, c in jobs]
    rates = waterfill(Q(cap), w, caps)
    assert all(r >= 0 for r in rates)
    assert all(c is None or r <= c for r, c in zip(rates, caps, strict=True))
    if any(c is None for c in caps) or sum(c for c in caps if c is not None) >= cap:
        assert sum(rates) == cap
    # an uncapped job's rate per weight is the largest
    free = [r / x for r, x, c in zip(rates, w, caps, strict=True) if c is None or r < c]
    assert all(f == free[0] for f in free)


def test_active_set_clock_and_errors() -> None:
    c: ActiveSetClock[Q] = ActiveSetClock(Q(2))
    c.activate("a", Q(1), now=Q(0))
    assert c.at(Q(1)) == 2
    c.deactivate("a", now=Q(1))
    assert c.at(Q(5)) == 2
    with pytest.raises(ConfigError, match="phases must be positive"):
        FluidJob(Q(0), (Q(0),))
    with pytest.raises(ConfigError, match="gaps"):
        FluidJob(Q(0), (Q(1), Q(1)), (Q(1), Q(1)))
    with pytest.raises(ConfigError):
        serve_agents([])


def test_multi_server_counterexample_family_is_unbounded() -> None:
    """Three equal agents of k unit calls on two servers: the third finishes k/2 late."""
    for k in (3, 6, 12):
        run = serve_agents([Agent(Q(0), (Q(1),) * k) for _ in range(3)], servers=2)
        assert max(f - g for f, g in zip(run.finish, run.fluid_finish, strict=True)) == Q(k, 2)


def test_real_clock_counterexample_family_is_unbounded() -> None:
    """Equal weights, unit calls: the real-system clock makes the third agent b/2 - 1 late."""
    for b in (10, 20, 40):
        agents = [Agent(Q(0), (Q(1),) * b), Agent(Q(0), (Q(1),) * (3 * b // 2 + 1)),
                  Agent(Q(2 * b), (Q(1),) * 2)]
        run = serve_agents(agents, tags="real")
        assert run.finish[2] - run.fluid_finish[2] == Q(b, 2) - 1
        exact = serve_agents(agents)  # the fluid clock keeps the bound
        assert all(f <= g + 1 for f, g in zip(exact.finish, exact.fluid_finish, strict=True))
