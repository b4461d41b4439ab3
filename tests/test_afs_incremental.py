"""The incremental AFS gives exactly what the straightforward one gave.

:class:`~sagacore.sched.afs.SagaAFS` keeps remaining work per task and computes an
epoch's urgencies vectorised; ``afs_reference.ReferenceAFS`` is the previous
implementation, verbatim, which loops over every task each epoch. Both are driven with
the same hook calls (random programs, then whole simulations) and must agree exactly:
same keys, same AFS values, same per-task completion times.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from afs_reference import ReferenceAFS
from hypothesis import given
from hypothesis import strategies as st

from sagacore.sched.afs import AFSConfig, SagaAFS
from sagacore.sim import SimResult, simulate
from sagacore.stacks import BuildContext, get_stack
from sagacore.testing.fairness import SimpleCall
from sagacore.workload.generators import (
    MultiTenantConfig,
    PoissonArrivals,
    TenantClass,
    long_context,
    long_tools,
    multi_tenant,
)
from sagacore.workload.model import Task, TaskId, TenantId

CONFIGS = [
    AFSConfig(),
    AFSConfig(allocation="waterfill", capacity=1.5, tenant_weights={"heavy-0": 3.0}),
    AFSConfig(epoch_s=0.05, preempt_after_s=0.0, tenant_slo_factors={"light-0": 4.0}),
]


def _tasks(seed: int) -> list[Task]:
    cls = (TenantClass("heavy", 2, 0.6), TenantClass("light", 2, 0.4))
    w = multi_tenant(tasks=12, seed=seed, arrivals=PoissonArrivals(rate_per_min=120.0),
                     config=MultiTenantConfig(classes=cls))  # fmt: skip
    return list(w.tasks)


def _drive(seed: int, config: AFSConfig) -> None:
    """Random hook programs on both policies; every answer compared exactly."""
    rng = np.random.default_rng(seed)
    new, ref = SagaAFS(config), ReferenceAFS(config)
    tasks = _tasks(seed)
    pending = list(tasks)
    live: dict[TaskId, Task] = {}
    running: dict[tuple[TaskId, int], SimpleCall] = {}
    waiting: dict[tuple[TaskId, int], SimpleCall] = {}
    progress: dict[TaskId, int] = {}
    now = 0.0
    for _ in range(400):
        now += float(rng.exponential(0.04))
        r = float(rng.random())
        if pending and (r < 0.15 or not live):
            t = pending.pop(0)
            now = max(now, t.arrival_s)
            for p in (new, ref):
                p.observe_task_arrival(t, now)
            live[t.id] = t
            progress[t.id] = 0
        elif r < 0.35 and live:  # a ready call of a live task waits
            tid = list(live)[int(rng.integers(len(live)))]
            k = progress[tid]
            if (tid, k) not in waiting and (tid, k) not in running:
                t = live[tid]
                waiting[tid, k] = SimpleCall(task_id=tid, tenant=t.tenant, step=k,
                                             prompt_tokens=t.steps[k].prompt_tokens,
                                             task_arrival_s=t.arrival_s, ready_s=now)  # fmt: skip
        elif r < 0.5 and waiting:  # one starts
            key = list(waiting)[int(rng.integers(len(waiting)))]
            running[key] = waiting.pop(key)
            for p in (new, ref):
                p.observe_call_start(running[key], now)
        elif r < 0.75 and running:  # service in a batch step
            key = list(running)[int(rng.integers(len(running)))]
            n = int(rng.integers(1, 2048))
            for p in (new, ref):
                p.observe_service(running[key], n, 0.01, now)
        elif r < 0.9 and running:  # a call ends; maybe its task
            key = list(running)[int(rng.integers(len(running)))]
            call = running.pop(key)
            out = int(rng.integers(1, 500))
            for p in (new, ref):
                p.observe_call_end(call, out, now)
            tid = call.task_id
            progress[tid] += 1
            if progress[tid] == len(live[tid].steps) or rng.random() < 0.05:
                for p in (new, ref):
                    p.observe_task_end(tid, now)
                del live[tid]
                for d in (waiting, running):
                    for k2 in [k2 for k2 in d if k2[0] == tid]:
                        del d[k2]
        elif rng.random() < 0.3:  # a call of a task the policy never saw arrive
            ghost = SimpleCall(task_id=TaskId(f"ghost-{now}"), tenant=TenantId("ghost"),
                               step=0, ready_s=now)  # fmt: skip
            for p in (new, ref):
                p.observe_call_start(ghost, now)
                p.observe_call_end(ghost, 5, now)
        calls = [*waiting.values(), *running.values()]
        assert [new.key(c, now) for c in calls] == [ref.key(c, now) for c in calls]
        if rng.random() < 0.1:
            assert new.tenant_afs(now) == ref.tenant_afs(now)
            assert list(new.tenant_afs(now)) == list(ref.tenant_afs(now))
        assert new.urgency == ref.urgency


@given(st.integers(0, 2**31 - 1), st.sampled_from(range(len(CONFIGS))))
def test_incremental_afs_answers_exactly_as_the_reference(seed: int, which: int) -> None:
    _drive(seed, CONFIGS[which])


def _records(r: SimResult) -> dict[str, Any]:
    s = r.summary()
    for k in ("sim_wall_seconds", "stack"):
        del s[k]
    s["records"] = [(t.task_id, t.arrival_s, t.completion_s, t.isolated_s) for t in r.tasks]
    return s


def _reference_stack(waterfill: bool) -> Any:
    saga = get_stack("saga")

    def build(ctx: BuildContext) -> ReferenceAFS:
        built = saga.build_scheduler(ctx)  # the stack's own configuration
        assert isinstance(built, SagaAFS)
        cfg = replace(built.config, allocation="waterfill") if waterfill else built.config
        return ReferenceAFS(cfg, predictor=ctx.predictor)

    return replace(saga, name="saga-reference", scheduler=build)


def _saga_stack(waterfill: bool) -> Any:
    saga = get_stack("saga")
    if not waterfill:
        return saga

    def build(ctx: BuildContext) -> SagaAFS:
        built = saga.build_scheduler(ctx)
        assert isinstance(built, SagaAFS)
        return SagaAFS(replace(built.config, allocation="waterfill"), predictor=ctx.predictor)

    return replace(saga, scheduler=build)


def test_whole_simulations_are_identical() -> None:
    workloads = [
        multi_tenant(tasks=24, seed=1, arrivals=PoissonArrivals(rate_per_min=30.0)),
        long_tools(tasks=30, seed=2, arrivals=PoissonArrivals(rate_per_min=40.0)),
        long_context(tasks=4, seed=3, arrivals=PoissonArrivals(rate_per_min=4.0)),  # sub-agents
    ]
    for w in workloads:
        for waterfill in (False, True):
            got = simulate(w, _saga_stack(waterfill), "h100-8")
            want = simulate(w, _reference_stack(waterfill), "h100-8")
            assert _records(got) == _records(want)
            assert got.preemptions == want.preemptions
