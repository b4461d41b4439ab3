"""Contract tests: every registered scheduler satisfies the Scheduler interface.

Deterministic keys (the same call at the same time gets the same key, twice in a row and
in a fresh instance replaying the same events), finite float tuples, no mutation of the
views, hooks that accept every event the mechanisms send (including events for tasks the
scheduler never saw), and no state shared between instances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings

from sagacore.build import BuildContext
from sagacore.engine import CostModel
from sagacore.errors import ConfigError
from sagacore.policy import CallView, Scheduler, TaskArrivalView
from sagacore.sched import SCHEDULERS, make_scheduler, scheduler_class
from sagacore.testing import SimpleCall, run_servers, workloads
from sagacore.workload.model import Task, TaskId, Workload
from sagacore.workload.predictor import Predictor

NAMES = sorted(SCHEDULERS)


def build(name: str) -> Scheduler:
    """The named scheduler as a run builds it (a fresh predictor, an 8B cost model)."""
    ctx = BuildContext(CostModel.from_presets("llama-3-8b", "a100-80gb"), 2, 100_000,
                       Predictor())
    return make_scheduler(name, ctx)


@dataclass
class Checked(Scheduler):
    """Wraps a scheduler: asserts key purity and records every key."""

    inner: Scheduler
    keys: list[tuple[float, ...]] = field(default_factory=list)

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        before = call
        k1 = self.inner.key(call, now)
        k2 = self.inner.key(call, now)
        assert k1 == k2, f"{self.inner.name}: key not deterministic: {k1} != {k2}"
        assert call == before
        assert isinstance(k1, tuple) and k1, f"{self.inner.name}: key must be a non-empty tuple"
        assert all(isinstance(x, float | int) and math.isfinite(x) for x in k1), k1
        self.keys.append(k1)
        return k1

    def observe_task_arrival(self, task: TaskArrivalView, now: float) -> None:
        self.inner.observe_task_arrival(task, now)

    def observe_task_future(self, task: Task, now: float) -> None:
        self.inner.observe_task_future(task, now)

    def observe_call_start(self, call: CallView, now: float) -> None:
        self.inner.observe_call_start(call, now)

    def observe_service(self, call: CallView, tokens: int, seconds: float, now: float) -> None:
        self.inner.observe_service(call, tokens, seconds, now)

    def observe_call_end(self, call: CallView, output_tokens: int, now: float) -> None:
        self.inner.observe_call_end(call, output_tokens, now)

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        self.inner.observe_task_end(task_id, now)


@pytest.mark.parametrize("name", NAMES)
def test_registry_builds_the_named_policy(name: str) -> None:
    s = build(name)
    assert isinstance(s, Scheduler)
    assert s.name == name
    assert isinstance(s.preemptive, bool)
    assert build(name) is not s


@pytest.mark.parametrize("name", NAMES)
def test_a_name_alone_never_builds_a_policy_without_what_it_needs(name: str) -> None:
    cls = scheduler_class(name)
    if cls.needs_predictor or cls.needs_cost_model:
        with pytest.raises(ConfigError, match=f"scheduler '{name}' needs the run's"):
            make_scheduler(name)
    else:
        assert type(make_scheduler(name)) is cls


def test_the_predictive_schedulers_declare_the_predictor() -> None:
    needs = {n for n in NAMES if scheduler_class(n).needs_predictor}
    assert needs == {"astraea", "sagacore", "saga-afs", "saga-afs-wf", "srpt-aging"}
    for name in needs:  # built from a context, each holds the run's predictor
        ctx = BuildContext(CostModel.from_presets("llama-3-8b", "a100-80gb"), 2, 100_000,
                           Predictor())
        assert make_scheduler(name, ctx).book.predictor is ctx.predictor  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=12)
@given(w=workloads(max_tasks=5, max_steps=4, max_tenants=3, dag=True))
def test_runs_every_workload_deterministically(name: str, w: Workload) -> None:
    a, b = Checked(build(name)), Checked(build(name))
    ra = run_servers(w, a, servers=2, rate=500.0)
    rb = run_servers(w, b, servers=2, rate=500.0)
    assert set(ra.finish) == {t.id for t in w}  # every task finishes, none lost
    assert ra == rb and a.keys == b.keys  # same events, same decisions: no hidden state
    for t in w:  # precedence
        for s in t.steps:
            for d in s.deps:
                assert ra.starts[(t.id, d)] < ra.starts[(t.id, s.index)]


@pytest.mark.parametrize("name", NAMES)
def test_hooks_accept_unseen_tasks_and_odd_orders(name: str) -> None:
    s = build(name)
    ghost = SimpleCall(task_id=TaskId("ghost"), tenant="x", step=3, ready_s=1.0)  # type: ignore[arg-type]
    s.key(ghost, 2.0)
    s.observe_service(ghost, 10, 0.01, 2.0)
    s.observe_call_end(ghost, 5, 2.0)
    s.observe_task_end(TaskId("ghost"), 3.0)
    s.observe_task_end(TaskId("never-seen"), 3.0)
    s.observe_call_start(ghost, 4.0)
    assert s.key(ghost, 5.0) == s.key(ghost, 5.0)
