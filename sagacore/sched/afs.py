"""SAGA's Agent Fair Share (AFS), and AFS-WF, the variant with a per-tenant guarantee.

Every epoch (100 ms) each live task gets an *urgency*
``u = remaining work / max(deadline - now, epoch)`` and each tenant its AFS, the sum of
its tasks' urgencies. Capacity is shared among tenants in proportion to AFS (SAGA) or by
weighted water-filling of the AFS values (AFS-WF: identical to AFS whenever the demands
fit the capacity, capped at the tenant's weighted share in overload), and within a
tenant in proportion to task urgency. A task blocked for more than 500 ms by a running
call of a task with lower AFS preempts it.

How shares become an order (the :class:`~sagacore.policy.Scheduler` interface orders
calls, it does not allocate rates): each task's service in the current epoch is divided
by its share and waiting calls are served smallest normalised service first (a deficit
round robin of the shares). Keys are tiered:

- ``(0, -urgency, ...)``: running calls, and waiting calls blocked longer than
  ``preempt_after_s``; the mechanism preempts a running call whose key is larger, i.e. a
  call of a less urgent task;
- ``(1, normalised service, ...)``: other waiting calls, which never preempt.

Parameters the paper leaves open (:class:`AFSConfig`): remaining work comes from the
shared :class:`~sagacore.workload.predictor.Predictor` when the mechanism provides one
(else per-type means) and is priced in isolated-engine seconds
(``seconds_per_prompt_token``, ``seconds_per_output_token``); a task's deadline is its
arrival plus its tenant's SLO factor times its expected isolated completion time (LLM
time so priced plus tool time); the clamp ``max(deadline - now, epoch)`` keeps late tasks
urgent and finite; ``capacity`` is in the same unit as urgency (concurrent task streams
at isolated speed the cluster sustains) and matters only for AFS-WF.

Notes
-----
``docs/proofs/saga_afs.md``: the paper's fairness claim fails for AFS (theorem
``saga-afs-claim``, refuted with a counterexample); AFS meets every deadline when total
demand fits (``saga-afs-capacity``); AFS-WF meets every deadline of a tenant within its
weighted share whatever the others do (``saga-afs-wf``). The preemption tiers rely on the
scheduler knowing which calls run; the interface has no preemption hook, so a preempted
call keeps its running key until it restarts (it is re-admitted first).

Examples
--------
>>> from sagacore.testing.fairness import SimpleCall
>>> afs = SagaAFS()
>>> blocked = SimpleCall(task_id="a", ready_s=0.0)
>>> afs.key(blocked, 0.2)[0], afs.key(blocked, 0.7)[0]   # preempts only after 500 ms
(1.0, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, ClassVar, Literal, Self

import numpy as np

from sagacore.errors import ConfigError
from sagacore.policy import CallView, Scheduler, TaskArrivalView
from sagacore.sched._base import BookEntry, TaskBook
from sagacore.sched.fluid import waterfill
from sagacore.validate import at_least, positive
from sagacore.workload.model import TaskId, TenantId

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.build import BuildContext
    from sagacore.workload.predictor import Predictor

__all__ = ["AFSConfig", "SagaAFS", "SagaAFSWaterfill", "afs_shares"]

_INF = float("inf")


@dataclass(frozen=True)
class AFSConfig:
    """Parameters of :class:`SagaAFS` (module docs)."""

    allocation: Literal["proportional", "waterfill"] = "proportional"
    """SAGA's proportional split, or AFS-WF's weighted water-filling."""
    epoch_s: float = 0.1
    """Shares are recomputed every epoch (SAGA: 100 ms)."""
    preempt_after_s: float = 0.5
    """A call blocked this long may preempt a less urgent one (SAGA: 500 ms)."""
    slo_factor: float = 1.5
    """Deadline = arrival + slo_factor x expected isolated completion time."""
    tenant_slo_factors: Mapping[str, float] = field(default_factory=dict)
    """Per-tenant SLO factor (default ``slo_factor``)."""
    tenant_weights: Mapping[str, float] = field(default_factory=dict)
    """Per-tenant weight for AFS-WF (default 1)."""
    capacity: float = 64.0
    """Cluster capacity in urgency units (AFS-WF only): how many tasks the cluster can
    serve at once at their isolated speed. The default is 16 instances x 4; AFS-WF built
    from a context (:meth:`SagaAFS.from_context`) uses ``streams_per_instance`` x the
    cluster's instances."""
    streams_per_instance: float = 4.0
    """Tasks one instance serves at isolated speed, for AFS-WF's :meth:`SagaAFS.from_context`."""
    seconds_per_prompt_token: float = 2e-4
    """Isolated prefill time per prompt token."""
    seconds_per_output_token: float = 0.03
    """Isolated decode time per output token (one inter-token latency)."""

    def __post_init__(self) -> None:
        if self.allocation not in ("proportional", "waterfill"):
            raise ConfigError(
                f"allocation must be 'proportional' or 'waterfill', got {self.allocation!r}"
            )
        positive("epoch_s", self.epoch_s)
        positive("preempt_after_s", self.preempt_after_s, zero_ok=True)
        positive("capacity", self.capacity)
        positive("streams_per_instance", self.streams_per_instance)
        positive("seconds_per_prompt_token", self.seconds_per_prompt_token, zero_ok=True)
        positive("seconds_per_output_token", self.seconds_per_output_token, zero_ok=True)
        for name, d in (
            ("tenant_slo_factors", self.tenant_slo_factors),
            ("tenant_weights", self.tenant_weights),
        ):
            for t, x in d.items():
                positive(f"{name}[{t!r}]", x)
        at_least("slo_factor", self.slo_factor, 1)


