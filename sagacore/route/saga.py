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

**Work stealing** (SAGA): when a worker's queue has been empty for ``idle_s`` (100 ms)
or the max/min load ratio exceeds ``steal_ratio`` (2.0), the idle worker takes the
oldest pending session from a random overloaded worker; the KV migrates (the
simulator moves the call's cached prompt KV in the cost model's ``migration_seconds``)
and the affinity moves with it (:meth:`SagaAffinity.observe_migration`). Our reading of what
the paper leaves open:

- the mechanism asks every ``idle_s`` seconds (:meth:`SagaAffinity.rebalance`); a
  queue is "empty for 100 ms" when it was empty at two ticks 100 ms apart and at
  none in between non-empty (queue state is sampled at the ticks);
- a *thief* is a worker with an empty queue and a load below ``load_threshold`` that
  has been empty for ``idle_s``, or the least-loaded worker when max/min load exceeds
  ``steal_ratio`` (its queue empty too);
- an *overloaded* worker has waiting calls and a load at least ``load_threshold`` or
  above ``steal_ratio`` times the thief's; each thief takes one call per tick, from a
  uniformly random overloaded worker (seeded), and a worker gives at most as many
  calls as it has waiting.

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

Work stealing: worker 0 is overloaded (load above 0.8, calls waiting); worker 1 steals
once its queue has been empty for 100 ms, or at once when the loads differ over 2x.

>>> ws = [NS(worker_id=0, load=0.9, queued_calls=3), NS(worker_id=1, load=0.5, queued_calls=0)]
>>> r.rebalance(ws, 10.0), r.rebalance(ws, 10.1)
([], [(0, 1)])
>>> ws[1].load = 0.2; r.rebalance(ws, 10.15)
[(0, 1)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from sagacore.policy import CallView, Router, WorkerView
from sagacore.route.basic import least_loaded
from sagacore.validate import at_least, positive
from sagacore.workload.model import TaskId

__all__ = ["SagaAffinity"]


class SagaAffinity(Router):
    """Session affinity while the home worker's load is below a threshold, and work stealing.

    Parameters
    ----------
    load_threshold
        Keep a session on its worker while that worker's load is below this (SAGA: 0.8).
    steal
        Steal work (module notes); False: affinity routing only.
    idle_s
        How long a queue stays empty before its worker steals, and the tick of
        :meth:`rebalance` (SAGA: 100 ms).
    steal_ratio
        Max/min load ratio above which the least-loaded worker steals (SAGA: 2.0).
    seed
        Seed of the choice among overloaded workers.
    """

    name: ClassVar[str] = "saga-affinity"
    quiet_ticks_idle: ClassVar[bool] = True
    """A quiet tick records each worker's empty-since time once (the next quiet tick with
    the same workers finds them all recorded) and returns no pair, drawing nothing."""

    def __init__(
        self,
        load_threshold: float = 0.8,
        *,
        steal: bool = True,
        idle_s: float = 0.1,
        steal_ratio: float = 2.0,
        seed: int = 0,
    ) -> None:
        at_least("SagaAffinity.load_threshold", load_threshold, 0)
        positive("SagaAffinity.idle_s", idle_s)
        at_least("SagaAffinity.steal_ratio", steal_ratio, 1)
        self.load_threshold = load_threshold
        self.steal = steal
        self.idle_s = idle_s
        self.steal_ratio = steal_ratio
        self.rebalance_interval_s = idle_s if steal else None
        self.homes: dict[TaskId, int] = {}
        """The worker each live session is bound to."""
        self._empty_since: dict[int, float] = {}
        self._rng = np.random.default_rng(seed)

    def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
        """The session's worker while its load is below the threshold, else the least loaded."""
        home = self.homes.get(call.task_id)
        if home is not None:
            # the home's view: where its id puts it, unless an instance was lost
            w: WorkerView | None = workers[home] if 0 <= home < len(workers) else None
            if w is None or w.worker_id != home:
                w = next((v for v in workers if v.worker_id == home), None)
            if w is not None:
                if w.load < self.load_threshold:
                    return home
        target = least_loaded(workers)
        self.homes[call.task_id] = target
        return target

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        """Forget the session."""
        self.homes.pop(task_id, None)

    def observe_migration(self, task_id: TaskId, src: int, dst: int, now: float) -> None:
        """The session's KV moved: its affinity follows."""
        self.homes[task_id] = dst

    def rebalance(self, workers: Sequence[WorkerView], now: float) -> list[tuple[int, int]]:
        """Pairs (overloaded worker, thief): each thief takes one waiting call (module notes)."""
        if not self.steal or not workers:
            return []
        since = self._empty_since
        left: dict[int, int] = {}  # waiting calls of the workers with a queue
        for w in workers:
            q = w.queued_calls
            if q:
                since.pop(w.worker_id, None)
                left[w.worker_id] = q
            else:
                since.setdefault(w.worker_id, now)
        if len(since) > len(workers) - len(left):  # an instance no longer offered (lost)
            for wid in since.keys() - {w.worker_id for w in workers}:
                del since[wid]  # forget its queue
        if not left:
            return []  # nothing waits anywhere
        loads = {w.worker_id: w.load for w in workers}
        lo = min(loads.values())
        hi = max(loads.values())
        skewed = hi > self.steal_ratio * lo
        # least_loaded(workers), from the loads and queues read above
        least = min(loads, key=lambda v: (loads[v], left.get(v, 0), v)) if skewed else None
        thieves = sorted(
            wid for wid in since
            if (now - since[wid] >= self.idle_s - 1e-9 and loads[wid] < self.load_threshold)
            or wid == least
        )
        if not thieves:
            return []  # no idle worker, and no skew with the least loaded one idle
        pairs: list[tuple[int, int]] = []
        for wid in thieves:
            victims = sorted(
                v for v, q in left.items()
                if q > 0 and (loads[v] >= self.load_threshold
                              or loads[v] > self.steal_ratio * loads[wid])
            )
            if not victims:
                continue
            src = victims[int(self._rng.integers(len(victims)))]
            left[src] -= 1
            pairs.append((src, wid))
        return pairs
