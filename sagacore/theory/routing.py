"""SAGA's and the ``sagacore`` stack's routing rules, written from their documentation.

References for the checkers of ``proofs/work_stealing``, sharing no code with the routers
they check. SAGA's (:class:`sagacore.route.saga.SagaAffinity`): :func:`affinity_choice`
is the placement rule, :func:`thief_qualifies` and :func:`victim_qualifies` the two
conditions of a steal; workers are plain ``(load, waiting calls)`` pairs, indexed by
worker id. Idle stealing (:class:`sagacore.route.idle_steal.IdleSteal`, the ``sagacore``
stack's router): :func:`idle_since` and :func:`idle_steal_pairs` are who steals from
whom at a tick, :func:`idle_fits` which call may move; workers are
``(load, waiting calls, free KV tokens, KV capacity)``.

Examples
--------
>>> affinity_choice(None, [(0.5, 0), (0.1, 2), (0.1, 0)], threshold=0.8)
2
>>> affinity_choice(0, [(0.79, 0), (0.1, 0)], threshold=0.8)   # home below the threshold
0
>>> affinity_choice(0, [(0.8, 0), (0.1, 0)], threshold=0.8)    # at it: the least loaded
1
>>> ticks = [(0.0, [(0.9, 2, 100, 1000), (0.1, 0, 900, 1000)]),
...          (0.1, [(0.9, 2, 100, 1000), (0.1, 0, 900, 1000)])]
>>> since = idle_since(ticks)
>>> since
{1: 0.0}
>>> idle_steal_pairs(ticks[-1][1], since, {}, 0.1, idle_s=0.1, idle_load=0.8, settle_s=1.0)
[(0, 1)]
>>> idle_fits(199, free=900, capacity=1000, idle_load=0.8), idle_fits(200, 900, 1000, 0.8)
(True, False)

(In floats ``(1 - 0.8) * 1000`` is ``199.99999999999997``: as the router computes it.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = [
    "affinity_choice",
    "idle_fits",
    "idle_since",
    "idle_steal_pairs",
    "idle_thief_qualifies",
    "least_loaded_index",
    "thief_qualifies",
    "victim_qualifies",
]

Worker = tuple[float, int]
"""``(load, waiting calls)``."""


def least_loaded_index(workers: Sequence[Worker]) -> int:
    """The worker of smallest ``(load, waiting calls, id)``."""
    best = 0
    for i in range(1, len(workers)):
        if (workers[i][0], workers[i][1], i) < (workers[best][0], workers[best][1], best):
            best = i
    return best


def affinity_choice(home: int | None, workers: Sequence[Worker], *, threshold: float) -> int:
    """Where a session's call goes: its home while the home's load is strictly below
    ``threshold``, else (and for a session without a home, or whose home is not offered)
    the least-loaded worker, which becomes its home."""
    if home is not None and 0 <= home < len(workers) and workers[home][0] < threshold:
        return home
    return least_loaded_index(workers)


def thief_qualifies(w: int, now: Sequence[Worker], before: Sequence[Worker] | None, *,
                    threshold: float, ratio: float) -> bool:
    """Whether worker ``w`` may steal at a tick: its queue is empty, and it was empty at
    the previous tick too (``before``; ticks ``idle_s`` apart) with a load below
    ``threshold``, or it is the least-loaded worker while the largest load exceeds
    ``ratio`` times the smallest."""
    if now[w][1]:
        return False
    idle = before is not None and before[w][1] == 0 and now[w][0] < threshold
    loads = [load for load, _ in now]
    skewed = max(loads) > ratio * min(loads)
    return idle or (skewed and w == least_loaded_index(now))


def victim_qualifies(v: int, thief: int, now: Sequence[Worker], *, threshold: float,
                     ratio: float) -> bool:
    """Whether ``thief`` may take a call of worker ``v``: ``v`` has a waiting call and a
    load at least ``threshold`` or above ``ratio`` times the thief's."""
    return now[v][1] > 0 and (now[v][0] >= threshold or now[v][0] > ratio * now[thief][0])


IdleWorker = tuple[float, int, int, int]
"""``(load, waiting calls, free KV tokens, KV capacity in tokens)``."""


Workers = Sequence[IdleWorker] | Mapping[int, IdleWorker]
"""The workers offered at a tick: a sequence (the index is the id) or a mapping by id (a
worker lost is no longer offered)."""


def _by_id(workers: Workers) -> dict[int, IdleWorker]:
    return dict(workers) if isinstance(workers, Mapping) else dict(enumerate(workers))


def idle_since(ticks: Sequence[tuple[float, Workers]]) -> dict[int, float]:
    """For the last of ``ticks`` (``(time, workers)`` in time order): the time of the
    earliest tick from which each worker offered at the last tick was offered with an
    empty queue at every tick up to the last (workers whose queue is not empty now are
    absent)."""
    if not ticks:
        return {}
    out: dict[int, float] = {}
    for w in _by_id(ticks[-1][1]):
        start = None
        for t, workers in reversed(ticks):
            at = _by_id(workers)
            if w not in at or at[w][1] != 0:
                break
            start = t
        if start is not None:
            out[w] = start
    return out


def idle_thief_qualifies(w: int, workers: Workers, since: Mapping[int, float],
                         now: float, *, idle_s: float, idle_load: float) -> bool:
    """Whether worker ``w`` is an idle thief at ``now``: its queue has been empty at every
    tick for at least ``idle_s`` (``since``: from :func:`idle_since`), its load is below
    ``idle_load`` and at least ``1 - idle_load`` of its KV is free or evictable."""
    load, _, free, capacity = _by_id(workers)[w]
    return (w in since and since[w] <= now - idle_s + 1e-9 and load < idle_load
            and free >= (1.0 - idle_load) * capacity)


def idle_steal_pairs(workers: Workers, since: Mapping[int, float],
                     received: Mapping[int, float], now: float, *, idle_s: float,
                     idle_load: float, settle_s: float) -> list[tuple[int, int]]:
    """The ``(source, thief)`` pairs of idle stealing at a tick.

    Idle thieves (:func:`idle_thief_qualifies`) are taken from the least loaded (then
    lowest id); each takes one call from the worker with the most waiting calls not yet
    given at this tick (then the more loaded, then the lower id) among those more loaded
    than itself that did not receive a stolen call in the last ``settle_s`` seconds
    (``received``: the time of each worker's last reception).
    """
    at = _by_id(workers)
    left = {w: q for w, (_, q, _, _) in at.items()}
    thieves = [w for w in at
               if idle_thief_qualifies(w, at, since, now, idle_s=idle_s, idle_load=idle_load)]
    thieves.sort(key=lambda w: (at[w][0], w))
    pairs = []
    for w in thieves:
        sources = [v for v in at
                   if left[v] > 0 and at[v][0] > at[w][0]
                   and now - received.get(v, -math.inf) >= settle_s]
        if sources:
            src = min(sources, key=lambda v: (-left[v], -at[v][0], v))
            left[src] -= 1
            pairs.append((src, w))
    return pairs


def idle_fits(prompt_tokens: int, free: int, capacity: int, idle_load: float) -> bool:
    """Whether a waiting call may move to a thief with ``free`` free KV tokens of
    ``capacity``: its prompt takes at most half of the free KV and at most
    ``1 - idle_load`` of the capacity."""
    return prompt_tokens + prompt_tokens <= free and prompt_tokens <= (1.0 - idle_load) * capacity
