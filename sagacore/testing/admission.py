"""The ``sagacore`` stack's scheduler asked to admit calls: the harness of
``proofs/srpt_aging`` (``sagacore-admission-rule``).

:class:`Offers` is a sequence of events a worker's scheduling points show
:class:`~sagacore.sched.admission.SagacoreScheduler`: a waiting call offered for
admission on a worker (with the worker's running calls, KV capacity and the share of
each prompt it still caches), a call's end, a program's end. :func:`decisions` runs the
scheduler on them and writes down each answer with the reservations it then holds.

Examples
--------
>>> inst = Offers((("offer", "p", 0, 1_600, 0, 1, 30_000, 0.0),
...                ("offer", "q", 0, 1_600, 0, 1, 30_000, 1.0)))
>>> [d.admitted for d in decisions(inst)]   # q would not fit beside p's reservation
[True, False]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sagacore.testing.fairness import SimpleCall
from sagacore.workload.model import TaskId

__all__ = ["Decision", "Offers", "decisions"]

Event = tuple[Any, ...]
"""``("offer", task, step, prompt tokens, worker, running calls, capacity, now)``,
``("call_end", task, step, prompt tokens, output tokens, now)`` or
``("end", task, now)``."""


@dataclass(frozen=True)
class Offers:
    """Events shown to one :class:`~sagacore.sched.admission.SagacoreScheduler`."""

    events: tuple[Event, ...]
    """In time order."""
    cached_share: float = 1.0
    """Share of an admitted program's prompt the workers still cache (below 1/2 a
    program between two calls stops reserving when a new one is checked); a new
    program finds nothing of its own cached."""
    growth_share: float = 0.5
    """``AdmissionConfig.growth_share``."""


@dataclass(frozen=True)
class Decision:
    """One offer and the scheduler's answer."""

    index: int
    """Position of the offer among the events."""
    task: str
    step: int
    worker: int
    running: int
    """Calls running on the worker."""
    capacity: int
    """The worker's KV capacity, tokens."""
    now: float
    admitted: bool
    """The answer."""
    reserved: float
    """``working_set(worker)`` after the answer."""
    peak: float
    """``peak_tokens(call)`` after the answer."""


def decisions(inst: Offers) -> list[Decision]:
    """Run :class:`~sagacore.sched.admission.SagacoreScheduler` (the ``sagacore`` stack's,
    no predictor) on ``inst``'s events."""
    from sagacore.sched.admission import AdmissionConfig, SagacoreScheduler

    s = SagacoreScheduler(config=AdmissionConfig(growth_share=inst.growth_share))
    share = inst.cached_share
    seen: set[str] = set()
    out: list[Decision] = []
    for i, ev in enumerate(inst.events):
        kind = ev[0]
        if kind == "offer":
            _, task, step, prompt, w, running, cap, now = ev
            call = SimpleCall(task_id=TaskId(task), step=step, prompt_tokens=prompt,
                              steps_done=step)
            view = SimpleNamespace(
                worker_id=w, running_calls=running, pool_tokens=cap,
                cached_prefix_tokens=lambda c: (int(share * c.prompt_tokens)
                                                if str(c.task_id) in seen else 0))
            ok = s.admit(call, view, now)
            if ok:
                seen.add(task)
                s.observe_call_start(call, now)
            out.append(Decision(i, task, step, w, running, cap, now, ok, s.working_set(w),
                                s.peak_tokens(call)))
        elif kind == "call_end":
            _, task, step, prompt, output, now = ev
            call = SimpleCall(task_id=TaskId(task), step=step, prompt_tokens=prompt,
                              steps_done=step)
            s.observe_call_end(call, output, now)
        elif kind == "end":
            _, task, now = ev
            s.observe_task_end(TaskId(task), now)
        else:
            raise ValueError(f"unknown event {ev!r}")
    return out


def offered_workers(events: Sequence[Event]) -> set[int]:
    """The workers the offers name."""
    return {ev[4] for ev in events if ev[0] == "offer"}
