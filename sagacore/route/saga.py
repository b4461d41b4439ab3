"""SAGA's session-affinity routing with a load threshold (``saga-affinity``).

SAGA keeps a session on the worker that caches its context while that worker's load is
below ``load_threshold`` (0.8 in the paper); otherwise the call goes to the
least-loaded worker and the session's affinity moves there, so its next calls follow
the KV that the new worker now builds. Follows the paper there.

Where the paper is silent (our choices):

- the load is :attr:`~sagacore.policy.WorkerView.load` (KV tokens in use and queued
  over capacity), the engine-agnostic measure every router here sees;
- a session's first call goes to the least-loaded worker (ties: fewest queued calls,
  then the lowest id), as :class:`~sagacore.route.basic.SessionAffinity` does;
- a session whose home worker is not among the offered workers is placed afresh;
- the check is ``load < load_threshold`` (strict, as in the paper's wording), so a
  threshold of 0 never keeps affinity and ``inf`` always does.

SAGA's work stealing (a worker idle for 100 ms, or max/min load above 2.0, pulls
sessions and their KV from the most loaded one) needs a KV-migration mechanism in the
simulator and is **not implemented** yet; :meth:`SagaAffinity.observe_migration`
already follows a session a mechanism moves.

Examples
--------
>>> from types import SimpleNamespace as NS
>>> ws = [NS(worker_id=i, load=l, queued_calls=0) for i, l in enumerate([0.5, 0.1, 0.3])]
>>> call = NS(task_id="t", prompt_tokens=1000)
>>> r = SagaAffinity()
>>> r.route(call, ws, 0.0)          # first call: least loaded
1
>>> ws[1].load = 0.7; r.route(call, ws, 1.0)   # home below 0.8: stay
1
>>> ws[1].load = 0.9; r.route(call, ws, 2.0)   # home overloaded: move to least loaded
2
>>> ws[1].load = 0.0; r.route(call, ws, 3.0)   # affinity moved with it
2
>>> r.observe_task_end("t", 4.0); len(r.homes)
0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from sagacore.errors import ConfigError
from sagacore.policy import CallView, Router, WorkerView
from sagacore.route.basic import least_loaded
from sagacore.workload.model import TaskId

__all__ = ["SagaAffinity"]


class SagaAffinity(Router):
    """Session affinity while the home worker's load is below a threshold.

    Parameters
    ----------
    load_threshold
        Keep a session on its worker while that worker's load is below this (SAGA: 0.8).
    """

    name: ClassVar[str] = "saga-affinity"

    def __init__(self, load_threshold: float = 0.8) -> None:
        if math.isnan(load_threshold) or load_threshold < 0:
            raise ConfigError(f"SagaAffinity.load_threshold must be >= 0, got {load_threshold}")
        self.load_threshold = load_threshold
        self.homes: dict[TaskId, int] = {}
        """The worker each live session is bound to."""

    def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
        """The session's worker while its load is below the threshold, else the least loaded."""
        home = self.homes.get(call.task_id)
        if home is not None:
            for w in workers:
                if w.worker_id == home:
                    if w.load < self.load_threshold:
                        return home
                    break
        target = least_loaded(workers)
        self.homes[call.task_id] = target
        return target

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        """Forget the session."""
        self.homes.pop(task_id, None)

    def observe_migration(self, task_id: TaskId, src: int, dst: int, now: float) -> None:
        """The session's KV moved: its affinity follows."""
        self.homes[task_id] = dst
