"""Every agent-aware policy runs in the simulator on the real SWE-bench trace and on the
multi-tenant mix (small, loaded slices so the test stays fast)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sagacore import sim, stacks
from sagacore.data import bundled_trace
from sagacore.policy import Scheduler
from sagacore.sched import SCHEDULERS
from sagacore.workload import Workload, read_workload
from sagacore.workload.generators import multi_tenant

MINE = ["saga-afs", "saga-afs-wf", "justitia", "justitia-real-clock", "astraea", "vtc",
        "autellix", "srpt-oracle"]


@pytest.fixture(scope="module")
def workloads() -> dict[str, Workload]:
    from sagacore.workload.generators import with_poisson_arrivals

    swe = with_poisson_arrivals(read_workload(bundled_trace()).head(10), 20.0, seed=0)
    return {"swe-bench": swe, "multi-tenant": multi_tenant(tasks=10, seed=0)}


@pytest.mark.parametrize("name", MINE)
def test_policy_runs_in_the_simulator(name: str, workloads: dict[str, Workload]) -> None:
    assert name in SCHEDULERS
    from sagacore.sim.config import ClusterConfig

    cluster = ClusterConfig.from_gpus(2, tp=1, model="llama-3-8b")
    stack = stacks.Stack(f"test-{name}", router="session-affinity", scheduler=name, cache="lru")
    for w in workloads.values():
        r = sim.simulate(w, stack, cluster, checked=True)
        assert r.tasks_completed == len(w)
        again = sim.simulate(w, stack, cluster)
        assert again.tct_by_task() == r.tct_by_task()  # deterministic, checked or not


@pytest.mark.parametrize("policy", ["saga-afs", "saga-afs-wf", "astraea", "srpt-aging",
                                    "sagacore"])
def test_stacks_build_the_predictive_policies_with_the_shared_predictor(
        policy: str, workloads: dict[str, Workload]) -> None:
    """A stack naming a policy that declares the predictor gets the run's predictor."""
    from sagacore.sched import scheduler_class
    from sagacore.sim.config import ClusterConfig

    cls = scheduler_class(policy)
    built: list[Scheduler] = []

    def make(ctx: stacks.BuildContext) -> Scheduler:
        s = cls.from_context(ctx)
        built.append(s)
        return s

    named = stacks.Stack(f"test-{policy}", router="session-affinity", scheduler=policy,
                         cache="lru")
    assert named.uses_predictor  # derived from the class's declaration
    cluster = ClusterConfig.from_gpus(2, tp=1, model="llama-3-8b")
    w = workloads["multi-tenant"]
    by_name = sim.simulate(w, named, cluster)
    assert by_name.tasks_completed == len(w)
    by_factory = sim.simulate(w, replace(named, scheduler=make), cluster)
    assert by_factory.tct_by_task() == by_name.tct_by_task()  # the same one build path
    (s,) = built
    assert s.book.predictor is not None  # type: ignore[attr-defined]
    if policy == "saga-afs-wf":  # water-filling scales its capacity with the cluster
        assert s.config.capacity == 4.0 * cluster.instances  # type: ignore[attr-defined]
    if policy == "saga-afs":  # proportional shares keep the configured capacity
        assert s.config.capacity == 64.0  # type: ignore[attr-defined]


def test_a_scheduler_learns_of_an_arrival_without_the_task_s_future(
        workloads: dict[str, Workload]) -> None:
    """The simulator hands ``observe_task_arrival`` what an online system knows (the
    task's id, tenant, type, arrival and first prompt), not the task and its calls; only
    ``observe_task_future`` (the oracle's hook) gets the task."""
    from sagacore.policy import TaskArrivalView
    from sagacore.sched.fcfs import FCFS
    from sagacore.sim.config import ClusterConfig
    from sagacore.workload.model import Task

    seen: list[TaskArrivalView] = []
    futures: list[Task] = []

    class Watch(FCFS):
        def observe_task_arrival(self, task: TaskArrivalView, now: float) -> None:
            seen.append(task)

        def observe_task_future(self, task: Task, now: float) -> None:
            futures.append(task)

    w = workloads["swe-bench"]
    stack = stacks.Stack("test-watch", router="session-affinity", scheduler=Watch, cache="lru")
    sim.simulate(w, stack, ClusterConfig.from_gpus(1, tp=1, model="llama-3-8b"))
    assert len(seen) == len(w) and not any(hasattr(t, "steps") for t in seen)
    by_id = {t.id: t for t in w.tasks}
    for a in seen:
        t = by_id[a.id]
        assert (a.tenant, a.agent_type, a.arrival_s, a.first_prompt_tokens) == (
            t.tenant, t.agent_type, t.arrival_s, t.steps[0].prompt_tokens)
    assert [t.id for t in futures] == [a.id for a in seen]
