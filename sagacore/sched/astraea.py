"""Astraea: state-aware scheduling over the whole job lifecycle (its call ordering).

Astraea classifies each agent job as **I/O-bound** or **compute-bound** from its history
and orders calls by an **enhanced HRRN**: the response ratio ``R = (W + S) / S`` with
``W`` the wait the job has accumulated over its whole lifecycle (all its calls so far,
not only the current one) and ``S`` its predicted service. Its adaptive KV manager
(keep, swap or drop a job's KV during I/O waits) is a cache policy
(:mod:`sagacore.cache.astraea`).

Every choice the public description leaves open is a parameter of :class:`AstraeaConfig`:

- *Classification:* I/O-bound when the share of the job's lifetime spent in tool calls,
  ``tool_s / (now - arrival)``, is at least ``io_threshold`` (0.5), once it has finished
  ``min_history_calls`` calls; before that, ``cold_class``.
- *Which class first:* ``favour="io"`` (default: an I/O-bound job's short GPU bursts
  unblock long tool waits, as interactive processes in an OS scheduler) or
  ``"compute"``.
- *How the class enters the order:* ``class_mode="boost"`` (default) multiplies the
  favoured class's ratio by ``boost`` (2), which keeps HRRN free of starvation;
  ``"strict"`` makes the class the first key (the literal reading; a steady stream of
  the favoured class then starves the other); ``"off"`` ignores the class.
- *Service S:* ``"remaining"`` (default) expected remaining LLM time of the job, from the
  shared predictor when given, priced at ``seconds_per_prompt_token`` and
  ``seconds_per_output_token``; ``"total"``: attained plus remaining.
- *Wait W:* the lifecycle wait reported by the mechanism (``task_wait_s``, updated when a
  call starts) plus the current call's wait ``now - ready_s``.

Notes
-----
HRRN with predicted sizes is free of starvation: a job's wait is at most the work ahead
of it plus the work of later arrivals in a window of ``theta W`` (theorem ``hrrn-wait``,
``docs/proofs/hrrn.md``); the ``boost`` mode keeps this with sizes divided by the boost.

Examples
--------
>>> from sagacore.testing.fairness import SimpleCall
>>> a = Astraea()
>>> waited = SimpleCall(task_id="a", ready_s=0.0, task_wait_s=30.0)
>>> fresh = SimpleCall(task_id="b", ready_s=9.0)
>>> a.key(waited, 10.0) < a.key(fresh, 10.0)
True
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, Literal, Self

from sagacore.errors import ConfigError
from sagacore.policy import CallView, Scheduler, TaskArrivalView
from sagacore.sched._base import TaskBook
from sagacore.validate import at_least, positive, positive_int
from sagacore.workload.model import TaskId

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.build import BuildContext
    from sagacore.workload.predictor import Predictor

__all__ = ["Astraea", "AstraeaConfig"]


@dataclass(frozen=True)
class AstraeaConfig:
    """Parameters of :class:`Astraea` (module docs)."""

    io_threshold: float = 0.5
    """Tool-time share of the lifetime at or above which a job is I/O-bound."""
    min_history_calls: int = 1
    """Calls a job must have finished before it is classified."""
    cold_class: Literal["io", "compute"] = "compute"
    """Class of a job with too little history."""
    favour: Literal["io", "compute"] = "io"
    """The class served first (or boosted)."""
    class_mode: Literal["boost", "strict", "off"] = "boost"
    """How the class enters the order."""
    boost: float = 2.0
    """Ratio multiplier of the favoured class in ``"boost"`` mode (>= 1)."""
    service: Literal["remaining", "total"] = "remaining"
    """``S``: expected remaining LLM time, or attained plus remaining."""
    seconds_per_prompt_token: float = 2e-4
    """Isolated prefill time per prompt token."""
    seconds_per_output_token: float = 0.03
    """Isolated decode time per output token."""
    min_service_s: float = 0.01
    """Floor of ``S`` (keeps the ratio finite)."""

    def __post_init__(self) -> None:
        if not 0 <= self.io_threshold <= 1:
            raise ConfigError(f"io_threshold must be in [0, 1], got {self.io_threshold!r}")
        positive_int("min_history_calls", self.min_history_calls, zero_ok=True)
        for name, val, ok in (("cold_class", self.cold_class, ("io", "compute")),
                              ("favour", self.favour, ("io", "compute")),
                              ("class_mode", self.class_mode, ("boost", "strict", "off")),
                              ("service", self.service, ("remaining", "total"))):
            if val not in ok:
                raise ConfigError(f"{name} must be one of {ok}, got {val!r}")
        at_least("boost", self.boost, 1)
        positive("seconds_per_prompt_token", self.seconds_per_prompt_token, zero_ok=True)
        positive("seconds_per_output_token", self.seconds_per_output_token, zero_ok=True)
        positive("min_service_s", self.min_service_s)


class Astraea(Scheduler):
    """Enhanced HRRN with I/O-/compute-bound classes (module docs)."""

    name: ClassVar[str] = "astraea"
    needs_predictor: ClassVar[bool] = True
    needs_cost_model: ClassVar[bool] = True

    def __init__(self, config: AstraeaConfig | None = None, predictor: Predictor | None = None) -> None:
        self.config = config if config is not None else AstraeaConfig()
        self.book = TaskBook(predictor)

    @classmethod
    def from_context(cls, ctx: BuildContext, config: AstraeaConfig | None = None) -> Self:
        """Astraea for a run: the shared predictor, service priced by the cost model
        (:meth:`~sagacore.build.BuildContext.token_prices`)."""
        p, o = ctx.token_prices()
        base = config if config is not None else AstraeaConfig()
        return cls(replace(base, seconds_per_prompt_token=p, seconds_per_output_token=o),
                   predictor=ctx.predictor)

    def job_class(self, call: CallView, now: float) -> Literal["io", "compute"]:
        """The job's class at ``now`` (module docs)."""
        c = self.config
        if call.steps_done < c.min_history_calls:
            return c.cold_class
        life = now - call.task_arrival_s
        if life <= 0:
            return c.cold_class
        return "io" if call.task_tool_s / life >= c.io_threshold else "compute"

    def service_s(self, call: CallView) -> float:
        """``S``: the job's predicted service, seconds."""
        c = self.config
        rec = self.book.record(call)
        r = self.book.remaining(rec)
        s = r.prompt_tokens * c.seconds_per_prompt_token + r.output_tokens * c.seconds_per_output_token
        if c.service == "total":
            s += call.task_attained_s
        return max(s, c.min_service_s)

    def ratio(self, call: CallView, now: float) -> float:
        """``R = (W + S) / S`` with the lifecycle wait ``W``."""
        s = self.service_s(call)
        w = call.task_wait_s + max(0.0, now - call.ready_s)
        return (w + s) / s

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        """``(class level, -R, ready_s, step)`` (class level 0 unless ``"strict"``)."""
        c = self.config
        r = self.ratio(call, now)
        favoured = self.job_class(call, now) == c.favour
        level = 0.0
        if c.class_mode == "strict":
            level = 0.0 if favoured else 1.0
        elif c.class_mode == "boost" and favoured:
            r *= c.boost
        return (level, -r, call.ready_s, float(call.step))

    def observe_task_arrival(self, task: TaskArrivalView, now: float) -> None:
        """Start the job's record."""
        self.book.arrive(task)

    def observe_call_end(self, call: CallView, output_tokens: int, now: float) -> None:
        """Record the finished call."""
        self.book.end(call, output_tokens)

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        """Learn from and forget the job."""
        self.book.finish(task_id)
