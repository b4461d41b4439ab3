"""Shortest *predicted* remaining program first, with aging: SRPT at program level.

A call's key is its program's predicted remaining work, in seconds of isolated GPU
service, minus the time the program has waited:

    key = R(task) - aging * W(task, now)

``R`` comes from the shared :class:`~sagacore.workload.predictor.Predictor` when the
mechanism provides one (:meth:`~sagacore.workload.predictor.Predictor.remaining_work`:
remaining calls, their prompt and output tokens), priced at the isolated engine's
seconds per prompt and per output token; without one, from per-agent-type means of
finished tasks (:class:`~sagacore.sched._base.TaskBook`). ``W`` is the program's waiting
time over its whole lifecycle: the waits of its earlier calls plus the current one.
When the engine preempts, the victim is the running call of largest key.

Programs close to their end go first, which finishes what was started (the working
set shrinks) and, with sizes that vary, lowers mean completion time as SRPT does. A
program that cannot be predicted (nothing learned yet) gets the prior's estimate, the
same for every program of its type, so the order among them is by waiting time.

**No starvation.** Keys are ``R - aging * W`` with ``0 <= R <= R_max`` (the predictor's
estimates are bounded for a finite trace) and ``W`` growing at rate 1 while the program
waits. A call that has waited ``W > R_max / aging`` has a negative key, smaller than
that of every call whose program has not waited (``key >= 0``), so from then on it can
be overtaken only by programs that themselves waited longer than it (in the same sense);
there are finitely many of those at any time and each is served in finite time, so the
call is served in finite time (as HRRN's ratio bounds waiting). The scheduler never
preempts a running call for a waiting one.

Examples
--------
>>> from sagacore.testing.fairness import SimpleCall
>>> s = SRPTAging()
>>> for i in range(70):                              # program a has finished 70 calls
...     s.observe_call_end(SimpleCall(task_id="a", step=i), 90, 0.0)
>>> near_end = SimpleCall(task_id="a", steps_done=70, prompt_tokens=30_000)
>>> fresh = SimpleCall(task_id="b", steps_done=0, prompt_tokens=1_600)
>>> s.key(near_end, 0.0) < s.key(fresh, 0.0)      # the program about to finish first
True
>>> waited = SimpleCall(task_id="c", steps_done=0, prompt_tokens=1_600, task_wait_s=1e6)
>>> s.key(waited, 0.0) < s.key(near_end, 0.0)      # ... unless another waited long enough
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
    """Seconds of key removed per second a program waits (0 would allow starvation)."""

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
        """``(R - aging * W, task arrival, step)``."""
        wait = call.task_wait_s + max(0.0, now - call.ready_s)
        return (self.remaining_seconds(call) - self.config.aging * wait, call.task_arrival_s,
                float(call.step))

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