def afs_shares(
    urgency: Mapping[TenantId, float],
    *,
    allocation: Literal["proportional", "waterfill"] = "proportional",
    weights: Mapping[TenantId, float] | None = None,
    capacity: float = 1.0,
) -> dict[TenantId, float]:
    """Tenant shares of ``capacity`` from their AFS values.

    Examples
    --------
    >>> u = {"light": 0.25, "heavy": 8.0}
    >>> sorted((k, round(v, 3)) for k, v in afs_shares(u).items())
    [('heavy', 0.97), ('light', 0.03)]
    >>> sorted(afs_shares(u, allocation="waterfill").items())
    [('heavy', 0.75), ('light', 0.25)]
    """
    total = sum(urgency.values())
    names = sorted(urgency)
    if total <= 0:
        return {t: capacity / len(names) for t in names} if names else {}
    if allocation == "proportional" or total <= capacity:
        return {t: capacity * urgency[t] / total for t in names}
    w = [(weights or {}).get(t, 1.0) for t in names]
    rates = waterfill(capacity, w, [urgency[t] for t in names])
    return dict(zip(names, rates, strict=True))


class SagaAFS(Scheduler):
    """SAGA's Agent Fair Share (module docs).

    Parameters
    ----------
    config
        Parameters (default :class:`AFSConfig`).
    predictor
        The shared predictor for remaining work (None: per-type means of completed tasks).

    Notes
    -----
    Incremental bookkeeping. A task's remaining work changes only when one of its calls
    ends, so it is kept per task and recomputed (at the next epoch, as before, so that the
    predictor is asked at the same moments) only for tasks whose calls ended. An epoch's
    urgencies ``remaining / max(deadline - now, epoch)`` all change with ``now``, so they
    are recomputed together in one tight pass over flat per-task tables, with the
    per-tenant sums accumulated in task order: the same floating-point operations in the
    same order as before, hence identical results (per-tenant sums kept across epochs
    cannot be: every term changes with ``now``, and a running sum would round
    differently). That pass waits for the epoch's first key (or a read of
    :attr:`urgency`), which computes it with the epoch's ``now`` and tables (only the next
    epoch's refresh writes them): about two epochs in five see no key and skip it. A
    task's share is computed when a key first asks for it.
    ``tests/test_afs_incremental.py`` checks keys, shares and whole simulations against
    the straightforward implementation, ``benchmarks/afs_speed.py`` measures the gain.
    """

    name: ClassVar[str] = "saga-afs"
    preemptive: ClassVar[bool] = True
    needs_predictor: ClassVar[bool] = True
    needs_cost_model: ClassVar[bool] = True
    _allocation: ClassVar[str] = "proportional"
    """The allocation this class forces (AFS-WF: water-filling)."""

    def __init__(self, config: AFSConfig | None = None, predictor: Predictor | None = None) -> None:
        self.config = config if config is not None else AFSConfig()
        self.book = TaskBook(predictor)
        self.deadline: dict[TaskId, float] = {}
        self.share: dict[TaskId, float] = {}
        """Shares of the current epoch, filled as keys ask for them."""
        self.served: dict[TaskId, float] = {}
        self.epoch = -1
        self._epoch_s = self.config.epoch_s
        self._preempt_after_s = self.config.preempt_after_s
        self._weights = {TenantId(t): w for t, w in self.config.tenant_weights.items()}
        # Per live task, in the order of ``book.tasks``: remaining seconds (stale for the
        # tasks in ``_dirty``), deadline (-inf when unknown) and tenant number.
        self._rem: dict[TaskId, float] = {}
        self._due: dict[TaskId, float] = {}
        self._tenant_no: dict[TaskId, int] = {}
        self._seq: dict[TaskId, int] = {}
        self._next_seq = 0
        self._dirty: set[TaskId] = set()
        self._tenants: list[TenantId] = []
        self._tenant_index: dict[TenantId, int] = {}
        self._tenant_u: dict[TenantId, float] = {}
        self._tenant_share: dict[TenantId, float] = {}
        # The same tables as arrays, laid out in ``_pos`` order (rebuilt when tasks come
        # or go: ``_layout_ok`` false), and this epoch's urgencies by those positions
        # (``_upos``: the positions at the epoch's start, less the tasks ended since).
        self._layout_ok = False
        self._pos: dict[TaskId, int] = {}
        self._rem_a = np.zeros(0)
        self._due_a = np.zeros(0)
        self._tenant_a = np.zeros(0, dtype=np.intp)
        self._tenant_order: list[int] = []
        self._upos: dict[TaskId, int] = {}
        self._u: list[float] = []
        self._u_now = 0.0
        self._u_stale = False

    @classmethod
    def from_context(cls, ctx: BuildContext, config: AFSConfig | None = None) -> Self:
        """AFS for a run: the shared predictor, work priced by the cost model
        (:meth:`~sagacore.build.BuildContext.token_prices`); with water-filling, the
        capacity scaled with the cluster (``streams_per_instance`` x instances).

        Proportional shares do not depend on the capacity, which stays as configured
        (so the ``saga`` stack's results are those it has always given).
        """
        base = config if config is not None else AFSConfig()
        p, o = ctx.token_prices()
        base = replace(base, seconds_per_prompt_token=p, seconds_per_output_token=o)
        if "waterfill" in (base.allocation, cls._allocation):
            base = replace(base, capacity=base.streams_per_instance * ctx.instances)
        return cls(base, predictor=ctx.predictor)

    @property
    def urgency(self) -> dict[TaskId, float]:
        """Urgency of each task at the current epoch's start (tasks ended since: gone)."""
        if self._u_stale:
            self._urgencies()
        u = self._u
        return {tid: u[i] for tid, i in self._upos.items()}

    # --- work and deadlines ---------------------------------------------------------------
    def _seconds(self, prompt_tokens: float, output_tokens: float) -> float:
        c = self.config
        return (
            prompt_tokens * c.seconds_per_prompt_token + output_tokens * c.seconds_per_output_token
        )

    def _remaining_s(self, rec: BookEntry) -> float:
        r = self.book.remaining(rec)
        return max(self._seconds(r.prompt_tokens, r.output_tokens), 1e-6)

    def _track(self, rec: BookEntry) -> None:
        """Mirror a record of ``book.tasks`` (new ones go last, as in the book)."""
        tid = rec.task_id
        if tid not in self._rem:
            self._rem[tid] = 0.0
            self._due[tid] = -math.inf
            self._seq[tid] = self._next_seq
            self._next_seq += 1
        no = self._tenant_index.get(rec.tenant)
        if no is None:
            no = self._tenant_index[rec.tenant] = len(self._tenants)
            self._tenants.append(rec.tenant)
        self._tenant_no[tid] = no
        self._dirty.add(tid)
        self._layout_ok = False

    def observe_task_arrival(self, task: TaskArrivalView, now: float) -> None:
        """Set the task's deadline from its expected isolated completion time."""
        rec = self.book.arrive(task)
        self._track(rec)
        r = self.book.remaining(rec)
        expected = self._seconds(r.prompt_tokens, r.output_tokens) + r.tool_seconds
        factor = self.config.tenant_slo_factors.get(task.tenant, self.config.slo_factor)
        self.deadline[task.id] = task.arrival_s + factor * max(expected, self.config.epoch_s)
        self._due[task.id] = self.deadline[task.id]
        self._rem[task.id] = max(self._seconds(r.prompt_tokens, r.output_tokens), 1e-6)
        self._dirty.discard(task.id)
        self._layout_ok = False
        self.epoch = -1  # recompute shares at the next key

    # --- shares, once per epoch -------------------------------------------------------------
    def _refresh(self, now: float) -> None:
        e = int(now // self._epoch_s)
        if e == self.epoch:
            return
        self.epoch = e
        if self._dirty:  # remaining work of tasks whose calls ended, in the book's order
            tasks, rem = self.book.tasks, self._rem
            pos, rem_a, ok = self._pos, self._rem_a, self._layout_ok
            for tid in sorted(self._dirty, key=self._seq.__getitem__):
                rem[tid] = r = self._remaining_s(tasks[tid])
                if ok:
                    rem_a[pos[tid]] = r
            self._dirty.clear()
        if not self._layout_ok:
            n = len(self._rem)
            self._pos = {tid: i for i, tid in enumerate(self._rem)}
            self._rem_a = np.fromiter(self._rem.values(), float, n)
            self._due_a = np.fromiter(self._due.values(), float, n)
            self._tenant_a = np.fromiter(self._tenant_no.values(), np.intp, n)
            self._tenant_order = list(dict.fromkeys(self._tenant_no.values()))
            self._layout_ok = True
        # This epoch's urgencies at ``now`` are computed when a key or the urgencies are
        # first asked for (_urgencies): about two epochs in five see no key.
        self._u_now = now
        self._u_stale = True
        self._upos = self._pos
        self.share = {}
        self.served = {}

    def _urgencies(self) -> None:
        """This epoch's urgencies and shares, at the ``now`` of its :meth:`_refresh`."""
        c = self.config
        # The operations of a loop over the tasks in order, u = r / max(d - now, epoch)
        # and each tenant's sum accumulated in task order (bincount adds its weights in
        # index order), elementwise in IEEE double: the same bits. The arrays are those
        # of the epoch's start (only _refresh writes or replaces them).
        x = self._due_a - self._u_now
        np.maximum(x, c.epoch_s, out=x)
        u = self._rem_a / x
        sums = np.bincount(self._tenant_a, weights=u, minlength=len(self._tenants)).tolist()
        self._u = u.tolist()
        names = self._tenants
        tenant_u = {names[i]: sums[i] for i in self._tenant_order}
        self._tenant_u = tenant_u
        self._tenant_share = afs_shares(
            tenant_u, allocation=c.allocation, weights=self._weights, capacity=c.capacity
        )
        self._u_stale = False

    def _task_share(self, task_id: TaskId) -> float:
        """The task's share of this epoch (0 for tasks not live at its start)."""
        i = self._upos.get(task_id)
        if i is None:
            return 0.0
        if self._u_stale:
            self._urgencies()
        u = self._u[i]
        tenant = self.book.tasks[task_id].tenant
        total = self._tenant_u[tenant]
        return self._tenant_share[tenant] * u / total if total > 0 else 0.0

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
        if now // self._epoch_s != self.epoch:  # the test of _refresh, without a call
            self._refresh(now)
        tid = call.task_id
        step = call.step
        ready = call.ready_s
        rec = self.book.tasks.get(tid)
        if (rec is not None and step in rec.running) or now - ready > self._preempt_after_s:
            i = self._upos.get(tid)
            if self._u_stale:
                self._urgencies()
            return (0.0, -(0.0 if i is None else self._u[i]), ready, float(step))
        share = self.share.get(tid)
        if share is None:
            share = self.share[tid] = self._task_share(tid)
        norm = self.served.get(tid, 0.0) / share if share > 0 else _INF
        if norm == _INF:
            norm = 1e300
        return (1.0, norm, ready, float(step))

    def observe_call_start(self, call: CallView, now: float) -> None:
        """Track running calls."""
        new = call.task_id not in self.book.tasks
        self.book.start(call)
        if new:
            self._track(self.book.tasks[call.task_id])

    def observe_service(self, call: CallView, tokens: int, seconds: float, now: float) -> None:
        """Charge the task's service in this epoch."""
        self.observe_service_run((call,), tokens, seconds, now)

    def observe_service_run(self, calls: Sequence[CallView], tokens: int, seconds: float,
                            now: float) -> None:
        """Charge each call's task its service in this epoch, in order."""
        if now // self._epoch_s != self.epoch:  # the test of _refresh, without a call
            self._refresh(now)
        served = self.served
        for call in calls:
            tid = call.task_id
            served[tid] = served.get(tid, 0.0) + tokens

    def observe_call_end(self, call: CallView, output_tokens: int, now: float) -> None:
        """Record the finished call (remaining work shrinks)."""
        new = call.task_id not in self.book.tasks
        rec = self.book.end(call, output_tokens)
        if new:
            self._track(rec)
        self._dirty.add(call.task_id)

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        """Forget the task."""
        self.book.finish(task_id)
        for d in (self.deadline, self.share, self.served):
            d.pop(task_id, None)
        # _upos is _pos or an older layout, replaced at the next epoch (the layout changed)
        self._upos.pop(task_id, None)
        for m in (self._rem, self._due, self._tenant_no, self._seq):
            m.pop(task_id, None)
        self._dirty.discard(task_id)
        self._layout_ok = False


class SagaAFSWaterfill(SagaAFS):
    """AFS-WF: AFS with weighted water-filling of the tenants' AFS (module docs)."""

    name: ClassVar[str] = "saga-afs-wf"
    _allocation: ClassVar[str] = "waterfill"

    def __init__(self, config: AFSConfig | None = None, predictor: Predictor | None = None) -> None:
        base = config if config is not None else AFSConfig()
        super().__init__(replace(base, allocation="waterfill"), predictor)
