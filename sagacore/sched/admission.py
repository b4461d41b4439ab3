"""Admission control under memory pressure: start a program only if its working set fits.

Under overload, an engine that admits every new program lets the KV of the programs
already running (and those paused in a tool, about to resume) be evicted to make room
for new ones; each resumed program then recomputes its whole context, which evicts
others in turn. This thrash is what collapses ``vllm-apc`` in overload (on the bundled
SWE-bench trace on 16 GPUs at 8 tasks/min it recomputes 215M prompt tokens against 4M
of cold prefill). :class:`WorkingSetAdmission` wraps any scheduler (its order is the
inner scheduler's) and adds one rule through
:meth:`~sagacore.policy.Scheduler.admit`: a *new* program (one that has never been
admitted) joins a worker only if the predicted working sets of the programs active on
that worker, plus its own, fit in the worker's KV capacity:

    sum over active programs p on the worker of  peak(p)  +  peak(new)  <=  capacity

A program is *active* on a worker from its first admission there until it ends (or
its session is admitted elsewhere), whether it runs, waits or is in a tool; a program
between two calls whose KV the worker has let go (less than half of its last prompt
still cached) stops reserving until its next call is admitted: there is nothing of it
left to protect. ``peak(p)`` is the predicted largest context of ``p`` over its
remaining life: its current prompt plus its growth per call times its remaining calls
``R``, plus one call's output. The growth per call is learned online, not taken from a
prior fitted elsewhere: the mean growth per call seen so far in programs of the same
agent type (signed differences of consecutive prompts, so a prompt that swings up and
down without growing, as a browser agent's page observation does, learns zero; the
predictor's before any was seen), and once the program has grown over
``n`` calls of its own, ``(n own + prior_weight type) / (n + prior_weight)``: a prior
fitted on another workload (the predictor's cold default is SWE-bench's 430 tokens a
call) would make programs whose contexts barely grow, such as browser agents, reserve
five times what they use. ``R`` is the shared predictor's remaining-calls estimate. A
program reserves its current context plus ``growth_share`` of that growth: 1 reserves
every peak (no active program can ever be evicted for another, if the predictions hold,
but the peaks of programs at different phases never coincide and memory idles); 0
reserves only what is held now (programs admitted early in their growth then outgrow
the memory); the default, 0.5,
is the mean context over the remaining life of a linearly growing context. With
programs at independent phases the reservations then sum to about 3/4 of the peaks
while the contexts sum to about 1/2 of them: a margin for their fluctuation. (On the
training workloads 0.35 and 0.5 each win some loads, ``docs/stacks.md``; the default
is the principled value, not the fitted one.)

**Only what is reused is protected.** A paused program's KV is worth protecting only if
its next call reuses it: a coding agent's next prompt extends its whole context, but a
browser agent's replaces the page observation and keeps only the system prompt that
every program shares (SPEC's WebArena). Reserving such a program's context protects
nothing and leaves memory idle (a WebArena run with a 40,000-token cache ran 15% slower
than ``vllm-apc``, at 38% KV utilisation against 61%). So each reservation is scaled
by the share of its own context (beyond the prefix it found cached when it started)
that resuming programs of its agent type have found cached: observed at the first
admission of each resumed call, the largest share seen so far, 1 before any is seen.
Eviction can only lower what a resuming call finds, so the largest share errs toward
protecting (the rule as without the scaling), never toward admitting into a thrash; a
program that found nothing cached when it started cannot tell its own tokens from a
prefix that others will share and is not observed (nor is a call admitted again after
a preemption, which finds its own prompt). Calls of programs already active are
always admitted (in the inner order), so the rule never delays a program that has
started; and at low load, where the active working sets fit, it never defers anything:
the schedule is the inner scheduler's.

**No starvation** (the rule that a proof can start from). At each scheduling point of
a worker, the mechanism offers the waiting calls that fit in key order. (i) A new
program is never deferred on a worker whose running batch is empty. (ii) Once a new
program is deferred at a scheduling point, every later new program offered at the same
point on the same worker is deferred too, so a new program is overtaken by another
only if that one comes first in the inner scheduler's order. Hence: if the inner order
is starvation-free (every waiting call eventually comes first among the waiting new
programs, as with :class:`~sagacore.sched.srpt_aging.SRPTAging`'s aging), every program
is admitted in finite time. Proof sketch: let ``c`` be a deferred new program's call
that has become first in the order among new programs on its worker; from then on no
new program is admitted there before it (ii); the programs active on the worker are
finitely many and each ends in finite time (finitely many calls, each served in finite
time, as the inner scheduler guarantees for started programs), and each end removes
its peak from the sum; when the sum plus ``peak(c)`` fits, or the batch is empty (i),
``c`` is admitted at the next scheduling point, which comes when a running call ends.
The rules are theorem ``sagacore-admission-rule`` and the proof, with its assumptions,
is in ``docs/proofs/srpt_aging.md`` (the stack's admission control).

Examples
--------
>>> from types import SimpleNamespace as W
>>> from sagacore.sched.fcfs import FCFS
>>> from sagacore.testing.fairness import SimpleCall
>>> a = WorkingSetAdmission(FCFS())
>>> cold = lambda call: 0     # nothing of a new program's prompt is cached yet
>>> busy = W(worker_id=0, running_calls=1, pool_tokens=30_000, cached_prefix_tokens=cold)
>>> a.admit(SimpleCall(task_id="p", prompt_tokens=1_600), busy, 0.0)   # fits: admitted
True
>>> a.working_set(0) > 15_000     # half its predicted growth (prior: 75 calls x 430)
True
>>> a.admit(SimpleCall(task_id="q", prompt_tokens=1_600), busy, 0.0)   # would not fit
False
>>> a.admit(SimpleCall(task_id="p", step=1, prompt_tokens=2_000), busy, 1.0)  # resumes
True
>>> idle = W(worker_id=0, running_calls=0, pool_tokens=30_000, cached_prefix_tokens=cold)
>>> a.admit(SimpleCall(task_id="q", prompt_tokens=1_600), idle, 2.0)   # rule (i)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Self

from sagacore.errors import ConfigError
from sagacore.policy import CallView, Scheduler, TaskArrivalView, WorkerView
from sagacore.sched._base import BookEntry, TaskBook
from sagacore.validate import positive
from sagacore.workload.model import Task, TaskId

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.build import BuildContext
    from sagacore.workload.predictor import Predictor

__all__ = ["AdmissionConfig", "SagacoreScheduler", "WorkingSetAdmission", "with_admission"]


@dataclass(frozen=True)
class AdmissionConfig:
    """Parameters of :class:`WorkingSetAdmission`."""

    growth_share: float = 0.5
    """Share of its predicted growth an active program reserves: 0 counts its current
    context, 1 its predicted peak, 0.5 (default) the mean context over its remaining
    life when the context grows linearly (``docs/stacks.md`` measures 0 to 1)."""

    prior_weight: float = 1.0
    """Weight, in calls, of the prior growth per call (the mean seen so far in programs
    of the same agent type; the predictor's before any) against the program's own: a
    program that has grown over ``n`` calls is expected to keep growing at
    ``(n own + prior_weight prior) / (n + prior_weight)`` tokens per call."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.growth_share <= 1.0:
            raise ConfigError(f"growth_share must be in [0, 1], got {self.growth_share!r}")
        positive("prior_weight", self.prior_weight, zero_ok=True)


class WorkingSetAdmission(Scheduler):
    """Admit a new program only if the predicted working sets fit (module docs).

    The order is ``inner``'s; when memory runs out the engine preempts the running call
    of largest key.

    Parameters
    ----------
    inner
        The scheduler whose order is used.
    config
        How much a program reserves.
    predictor
        The shared predictor (None: per-type means of the tasks this scheduler saw end).
    book
        A task book that ``inner`` keeps and feeds (its estimates are then shared);
        None: this scheduler keeps its own.
    """

    name: ClassVar[str] = "working-set-admission"
    victim_by_key: ClassVar[bool] = True

    def __init__(self, inner: Scheduler, config: AdmissionConfig | None = None,
                 predictor: Predictor | None = None, *, book: TaskBook | None = None) -> None:
        self.inner = inner
        self.config = config if config is not None else AdmissionConfig()
        self._own_book = book is None
        self.book = TaskBook(predictor) if book is None else book
        self._where: dict[TaskId, int] = {}
        self._need: dict[TaskId, float] = {}
        self._sum: dict[int, float] = {}
        self._last_prompt: dict[TaskId, int] = {}
        self._shared: dict[TaskId, int] = {}
        self._paused: dict[int, dict[TaskId, CallView]] = {}
        self._type_growth: dict[str, tuple[int, float]] = {}
        self._reuse: dict[str, float] = {}
        self._observed_step: dict[TaskId, int] = {}
        self._deferred_at: tuple[float, int] | None = None

    # --- the rule ------------------------------------------------------------------------
    def growth_per_call(self, rec: BookEntry, predicted: float) -> float:
        """Expected prompt growth per further call of ``rec``'s program (module docs).

        The prior is the mean growth per call seen so far in programs of its agent type
        (of the signed differences between consecutive prompts, floored at 0 at the end)
        (``predicted``, the predictor's, before any); a program that has grown over ``n``
        calls itself counts ``n`` times against the prior's ``prior_weight``.
        """
        n_type, sum_type = self._type_growth.get(rec.agent_type, (0, 0.0))
        prior = max(0.0, sum_type / n_type) if n_type else predicted
        seen = rec.calls_done - 1  # growth steps this program has shown
        last = self._last_prompt.get(rec.task_id, 0)
        if seen <= 0 or last <= 0:
            return prior
        own = max(0.0, (last - rec.first_prompt_tokens) / seen)
        k0 = self.config.prior_weight
        return (seen * own + k0 * prior) / (seen + k0)

    def reused_share(self, agent_type: str) -> float:
        """Share of a paused program's own context that its next call reuses, for
        programs of ``agent_type``: the largest seen so far, 1 before any (module docs)."""
        return self._reuse.get(agent_type, 1.0)

    def _observe_reuse(self, call: CallView, worker: WorkerView) -> None:
        """Record what a resuming call finds of its program's context (module docs)."""
        tid = call.task_id
        if self._observed_step.get(tid) == call.step:
            return  # admitted again after a preemption: it finds its own prompt
        self._observed_step[tid] = call.step
        shared = self._shared.get(tid, 0)
        last = self._last_prompt.get(tid, 0)
        if shared <= 0 or last <= shared:
            return
        t = call.agent_type
        if self._reuse.get(t, 0.0) >= 1.0:
            return  # the largest share there is: nothing to look up
        found = min(worker.cached_prefix_tokens(call), last)
        share = min(1.0, max(0.0, (found - shared) / (last - shared)))
        self._reuse[t] = max(self._reuse.get(t, share), share)

    def peak_tokens(self, call: CallView) -> float:
        """Tokens ``call``'s program reserves: its prompt plus ``growth_share`` of its
        predicted growth to its peak context, beyond the shared prefix it found, scaled
        by :meth:`reused_share` (module docs)."""
        rec = self.book.record(call)
        est = self.book.remaining(rec)
        r = max(est.calls, 1.0)
        last = float(self._last_prompt.get(call.task_id, 0))
        g = self.growth_per_call(rec, max(0.0, 2.0 * (est.prompt_tokens / r - last) / (r + 1.0)))
        now = float(call.prompt_tokens)
        peak = max(now, last) + g * r + est.output_tokens / r
        own = now + self.config.growth_share * (peak - now) - self._shared.get(call.task_id, 0)
        return self.reused_share(call.agent_type) * own

    def working_set(self, worker_id: int) -> float:
        """Tokens reserved by the programs active on ``worker_id``."""
        return self._sum.get(worker_id, 0.0)

    def _place(self, tid: TaskId, w: int, need: float) -> None:
        prev = self._where.get(tid)
        if prev is not None:
            self._sum[prev] -= self._need[tid]
        self._where[tid] = w
        self._need[tid] = need
        self._sum[w] = self._sum.get(w, 0.0) + need

    def _release_dropped(self, worker: WorkerView) -> None:
        """Stop counting the programs between calls on ``worker`` whose KV is gone.

        A program between two calls (in a tool, or its next call waiting) keeps its
        reservation while the worker still caches at least half of its last prompt; once
        the cache has let it go there is nothing of it left to protect, and it reserves
        again when its next call is admitted.
        """
        w = worker.worker_id
        paused = self._paused.get(w)
        if not paused:
            return
        gone = [tid for tid, last in paused.items()
                if 2 * worker.cached_prefix_tokens(last) < last.prompt_tokens]
        for tid in gone:
            del paused[tid]
            self._sum[w] -= self._need[tid]
            self._need[tid] = 0.0

    def admit(self, call: CallView, worker: WorkerView, now: float) -> bool:
        """Resuming programs: yes; a new one: if the working sets fit (module docs)."""
        tid = call.task_id
        w = worker.worker_id
        if tid in self._where:
            self._observe_reuse(call, worker)
            prev = self._where[tid]
            paused = self._paused.get(prev)
            if paused is not None:
                paused.pop(tid, None)
            self._place(tid, w, self.peak_tokens(call))
            return True
        if self._deferred_at == (now, w):
            return False  # rule (ii): a new program was deferred earlier at this point
        # what a new program finds cached was computed by others (a shared system
        # prompt): it is theirs to reserve, not this program's
        self._shared[tid] = min(worker.cached_prefix_tokens(call), call.prompt_tokens)
        need = self.peak_tokens(call)
        if worker.running_calls and self.working_set(w) + need > worker.pool_tokens:
            self._release_dropped(worker)
            if self.working_set(w) + need > worker.pool_tokens:
                self._deferred_at = (now, w)
                return False
        self._place(tid, w, need)
        return True

    # --- the inner order and the hooks ---------------------------------------------------
    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        """The inner scheduler's key."""
        return self.inner.key(call, now)

    def observe_task_arrival(self, task: TaskArrivalView, now: float) -> None:
        """Forwarded; the book opens the task."""
        if self._own_book:
            self.book.arrive(task)
        self.inner.observe_task_arrival(task, now)

    def observe_task_future(self, task: Task, now: float) -> None:
        """Forwarded (an oracle inside the gate still gets the task's future)."""
        self.inner.observe_task_future(task, now)

    def observe_call_start(self, call: CallView, now: float) -> None:
        """Forwarded."""
        self.inner.observe_call_start(call, now)

    def observe_call_end(self, call: CallView, output_tokens: int, now: float) -> None:
        """Forwarded; the book counts the call."""
        if self._own_book:
            self.book.end(call, output_tokens)
        prev = self._last_prompt.get(call.task_id)
        if prev is not None:
            n, total = self._type_growth.get(call.agent_type, (0, 0.0))
            self._type_growth[call.agent_type] = (n + 1, total + call.prompt_tokens - prev)
        self._last_prompt[call.task_id] = call.prompt_tokens
        w = self._where.get(call.task_id)
        if w is not None:
            self._paused.setdefault(w, {})[call.task_id] = call
        self.inner.observe_call_end(call, output_tokens, now)

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        """Forwarded; the program's reservation is released."""
        if self._own_book:
            self.book.finish(task_id)
        w = self._where.pop(task_id, None)
        if w is not None:
            self._sum[w] -= self._need.pop(task_id)
            paused = self._paused.get(w)
            if paused is not None:
                paused.pop(task_id, None)
        self._last_prompt.pop(task_id, None)
        self._shared.pop(task_id, None)
        self._observed_step.pop(task_id, None)
        self.inner.observe_task_end(task_id, now)


class _ForwardingService(WorkingSetAdmission):
    """:class:`WorkingSetAdmission` over an inner scheduler that observes service."""

    def observe_service(self, call: CallView, tokens: int, seconds: float, now: float) -> None:
        """Forwarded."""
        self.inner.observe_service(call, tokens, seconds, now)


def with_admission(inner: Scheduler, config: AdmissionConfig | None = None,
                   predictor: Predictor | None = None) -> WorkingSetAdmission:
    """``inner`` with working-set admission control (service is forwarded when observed).

    Only an inner scheduler that overrides ``observe_service`` gets it (the simulator
    skips hooks nobody overrides, which keeps its fast paths).

    Examples
    --------
    >>> from sagacore.sched.autellix import Autellix
    >>> from sagacore.sched.fcfs import FCFS
    >>> type(with_admission(Autellix())).__name__, type(with_admission(FCFS())).__name__
    ('_ForwardingService', 'WorkingSetAdmission')
    """
    if type(inner).observe_service is not Scheduler.observe_service:
        return _ForwardingService(inner, config, predictor)
    return WorkingSetAdmission(inner, config, predictor)


class SagacoreScheduler(WorkingSetAdmission):
    """sagacore's scheduler: :class:`~sagacore.sched.srpt_aging.SRPTAging` order with
    working-set admission control.

    Parameters
    ----------
    predictor
        The shared predictor (None: per-type means of finished tasks).
    seconds_per_prompt_token, seconds_per_output_token
        Prices of remaining work (None: :class:`~sagacore.sched.srpt_aging.SRPTAgingConfig`'s).
    config
        The admission rule's parameters.
    """

    name: ClassVar[str] = "sagacore"
    needs_predictor: ClassVar[bool] = True
    needs_cost_model: ClassVar[bool] = True

    @classmethod
    def from_context(cls, ctx: BuildContext) -> Self:
        """The scheduler for a run: the shared predictor, work priced by the cost model
        (:meth:`~sagacore.build.BuildContext.token_prices`)."""
        p, o = ctx.token_prices()
        return cls(ctx.predictor, seconds_per_prompt_token=p, seconds_per_output_token=o)

    def __init__(self, predictor: Predictor | None = None, *,
                 seconds_per_prompt_token: float | None = None,
                 seconds_per_output_token: float | None = None,
                 config: AdmissionConfig | None = None) -> None:
        from sagacore.sched.srpt_aging import SRPTAging, SRPTAgingConfig

        d = SRPTAgingConfig()
        cfg = SRPTAgingConfig(
            seconds_per_prompt_token=seconds_per_prompt_token or d.seconds_per_prompt_token,
            seconds_per_output_token=seconds_per_output_token or d.seconds_per_output_token,
        )
        inner = SRPTAging(cfg, predictor)
        super().__init__(inner, config, predictor, book=inner.book)
