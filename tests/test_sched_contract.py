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

from sagacore.policy import CallView, Scheduler
from sagacore.sched import SCHEDULERS, make_scheduler
from sagacore.testing import SimpleCall, run_servers, workloads
from sagacore.workload.model import Task, TaskId, Workload

NAMES = sorted(SCHEDULERS)


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

    def observe_task_arrival(self, task: Task, now: float) -> None:
        self.inner.observe_task_arrival(task, now)

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
    s = make_scheduler(name)
    assert isinstance(s, Scheduler)
    assert s.name == name
    assert isinstance(s.preemptive, bool)
    assert make_scheduler(name) is not s


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=12)
@given(w=workloads(max_tasks=5, max_steps=4, max_tenants=3, dag=True))
def test_runs_every_workload_deterministically(name: str, w: Workload) -> None:
    a, b = Checked(make_scheduler(name)), Checked(make_scheduler(name))
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
    s = make_scheduler(name)
    ghost = SimpleCall(task_id=TaskId("ghost"), tenant="x", step=3, ready_s=1.0)  # type: ignore[arg-type]
    s.key(ghost, 2.0)
    s.observe_service(ghost, 10, 0.01, 2.0)
    s.observe_call_end(ghost, 5, 2.0)
    s.observe_task_end(TaskId("ghost"), 3.0)
    s.observe_task_end(TaskId("never-seen"), 3.0)
    s.observe_call_start(ghost, 4.0)
    assert s.key(ghost, 5.0) == s.key(ghost, 5.0)
