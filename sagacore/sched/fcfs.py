"""The baseline orderings: FCFS, priority (vLLM) and longest prefix match (SGLang).

Each is a :class:`~sagacore.policy.Scheduler` whose whole policy is its sort key
(smaller is served first); the mechanism breaks ties by the order in which calls joined
the queue.

- :class:`FCFS` serves calls in the order they became ready: vLLM's default ``fcfs``
  policy, where a request's arrival is the moment the agent sends it.
- :class:`Priority` is vLLM's ``priority`` policy: ``(priority, arrival)``, and a
  waiting call that cannot be admitted may preempt running calls of larger key. A
  request's priority is what its client sets; agents set none, so by default the
  priority of a call is its *task's* arrival time (earlier tasks first: program-level
  FCFS, as Continuum orders programs). Pass another ``priority`` function to change it.
- :class:`LongestPrefixMatch` is SGLang's ``lpm``: the call with the most prompt tokens
  already in the worker's prefix cache first, then FCFS. (SGLang falls back to FCFS when
  more than 128 requests wait, to bound the cost of matching; the simulator's match is
  cheap, so this ordering never falls back.)

Examples
--------
>>> from types import SimpleNamespace
>>> a = SimpleNamespace(ready_s=2.0, task_arrival_s=0.0, cached_tokens=0)
>>> b = SimpleNamespace(ready_s=1.0, task_arrival_s=5.0, cached_tokens=4096)
>>> calls = [a, b]
>>> [c is b for c in sorted(calls, key=lambda c: FCFS().key(c, 0.0))]
[True, False]
>>> [c is a for c in sorted(calls, key=lambda c: Priority().key(c, 0.0))]
[True, False]
>>> [c is b for c in sorted(calls, key=lambda c: LongestPrefixMatch().key(c, 0.0))]
[True, False]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from sagacore.policy import CallView, Scheduler

__all__ = ["FCFS", "LongestPrefixMatch", "Priority", "task_arrival_priority"]


class FCFS(Scheduler):
    """First come, first served: by the time the call became ready."""

    name: ClassVar[str] = "fcfs"

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        """``(ready_s,)``."""
        return (call.ready_s,)


def task_arrival_priority(call: CallView) -> float:
    """Default priority of :class:`Priority`: the task's arrival time (earlier first)."""
    return call.task_arrival_s


class Priority(Scheduler):
    """vLLM's priority scheduling: ``(priority(call), ready_s)``.

    As in vLLM 0.33, a waiting call never preempts a running one (a waiting call that
    does not fit stops admission); when a running call cannot grow, the victim is the
    running call of largest key (:attr:`~sagacore.policy.Scheduler.victim_by_key`).

    Parameters
    ----------
    priority
        Maps a call to its priority (smaller is more urgent). Default:
        :func:`task_arrival_priority`.
    """

    name: ClassVar[str] = "priority"
    victim_by_key: ClassVar[bool] = True

    def __init__(self, priority: Callable[[CallView], float] | None = None) -> None:
        self._priority = priority if priority is not None else task_arrival_priority

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        """``(priority(call), ready_s)``."""
        return (self._priority(call), call.ready_s)


class LongestPrefixMatch(Scheduler):
    """SGLang's longest prefix match: most cached prompt tokens first, then FCFS."""

    name: ClassVar[str] = "lpm"

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        """``(-cached_tokens, ready_s)``."""
        return (-call.cached_tokens, call.ready_s)
