"""The baseline routers: round robin, least loaded, session affinity, SGLang's cache-aware.

Each answers one question, *which worker gets this ready call?*, from read-only
:class:`~sagacore.policy.WorkerView` s. Ties go to the lowest worker id.

- :class:`RoundRobin`: calls in turn (vLLM's production-stack default for stateless
  serving).
- :class:`LeastLoaded`: the worker with the lowest load (KV in use and queued).
- :class:`SessionAffinity`: a session's first call goes to the least-loaded worker
  (or a hash of the session id) and every later call follows it, as production routers
  do with a session id (vLLM production-stack's session routing, llm-d's sticky
  sessions), so a session's cached context is where its next call runs.
- :class:`CacheAware`: SGLang's cache-aware router (``sgl-router``): when the cluster
  is balanced, the worker holding the longest prefix of the prompt if it covers more
  than ``cache_threshold`` of it, else the least-loaded worker; when the load is
  imbalanced (``max - min > balance_abs_threshold`` and ``max > min *
  balance_rel_threshold``, load = queued + running calls), the least-loaded worker.
  ``sgl-router`` matches against its own approximate radix tree of the text it routed;
  here it reads each worker's cache, and its "smallest tree" fallback is the
  least-loaded worker.

Examples
--------
>>> from types import SimpleNamespace as NS
>>> ws = [NS(worker_id=i, load=l, queued_calls=0, running_calls=r,
...          cached_prefix_tokens=lambda c, i=i: 900 if i == 2 else 0)
...       for i, (l, r) in enumerate([(0.5, 3), (0.1, 1), (0.9, 4)])]
>>> call = NS(task_id="t", prompt_tokens=1000)
>>> RoundRobin().route(call, ws, 0.0), LeastLoaded().route(call, ws, 0.0)
(0, 1)
>>> CacheAware().route(call, ws, 0.0)
2
>>> r = SessionAffinity(); r.route(call, ws, 0.0), r.route(call, ws[::-1], 1.0)
(1, 1)
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import ClassVar, Literal

from sagacore.errors import ConfigError
from sagacore.policy import CallView, Router, WorkerView
from sagacore.workload.model import TaskId

__all__ = ["CacheAware", "LeastLoaded", "RoundRobin", "SessionAffinity", "least_loaded"]


def least_loaded(workers: Sequence[WorkerView]) -> int:
    """``worker_id`` of the worker with the lowest ``(load, queued_calls, worker_id)``."""
    best = min(workers, key=lambda w: (w.load, w.queued_calls, w.worker_id))
    return best.worker_id


class RoundRobin(Router):
    """Each call to the next worker in turn."""

    name: ClassVar[str] = "round-robin"

    def __init__(self) -> None:
        self._next = 0

    def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
        """The next worker in turn."""
        w = workers[self._next % len(workers)].worker_id
        self._next += 1
        return w


class LeastLoaded(Router):
    """Each call to the least-loaded worker."""

    name: ClassVar[str] = "least-loaded"

    def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
        """The least-loaded worker."""
        return least_loaded(workers)


class SessionAffinity(Router):
    """A session sticks to the worker of its first call.

    Parameters
    ----------
    first
        How the first call is placed: ``least-loaded`` (default) or ``hash`` (CRC-32 of
        the session id modulo the workers: consistent with no shared state).
    """

    name: ClassVar[str] = "session-affinity"

    def __init__(self, first: Literal["least-loaded", "hash"] = "least-loaded") -> None:
        if first not in ("least-loaded", "hash"):
            raise ConfigError(f"SessionAffinity.first must be least-loaded or hash, got {first!r}")
        self.first = first
        self._home: dict[TaskId, int] = {}

    def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
        """The session's worker; for its first call, the least loaded (or hashed)."""
        w = self._home.get(call.task_id)
        if w is None:
            if self.first == "hash":
                w = workers[zlib.crc32(str(call.task_id).encode()) % len(workers)].worker_id
            else:
                w = least_loaded(workers)
            self._home[call.task_id] = w
        return w

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        """Forget the session."""
        self._home.pop(task_id, None)

    def observe_migration(self, task_id: TaskId, src: int, dst: int, now: float) -> None:
        """The session moved: follow it."""
        self._home[task_id] = dst


class CacheAware(Router):
    """SGLang's cache-aware routing with load balancing (see the module notes).

    Parameters
    ----------
    cache_threshold
        Least fraction of the prompt a worker must hold to win on cache (sgl-router: 0.5).
    balance_abs_threshold, balance_rel_threshold
        The load is imbalanced when ``max - min`` exceeds the first and ``max`` exceeds
        ``min`` times the second (sgl-router: 32 and 1.0001).
    """

    name: ClassVar[str] = "cache-aware"

    def __init__(
        self,
        cache_threshold: float = 0.5,
        balance_abs_threshold: int = 32,
        balance_rel_threshold: float = 1.0001,
    ) -> None:
        if not 0 <= cache_threshold <= 1:
            raise ConfigError(f"CacheAware.cache_threshold must be in [0, 1], got {cache_threshold}")
        self.cache_threshold = cache_threshold
        self.balance_abs_threshold = balance_abs_threshold
        self.balance_rel_threshold = balance_rel_threshold

    def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
        """The cache-richest worker when balanced and it holds enough, else the least loaded."""
        loads = [w.queued_calls + w.running_calls for w in workers]
        hi, lo = max(loads), min(loads)
        if hi - lo > self.balance_abs_threshold and hi > lo * self.balance_rel_threshold:
            return min(zip(loads, (w.worker_id for w in workers), strict=True))[1]
        best_w = workers[0]
        best = -1
        for w in workers:
            m = w.cached_prefix_tokens(call)
            if m > best:
                best, best_w = m, w
        if best > self.cache_threshold * call.prompt_tokens:
            return best_w.worker_id
        return least_loaded(workers)
