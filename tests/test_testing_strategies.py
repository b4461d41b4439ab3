"""The public Hypothesis strategies: valid values, house style, and shrinking."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from fractions import Fraction as Q
from typing import Any, Literal

import pytest
from hypothesis import find, given, settings

import sagacore.testing.strategies as strategies_mod
from sagacore.bounds.trace import CacheTrace
from sagacore.testing import (
    afs_tasks,
    agent_graphs,
    agent_tasks,
    cache_traces,
    hrrn_jobs,
    unit_agents,
    vtc_requests,
    workloads,
)
from sagacore.theory.fluid import lateness, workload_fluid
from sagacore.workload.aeg import AgentExecutionGraph
from sagacore.workload.model import Task, Workload, shared_prefix_tokens

PUBLIC = [agent_tasks, agent_graphs, workloads, cache_traces, unit_agents, vtc_requests,
          hrrn_jobs, afs_tasks]


@pytest.mark.parametrize("strategy", PUBLIC, ids=lambda f: f.__name__)
def test_house_style_keyword_only_min_max(strategy: Callable[..., object]) -> None:
    sig = inspect.signature(strategy)
    for p in sig.parameters.values():
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, (strategy, p.name)
    assert strategy.__doc__


def test_doctests() -> None:
    import doctest

    assert doctest.testmod(strategies_mod).failed == 0


@settings(max_examples=40)
@given(agent_tasks(max_steps=6, dag=True))
def test_tasks_are_valid_dags_with_shared_prefixes(task: Task) -> None:
    for s in task.steps:
        assert all(d < s.index for d in s.deps)
        if s.deps:  # the prompt extends the first dependency's context
            dep = task.steps[s.deps[0]]
            assert shared_prefix_tokens(dep.context, s.prompt) == sum(x.tokens for x in dep.context)


@settings(max_examples=20)
@given(agent_graphs(max_steps=5))
def test_graphs_are_realised(g: AgentExecutionGraph) -> None:
    assert g.kind == "realised"


@settings(max_examples=30)
@given(workloads(max_tasks=5, max_tenants=3))
def test_workloads_and_their_fluid_reference(w: Workload) -> None:
    ids = [t.id for t in w]
    assert len(set(ids)) == len(ids)
    assert {t.tenant for t in w} <= {x.id for x in w.tenants}
    shares: tuple[Literal["task", "tenant"], ...] = ("task", "tenant")
    for share in shares:
        ref = workload_fluid(w, capacity=1000.0, share=share)
        assert set(ref) == set(ids)
        for t in w:
            assert ref[t.id] >= t.arrival_s
        assert lateness(ref, ref).late_fraction == 0.0


@settings(max_examples=20)
@given(vtc_requests(), hrrn_jobs(), afs_tasks())
def test_model_instances_are_valid(vtc: Any, jobs: Any, afs: Any) -> None:
    k, reqs = vtc
    assert all(0 <= r.client < k and r.size > 0 for r in reqs)
    assert all(j.size > 0 and j.estimate > 0 for j in jobs)
    k, tasks = afs
    assert all(0 <= t.tenant < k and t.deadline > t.arrival for t in tasks)


@settings(max_examples=30)
@given(cache_traces(max_requests=10))
def test_cache_traces_are_valid(tr: CacheTrace) -> None:
    assert 1 <= tr.n_requests <= 10


def test_strategies_shrink_to_minimal_values() -> None:
    t = find(agent_tasks(max_steps=4), lambda t: True)
    assert t.llm_calls == 1 and t.steps[0].tool is None and t.steps[0].output_tokens == 1
    w = find(workloads(max_tenants=3, max_tasks=3, max_steps=2), lambda w: len(w) >= 2)
    assert len(w) == 2 and len(w.tenants) == 1 and all(t.arrival_s == 0 for t in w)
    agents = find(unit_agents(max_agents=4), lambda a: len(a) == 2)
    assert [(a.arrival, a.units) for a in agents] == [(Q(0), (Q(1),)), (Q(0), (Q(1),))]
    with pytest.raises(ValueError, match="min_steps"):
        agent_tasks(min_steps=0)
