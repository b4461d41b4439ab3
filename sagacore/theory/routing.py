"""SAGA's affinity routing and work-stealing rules, written from their documentation.

References for the checkers of ``proofs/work_stealing``, sharing no code with the router
they check (:class:`sagacore.route.saga.SagaAffinity`): :func:`affinity_choice` is the
placement rule, :func:`thief_qualifies` and :func:`victim_qualifies` the two conditions
of a steal. Workers are given as plain ``(load, waiting calls)`` pairs, indexed by
worker id.

Examples
--------
>>> affinity_choice(None, [(0.5, 0), (0.1, 2), (0.1, 0)], threshold=0.8)
2
>>> affinity_choice(0, [(0.79, 0), (0.1, 0)], threshold=0.8)   # home below the threshold
0
>>> affinity_choice(0, [(0.8, 0), (0.1, 0)], threshold=0.8)    # at it: the least loaded
1
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["affinity_choice", "least_loaded_index", "thief_qualifies", "victim_qualifies"]

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
