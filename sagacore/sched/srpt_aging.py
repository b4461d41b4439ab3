"""Shortest *predicted* remaining program work first, with aging: SRPT at program level.

A call's key is its program's predicted remaining work, in seconds of isolated GPU
service, minus the program's age (the time since it arrived), scaled by ``aging``:

    key = R(task) - aging * (now - a(task))

``R`` comes from the shared :class:`~sagacore.workload.predictor.Predictor` when the
mechanism provides one (:meth:`~sagacore.workload.predictor.Predictor.remaining_work`:
remaining calls, their prompt and output tokens), priced at the isolated engine's
seconds per prompt and per output token; without one, from per-agent-type means of
finished tasks (:class:`~sagacore.sched._base.TaskBook`). Every key falls at the same
rate, so the order is that of the static priority ``R + aging * a``: the key returns
that (it changes only when a call of the program ends and ``R`` is estimated again).
When the engine preempts, the victim is the running call of largest key.

Programs close to their end go first, which finishes what was started (the working
set shrinks) and, with sizes that vary, lowers mean completion time as SRPT does. Where
the predictor cannot tell programs apart (every program long and alike, or nothing
learned yet: the prior's estimate is the same for every program of a type), ``R``
varies little against the spread of arrivals and the order is the programs' arrival:
FCFS at program level, which also finishes what was started. Ageing by the program's
waiting time instead (the time its calls spent queued) does not give that fallback:
a program that has run for an hour and one that arrived a minute ago may have waited
alike, and in long-context overload (docs/stacks.md) that order was 1.2x-1.5x slower.

**No starvation.** Keys are ``R + aging * a`` with ``0 <= R <= R_max`` (the predictor's
estimates are bounded for a finite trace): a program that arrived at ``a`` can be
overtaken only by programs that arrived by ``a + R / aging``, finitely many, each of
finitely many calls, so every call is served in finite time, whatever the load
(theorems ``srpt-aging-wait`` and ``srpt-aging-multi-call``,
``docs/proofs/srpt_aging.md``). The scheduler never preempts a running call for a
waiting one.

Examples
--------
>>> from sagacore.testing.fairness import SimpleCall
>>> s = SRPTAging()
>>> for i in range(70):                              # program a has finished 70 calls
...     s.observe_call_end(SimpleCall(task_id="a", step=i), 90, 0.0)
>>> near_end = SimpleCall(task_id="a", steps_done=70, prompt_tokens=30_000, task_arrival_s=1e6)
>>> fresh = SimpleCall(task_id="b", steps_done=0, prompt_tokens=1_600, task_arrival_s=1e6)
>>> s.key(near_end, 1e6) < s.key(fresh, 1e6)      # the program about to finish first
True
>>> old = SimpleCall(task_id="c", steps_done=0, prompt_tokens=1_600, task_arrival_s=0.0)
>>> s.key(old, 1e6) < s.key(near_end, 1e6)        # ... unless another is old enough
True
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, Self

from sagacore.policy import CallView, Scheduler, TaskArrivalView
from sagacore.sched._base import RemainingEstimate, TaskBook
from sagacore.validate import positive
from sagacore.workload.model import TaskId

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.build import BuildContext
    from sagacore.workload.predictor import Predictor

__all__ = ["SRPTAging", "SRPTAgingConfig"]


@dataclass(frozen=True)
class SRPTAgingConfig:
    """Parameters of :class:`SRPTAging`."""

    seconds_per_prompt_token: float = 1.2e-4
    """Isolated-engine prefill seconds per prompt token (the stack sets the cost model's)."""
    seconds_per_output_token: float = 0.03
    """Isolated-engine decode seconds per output token (the stack sets the cost model's)."""
    aging: float = 1.0
    """Seconds of key removed per second of a program's age (0 would allow starvation)."""

    def __post_init__(self) -> None:
        positive("seconds_per_prompt_token", self.seconds_per_prompt_token)
        positive("seconds_per_output_token", self.seconds_per_output_token)
        positive("aging", self.aging)


class SRPTAging(Scheduler):
    """Least predicted remaining program work first, aged by waiting time (module docs).

    Parameters
    ----------
    config
        Prices and the aging rate.
    predictor
        The shared predictor (None: per-type means of the tasks this scheduler saw end).
    """

    name: ClassVar[str] = "srpt-aging"
    victim_by_key: ClassVar[bool] = True
    needs_predictor: ClassVar[bool] = True
    needs_cost_model: ClassVar[bool] = True

    def __init__(self, config: SRPTAgingConfig | None = None,
                 predictor: Predictor | None = None) -> None:
        self.config = config if config is not None else SRPTAgingConfig()
        self.book = TaskBook(predictor)
        # per task: (calls done, predicted prompt tokens, priced predicted output), the
        # parts of R that the book's estimate (cached per calls done) fixes
        self._priced: dict[TaskId, tuple[int, float, float]] = {}

    @classmethod
    def from_context(cls, ctx: BuildContext, config: SRPTAgingConfig | None = None) -> Self:
        """SRPT with aging for a run: the shared predictor, work priced by the cost model
        (:meth:`~sagacore.build.BuildContext.token_prices`)."""
        p, o = ctx.token_prices()
        base = config if config is not None else SRPTAgingConfig()
        return cls(replace(base, seconds_per_prompt_token=p, seconds_per_output_token=o),
                   ctx.predictor)

    def estimate(self, call: CallView) -> RemainingEstimate:
        """Predicted work of ``call``'s program from this call on (this call included)."""
        return self.book.remaining(self.book.record(call))

    def remaining_seconds(self, call: CallView) -> float:
        """``R``: the program's predicted remaining work in isolated GPU seconds.

        ``max(predicted prompt tokens, this call's prompt) * seconds_per_prompt_token +
        predicted output tokens * seconds_per_output_token``, the estimate's parts kept
        per task until its next call ends (as the book keeps the estimate).
        """
        c = self.config
        rec = self.book.tasks.get(call.task_id)
        hit = self._priced.get(call.task_id)
        if rec is None or hit is None or hit[0] != rec.calls_done:
            est = self.estimate(call)
            rec = self.book.tasks[call.task_id]
            hit = (rec.calls_done, est.prompt_tokens,
                   est.output_tokens * c.seconds_per_output_token)
            self._priced[call.task_id] = hit
        return max(hit[1], float(call.prompt_tokens)) * c.seconds_per_prompt_token + hit[2]

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        """``(R + aging * a, a, step)``, ``a`` the program's arrival: the order of
        ``R - aging * (now - a)`` at any ``now``, as a value that does not change while
        the call waits."""
        a = call.task_arrival_s
        return (self.remaining_seconds(call) + self.config.aging * a, a, float(call.step))

    def observe_task_arrival(self, task: TaskArrivalView, now: float) -> None:
        """Open the task's record."""
        self.book.arrive(task)

    def observe_call_end(self, call: CallView, output_tokens: int, now: float) -> None:
        """Count the finished call."""
        self.book.end(call, output_tokens)

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        """Learn from the finished task and forget it."""
        self.book.finish(task_id)
        self._priced.pop(task_id, None)
