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
