"""Behaviour of each agent-aware policy, and differential tests against the exact models."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction as Q

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sagacore.policy
import sagacore.sched._base
import sagacore.sched.afs
import sagacore.sched.astraea
import sagacore.sched.autellix
import sagacore.sched.justitia
import sagacore.sched.srpt
import sagacore.sched.vtc
import sagacore.testing.fairness
from sagacore.errors import ConfigError
from sagacore.sched.afs import AFSConfig, SagaAFS, SagaAFSWaterfill, afs_shares
from sagacore.sched.astraea import Astraea, AstraeaConfig
from sagacore.sched.autellix import Autellix, AutellixConfig
from sagacore.sched.fcfs import Priority
from sagacore.sched.justitia import (
    CostPredictor,
    Justitia,
    JustitiaConfig,
    evaluate_cost_predictor,
)
from sagacore.sched.vtc import VTC, VTCConfig
from sagacore.testing import SimpleCall, fair_share_violations, run_servers, unit_agents
from sagacore.theory.models import Agent, serve_agents
from sagacore.workload.model import Segment, Step, Task, TaskId, Tenant, TenantId, Workload

T = TaskId


@pytest.mark.parametrize(
    "module",
    [sagacore.sched._base, sagacore.sched.afs, sagacore.sched.astraea, sagacore.sched.autellix,
     sagacore.sched.justitia, sagacore.sched.srpt, sagacore.sched.vtc, sagacore.testing.fairness],
)
def test_doctests(module: object) -> None:
    import doctest

    res = doctest.testmod(module)  # type: ignore[arg-type]
    assert res.failed == 0 and res.attempted > 0


def chain(name: str, sizes: list[int], *, at: float = 0.0, tenant: str = "default",
          deps: Sequence[tuple[int, ...]] | None = None) -> Task:
    """A task whose call i has size sizes[i] tokens (prompt size-1, output 1)."""
    steps = tuple(
        Step(i, (Segment(1000 * hash(name) % 97 + i, s - 1),), 1, 50_000 + i,
             deps=(deps[i] if deps is not None else ((i - 1,) if i else ())))
        for i, s in enumerate(sizes)
    )
    return Task(T(name), steps, TenantId(tenant), at)


def to_workload(agents: list[Agent]) -> Workload:
    """Agents of the exact model as tasks: unit u becomes a call of 2u tokens (rate 2)."""
    tasks = []
    tenants = []
    for j, a in enumerate(agents):
        tasks.append(chain(f"a{j}", [int(2 * u) for u in a.units], at=float(a.arrival),
                           tenant=f"w{j}"))
        tenants.append(Tenant(TenantId(f"w{j}"), weight=float(a.weight)))
    return Workload(tuple(tasks), tuple(tenants))


# --- Justitia --------------------------------------------------------------------------------


@settings(max_examples=40)
@given(unit_agents(max_agents=4, max_units=3, max_size=3))
def test_justitia_policy_matches_the_exact_model(agents: list[Agent]) -> None:
    """Differential: the policy in the abstract mechanism finishes agents exactly when the
    model does (whenever tags do not tie, where the two break ties differently)."""
    model = serve_agents(agents)
    tags = [t[0] for t in model.tags]
    if len(set(tags)) < len(tags):
        return
    w = to_workload(agents)
    weights = {str(t.id): t.weight for t in w.tenants}
    cfg = JustitiaConfig(cost="tokens", cost_source="oracle", capacity=2.0, tenant_weights=weights)
    run = run_servers(w, Justitia(cfg), rate=2.0, tools=False)
    for j, f in enumerate(model.finish):
        assert run.finish[T(f"a{j}")] == pytest.approx(float(f), abs=1e-9)


def test_program_fcfs_breaks_the_fair_share_bound_and_justitia_keeps_it() -> None:
    w = Workload((chain("big", [10] * 10), chain("small", [10], at=1.0)))
    assert fair_share_violations(w, Priority)  # program-level FCFS: small waits for all of big
    cfg = JustitiaConfig(cost="tokens", cost_source="oracle", capacity=1.0)
    assert fair_share_violations(w, lambda: Justitia(cfg)) == []


def test_justitia_real_clock_policy_reproduces_the_refutation() -> None:
    """The counterexample family of wfq-agent-real-clock, run through the policy."""
    b = 10
    agents = [Agent(Q(0), (Q(1),) * b), Agent(Q(0), (Q(1),) * (3 * b // 2 + 1)),
              Agent(Q(2 * b), (Q(1),) * 2)]
    w = to_workload(agents)
    fluid = JustitiaConfig(cost="tokens", cost_source="oracle", capacity=2.0)
    real = JustitiaConfig(cost="tokens", cost_source="oracle", capacity=2.0, virtual_clock="real")
    assert fair_share_violations(w, lambda: Justitia(fluid), rate=2.0) == []
    assert fair_share_violations(w, lambda: Justitia(real), rate=2.0)


def test_cost_predictor_learns_and_its_error_on_the_real_trace() -> None:
    from sagacore.data import bundled_trace
    from sagacore.workload import read_workload

    p = CostPredictor()
    assert p.predict("x", 100) == p.prior
    acc = evaluate_cost_predictor(read_workload(bundled_trace()))
    # the numbers docs/fairness.md reports (python -m sagacore.sched.justitia)
    assert acc.tasks == 197
    assert acc.median_abs_log_ratio == pytest.approx(0.531, abs=0.001)
    assert acc.within_2x == pytest.approx(0.614, abs=0.001)
    with pytest.raises(ConfigError):
        JustitiaConfig(capacity=0)


# --- VTC -------------------------------------------------------------------------------------


@settings(max_examples=25)
@given(st.lists(st.integers(2, 20), min_size=1, max_size=8),
       st.lists(st.integers(2, 20), min_size=1, max_size=8))
def test_vtc_backlogged_tenants_stay_within_2u(a: list[int], b: list[int]) -> None:
    """Two tenants whose calls are all ready at 0 (continuously backlogged until one runs
    out): after every call, their service differs by at most 2U (theorem vtc-2u)."""
    flat_a = [()] * len(a)
    flat_b = [()] * len(b)
    w = Workload((chain("A", a, tenant="A", deps=flat_a), chain("B", b, tenant="B", deps=flat_b)))
    vtc = VTC(VTCConfig(prompt_weight=1.0, output_weight=1.0))
    run = run_servers(w, vtc)
    u = max(a + b)
    ends = sorted((t + (a if k == T("A") else b)[i], k) for (k, i), t in run.starts.items())
    served = {T("A"): 0, T("B"): 0}
    done_a = sum(a)
    done_b = sum(b)
    for t, k in ends:
        served[k] = sum(s for (kk, i), st0 in run.starts.items() if kk == k
                        for s in [(a if k == T("A") else b)[i]] if st0 + s <= t)
        if served[T("A")] < done_a and served[T("B")] < done_b:
            assert abs(served[T("A")] - served[T("B")]) <= 2 * u


def test_vtc_lift_and_task_activity() -> None:
    v = VTC(VTCConfig(activity="task"))
    v.observe_task_arrival(chain("a", [5], tenant="A"), 0.0)
    a = SimpleCall(task_id=T("a"), tenant=TenantId("A"))
    v.observe_call_start(a, 0.0)
    v.observe_service(a, 50, 0.1, 0.1)
    v.observe_call_end(a, 1, 0.1)
    # A's task is still live: A stays active, so B arriving now is lifted to A's counter
    b = SimpleCall(task_id=T("b"), tenant=TenantId("B"))
    assert v.key(b, 0.2)[0] == v.counters[TenantId("A")] > 0
    with pytest.raises(ConfigError):
        VTCConfig(activity="sometimes")  # type: ignore[arg-type]


# --- AFS -------------------------------------------------------------------------------------


def test_afs_shares_and_the_waterfill_variant() -> None:
    u = {TenantId("a"): 0.2, TenantId("b"): 0.3}
    assert afs_shares(u) == afs_shares(u, allocation="waterfill")  # demand fits: identical
    over = {TenantId("a"): 0.25, TenantId("b"): 8.0}
    wf = afs_shares(over, allocation="waterfill")
    assert wf[TenantId("a")] == pytest.approx(0.25)  # within its share: full demand
    assert afs_shares(over)[TenantId("a")] < 0.05  # proportional: crowded out


def test_afs_tiers_preemption_and_epochs() -> None:
    afs = SagaAFS(AFSConfig(slo_factor=2.0))
    afs.observe_task_arrival(chain("slow", [100] * 40), 0.0)
    afs.observe_task_arrival(chain("fast", [100]), 0.0)
    run_call = SimpleCall(task_id=T("slow"), step=0, ready_s=0.0)
    afs.observe_call_start(run_call, 0.0)
    assert afs.key(run_call, 0.05)[0] == 0.0  # running: tier 0
    waiting = SimpleCall(task_id=T("fast"), step=0, ready_s=0.0)
    assert afs.key(waiting, 0.05)[0] == 1.0  # blocked < 500 ms: cannot preempt
    assert afs.key(waiting, 0.6)[0] == 0.0  # blocked > 500 ms: may preempt less urgent
    afs_map = afs.tenant_afs(0.6)
    assert set(afs_map) == {TenantId("default")} and afs_map[TenantId("default")] > 0
    assert SagaAFSWaterfill().config.allocation == "waterfill"
    with pytest.raises(ConfigError):
        AFSConfig(slo_factor=0.5)


def test_afs_serves_in_proportion_within_an_epoch() -> None:
    afs = SagaAFS()
    for name in ("x", "y"):
        afs.observe_task_arrival(chain(name, [100] * 10), 0.0)
    x, y = SimpleCall(task_id=T("x"), ready_s=0.0), SimpleCall(task_id=T("y"), ready_s=0.0)
    afs.observe_service(x, 100, 0.01, 0.01)
    assert afs.key(y, 0.02) < afs.key(x, 0.02)  # y is behind its share now


# --- Astraea, Autellix, SRPT -----------------------------------------------------------------


def test_astraea_classes_and_modes() -> None:
    io = SimpleCall(task_id=T("io"), steps_done=3, task_tool_s=8.0, ready_s=9.0)
    cpu = SimpleCall(task_id=T("cpu"), steps_done=3, task_tool_s=1.0, ready_s=9.0)
    a = Astraea()
    assert a.job_class(io, 10.0) == "io" and a.job_class(cpu, 10.0) == "compute"
    assert a.key(io, 10.0) < a.key(cpu, 10.0)  # boosted
    strict = Astraea(AstraeaConfig(class_mode="strict"))
    patient = SimpleCall(task_id=T("cpu"), steps_done=3, task_tool_s=1.0, task_wait_s=1e6)
    assert strict.key(io, 10.0) < strict.key(patient, 10.0)  # strict class level: starves
    assert a.key(patient, 10.0) < a.key(io, 10.0)  # boost: the ratio wins eventually
    off = Astraea(AstraeaConfig(class_mode="off", favour="compute"))
    assert off.key(io, 10.0)[0] == 0.0


def test_autellix_atlas_follows_the_critical_path() -> None:
    a = Autellix()
    # 0 -> 2 and 1 -> 2: step 2's priority is the larger of its parents' path service
    dag = chain("d", [10, 10, 10], deps=[(), (), (0, 1)])
    a.observe_task_arrival(dag, 0.0)  # the call's parents come with the call, not the future
    for step, secs in ((0, 3.0), (1, 1.0)):
        c = SimpleCall(task_id=T("d"), step=step)
        a.observe_service(c, 10, secs, 1.0)
        a.observe_call_end(c, 1, 1.0)
    assert a.program_service(SimpleCall(task_id=T("d"), step=2, task_attained_s=4.0,
                                        parents=(0, 1))) == 3.0
    assert a.program_service(SimpleCall(task_id=T("d"), step=2, parents=(1,))) == 1.0
    # it is no oracle: it does not ask for a program's future
    assert Autellix.observe_task_future is sagacore.policy.Scheduler.observe_task_future
    plas = Autellix(AutellixConfig(program_service="plas"))
    assert plas.program_service(SimpleCall(task_id=T("d"), step=2, task_attained_s=4.0)) == 4.0
    assert [a.level(s) for s in (0.1, 0.5, 2.0, 1e9)] == [0, 1, 2, 7]


def test_srpt_oracle_prefers_least_remaining() -> None:
    w = Workload((chain("long", [50] * 5), chain("short", [50, 50], at=0.5)))
    run = run_servers(w, sagacore.sched.srpt.SRPTOracle())
    assert run.finish[T("short")] < run.finish[T("long")]


def test_docs_example_least_attained_service_ignores_weights() -> None:
    """docs/fairness.md: the example scheduler fails on Hypothesis's shrunk workload."""
    from sagacore.policy import CallView, Scheduler

    class MyScheduler(Scheduler):
        name = "mine"

        def key(self, call: CallView, now: float) -> tuple[float, ...]:
            return (call.task_attained_tokens, call.ready_s)

    tasks = tuple(
        Task(T(f"t{i}"), (Step(0, (Segment(0, 64), Segment(1000 * i + 1, 1)), 1, 1000 * i + 2),),
             TenantId("tenant0" if i == 2 else "tenant1"))
        for i in range(3)
    )
    w = Workload(tasks, (Tenant(TenantId("tenant0"), 3.0), Tenant(TenantId("tenant1"), 1.0)))
    assert fair_share_violations(w, MyScheduler) == [
        "task t2: finish 198 > fluid 110 + L_max 66"
    ]
    assert fair_share_violations(w, lambda: Justitia(JustitiaConfig(
        cost="tokens", cost_source="oracle", capacity=1.0,
        tenant_weights={"tenant0": 3.0, "tenant1": 1.0}))) == []
