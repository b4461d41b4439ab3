"""The SAGA router run on given worker states: the harness of ``proofs/work_stealing``.

:class:`Ticks` is a sequence of worker states at consecutive :meth:`rebalance` ticks,
:func:`moves` the router's answers to them; :class:`Placements` a sequence of calls to
route with the workers' states at each, :func:`placements` the router's choices. The
references they are checked against are in :mod:`sagacore.theory.routing`.

Examples
--------
>>> moves(Ticks((((0.9, 2), (0.1, 0)), ((0.9, 2), (0.1, 0)))))
[[(0, 1)], [(0, 1)]]
>>> placements(Placements((("a", ((0.5, 0), (0.1, 0))), ("a", ((0.5, 0), (0.9, 0))))))
[1, 0]
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

__all__ = ["TICK", "Placements", "Ticks", "moves", "placements"]

TICK = 0.125
"""Seconds between ticks (``idle_s``; dyadic, so tick times are exact)."""

State = tuple[tuple[float, int], ...]
"""``(load, waiting calls)`` of each worker at one tick."""


@dataclass(frozen=True)
class Ticks:
    """States of the workers at consecutive ticks, and the rule's parameters."""

    states: tuple[State, ...]
    """The workers' ``(load, waiting calls)`` at each tick."""
    threshold: float = 0.8
    """``load_threshold``."""
    ratio: float = 2.0
    """``steal_ratio``."""
    seed: int = 0
    """The router's seed."""


def moves(inst: Ticks) -> list[list[tuple[int, int]]]:
    """The ``(source, thief)`` pairs :meth:`SagaAffinity.rebalance
    <sagacore.route.saga.SagaAffinity.rebalance>` answers at each tick."""
    from sagacore.route.saga import SagaAffinity

    r = SagaAffinity(inst.threshold, idle_s=TICK, steal_ratio=inst.ratio, seed=inst.seed)
    out = []
    for k, state in enumerate(inst.states):
        ws = [SimpleNamespace(worker_id=i, load=load, queued_calls=q)
              for i, (load, q) in enumerate(state)]
        out.append(r.rebalance(ws, k * TICK))
    return out


@dataclass(frozen=True)
class Placements:
    """Calls routed one after another: ``(session, workers' states)`` each, where a
    session ``"-x"`` instead ends session ``x`` (its affinity is forgotten) and ``"x>w"``
    migrates session ``x``'s KV to worker ``w`` (its affinity follows)."""

    calls: tuple[tuple[str, State], ...]
    """The calls, in order."""
    threshold: float = 0.8
    """``load_threshold``."""


def placements(inst: Placements) -> list[int]:
    """The worker :meth:`SagaAffinity.route <sagacore.route.saga.SagaAffinity.route>`
    picks for each call (-1 for a session end or a migration)."""
    from sagacore.route.saga import SagaAffinity

    r = SagaAffinity(inst.threshold, steal=False)
    out = []
    for k, (session, state) in enumerate(inst.calls):
        if session.startswith("-"):
            r.observe_task_end(session[1:], float(k))  # type: ignore[arg-type]
            out.append(-1)
            continue
        if ">" in session:
            name, dst = session.split(">")
            r.observe_migration(name, -1, int(dst), float(k))  # type: ignore[arg-type]
            out.append(-1)
            continue
        ws = [SimpleNamespace(worker_id=i, load=load, queued_calls=q)
              for i, (load, q) in enumerate(state)]
        call = SimpleNamespace(task_id=session, prompt_tokens=1)
        out.append(r.route(call, ws, float(k)))
    return out
