"""Contract tests of the workload model: validation, views, ordering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sagacore.errors import SagacoreError, WorkloadError
from sagacore.workload.model import (
    Segment,
    Step,
    Task,
    TaskId,
    Tenant,
    TenantId,
    Workload,
    shared_prefix_tokens,
)


def chain(task_id: str, n: int, arrival: float = 0.0, tenant: str = "default") -> Task:
    steps: list[Step] = []
    for i in range(n):
        prompt = (Segment(1, 100),) if i == 0 else (*steps[-1].context, Segment(1000 + i, 20))
        steps.append(
            Step(i, prompt, 5, 500 + i, tool="bash", tool_seconds=0.1, deps=(i - 1,) if i else ())
        )
    return Task(TaskId(task_id), tuple(steps), TenantId(tenant), arrival)


def test_step_views() -> None:
    s = Step(0, (Segment(7, 10), Segment(8, 6)), 4, 9)
    assert s.prompt_tokens == 16
    assert s.context == (Segment(7, 10), Segment(8, 6), Segment(9, 4))
    assert s.output_segment == Segment(9, 4)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"prompt": ()}, "at least one segment"),
        ({"output_tokens": 0}, "output_tokens must be >= 1, got 0"),
        ({"tool_seconds": -1.0, "tool": "bash"}, "got -1.0"),
        ({"tool_seconds": 2.0}, "no tool is named"),
        ({"deps": (3,)}, "dependency 3 must be an earlier step"),
        ({"index": 2, "deps": (1, 1)}, "repeated dependency"),
        ({"tool_seconds": float("nan"), "tool": "x"}, "finite"),
    ],
)
def test_step_validation_names_bad_value(kwargs: dict[str, object], needle: str) -> None:
    base: dict[str, object] = {
        "index": 1,
        "prompt": (Segment(1, 5),),
        "output_tokens": 3,
        "output_id": 2,
    }
    base.update(kwargs)
    with pytest.raises(WorkloadError, match=needle):
        Step(**base)  # type: ignore[arg-type]


def test_segment_and_tenant_validation() -> None:
    with pytest.raises(WorkloadError, match="got 0"):
        Segment(1, 0)
    with pytest.raises(WorkloadError, match="weight must be positive, got -1"):
        Tenant(TenantId("a"), weight=-1)
    with pytest.raises(WorkloadError, match="slo_factor must be >= 1, got 0.5"):
        Tenant(TenantId("a"), slo_factor=0.5)
    assert issubclass(WorkloadError, SagacoreError)


def test_task_validation_and_views() -> None:
    t = chain("a", 4)
    assert t.llm_calls == 4 and t.tool_calls == 4 and t.is_chain()
    assert t.successors() == ((1,), (2,), (3,), ())
    with pytest.raises(WorkloadError, match="has index 1"):
        Task(TaskId("b"), (t.steps[1],))
    with pytest.raises(WorkloadError, match="at least one step"):
        Task(TaskId("b"), ())
    with pytest.raises(WorkloadError, match="arrival_s"):
        Task(TaskId("b"), t.steps, arrival_s=-1)
    assert t.with_arrival(5.0).arrival_s == 5.0


def test_dag_is_not_chain() -> None:
    root = Step(0, (Segment(1, 10),), 2, 2)
    maps = [Step(i, (*root.context, Segment(10 + i, 5)), 3, 20 + i, deps=(0,)) for i in (1, 2)]
    reduce = Step(3, (Segment(1, 10), Segment(99, 8)), 4, 30, deps=(1, 2))
    t = Task(TaskId("d"), (root, *maps, reduce))
    assert not t.is_chain()
    assert t.successors() == ((1, 2), (3,), (3,), ())


def test_workload_orders_tasks_and_fills_tenants() -> None:
    w = Workload(
        (chain("b", 2, 1.0, "x"), chain("a", 2, 1.0), chain("c", 1, 0.5)),
        (Tenant(TenantId("x"), 2.0),),
    )
    assert [t.id for t in w] == ["c", "a", "b"]
    assert {t.id for t in w.tenants} == {"x", "default"}
    assert w.tenant(TenantId("x")).weight == 2.0
    assert w.llm_calls == 5 and len(w) == 3
    assert [t.id for t in w.head(2)] == ["c", "a"]
    with pytest.raises(WorkloadError, match="duplicate task id 'a'"):
        Workload((chain("a", 1), chain("a", 2)))
    with pytest.raises(WorkloadError, match="no tenant 'zz'"):
        w.tenant(TenantId("zz"))


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(1, 50)), max_size=8),
    st.lists(st.tuples(st.integers(0, 3), st.integers(1, 50)), max_size=8),
)
def test_shared_prefix_is_symmetric_and_bounded(
    a: list[tuple[int, int]], b: list[tuple[int, int]]
) -> None:
    sa = [Segment(i, n) for i, n in a]
    sb = [Segment(i, n) for i, n in b]
    shared = shared_prefix_tokens(sa, sb)
    assert shared == shared_prefix_tokens(sb, sa)
    assert 0 <= shared <= min(sum(s.tokens for s in sa), sum(s.tokens for s in sb))
    assert shared_prefix_tokens(sa, sa) == sum(s.tokens for s in sa)
