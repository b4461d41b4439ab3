"""Every agent-aware policy runs in the simulator on the real SWE-bench trace and on the
multi-tenant mix (small, loaded slices so the test stays fast)."""

from __future__ import annotations

from collections.abc import Callable

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


@pytest.mark.parametrize("factory", ["afs", "afs-wf", "justitia", "astraea"])
def test_factories_use_the_shared_predictor(factory: str, workloads: dict[str, Workload]) -> None:
    """Stacks build the predictive policies with the run's predictor (BuildContext)."""
    from sagacore.sched.afs import SagaAFS, SagaAFSWaterfill
    from sagacore.sched.astraea import Astraea
    from sagacore.sched.justitia import Justitia
    from sagacore.sim.config import ClusterConfig

    builders: dict[str, Callable[[stacks.BuildContext], Scheduler]] = {
        "afs": SagaAFS.build, "afs-wf": SagaAFSWaterfill.build,
        "justitia": Justitia.build, "astraea": Astraea.build,
    }
    build = builders[factory]
    built: list[Scheduler] = []

    def make(ctx: stacks.BuildContext) -> Scheduler:
        s = build(ctx)
        built.append(s)
        return s

    stack = stacks.Stack(f"test-{factory}", router="session-affinity", scheduler=make,
                         cache="lru", uses_predictor=True)
    cluster = ClusterConfig.from_gpus(2, tp=1, model="llama-3-8b")
    w = workloads["multi-tenant"]
    r = sim.simulate(w, stack, cluster)
    assert r.tasks_completed == len(w)
    (s,) = built
    assert s.book.predictor is not None  # type: ignore[attr-defined]
    if factory.startswith("afs"):
        assert s.config.capacity == 4.0 * cluster.instances  # type: ignore[attr-defined]
