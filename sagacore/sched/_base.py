"""Shared machinery of the agent-aware schedulers: per-task books and work estimates.

A deployable policy learns only from what the mechanism shows it: a task's arrival,
tenant and type (:meth:`~sagacore.policy.Scheduler.observe_task_arrival`), its calls as
they start, are served and end. :class:`TaskBook` keeps that per task. Remaining work
comes from the shared :class:`~sagacore.workload.predictor.Predictor` when the mechanism
provides one (the design's rule: workflow knowledge lives in one place); without one,
:class:`TypeStats` keeps per-agent-type means of completed tasks, with priors before the
first task ends (the published SWE-agent statistics).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sagacore._values import quick_init
from sagacore.policy import CallView, TaskArrivalView
from sagacore.workload.model import TaskId, TenantId

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.workload.predictor import Predictor

__all__ = [
    "BookEntry",
    "RemainingEstimate",
    "TaskBook",
    "TypeStats",
    "call_memory_cost",
]


@dataclass(slots=True)
class BookEntry:
    """What a scheduler has seen of one task: an entry of its :class:`TaskBook` (not the
    simulator's outcome of a task, :class:`sagacore.sim.result.TaskRecord`)."""

    task_id: TaskId
    tenant: TenantId
    agent_type: str
    arrival_s: float
    first_prompt_tokens: int
    """Prompt tokens of the first call (submitted with the task)."""
    calls_done: int = 0
    prompt_tokens: int = 0
    """Prompt tokens of finished calls."""
    output_tokens: int = 0
    """Output tokens of finished calls."""
    memory_cost: float = 0.0
    """Justitia's cost of finished calls: sum of I O + O (O + 1) / 2."""
    running: set[int] = field(default_factory=set)
    """Steps with a call in a running batch."""


@quick_init
@dataclass(frozen=True, slots=True)
class RemainingEstimate:
    """Expected work after the calls finished so far."""

    calls: float
    prompt_tokens: float
    output_tokens: float
    tool_seconds: float


@dataclass(slots=True)
class _Mean:
    n: int = 0
    total: float = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        self.total += x

    def value(self, prior: float) -> float:
        return self.total / self.n if self.n else prior


@dataclass
class TypeStats:
    """Per-agent-type means of completed tasks, with priors (published SWE agents)."""

    prior_calls: float = 75.0
    """Calls per task before any task of the type ended."""
    prior_prompt_tokens: float = 1600.0 + 430.0 * 37
    """Mean prompt tokens per call (first prompt 1.6K, growing 430 per step)."""
    prior_output_tokens: float = 90.0
    """Mean output tokens per call."""
    prior_tool_seconds: float = 1.0
    """Mean tool seconds per call."""
    _calls: dict[str, _Mean] = field(default_factory=dict)
    _prompt: dict[str, _Mean] = field(default_factory=dict)
    _output: dict[str, _Mean] = field(default_factory=dict)
    _tool: dict[str, _Mean] = field(default_factory=dict)

    def learn(self, record: BookEntry, tool_seconds: float) -> None:
        """Add a finished task."""
        t = record.agent_type
        self._calls.setdefault(t, _Mean()).add(record.calls_done)
        if record.calls_done:
            self._prompt.setdefault(t, _Mean()).add(record.prompt_tokens / record.calls_done)
            self._output.setdefault(t, _Mean()).add(record.output_tokens / record.calls_done)
            self._tool.setdefault(t, _Mean()).add(tool_seconds / record.calls_done)

    def remaining(self, record: BookEntry) -> RemainingEstimate:
        """Expected remaining work of a live task: at least one more call."""
        t = record.agent_type
        calls = self._calls.get(t, _Mean()).value(self.prior_calls)
        left = max(calls - record.calls_done, 1.0)
        return RemainingEstimate(
            left,
            left * self._prompt.get(t, _Mean()).value(self.prior_prompt_tokens),
            left * self._output.get(t, _Mean()).value(self.prior_output_tokens),
            left * self._tool.get(t, _Mean()).value(self.prior_tool_seconds),
        )


@dataclass
class TaskBook:
    """Per-task records fed by the scheduler hooks, and remaining-work estimates.

    Parameters
    ----------
    predictor
        The shared predictor (None: :class:`TypeStats` of this book's own tasks).
    """

    predictor: Predictor | None = None
    stats: TypeStats = field(default_factory=TypeStats)
    tasks: dict[TaskId, BookEntry] = field(default_factory=dict)
    _tool_s: dict[TaskId, float] = field(default_factory=dict)
    _cache: dict[TaskId, tuple[int, RemainingEstimate]] = field(default_factory=dict)

    def arrive(self, task: TaskArrivalView) -> BookEntry:
        """Record a task's arrival (only its id, tenant, type, time and first prompt)."""
        rec = BookEntry(task.id, task.tenant, task.agent_type, task.arrival_s,
                         task.first_prompt_tokens)
        self.tasks[task.id] = rec
        return rec

    def record(self, call: CallView) -> BookEntry:
        """The record of ``call``'s task (created from the view when the arrival was missed)."""
        rec = self.tasks.get(call.task_id)
        if rec is None:
            rec = BookEntry(call.task_id, call.tenant, call.agent_type, call.task_arrival_s,
                             call.prompt_tokens)
            self.tasks[call.task_id] = rec
        return rec

    def start(self, call: CallView) -> None:
        """``call`` joined a batch."""
        self.record(call).running.add(call.step)

    def end(self, call: CallView, output_tokens: int) -> BookEntry:
        """``call`` finished."""
        rec = self.record(call)
        rec.running.discard(call.step)
        rec.calls_done += 1
        rec.prompt_tokens += call.prompt_tokens
        rec.output_tokens += output_tokens
        rec.memory_cost += call_memory_cost(call.prompt_tokens, output_tokens)
        self._tool_s[call.task_id] = call.task_tool_s
        return rec

    def finish(self, task_id: TaskId) -> BookEntry | None:
        """The task ended: learn from it and forget it."""
        rec = self.tasks.pop(task_id, None)
        self._cache.pop(task_id, None)
        tool = self._tool_s.pop(task_id, 0.0)
        if rec is not None:
            self.stats.learn(rec, tool)
        return rec

    def remaining(self, rec: BookEntry) -> RemainingEstimate:
        """Expected remaining work, from the predictor when there is one (cached per call)."""
        hit = self._cache.get(rec.task_id)
        if hit is not None and hit[0] == rec.calls_done:
            return hit[1]
        est: RemainingEstimate | None = None
        if self.predictor is not None:
            try:
                r = self.predictor.remaining_work(rec.task_id)
            except Exception:  # the predictor does not know the task (not fed yet)
                r = None
            if r is not None:
                est = RemainingEstimate(max(r.steps, 1.0), r.prompt_tokens, r.output_tokens,
                                        r.tool_seconds)
        if est is None:
            est = self.stats.remaining(rec)
        self._cache[rec.task_id] = (rec.calls_done, est)
        return est


def call_memory_cost(prompt_tokens: float, output_tokens: float) -> float:
    """Justitia's memory-centric cost of a call: ``I O + O (O + 1) / 2``.

    KV tokens held times decode iterations: the prompt's ``I`` tokens for ``O``
    iterations plus the output's growing ``1 + 2 + ... + O``.

    Examples
    --------
    >>> call_memory_cost(1000, 10)
    10055.0
    """
    return float(prompt_tokens * output_tokens + output_tokens * (output_tokens + 1) / 2)
