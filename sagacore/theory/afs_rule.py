"""SAGA's AFS dispatch rule as the policy documents it, in exact rationals.

:class:`AfsRule` is the rule of :class:`sagacore.sched.afs.SagaAFS` and
:class:`~sagacore.sched.afs.SagaAFSWaterfill` (``docs/proofs/saga_afs.md``, section
"The policy as implemented"), written again from the module docs and sharing no code
with the policy: deadlines from the expected isolated completion time; urgencies and
tenant shares recomputed at the first decision or service report of each epoch and after
each task arrival; a waiting call that has waited more than ``preempt_after_s`` is in
the *urgent tier*, ordered most urgent task first; the other waiting calls are ordered
by the tokens their task was served since the last recomputation divided by the task's
share. :func:`sagacore.testing.policy_models.afs_decisions` runs the policy beside it.

Examples
--------
>>> from fractions import Fraction as Q
>>> [str(x) for x in weighted_waterfill(Q(3), [Q(1), Q(2)], [Q(1, 2), Q(5)])]
['1/2', '5/2']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from sagacore.workload.model import Task, TaskId, Workload

__all__ = ["AfsRule", "weighted_waterfill"]

Q = Fraction


def weighted_waterfill(capacity: Fraction, weights: Sequence[Fraction],
                       demands: Sequence[Fraction]) -> list[Fraction]:
    """Max-min fair rates: ``min(d_i, L w_i)`` with the level ``L`` that fills ``capacity``
    (every demand when they fit), from the definition: raise ``L`` through the sorted
    ratios ``d_i / w_i``.

    Examples
    --------
    >>> [str(x) for x in weighted_waterfill(Fraction(1), [Fraction(1)] * 2,
    ...                                     [Fraction(1, 4), Fraction(8)])]
    ['1/4', '3/4']
    """
    n = len(demands)
    if sum(demands, Q(0)) <= capacity:
        return list(demands)
    order = sorted(range(n), key=lambda i: demands[i] / weights[i])
    left = capacity
    w_left = sum(weights, Q(0))
    out = [Q(0)] * n
    for pos, i in enumerate(order):
        level = left / w_left
        if demands[i] <= level * weights[i]:
            out[i] = demands[i]
            left -= demands[i]
            w_left -= weights[i]
            continue
        for j in order[pos:]:
            out[j] = level * weights[j]
        break
    return out


@dataclass
class AfsRule:
    """The documented dispatch rule of SagaAFS / SagaAFSWaterfill, in exact rationals.

    Fed the same hooks as the policy (through :func:`afs_decisions`); :meth:`key` is the
    rule's order of a waiting call (smaller first).
    """

    workload: Workload
    epoch: Fraction
    preempt_after: Fraction
    slo_factor: Fraction
    tenant_slo: Mapping[str, Fraction]
    weights: Mapping[str, Fraction]
    capacity: Fraction
    waterfill: bool
    per_prompt: Fraction
    per_output: Fraction
    deadline: dict[TaskId, Fraction] = field(default_factory=dict)
    live: list[TaskId] = field(default_factory=list)
    ended: dict[TaskId, set[int]] = field(default_factory=dict)
    urgency: dict[TaskId, Fraction] = field(default_factory=dict)
    share: dict[TaskId, Fraction] = field(default_factory=dict)
    served: dict[TaskId, int] = field(default_factory=dict)
    epoch_no: int | None = None

    def __post_init__(self) -> None:
        self._tasks = {t.id: t for t in self.workload.tasks}

    def _work(self, tid: TaskId) -> Fraction:
        t = self._tasks[tid]
        done = self.ended.get(tid, set())
        left = [s for s in t.steps if s.index not in done]
        return (sum((self.per_prompt * s.prompt_tokens for s in left), Q(0))
                + sum((self.per_output * s.output_tokens for s in left), Q(0)))

    def arrive(self, task: Task, now: Fraction) -> None:
        """A task arrives: its deadline; the next decision recomputes the shares."""
        work = self._work(task.id)
        tool = sum((Q(s.tool_seconds) for s in task.steps), Q(0))
        expected = work + tool
        factor = self.tenant_slo.get(task.tenant, self.slo_factor)
        self.deadline[task.id] = Q(task.arrival_s) + factor * max(expected, self.epoch)
        self.live.append(task.id)
        self.epoch_no = None

    def _maybe_refresh(self, now: Fraction) -> None:
        e = int(now // self.epoch)
        if e == self.epoch_no:
            return
        self.epoch_no = e
        urg: dict[TaskId, Fraction] = {}
        for tid in self.live:
            rem = max(self._work(tid), Q(1, 10**6))
            urg[tid] = rem / max(self.deadline[tid] - now, self.epoch)
        self.urgency = urg
        tenants: dict[str, Fraction] = {}
        for tid in self.live:
            tn = self._tasks[tid].tenant
            tenants[tn] = tenants.get(tn, Q(0)) + urg[tid]
        names = sorted(tenants)
        total = sum(tenants.values(), Q(0))
        if total <= 0:
            t_share = {n: self.capacity / len(names) for n in names}
        elif not self.waterfill or total <= self.capacity:
            t_share = {n: self.capacity * tenants[n] / total for n in names}
        else:
            rates = weighted_waterfill(self.capacity,
                                       [self.weights.get(n, Q(1)) for n in names],
                                       [tenants[n] for n in names])
            t_share = dict(zip(names, rates, strict=True))
        self.share = {tid: t_share[self._tasks[tid].tenant] * urg[tid]
                      / tenants[self._tasks[tid].tenant] for tid in self.live}
        self.served = {}

    def service(self, tid: TaskId, tokens: int, now: Fraction) -> None:
        """A call of ``tid`` reports ``tokens`` served."""
        self._maybe_refresh(now)
        self.served[tid] = self.served.get(tid, 0) + tokens

    def call_end(self, tid: TaskId, step: int) -> None:
        """A call ended (the remaining work shrinks at the next recomputation)."""
        self.ended.setdefault(tid, set()).add(step)

    def task_end(self, tid: TaskId) -> None:
        """A task ended."""
        self.live.remove(tid)

    def key(self, tid: TaskId, ready: Fraction, now: Fraction) -> tuple[int, Fraction]:
        """``(0, -urgency)`` in the urgent tier, else ``(1, served / share)``."""
        self._maybe_refresh(now)
        if now - ready > self.preempt_after:
            return (0, -self.urgency.get(tid, Q(0)))
        share = self.share.get(tid, Q(0))
        if share <= 0:
            return (1, Q(10) ** 300)
        return (1, Q(self.served.get(tid, 0)) / share)
