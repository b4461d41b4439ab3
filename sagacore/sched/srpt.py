"""Shortest remaining task first with **true** sizes: a reference point, not a policy.

The scheduler reads each task's real future calls when it arrives (an oracle no engine
has) and serves calls of the task with the least remaining work first, work being the
prompt and output tokens of the task's calls that have not finished. On one server with
preemption, SRPT minimises mean completion time; here calls are not preempted and tool
calls interleave, so it is a strong reference, not an optimum.

Examples
--------
>>> from sagacore.testing.fairness import SimpleCall
>>> from sagacore.workload.model import Segment, Step, Task, TaskId
>>> s = SRPTOracle()
>>> short = Task(TaskId("s"), (Step(0, (Segment(1, 10),), 5, 2),))
>>> long = Task(TaskId("l"), (Step(0, (Segment(1, 10),), 500, 3),))
>>> s.observe_task_future(short, 0.0); s.observe_task_future(long, 0.0)
>>> s.key(SimpleCall(task_id="s"), 0.0) < s.key(SimpleCall(task_id="l"), 0.0)
True
"""

from __future__ import annotations

from typing import ClassVar

from sagacore.policy import CallView, Scheduler
from sagacore.workload.model import Task, TaskId

__all__ = ["SRPTOracle"]


class SRPTOracle(Scheduler):
    """Least remaining true work (tokens of unfinished calls) first."""

    name: ClassVar[str] = "srpt-oracle"

    def __init__(self) -> None:
        self._left: dict[TaskId, list[int]] = {}
        self._total: dict[TaskId, int] = {}

    def observe_task_future(self, task: Task, now: float) -> None:
        """Read the task's true calls (the oracle)."""
        sizes = [s.prompt_tokens + s.output_tokens for s in task.steps]
        self._left[task.id] = sizes
        self._total[task.id] = sum(sizes)

    def remaining(self, task_id: TaskId) -> int:
        """Tokens of the task's unfinished calls (0 for an unknown task)."""
        return self._total.get(task_id, 0)

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        """``(remaining tokens, task arrival, step)``."""
        return (float(self.remaining(call.task_id)), call.task_arrival_s, float(call.step))

    def observe_call_end(self, call: CallView, output_tokens: int, now: float) -> None:
        """The call's tokens are no longer remaining."""
        sizes = self._left.get(call.task_id)
        if sizes is not None and call.step < len(sizes) and sizes[call.step]:
            self._total[call.task_id] -= sizes[call.step]
            sizes[call.step] = 0

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        """Forget the task."""
        self._left.pop(task_id, None)
        self._total.pop(task_id, None)
