"""Policy against model, decision by decision: AFS, HRRN (Astraea) and VTC as they run.

Each test runs a real scheduler of ``sagacore.sched`` in the abstract server
(:func:`sagacore.testing.run_servers`) and checks every dispatch against an exact model
of the rule it documents, written apart from the policy (as Justitia's artifact checks
its scheduler against its fluid model).
"""

from __future__ import annotations

from fractions import Fraction as Q

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sagacore.sched.afs import AFSConfig
from sagacore.sched.astraea import Astraea, AstraeaConfig
from sagacore.sched.vtc import VTC, VTCConfig
from sagacore.testing import run_servers
from sagacore.testing.policy_models import (
    OraclePredictor,
    afs_decisions,
    chain_workload,
    weighted_waterfill,
)
from sagacore.theory.models import HrrnJob, serve_hrrn

RATE = 16.0

_tasks = st.lists(
    st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 12).map(lambda x: x / 4),
              st.lists(st.sampled_from((4, 8, 16, 32, 64)), min_size=1, max_size=4)
              .map(tuple)),
    min_size=1, max_size=7)


@given(_tasks, st.lists(st.integers(1, 3), min_size=3, max_size=3),
       st.sampled_from((0.0, 0.5, 1.0, 2.5)), st.sampled_from((0.0, 0.25, 1.0)),
       st.integers(1, 3), st.booleans())
def test_afs_policy_dispatches_by_its_rule(
    tasks: list[tuple[str, float, tuple[int, ...]]], w: list[int], preempt: float,
    tool: float, servers: int, waterfill: bool,
) -> None:
    weights = dict(zip("ABC", map(float, w), strict=True))
    cfg = AFSConfig(epoch_s=0.5, preempt_after_s=preempt, capacity=float(servers),
                    tenant_weights=weights, seconds_per_prompt_token=1 / RATE,
                    seconds_per_output_token=1 / RATE)
    for d in afs_decisions(chain_workload(tasks, weights, tool), cfg, waterfill=waterfill,
                           servers=servers, rate=RATE):
        assert d.picked == d.model or d.near_tie, (d.time, d.picked, d.model, d.keys)


def test_afs_rule_sees_the_urgent_tier_and_the_counters() -> None:
    """The rule is not vacuous: the same workload takes the urgent tier with P = 0 and
    the service counters otherwise, and the two orders differ."""
    w = chain_workload([("A", 0.0, (4, 4)), ("B", 0.0, (64,)), ("B", 0.5, (64,))],
                       {"A": 2.0, "B": 1.0})
    orders = {}
    for p in (0.0, 100.0):
        cfg = AFSConfig(epoch_s=0.5, preempt_after_s=p, capacity=1.0,
                        tenant_weights={"A": 2.0, "B": 1.0},
                        seconds_per_prompt_token=1 / RATE, seconds_per_output_token=1 / RATE)
        ds = afs_decisions(w, cfg, waterfill=True, rate=RATE)
        assert all(d.picked == d.model for d in ds)
        assert any(any(d.urgent.values()) for d in ds) == (p == 0.0)
        orders[p] = [d.picked for d in ds]
    assert orders[0.0] != orders[100.0]


def test_weighted_waterfill_is_max_min_fair() -> None:
    r = weighted_waterfill(Q(3), [Q(1), Q(2), Q(1)], [Q(1, 2), Q(5), Q(5)])
    assert r == [Q(1, 2), Q(5, 3), Q(5, 6)] and sum(r) == 3


# ----------------------------------------------------------------------------- HRRN
_jobs = st.lists(st.tuples(st.integers(0, 40), st.integers(2, 64)), min_size=1, max_size=8)


@given(_jobs)
def test_astraea_without_classes_is_hrrn(jobs: list[tuple[int, int]]) -> None:
    """Astraea (class_mode off, exact remaining work, single-call jobs) starts, at each
    decision, a job of the largest response ratio ``(W + S) / S`` of the exact model
    :func:`serve_hrrn`; the start times agree unless two ratios tie within rounding."""
    w = chain_workload([("A", a / 4, (size,)) for a, size in jobs])
    cfg = AstraeaConfig(class_mode="off", seconds_per_prompt_token=1 / RATE,
                        seconds_per_output_token=1 / RATE, min_service_s=1e-9)
    run = run_servers(w, Astraea(cfg, predictor=OraclePredictor(w)),  # type: ignore[arg-type]
                      rate=RATE)
    model = [HrrnJob(Q(a, 4), Q(size, 16)) for a, size in jobs]
    start = {int(t.split(":")[1]): Q(s) for (t, _), s in run.starts.items()}
    for j, s in start.items():  # j started at s: no waiting job had a larger ratio
        me = model[j]
        for k, o in enumerate(model):
            if k != j and o.arrival <= s < start[k]:
                r_me = (s - me.arrival + me.size) / me.size
                r_o = (s - o.arrival + o.size) / o.size
                assert r_o <= r_me * (1 + Q(1, 10**9)), (j, k, s)
    exact = serve_hrrn(model).start
    ties = any(
        abs((t - x.arrival) * y.size - (t - y.arrival) * x.size) <= Q(1, 10**6)
        for t in exact for x in model for y in model if x is not y
        and x.arrival <= t and y.arrival <= t)
    if not ties:
        assert [start[j] for j in range(len(model))] == list(exact)


