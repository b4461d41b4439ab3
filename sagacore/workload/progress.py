"""A task's progress through its graph: which steps are ready, which are done.

One mechanism for every runner of workloads: the cluster simulator
(:mod:`sagacore.sim.cluster`), cache-only replay (:mod:`sagacore.cache.replay`), the
isolated TCT (:mod:`sagacore.sim.isolated`, in closed form: :func:`ready_time`) and the
abstract servers of :mod:`sagacore.testing.fairness`. A step is *ready* when every step
it depends on has *finished* (its LLM call and its tool call, if any); what "finished"
means in time is the runner's (the simulator after the tool, a runner without tools at
the call's end). Each step becomes ready exactly once. The graph is a sequence of
dependency tuples, one per step (a :class:`~sagacore.workload.model.Task`'s
``deps``, or the calls of a twin task, :mod:`sagacore_vllm.twin`);
:meth:`TaskProgress.for_task` reads it off a task.

Examples
--------
>>> from sagacore.workload.model import Segment, Step, Task, TaskId
>>> p = (Segment(1, 10),)
>>> task = Task(TaskId("t"), (Step(0, p, 1, 1), Step(1, p, 1, 2, deps=(0,)),
...                           Step(2, p, 1, 3, deps=(0,)), Step(3, p, 1, 4, deps=(1, 2))))
>>> prog = TaskProgress.for_task(task)
>>> prog.roots()
[0]
>>> prog.finish(0)
[1, 2]
>>> prog.finish(2), prog.finish(1), prog.complete
([], [3], False)
>>> prog.finish(3), prog.complete
([], True)
>>> TaskProgress([(), (0,)], "chain").finish(0)
[1]
"""

from __future__ import annotations

from collections.abc import Sequence

from sagacore.errors import InvariantError
from sagacore.workload.model import Step, Task

__all__ = ["TaskProgress", "ready_time"]


class TaskProgress:
    """Counts down each step's unfinished dependencies as the task's steps finish.

    Parameters
    ----------
    deps
        Each step's dependencies (indices of earlier steps), by step index: the task's
        graph. Not checked here (a :class:`~sagacore.workload.model.Step` checks its
        own; other callers check theirs).
    name
        The task, as error messages name it.

    Notes
    -----
    :meth:`finish` returns the steps it makes ready, in increasing index order (the
    order of :meth:`~sagacore.workload.model.Task.successors`), so a runner that starts
    them in that order is deterministic. A subclass adds a runner's own per-task state
    (the simulator's :class:`~sagacore.sim.cluster.TaskState` does).
    """

    __slots__ = ("deps", "done", "finished_steps", "name", "pending", "succ")

    def __init__(self, deps: Sequence[Sequence[int]], name: object = "") -> None:
        self.deps = deps
        """Each step's dependencies."""
        self.name = name
        """The task, as error messages name it."""
        self.pending = [len(d) for d in deps]
        """Each step's dependencies not finished yet."""
        succ: list[list[int]] = [[] for _ in deps]
        for i, d in enumerate(deps):
            for j in d:
                succ[j].append(i)
        self.succ = succ
        """Each step's successors (the steps that depend on it), in increasing order."""
        self.done = [False] * len(deps)
        """Which steps have finished."""
        self.finished_steps = 0
        """How many steps have finished."""

    @classmethod
    def for_task(cls, task: Task) -> TaskProgress:
        """The progress of ``task`` through its steps' ``deps``."""
        return cls([s.deps for s in task.steps], task.id)

    def roots(self) -> list[int]:
        """The steps ready at the task's arrival (no dependencies), by index."""
        return [i for i, d in enumerate(self.deps) if not d]

    def finish(self, index: int) -> list[int]:
        """Step ``index`` finished: the steps this makes ready (successors' order).

        Raises :class:`~sagacore.errors.InvariantError` if it had finished already.
        """
        done = self.done
        if done[index]:
            raise InvariantError(f"task {self.name} step {index} finished twice")
        done[index] = True
        self.finished_steps += 1
        pending = self.pending
        ready = []
        for s in self.succ[index]:
            pending[s] -= 1
            if pending[s] == 0:
                ready.append(s)
        return ready

    @property
    def complete(self) -> bool:
        """Whether every step has finished."""
        return self.finished_steps == len(self.done)

    def has_successors(self, index: int) -> bool:
        """Whether some step depends on step ``index``."""
        return bool(self.succ[index])


def ready_time(step: Step, finish: Sequence[float], arrival_s: float) -> float:
    """When ``step`` becomes ready, in closed form: ``arrival_s`` for a root, else when
    the last of its dependencies finished (``finish`` by step index).

    The rule of :class:`TaskProgress` for a runner that knows every finish time in
    advance (the isolated TCT).

    Examples
    --------
    >>> from sagacore.workload.model import Segment
    >>> ready_time(Step(2, (Segment(1, 5),), 1, 3, deps=(0, 1)), [4.0, 6.5], 1.0)
    6.5
    """
    deps = step.deps
    if not deps:
        return arrival_s
    if len(deps) == 1:
        return finish[deps[0]]
    return max([finish[d] for d in deps])
