"""The straightforward implementation of SAGA's AFS, kept as a reference.

A verbatim copy of ``sagacore.sched.afs.SagaAFS`` before its bookkeeping became
incremental (commit 15094b4): every epoch it recomputes every task's remaining work and
urgency in a loop. ``tests/test_afs_incremental.py`` checks the incremental class against
it and ``benchmarks/afs_speed.py`` times the two side by side.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from sagacore.policy import CallView, Scheduler, TaskArrivalView
from sagacore.sched._base import BookEntry, TaskBook
from sagacore.sched.afs import AFSConfig, afs_shares
from sagacore.workload.model import TaskId, TenantId

if TYPE_CHECKING:
    from sagacore.stacks import BuildContext
    from sagacore.workload.predictor import Predictor

__all__ = ["ReferenceAFS"]


class ReferenceAFS(Scheduler):
    """SAGA's AFS as it was before the incremental bookkeeping (a verbatim copy).

    Parameters
    ----------
    config
        Parameters (default :class:`AFSConfig`).
    predictor
        The shared predictor for remaining work (None: per-type means of completed tasks).
    """

    name: ClassVar[str] = "saga-afs-reference"
    preemptive: ClassVar[bool] = True

    def __init__(self, config: AFSConfig | None = None, predictor: Predictor | None = None) -> None:
        self.config = config if config is not None else AFSConfig()
        self.book = TaskBook(predictor)
        self.deadline: dict[TaskId, float] = {}
        self.urgency: dict[TaskId, float] = {}
        self.share: dict[TaskId, float] = {}
        self.served: dict[TaskId, float] = {}
        self.epoch = -1

    @classmethod
    def build(cls, ctx: BuildContext, config: AFSConfig | None = None) -> ReferenceAFS:
        """A stack factory: the shared predictor, capacity scaled with the cluster."""
        base = config if config is not None else AFSConfig()
        cap = base.streams_per_instance * ctx.instances
        return cls(replace(base, capacity=cap), predictor=ctx.predictor)

    # --- work and deadlines ---------------------------------------------------------------
    def _seconds(self, prompt_tokens: float, output_tokens: float) -> float:
        c = self.config
        return (
            prompt_tokens * c.seconds_per_prompt_token + output_tokens * c.seconds_per_output_token
        )

    def _remaining_s(self, rec: BookEntry) -> float:
        r = self.book.remaining(rec)
        return max(self._seconds(r.prompt_tokens, r.output_tokens), 1e-6)

    def observe_task_arrival(self, task: TaskArrivalView, now: float) -> None:
        """Set the task's deadline from its expected isolated completion time."""
        rec = self.book.arrive(task)
        r = self.book.remaining(rec)
        expected = self._seconds(r.prompt_tokens, r.output_tokens) + r.tool_seconds
        factor = self.config.tenant_slo_factors.get(task.tenant, self.config.slo_factor)
        self.deadline[task.id] = task.arrival_s + factor * max(expected, self.config.epoch_s)
        self.epoch = -1  # recompute shares at the next key

    # --- shares, once per epoch -------------------------------------------------------------
    def _refresh(self, now: float) -> None:
        c = self.config
        e = int(now // c.epoch_s)
        if e == self.epoch:
            return
        self.epoch = e
        self.urgency.clear()
        tenant_u: dict[TenantId, float] = {}
        for tid, rec in self.book.tasks.items():
            left = max(self.deadline.get(tid, now) - now, c.epoch_s)
            u = self._remaining_s(rec) / left
            self.urgency[tid] = u
            tenant_u[rec.tenant] = tenant_u.get(rec.tenant, 0.0) + u
        weights = {TenantId(t): w for t, w in c.tenant_weights.items()}
        shares = afs_shares(tenant_u, allocation=c.allocation, weights=weights, capacity=c.capacity)
        self.share = {
            tid: shares[rec.tenant] * self.urgency[tid] / tenant_u[rec.tenant]
            for tid, rec in self.book.tasks.items()
            if tenant_u[rec.tenant] > 0
        }
        self.served = {}

    def tenant_afs(self, now: float) -> dict[TenantId, float]:
        """Each tenant's AFS (sum of its tasks' urgencies) at ``now``."""
        self._refresh(now)
        out: dict[TenantId, float] = {}
        for tid, u in self.urgency.items():
            t = self.book.tasks[tid].tenant
            out[t] = out.get(t, 0.0) + u
        return out

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        """Tiered key (module docs)."""
        self._refresh(now)
        rec = self.book.tasks.get(call.task_id)
        urgency = self.urgency.get(call.task_id, 0.0)
        running = rec is not None and call.step in rec.running
        if running or now - call.ready_s > self.config.preempt_after_s:
            return (0.0, -urgency, call.ready_s, float(call.step))
        share = self.share.get(call.task_id, 0.0)
        norm = self.served.get(call.task_id, 0.0) / share if share > 0 else float("inf")
        if norm == float("inf"):
            norm = 1e300
        return (1.0, norm, call.ready_s, float(call.step))

    def observe_call_start(self, call: CallView, now: float) -> None:
        """Track running calls."""
        self.book.start(call)

    def observe_service(self, call: CallView, tokens: int, seconds: float, now: float) -> None:
        """Charge the task's service in this epoch."""
        self._refresh(now)
        self.served[call.task_id] = self.served.get(call.task_id, 0.0) + tokens

    def observe_call_end(self, call: CallView, output_tokens: int, now: float) -> None:
        """Record the finished call (remaining work shrinks)."""
        self.book.end(call, output_tokens)

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        """Forget the task."""
        self.book.finish(task_id)
        for d in (self.deadline, self.urgency, self.share, self.served):
            d.pop(task_id, None)
