"""Faults (sagacore.sim.faults): the grammar, the checks, and runs that survive them.

The property tests draw fault schedules with Hypothesis (the repo's ``ci`` profile) and
run the simulator under ``checked`` in both modes: every call completes exactly once,
after its dependencies, never on a lost instance, memory never exceeds capacity (the
store's checks), and fast and step modes agree.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from test_sim import comparable
from test_sim_migration import STEAL
from test_sim_migration import cluster as steal_cluster
from test_sim_migration import workload as steal_workload
from test_sim_strategies import COST, STACKS, largest_call, workloads

from sagacore.errors import ConfigError
from sagacore.policy import CallView, Router, WorkerView
from sagacore.sim import EventLog, SimResult, build_policies
from sagacore.sim.cluster import Simulation
from sagacore.sim.config import ClusterConfig, EngineConfig, SimConfig
from sagacore.sim.faults import (
    FaultSchedule,
    FaultStats,
    InstanceLoss,
    MigrationFailure,
    Slowdown,
    parse_faults,
)
from sagacore.stacks import Stack
from sagacore.testing.strategies import workloads as public_workloads
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload


def run(w: Workload, stack: str | Stack, c: ClusterConfig, faults: FaultSchedule | None,
        *, mode: str = "fast", log: EventLog | None = None) -> tuple[SimResult, FaultStats]:
    sim = Simulation(w, build_policies(stack, c), c,
                     SimConfig(mode=mode, checked=True),  # type: ignore[arg-type]
                     observers=[log] if log is not None else [], faults=faults)
    return sim.run(), sim.fault_stats


# --- the grammar -------------------------------------------------------------------------

def test_the_grammar_round_trips() -> None:
    f = parse_faults(" lose:3@2m , slow:1x2.5@10-20.5s,slow:1x4@30s, migrate-fail:1, seed:9")
    assert f.losses == (InstanceLoss(3, 120.0),)
    assert f.slowdowns == (Slowdown(1, 2.5, 10.0, 20.5), Slowdown(1, 4.0, 30.0, None))
    assert f.migration == MigrationFailure(1.0)
    assert f.seed == 9
    assert parse_faults(str(f)) == f
    assert str(f) == "lose:3@120s,slow:1x2.5@10s-20.5s,slow:1x4@30s,migrate-fail:1,seed:9"
    assert parse_faults("lose:0@1h").losses[0].at_s == 3600.0
    assert parse_faults("slow:0x2@1e-3s-2e1s").slowdowns[0] == Slowdown(0, 2.0, 0.001, 20.0)
    assert [f.only(x).items() for x in f.items()] == [(x,) for x in f.items()]
    assert parse_faults("seed:4").empty and not f.empty


@pytest.mark.parametrize(
    ("spec", "bad"),
    [
        ("", "empty"),
        ("lose:1@5s,,slow:0x2@1s", "empty item"),
        ("lose:1@5s,", "empty item"),
        ("crash:1@5s", "'crash:1@5s': unknown kind 'crash'"),
        ("lose", "'lose': expected KIND:VALUE"),
        ("lose:", "'lose:': expected KIND:VALUE"),
        ("lose:1", "'lose:1': expected lose:INSTANCE@TIME"),
        ("lose:1@2@3", "'lose:1@2@3': expected"),
        ("lose:-1@5s", "'lose:-1@5s': the instance must be an integer >= 0, got '-1'"),
        ("lose:x@5s", "the instance must be"),
        ("lose:1.5@5s", "the instance must be"),
        ("lose:1@-5s", "'lose:1@-5s': the time must be a number of seconds >= 0"),
        ("lose:1@nan", "the time must be"),
        ("lose:1@inf", "the time must be"),
        ("lose:1@1e400", "the time must be"),
        ("lose:1@5d", "the time must be"),
        ("lose:1@", "the time must be"),
        ("lose:1@5s,lose:1@9s", "lose instance 1 twice"),
        ("slow:1@5s", "expected slow:INSTANCExFACTOR@START[-END]"),
        ("slow:1x@5s", "the factor must be a finite number >= 1, got ''"),
        ("slow:1x0.5@5s", "the factor must be a finite number >= 1, got '0.5'"),
        ("slow:1xnan@5s", "the factor must be"),
        ("slow:1x2@9s-5s", "'slow:1x2@9s-5s': the end must be after the start"),
        ("slow:1x2@5s-5s", "the end must be after the start"),
        ("slow:1x2@5s-", "the end must be a number of seconds"),
        ("slow:1x2@5s-x", "the end must be a number of seconds"),
        ("slow:1x2@5s-10s,slow:1x3@8s", "overlapping windows"),
        ("slow:1x2@5s,slow:1x3@80s", "overlapping windows"),
        ("migrate-fail:1.5", "'migrate-fail:1.5': the probability must be a finite number in"),
        ("migrate-fail:-0.1", "the probability must be"),
        ("migrate-fail:x", "the probability must be"),
        ("migrate-fail:0.1,migrate-fail:0.2", "migrate-fail given twice"),
        ("seed:-1", "'seed:-1': the seed must be an integer >= 0"),
        ("seed:1,seed:2", "seed given twice"),
    ],
)
def test_every_malformed_spec_names_its_bad_part(spec: str, bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_faults(spec)
    assert bad in str(info.value)
    assert "\n" not in str(info.value)


def test_the_dataclasses_validate_their_fields() -> None:
    with pytest.raises(ConfigError, match=r"InstanceLoss.at_s .* got nan"):
        InstanceLoss(0, float("nan"))
    with pytest.raises(ConfigError, match="InstanceLoss.instance must be an integer >= 0, got True"):
        InstanceLoss(True, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Slowdown.factor must be a finite number >= 1, got 0.9"):
        Slowdown(0, 0.9, 0.0)
    with pytest.raises(ConfigError, match="Slowdown.end_s must be after start_s=2.0, got 1.0"):
        Slowdown(0, 2.0, 2.0, 1.0)
    with pytest.raises(ConfigError, match=r"MigrationFailure.midway must be in \(0, 1\], got 0"):
        MigrationFailure(0.5, midway=0)
    with pytest.raises(ConfigError, match="FaultSchedule.losses must be a tuple of InstanceLoss"):
        FaultSchedule(losses=[InstanceLoss(0, 1.0)])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="FaultSchedule.seed must be an integer >= 0, got -2"):
        FaultSchedule(seed=-2)


def test_faults_are_checked_against_the_cluster_before_the_run() -> None:
    with pytest.raises(ConfigError, match=r"fault 'lose:2@1s': instance 2 does not exist "
                                          r"\(the cluster has 2 instances: 0-1\)"):
        parse_faults("lose:2@1s").check(2)
    with pytest.raises(ConfigError, match=r"'slow:1x2@1s': instance 1 does not exist .*: 0\)"):
        parse_faults("slow:1x2@1s").check(1)
    with pytest.raises(ConfigError, match="faults lose all 2 instances of the cluster; at least"):
        Simulation(steal_workload(), build_policies(STEAL, steal_cluster()), steal_cluster(),
                   faults=parse_faults("lose:0@100s,lose:1@200s"))
    parse_faults("lose:0@1s,slow:1x2@0s").check(2)  # one instance left: fine


# --- what each fault does ----------------------------------------------------------------

def chain(n: int = 3, tool_s: float = 0.0) -> Workload:
    """One task of ``n`` chained steps."""
    steps = []
    ctx: tuple[Segment, ...] = (Segment(1, 700),)
    for i in range(n):
        steps.append(Step(i, ctx, 60, 10 + i, tool="bash" if tool_s else None,
                          tool_seconds=tool_s, deps=(i - 1,) if i else ()))
        ctx = (*ctx, Segment(10 + i, 60), Segment(20 + i, 50))
    return Workload((Task(TaskId("t0"), tuple(steps)),))


def small(instances: int, kv: int = 100_000) -> ClusterConfig:
    return ClusterConfig(instances, COST, EngineConfig(kv_capacity_tokens=kv))


def test_a_slowdown_from_the_start_scales_every_step() -> None:
    w = chain()
    base, _ = run(w, "vllm-apc", small(1), None)
    slow, _ = run(w, "vllm-apc", small(1), parse_faults("slow:0x3@0s"))
    assert slow.tasks[0].tct_s == pytest.approx(3 * base.tasks[0].tct_s, rel=1e-9)
    step, _ = run(w, "vllm-apc", small(1), parse_faults("slow:0x3@0s"), mode="step")
    assert step.tasks[0].completion_s == slow.tasks[0].completion_s


def test_a_slowdown_window_slows_only_the_steps_inside_it() -> None:
    w = chain(n=4, tool_s=1.0)
    base, _ = run(w, "vllm-apc", small(1), None)
    t_end = base.tasks[0].completion_s
    mid, _ = run(w, "vllm-apc", small(1),
                 parse_faults(f"slow:0x5@{t_end / 4!r}s-{3 * t_end / 4!r}s"))
    whole, _ = run(w, "vllm-apc", small(1), parse_faults("slow:0x5@0s"))
    assert base.tasks[0].tct_s < mid.tasks[0].tct_s < whole.tasks[0].tct_s
    late, _ = run(w, "vllm-apc", small(1), parse_faults(f"slow:0x5@{t_end + 1!r}s"))
    assert comparable(late) == comparable(base)  # after the last task: no cost


def test_a_lost_instance_restarts_its_running_calls_elsewhere() -> None:
    w = chain(n=2)
    log0 = EventLog()
    base, _ = run(w, Stack("rr", "round-robin", "fcfs", "lru"), small(2), None, log=log0)
    starts0 = [e for e in log0.events if e.kind == "call_start"]
    ends0 = [e for e in log0.events if e.kind == "call_end"]
    assert [e.worker for e in starts0] == [0, 1]  # round robin: step 1 on instance 1
    t_lose = (starts0[1].time + ends0[1].time) / 2  # while step 1 runs there
    log = EventLog()
    r, stats = run(w, Stack("rr", "round-robin", "fcfs", "lru"), small(2),
                   parse_faults(f"lose:1@{t_lose!r}s"), log=log)
    assert r.tasks_completed == 1 and r.llm_calls == 2
    assert stats.instances_lost == 1 and stats.calls_requeued == stats.calls_restarted == 1
    assert stats.kv_tokens_lost > 0
    starts = [(e.step, e.worker, e.time) for e in log.events if e.kind == "call_start"]
    assert starts[-1][:2] == (1, 0) and starts[-1][2] >= t_lose  # it started over on 0
    assert [e.worker for e in log.events if e.kind == "call_end"] == [0, 0]
    assert r.tasks[0].tct_s > base.tasks[0].tct_s


class Sticky(Router):
    """Every session stays where its first call went, whatever the worker list says."""

    name = "test-sticky"

    def __init__(self) -> None:
        self.home: dict[TaskId, int] = {}
        self.moves: list[tuple[int, int]] = []

    def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
        return self.home.setdefault(call.task_id, workers[-1].worker_id)

    def observe_migration(self, task_id: TaskId, src: int, dst: int, now: float) -> None:
        self.moves.append((src, dst))
        self.home[task_id] = dst


def test_a_router_naming_a_lost_instance_is_failed_over_and_told() -> None:
    w = chain(n=3, tool_s=2.0)
    router = Sticky()
    stack = Stack("sticky", lambda c: router, "fcfs", "lru")
    log0 = EventLog()
    base, _ = run(w, Stack("sticky", lambda c: Sticky(), "fcfs", "lru"), small(3), None,
                  log=log0)
    # lost while the task's first tool runs: the next call fails over
    t = next(e.time for e in log0.events if e.kind == "call_end") + 1.0
    log = EventLog()
    r, stats = run(w, stack, small(3), parse_faults(f"lose:2@{t!r}s"), log=log)
    assert r.tasks_completed == base.tasks_completed == 1
    assert stats.failovers == 1 and stats.calls_requeued == 0
    assert router.moves == [(2, 0)]  # the least loaded live instance (lowest id)
    assert {e.worker for e in log.events if e.kind == "call_start" and e.time > t} == {0}


def test_migrations_that_always_fail_return_calls_to_their_source() -> None:
    w, c = steal_workload(), steal_cluster()
    log0 = EventLog()
    base, _ = run(w, STEAL, c, None, log=log0)
    warm = [e for e in log0.events if e.kind == "call_migrate" and e.tokens]
    assert warm  # the scenario moves KV
    log = EventLog()
    r, stats = run(w, STEAL, c, parse_faults("migrate-fail:1"), log=log)
    assert r.tasks_completed == 6 and r.llm_calls == w.llm_calls
    assert stats.migrations_failed > 0
    # each failed move came back to worker 0 (the only way to worker 1 is a move without KV)
    back = [e for e in log.events if e.kind == "call_migrate" and e.tokens == 0
            and e.worker == 0]
    assert len(back) == stats.migrations_failed
    last_move: dict[tuple[str, int | None], int] = {}
    for e in log.events:
        if e.kind == "call_migrate":
            last_move[(e.task_id, e.step)] = e.tokens or 0
        elif e.kind == "call_start" and e.worker == 1:
            assert last_move[(e.task_id, e.step)] == 0
    never, s0 = run(w, STEAL, c, parse_faults("migrate-fail:0"))
    assert comparable(never) == comparable(base) and s0.migrations_failed == 0


def test_no_faults_change_nothing() -> None:
    w = steal_workload()
    base, _ = run(w, STEAL, steal_cluster(), None)
    for f in (FaultSchedule(), parse_faults("seed:3"), parse_faults("migrate-fail:0")):
        r, stats = run(w, STEAL, steal_cluster(), f)
        assert comparable(r) == comparable(base)
        assert stats == FaultStats()


# --- Hypothesis: random fault schedules, nothing lost ------------------------------------

@st.composite
def fault_schedules(draw: st.DrawFn, instances: int) -> FaultSchedule:
    times = st.one_of(st.sampled_from([0.0, 0.1, 0.5, 1.0]), st.floats(0, 4))
    lost = draw(st.lists(st.integers(0, instances - 1), unique=True,
                         max_size=instances - 1))
    losses = tuple(InstanceLoss(i, draw(times)) for i in lost)
    slowdowns = []
    for i in draw(st.lists(st.integers(0, instances - 1), unique=True)):
        t0 = draw(times)
        end = draw(st.one_of(st.none(), st.floats(0.01, 5)))
        slowdowns.append(Slowdown(i, draw(st.sampled_from([1.0, 1.5, 3.0, 10.0])), t0,
                                  None if end is None else t0 + end))
    mig = draw(st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 1.0]).map(MigrationFailure)))
    return FaultSchedule(losses, tuple(slowdowns), mig, draw(st.integers(0, 3)))


@st.composite
def fault_cases(draw: st.DrawFn) -> tuple[Workload, ClusterConfig, str, FaultSchedule]:
    w = draw(workloads(max_tasks=5, max_steps=5))
    kv = largest_call(w) + draw(st.sampled_from([32, 400, 1600, 100_000]))
    engine = EngineConfig(
        max_num_batched_tokens=draw(st.sampled_from([64, 256, 8192])),
        max_num_seqs=draw(st.sampled_from([2, 4, 256])),
        kv_capacity_tokens=kv,
    )
    c = ClusterConfig(draw(st.integers(1, 4)), COST, engine)
    stack = draw(st.sampled_from(["steal", "steal", "steal", "saga", "ttl", "swap", "vllm-apc",
                                  "sagacore", "continuum", "fcfs-rr", "drop", "astraea"]))
    return w, c, stack, draw(fault_schedules(c.instances))


def check_run(w: Workload, c: ClusterConfig, name: str, faults: FaultSchedule) -> FaultStats:
    """Run under ``checked`` in both modes; assert nothing was lost or run twice."""
    log = EventLog()
    fast, fs = run(w, STACKS[name], c, faults, log=log)
    step, ss = run(w, STACKS[name], c, faults, mode="step")
    # checked mode verified capacity, precedence and single completion as it ran
    assert fast.tasks_completed == len(w) and fast.llm_calls == w.llm_calls
    a, b = comparable(fast), comparable(step)
    ua, ub = a.pop("kv_utilization"), b.pop("kv_utilization")
    assert a == b and fs == ss
    assert 0 <= ua <= 1 + 1e-9
    if not fs.instances_lost:  # a loss freezes an instance's KV where each mode has it
        assert ua == pytest.approx(ub, rel=1e-9, abs=1e-12)
    lost_at = {x.instance: x.at_s for x in faults.losses}
    ends: dict[tuple[str, int], int] = {}
    for e in log.events:
        if e.kind in ("call_start", "call_end") and e.worker in lost_at:
            assert e.time < lost_at[e.worker], e  # nothing runs on a lost instance
        if e.kind == "call_end":
            key = (e.task_id, e.step or 0)
            ends[key] = ends.get(key, 0) + 1
    assert sorted(ends.values()) == [1] * w.llm_calls  # each call completed exactly once
    assert fs.instances_lost == len(faults.losses)
    event(f"requeued: {min(fs.calls_requeued, 2)}")
    event(f"migrations failed: {min(fs.migrations_failed, 2)}")
    event(f"failovers: {fs.failovers > 0}")
    return fs


@given(fault_cases())
def test_random_faults_lose_nothing_and_both_modes_agree(
    case: tuple[Workload, ClusterConfig, str, FaultSchedule],
) -> None:
    check_run(*case)


@st.composite
def stress_cases(draw: st.DrawFn) -> tuple[Workload, ClusterConfig, str, FaultSchedule]:
    """Work stealing on a busy cluster that loses instances while migrations fail."""
    w = draw(public_workloads(min_tasks=3, max_tasks=8, max_steps=4, dag=draw(st.booleans()),
                              max_arrival_s=1.0, max_prompt_tokens=800,
                              max_output_tokens=120, max_tool_seconds=1.0))
    engine = EngineConfig(max_num_batched_tokens=draw(st.sampled_from([256, 8192])),
                          max_num_seqs=2,
                          kv_capacity_tokens=largest_call(w) + draw(st.sampled_from(
                              [400, 100_000])))
    c = ClusterConfig(draw(st.integers(2, 4)), COST, engine)
    lost = draw(st.lists(st.integers(0, c.instances - 1), unique=True, min_size=1,
                         max_size=c.instances - 1))
    losses = tuple(InstanceLoss(i, draw(st.floats(0, 2))) for i in lost)
    slow = tuple(Slowdown(i, 4.0, draw(st.floats(0, 1))) for i in
                 draw(st.lists(st.integers(0, c.instances - 1), unique=True, max_size=2)))
    mig = MigrationFailure(draw(st.sampled_from([0.5, 1.0])))
    faults = FaultSchedule(losses, slow, mig, draw(st.integers(0, 3)))
    return w, c, draw(st.sampled_from(["steal", "saga"])), faults


@given(stress_cases())
def test_stealing_through_losses_and_failed_migrations_loses_nothing(
    case: tuple[Workload, ClusterConfig, str, FaultSchedule],
) -> None:
    check_run(*case)


# --- the command line --------------------------------------------------------------------

SIM = ["simulate", "--workload", "webarena", "--tasks", "4", "--gpus", "2", "--tp", "1",
       "--model", "llama-3-8b", "--stack", "saga", "--quiet"]


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sagacore", *argv], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize(
    ("spec", "bad"),
    [
        ("lose:1@", "argument --faults: fault 'lose:1@': the time must be"),
        ("slow:0x0@1s", "argument --faults: fault 'slow:0x0@1s': the factor must be"),
        ("boom", "argument --faults: fault 'boom': expected KIND:VALUE"),
        ("lose:5@1s", "--faults: fault 'lose:5@1s': instance 5 does not exist"),
        ("lose:0@1s,lose:1@9s", "--faults: faults lose all 2 instances of the cluster"),
    ],
)
def test_cli_bad_faults_are_one_line_errors(spec: str, bad: str) -> None:
    r = cli(*SIM, "--faults", spec)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and bad in r.stderr
    assert r.stdout == ""  # refused before any work


def test_cli_reports_the_cost_of_each_fault() -> None:
    spec = "lose:1@5s,slow:0x3@0s-60s,migrate-fail:0.5"
    r = cli(*SIM, "--checked", "--faults", spec, "--json", "-")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)["stacks"]["saga"]
    assert doc["tasks_completed"] == 4
    f = doc["faults"]
    assert f["spec"] == spec
    assert sorted(f["each"]) == sorted(spec.split(","))
    assert f["all"]["tasks_completed"] == f["without"]["tasks_completed"] == 4
    assert f["all"]["tct"]["mean"] == doc["tct"]["mean"]
    for c in (*f["each"].values(), f["all"]):
        assert c["tct_mean_delta_s"] == pytest.approx(c["tct"]["mean"] - f["without"]["tct"]["mean"])
    assert f["each"]["slow:0x3@0s-60s"]["tct_mean_delta_s"] > 0
    assert f["all"]["stats"]["instances_lost"] == 1
    assert "TCT cost of the faults" in r.stderr and "lose:1@5s" in r.stderr


def test_cli_faults_and_peak_do_not_mix() -> None:
    r = cli(*SIM, "--faults", "slow:0x2@1s", "--peak")
    assert r.returncode == 2 and r.stderr == "error: --faults cannot be combined with --peak\n"


def test_doctests() -> None:
    import doctest

    import sagacore.sim.faults as faults

    result = doctest.testmod(faults, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
