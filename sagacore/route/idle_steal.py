"""Session affinity with work stealing by idle workers only (``idle-steal``).

A session stays on the worker of its first call, placed on the least-loaded worker, as
:class:`~sagacore.route.basic.SessionAffinity` does: its cached context is where its
next call runs, and load never moves it (moving a session without its KV recomputes
it). Work moves only toward a worker with room and nothing queued, in four rules:

- *the thief*: every ``idle_s`` seconds, a worker whose queue has stayed empty for
  ``idle_s``, whose load is below ``idle_load`` and whose free (or evictable) KV is at
  least ``1 - idle_load`` of its capacity takes one waiting call from the worker with
  the most waiting calls among those more loaded than itself (ties: the more loaded,
  then the lower id);
- *the call* (:meth:`IdleSteal.stealable`): the longest-waiting call there whose prompt
  takes at most half of the thief's free KV and at most its headroom, ``1 - idle_load``
  of its capacity; the mechanism copies the KV of its prompt and the session's affinity
  follows it;
- *worth the copy*: built for a run (:meth:`IdleSteal.from_context`), a call moves
  only once it has waited at least as long as the copy of its KV would take (the cost
  model's :meth:`~sagacore.engine.CostModel.migration_seconds` of its cached tokens): a
  ski-rental rule, so that a call about to start where it is does not pay a copy and
  move its session for a step's wait;
- *settling*: a worker that has just received a stolen call gives nothing away for
  ``settle_s`` (the call may wait a step or two there before it starts; without this a
  call can bounce between two idle workers, one of them 282 times in a long-context
  run).

**Why these.** A stolen call gains the wait it would have spent queued and pays the
copy of its KV (a third of a second for 100K tokens on the A100 presets) and, above
all, the room it takes on the thief, whose own programs paused in tools come back to
it. SAGA's rule also steals between busy workers (max/min load above 2): the stolen call
queues again on a thief that is just as full, and its KV displaces the thief's own
sessions, which costs 22-27% of TCT in overload on the bundled trace
(``docs/stacks.md``). Toward an idle worker the gain is a queue wait turned into
service. The size rule keeps a large context where it is: in the long-context regime
(contexts of 100K tokens and more), letting any call move that fits in half the thief's
free KV made the geometric-mean TCT 6% longer at 1.5x the SLO peak over four seeds
(0.184x of ``vllm-apc``'s against 0.174x without stealing); with the size rule it is
even (0.174x). What stealing buys is the SLO peak: programs of unequal length leave
their workers unequally busy near the peak, and an idle worker beside a queue is lost
capacity (``docs/stacks.md`` measures both).

Examples
--------
>>> from types import SimpleNamespace as NS
>>> r = IdleSteal()
>>> ws = [NS(worker_id=i, load=load, queued_calls=q, free_tokens=f, pool_tokens=1000)
...       for i, (load, q, f) in enumerate([(0.9, 3, 100), (0.3, 0, 700), (0.5, 1, 500)])]
>>> r.route(NS(task_id="t", prompt_tokens=1000), ws, 0.0)   # first call: least loaded
1
>>> r.rebalance(ws, 10.0), r.rebalance(ws, 10.1)   # worker 1 idle for 100 ms: steals
([], [(0, 1)])
>>> ws[1].queued_calls = 1; r.rebalance(ws, 10.2)   # no longer idle
[]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar, Self

from sagacore.errors import ConfigError
from sagacore.policy import CallView, WorkerView
from sagacore.route.basic import SessionAffinity
from sagacore.validate import positive
from sagacore.workload.model import TaskId

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.build import BuildContext

__all__ = ["IdleSteal"]


class IdleSteal(SessionAffinity):
    """Session affinity; idle workers steal one waiting call per tick (module notes).

    Parameters
    ----------
    idle_s
        How long a worker's queue stays empty before it steals, and the tick of
        :meth:`rebalance` (SAGA's 100 ms).
    idle_load
        A worker steals only while its load is below this (SAGA's 0.8) and at least
        ``1 - idle_load`` of its KV is free or evictable; a stolen call's prompt is at
        most that share of its capacity.
    settle_s
        Seconds a worker that received a stolen call gives nothing away.
    copy_seconds
        Seconds to copy the KV of so many tokens to another instance: a call moves only
        once it has waited at least that long for its cached tokens (None: no such rule;
        :meth:`from_context` gives the cost model's).

    Notes
    -----
    Theorem ``idle-steal-bounds`` (``docs/proofs/work_stealing.md``, checked by
    ``sagacore verify idle-steal-bounds`` and, on recorded simulations,
    ``idle-steal-simulator``): at most one call per thief and ``m - 1`` per tick; a moved
    prompt is at most half the thief's free KV and ``1 - idle_load`` of its capacity; a
    receiver gives nothing for ``settle_s``, so a call that waits ``W`` seconds moves at
    most ``1 + W / max(settle_s, idle_s)`` times; an idle thief goes without a pair only
    when the more-loaded, settled workers' calls were all given. Not guaranteed: that an
    idle thief gets a call whenever one that fits it waits (the source is chosen by its
    count of calls; ``idle-steal-no-idle-beside-fitting-call`` is refuted). The copy
    rule only removes calls from what may move, so the bounds hold with and without it;
    ``idle-steal-simulator`` records the router as the stack builds it and checks it.
    """

    name: ClassVar[str] = "idle-steal"
    needs_cost_model: ClassVar[bool] = True
    quiet_ticks_idle: ClassVar[bool] = True
    """A quiet tick records each worker's empty-since time once (the next quiet tick with
    the same workers finds them all recorded) and returns no pair."""

    @classmethod
    def from_context(cls, ctx: BuildContext) -> Self:
        """The router for a run: a call moves only once it has waited as long as the
        copy of its KV takes on the run's instances (module notes)."""
        return cls(copy_seconds=ctx.cost.migration_seconds)

    def __init__(self, idle_s: float = 0.1, idle_load: float = 0.8, settle_s: float = 1.0,
                 copy_seconds: Callable[[float], float] | None = None) -> None:
        super().__init__()
        positive("IdleSteal.idle_s", idle_s)
        if not 0.0 < idle_load <= 1.0:
            raise ConfigError(f"IdleSteal.idle_load must be in (0, 1], got {idle_load!r}")
        positive("IdleSteal.settle_s", settle_s, zero_ok=True)
        self.idle_s = idle_s
        self.idle_load = idle_load
        self.settle_s = settle_s
        self.rebalance_interval_s: float | None = idle_s
        self.copy_seconds = copy_seconds
        self._empty_since: dict[int, float] = {}
        self._received: dict[int, float] = {}
        self._tick_s = -math.inf

    def rebalance(self, workers: Sequence[WorkerView], now: float) -> list[tuple[int, int]]:
        """Pairs (busiest worker, idle thief): each idle worker takes one waiting call."""
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
                del since[wid]
        if len(since) == len(workers):
            return []  # nothing waits anywhere
        self._tick_s = now  # the mechanism asks stealable about these pairs at this time
        # each load read once per tick, only for the queued workers and the thieves; a
        # thief's free KV only when its turn comes
        load: dict[int, float] = {}
        thieves: list[WorkerView] = []
        for w in workers:
            wid = w.worker_id
            if wid in left:
                load[wid] = w.load
            elif now - since[wid] >= self.idle_s - 1e-9:
                x = load[wid] = w.load
                if x < self.idle_load:
                    thieves.append(w)
        pairs: list[tuple[int, int]] = []
        for w in sorted(thieves, key=lambda w: (load[w.worker_id], w.worker_id)):
            if w.free_tokens < (1.0 - self.idle_load) * w.pool_tokens:
                continue  # no headroom
            wid = w.worker_id
            sources = [v for v, q in left.items() if q > 0 and load[v] > load[wid]
                       and now - self._received.get(v, -math.inf) >= self.settle_s]
            if not sources:
                break  # thieves come in load order: a more loaded one finds none either
            src = max(sources, key=lambda v: (left[v], load[v], -v))
            left[src] -= 1
            pairs.append((src, wid))
        return pairs

    def stealable(self, call: CallView, dst: WorkerView) -> bool:
        """A call may move if its prompt takes at most half of the thief's free KV and at
        most its headroom, ``1 - idle_load`` of its capacity, and it is
        :meth:`worth_the_copy` (module notes)."""
        n = call.prompt_tokens
        return (2 * n <= dst.free_tokens and n <= (1.0 - self.idle_load) * dst.pool_tokens
                and self.worth_the_copy(call))

    def worth_the_copy(self, call: CallView) -> bool:
        """Whether ``call`` has waited, by the last tick that found a queue, at least as
        long as the copy of its cached KV takes (always, without ``copy_seconds``; module
        notes)."""
        copy = self.copy_seconds
        return copy is None or self._tick_s - call.ready_s >= copy(call.cached_tokens)

    def observe_migration(self, task_id: TaskId, src: int, dst: int, now: float) -> None:
        """The session follows its KV; ``dst`` gives nothing away for ``settle_s``."""
        super().observe_migration(task_id, src, dst, now)
        self._received[dst] = now
