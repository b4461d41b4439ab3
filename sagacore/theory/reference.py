"""Reference systems for the checkers, sharing no code with the policies they check.

A checker whose reference comes from the code under test proves little: a bug in a
virtual clock moves the tags and the reference together. :func:`gps_finish` is a
generalised processor sharing system written from its definition, apart from
:mod:`sagacore.sched.fluid` (whose ``VirtualClock`` makes the policies' WFQ and
Justitia tags) and from :mod:`sagacore.theory.fluid` and :mod:`sagacore.theory.models` (whose
``GpsClock`` makes the models' tags); ``proofs/fair_queueing`` and
``proofs/justitia_delay`` measure against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["capped_gps_finish", "gps_finish"]


def gps_finish(packets: Sequence[tuple[int, Any, Any]], weights: Sequence[Any]) -> list[Any]:
    """Generalised processor sharing of ``packets`` on one server of rate 1.

    ``packets`` are ``(session, release, size)``, served first in first out within a
    session; a session is backlogged while some of its released work is unserved and is
    served at rate ``w / (sum of the weights of the backlogged sessions)``. Returns the
    finish time of every packet, in the order given. Written with ``+ - * /`` and
    comparisons only (it runs on z3's reals) and independent of
    :mod:`sagacore.sched.fluid` and :mod:`sagacore.theory.fluid`: the reference of the
    WFQ theorems must not come from the code that makes the tags.

    Examples
    --------
    >>> from fractions import Fraction as Q
    >>> [str(t) for t in gps_finish([(0, Q(0), Q(2)), (1, Q(0), Q(1))], [Q(1), Q(1)])]
    ['3', '2']
    """
    n = len(weights)
    # insertion sort by release, stable (comparisons only: symbolic releases stay symbolic)
    ranked: list[int] = []
    for i in range(len(packets)):
        pos = len(ranked)
        for k, j in enumerate(ranked):
            if packets[i][1] < packets[j][1]:
                pos = k
                break
        ranked.insert(pos, i)
    zero = packets[0][1] - packets[0][1]
    queue: list[list[int]] = [[] for _ in range(n)]  # released, unfinished packets
    left = [p[2] for p in packets]  # unserved work of each packet
    done: list[Any] = [None] * len(packets)
    t = packets[ranked[0]][1]
    nxt = 0
    while True:
        while nxt < len(ranked) and not t < packets[ranked[nxt]][1]:
            queue[packets[ranked[nxt]][0]].append(ranked[nxt])
            nxt += 1
        active = [s_ for s_ in range(n) if queue[s_]]
        if not active:
            if nxt == len(ranked):
                break
            t = packets[ranked[nxt]][1]
            continue
        total_w = weights[active[0]]
        for s_ in active[1:]:
            total_w = total_w + weights[s_]
        # time until the first head packet is done, or the next release
        need = [left[queue[s_][0]] * total_w / weights[s_] for s_ in active]
        dt = need[0]
        for d in need[1:]:
            if d < dt:
                dt = d
        if nxt < len(ranked) and packets[ranked[nxt]][1] - t < dt:
            dt = packets[ranked[nxt]][1] - t
        t = t + dt
        for s_, d in zip(active, need, strict=True):
            head = queue[s_][0]
            if not dt < d:
                left[head] = zero
                done[head] = t
                queue[s_].pop(0)
            else:
                left[head] = left[head] - dt * weights[s_] / total_w
    return done


def capped_gps_finish(
    packets: Sequence[tuple[int, Any, Any]], weights: Sequence[Any], servers: int
) -> list[Any]:
    """GPS on ``servers`` rate-1 servers in which a session uses at most one server.

    As :func:`gps_finish`, but the backlogged sessions share capacity ``servers`` by
    weighted max-min fairness with every rate capped at 1 (a session's head packet runs
    on one server at a time): raise a common level ``L`` and give each session
    ``min(1, L w)``. Exact on :class:`~fractions.Fraction` inputs (comparisons and
    ``+ - * /`` only).

    Examples
    --------
    >>> from fractions import Fraction as Q
    >>> # two sessions, two servers: each alone would get 2 but is capped at 1
    >>> [str(t) for t in capped_gps_finish([(0, Q(0), Q(2)), (1, Q(0), Q(1))],
    ...                                    [Q(1), Q(3)], 2)]
    ['2', '1']
    """
    n = len(weights)
    zero = packets[0][1] - packets[0][1]
    order = sorted(range(len(packets)), key=lambda i: (packets[i][1], i))
    queue: list[list[int]] = [[] for _ in range(n)]
    left = [p[2] for p in packets]
    done: list[Any] = [None] * len(packets)
    nxt = 0
    t = packets[order[0]][1]
    while True:
        while nxt < len(order) and not t < packets[order[nxt]][1]:
            queue[packets[order[nxt]][0]].append(order[nxt])
            nxt += 1
        active = [s for s in range(n) if queue[s]]
        if not active:
            if nxt == len(order):
                break
            t = packets[order[nxt]][1]
            continue
        rate: dict[int, Any] = {}
        rest = list(active)
        cap = zero + servers
        while rest:
            total_w = zero
            for s in rest:
                total_w = total_w + weights[s]
            capped = [s for s in rest if not cap * weights[s] < total_w]  # L w >= 1
            if not capped:
                for s in rest:
                    rate[s] = cap * weights[s] / total_w
                break
            for s in capped:
                rate[s] = zero + 1
                cap = cap - 1
            rest = [s for s in rest if s not in capped]
        dt: Any = None
        for s in active:
            need = left[queue[s][0]] / rate[s]
            if dt is None or need < dt:
                dt = need
        if nxt < len(order) and packets[order[nxt]][1] - t < dt:
            dt = packets[order[nxt]][1] - t
        t = t + dt
        for s in active:
            head = queue[s][0]
            if not dt < left[head] / rate[s]:
                left[head] = zero
                done[head] = t
                queue[s].pop(0)
            else:
                left[head] = left[head] - rate[s] * dt
    return done
