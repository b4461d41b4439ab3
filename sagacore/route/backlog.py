"""``shortest-backlog`` routing: session affinity; a new session joins the shortest backlog.

A session stays on the instance of its first call (its context is cached there; moving
it means copying or recomputing that context, which in overload costs more than it
gains: ``docs/stacks.md``). The first call of a new session goes to the instance with
the fewest waiting calls, then the least load (KV in use and queued over capacity),
then the lowest id. Where nothing waits this is least-loaded placement, as in
``vllm-apc``'s session affinity; where an instance's admission control defers new
programs, its waiting calls show the backlog that its load does not (a deferred
program's first prompt is small), so new sessions go where they can start sooner.
No work stealing. (Measured against plain session affinity in the ``sagacore`` stack,
``docs/stacks.md``: higher throughput in overload, the same geometric-mean TCT within
noise; the stack keeps ``session-affinity``.)

Examples
--------
>>> from types import SimpleNamespace as W
>>> from sagacore.testing.fairness import SimpleCall
>>> r = ShortestBacklog()
>>> ws = [W(worker_id=0, queued_calls=5, load=0.2), W(worker_id=1, queued_calls=0, load=0.6)]
>>> r.route(SimpleCall(task_id="a"), ws, 0.0)          # the backlog, not the load
1
>>> ws[1].queued_calls = 9
>>> r.route(SimpleCall(task_id="a", step=1), ws, 1.0)  # affinity
1
>>> r.route(SimpleCall(task_id="b"), ws, 1.0)
0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from sagacore.policy import CallView, Router, WorkerView
from sagacore.workload.model import TaskId

__all__ = ["ShortestBacklog"]


class ShortestBacklog(Router):
    """Session affinity; first calls to the shortest backlog (module docs)."""

    name: ClassVar[str] = "shortest-backlog"

    def __init__(self) -> None:
        self._home: dict[TaskId, int] = {}

    def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
        """The session's instance; for its first call, the fewest waiting calls."""
        w = self._home.get(call.task_id)
        if w is None:
            best = min(workers, key=lambda x: (x.queued_calls, x.load, x.worker_id))
            w = self._home[call.task_id] = best.worker_id
        return w

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        """Forget the session."""
        self._home.pop(task_id, None)

    def observe_migration(self, task_id: TaskId, src: int, dst: int, now: float) -> None:
        """The session moved: follow it."""
        self._home[task_id] = dst