# ----------------------------------------------------------------------------- VTC
def _gap(run_starts: dict[tuple[str, int], float], sizes: dict[str, int],
         arrival: dict[str, float], tenant: dict[str, str]) -> float:
    """The largest difference of service between two tenants over an interval in which
    both are backlogged (single-call tasks: a tenant is backlogged from a task's arrival
    to its end), in tokens."""
    spans = {t: (run_starts[(t, 0)], run_starts[(t, 0)] + sizes[t] / RATE) for t in sizes}
    points = sorted({x for s, e in spans.values() for x in (s, e)} | set(arrival.values()))

    def served(ten: str, t1: float, t2: float) -> float:
        return sum(max(0.0, min(e, t2) - max(s, t1)) * RATE
                   for t, (s, e) in spans.items() if tenant[t] == ten)

    def backlogged(ten: str, t1: float, t2: float) -> bool:
        # every instant of [t1, t2] lies in [arrival, end) of some task of ten
        cover = sorted((arrival[t], spans[t][1]) for t in sizes if tenant[t] == ten)
        x = t1
        for a, e in cover:
            if a <= x < e:
                x = e
        return x >= t2

    worst = 0.0
    names = sorted(set(tenant.values()))
    for i, t1 in enumerate(points):
        for t2 in points[i + 1:]:
            both = [n for n in names if backlogged(n, t1, t2)]
            for a in both:
                for b in both:
                    worst = max(worst, served(a, t1, t2) - served(b, t1, t2))
    return worst


def _vtc_run(tasks: list[tuple[str, float, int]], activity: str) -> float:
    w = chain_workload([(ten, a, (size,)) for ten, a, size in tasks])
    run = run_servers(w, VTC(VTCConfig(output_weight=1.0, activity=activity)),  # type: ignore[arg-type]
                      rate=RATE)
    # chain_workload names task i "<tenant>:<i>" (its tasks are not in input order)
    sizes = {f"{ten}:{i}": size for i, (ten, _, size) in enumerate(tasks)}
    assert set(sizes) == {t.id for t in w.tasks}
    return _gap(run.starts, sizes,
                {t.id: t.arrival_s for t in w.tasks}, {t.id: t.tenant for t in w.tasks})


@pytest.mark.parametrize("activity", ["task", "call"])
@given(tasks=st.lists(st.tuples(st.sampled_from(["A", "B", "C"]),
                                st.integers(0, 16).map(lambda x: x / 4), st.integers(2, 32)),
                      min_size=1, max_size=8))
def test_vtc_keeps_backlogged_tenants_within_2u(
    activity: str, tasks: list[tuple[str, float, int]],
) -> None:
    """With single-call tasks a tenant is backlogged exactly while it has a task in
    progress (``"task"``) or a call waiting or running (``"call"``); either way the
    policy keeps VTC's bound."""
    u = max(s for _, _, s in tasks)
    assert _vtc_run(tasks, activity) <= 2 * u + 1e-9


def test_vtc_call_activity_no_longer_degenerates_to_fcfs() -> None:
    """A regression test of a finding (docs/proofs/vtc.md): when ``activity="call"``
    counted only running calls, a waiting tenant was inactive between calls and re-lifted
    to the level at each decision, so the keys tied and the earlier ready call won: A's 8
    queued requests all ran before B's, although B was backlogged from 0.5 s (a gap of 8
    requests, beyond 2U). Now B is lifted once, when its first call is seen waiting, and
    the two alternate."""
    tasks = [("A", 0.0, 9)] * 8 + [("B", 0.5, 9)] * 8
    u = 9  # 8 prompt tokens + 1 output token per request
    assert _vtc_run(tasks, "call") <= 2 * u
    assert _vtc_run(tasks, "task") <= 2 * u
    w = chain_workload([(ten, a, (size,)) for ten, a, size in tasks])
    run = run_servers(w, VTC(VTCConfig(output_weight=1.0)), rate=RATE)  # type: ignore[arg-type]
    order = [t.tenant for t in sorted(w.tasks, key=lambda t: run.starts[(t.id, 0)])]
    assert order[:4] == ["A", "A", "B", "A"]  # B gets the server right after it arrives


def test_vtc_call_activity_forgets_calls_that_never_start() -> None:
    """A call keyed while waiting whose task ends without starting it (cancelled) does
    not keep its tenant active for ever."""
    from sagacore.testing import SimpleCall

    v = VTC()
    a = SimpleCall(task_id="a", tenant="A", step=0, prompt_tokens=10)
    b = SimpleCall(task_id="b", tenant="B", step=0, prompt_tokens=10)
    v.key(a, 0.0)
    v.observe_call_start(b, 0.0)
    v.observe_service(b, 10, 0.1, 0.1)
    v.observe_call_end(b, 0, 0.2)
    assert v.key(SimpleCall(task_id="c", tenant="C", step=0, prompt_tokens=1), 0.2)[0] == 0.0
    v.observe_task_end("a", 0.3)  # A's call never ran: A leaves the backlog
    assert v.key(SimpleCall(task_id="d", tenant="D", step=0, prompt_tokens=1), 0.3)[0] == 0.0
