"""TaskProgress: the one task-progress mechanism of every runner (workload/progress.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sagacore.errors import InvariantError
from sagacore.testing import agent_tasks
from sagacore.workload.model import Segment, Step, Task, TaskId
from sagacore.workload.progress import TaskProgress, ready_time


@given(agent_tasks(max_steps=10, dag=True), st.randoms(use_true_random=False))
def test_every_step_ready_once_after_its_dependencies(task: Task, rnd: object) -> None:
    """Finishing ready steps in any order makes each step ready exactly once, only when
    all its dependencies have finished, in increasing index order per finish."""
    import random

    assert isinstance(rnd, random.Random)
    prog = TaskProgress.for_task(task)
    ready = prog.roots()
    seen = list(ready)
    finished: set[int] = set()
    while ready:
        i = ready.pop(rnd.randrange(len(ready)))
        assert all(d in finished for d in task.steps[i].deps)
        assert not prog.complete
        newly = prog.finish(i)
        finished.add(i)
        assert newly == sorted(newly)
        for j in newly:
            assert set(task.steps[j].deps) <= finished
        seen += newly
        ready += newly
    assert sorted(seen) == list(range(len(task.steps)))
    assert prog.complete and all(prog.done)


@given(agent_tasks(max_steps=8, dag=True))
def test_ready_time_is_the_latest_dependency(task: Task) -> None:
    finish = [float(3 * i + 1) for i in range(len(task.steps))]
    for s in task.steps:
        want = max((finish[d] for d in s.deps), default=0.5)
        assert ready_time(s, finish, 0.5) == want


def test_a_step_finishing_twice_is_an_invariant_error() -> None:
    p = (Segment(1, 10),)
    task = Task(TaskId("t"), (Step(0, p, 1, 1), Step(1, p, 1, 2, deps=(0,))))
    prog = TaskProgress.for_task(task)
    assert prog.finish(0) == [1]
    with pytest.raises(InvariantError, match="task t step 0 finished twice"):
        prog.finish(0)


@given(agent_tasks(max_steps=8, dag=True))
def test_ancestors_are_the_transitive_dependencies(task: Task) -> None:
    for s in task.steps:
        want: set[int] = set(s.deps)
        for d in s.deps:
            want |= set(task.ancestors(d))
        assert task.ancestors(s.index) == sorted(want)
