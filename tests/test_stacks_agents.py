"""Every agent-aware stack runs to completion in the simulator on a small slice of the real
SWE-bench trace and of the multi-tenant mix, each task completing exactly once."""

from __future__ import annotations

import pytest

from sagacore.data import bundled_trace
from sagacore.sim import simulate
from sagacore.sim.config import ClusterConfig
from sagacore.stacks import BASELINES, STACKS, get_stack
from sagacore.workload import Workload, read_workload
from sagacore.workload.generators import multi_tenant, with_poisson_arrivals

AGENT_STACKS = ["saga", "justitia", "astraea", "autellix", "continuum", "kvflow",
                "infercept", "vtc", "preble", "sagacore", "sagacore-best"]


@pytest.fixture(scope="module")
def workloads() -> dict[str, Workload]:
    swe = with_poisson_arrivals(read_workload(bundled_trace()).head(8), 20.0, seed=0)
    return {"swe-bench": swe, "multi-tenant": multi_tenant(tasks=8, seed=0)}


def test_all_listed() -> None:
    assert set(AGENT_STACKS) | set(BASELINES) == set(STACKS)
    for name in AGENT_STACKS:
        s = get_stack(name)
        assert s.prefix_caching and s.description


@pytest.mark.parametrize("name", AGENT_STACKS)
def test_stack_runs_to_completion(name: str, workloads: dict[str, Workload]) -> None:
    cluster = ClusterConfig.from_gpus(2, tp=1, model="llama-3-8b")
    for w in workloads.values():
        r = simulate(w, name, cluster, checked=True)
        assert r.tasks_completed == len(w)
        tct = r.tct_by_task()
        assert sorted(tct) == sorted(t.id for t in w)  # each task completes exactly once
        assert all(v > 0 for v in tct.values())


def test_one_build_gives_fresh_policies_and_derives_the_predictor() -> None:
    from sagacore.build import BuildContext
    from sagacore.engine import CostModel
    from sagacore.workload.predictor import Predictor

    ctx = BuildContext(CostModel.from_presets("llama-3-8b", "a100-80gb"), 3, 50_000,
                       Predictor())
    needs = set()
    for name, stack in STACKS.items():
        a, b = stack.build(ctx), stack.build(ctx)
        assert len(a.caches) == 3 and len({id(c) for c in a.caches}) == 3  # one per instance
        assert a.router is not b.router and a.scheduler is not b.scheduler
        assert a.uses_predictor == stack.uses_predictor, name  # declared, not restated
        if stack.uses_predictor:
            needs.add(name)
    # Justitia predicts a task's cost with its own model, so its stack runs without one
    assert needs == {"saga", "astraea", "continuum", "kvflow", "infercept", "sagacore",
                     "sagacore-best"}


def test_a_stack_with_an_unknown_policy_name_is_refused_when_made() -> None:
    from sagacore.errors import UnknownNameError
    from sagacore.stacks import Stack

    with pytest.raises(UnknownNameError, match="unknown scheduler 'nope'"):
        Stack("x", router="session-affinity", scheduler="nope")
    with pytest.raises(UnknownNameError, match="unknown cache policy 'lruu'"):
        Stack("x", router="session-affinity", scheduler="fcfs", cache="lruu")
