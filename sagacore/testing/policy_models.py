"""The policies that run, against independent models of their documented rules.

A theorem about an exact model says little about a policy that computes something else.
This module runs a real :class:`~sagacore.policy.Scheduler` in the abstract server of
:func:`sagacore.testing.fairness.run_servers` and, beside it, a model of the rule the
policy documents, written from the module docs in exact rationals and sharing no code
with the policy (:mod:`sagacore.theory.afs_rule`). At every dispatch decision the model names the call the rule selects;
:func:`afs_decisions` returns each decision with the policy's pick and the model's.
The checkers of ``proofs/saga_afs`` and ``tests/test_theory_policies.py`` use it.

:class:`~sagacore.theory.afs_rule.AfsRule` is the rule of :class:`sagacore.sched.afs.SagaAFS` and
:class:`~sagacore.sched.afs.SagaAFSWaterfill` (``docs/proofs/saga_afs.md``, section
"The policy as implemented"): deadlines from the expected isolated completion time;
urgencies and tenant shares recomputed at the first decision or service report of each
epoch and after each task arrival; a waiting call that has waited more than
``preempt_after_s`` is in the *urgent tier*, ordered most urgent task first; the other
waiting calls are ordered by the tokens their task was served since the last
recomputation divided by the task's share.

:class:`OraclePredictor` gives the policy the exact remaining work of each task (the
sums over its steps not yet ended), so that the only difference between the policy and
the model is the rule itself.

Examples
--------
>>> from sagacore.sched.afs import AFSConfig
>>> w = chain_workload([("A", 0.0, (20, 20)), ("B", 0.0, (30,))])
>>> decisions = afs_decisions(w, AFSConfig(capacity=1.0), rate=100.0)
>>> [(d.picked, d.model) for d in decisions]
[(('A:0', 0), ('A:0', 0)), (('B:1', 0), ('B:1', 0)), (('A:0', 1), ('A:0', 1))]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from sagacore.policy import CallView, Scheduler, TaskArrivalView
from sagacore.testing.fairness import ServerRun, run_servers
from sagacore.theory.afs_rule import AfsRule, weighted_waterfill
from sagacore.workload.model import Segment, Step, Task, TaskId, Tenant, TenantId, Workload

if TYPE_CHECKING:
    from sagacore.sched.afs import AFSConfig

__all__ = [
    "POLICY_RATE",
    "AfsDecision",
    "AfsRule",
    "OraclePredictor",
    "PolicyInstance",
    "afs_decisions",
    "afs_run",
    "chain_workload",
    "weighted_waterfill",
]

Q = Fraction

POLICY_RATE = 16.0
"""Tokens per second of a server in :class:`PolicyInstance` runs (dyadic: exact times)."""


def chain_workload(
    tasks: Sequence[tuple[str, float, Sequence[int]]],
    weights: Mapping[str, float] | None = None,
    tool_seconds: float = 0.0,
) -> Workload:
    """Tasks ``(tenant, arrival, call sizes)``, each a chain of calls of ``size - 1``
    prompt tokens and 1 output token (so ``size`` tokens of service) with
    ``tool_seconds`` between calls; task ``j`` is named ``"<tenant>:<j>"``.

    Examples
    --------
    >>> w = chain_workload([("A", 0.0, (3, 4))])
    >>> [(s.prompt_tokens, s.output_tokens) for s in w.tasks[0].steps]
    [(2, 1), (3, 1)]
    """
    out = []
    for j, (tenant, arrival, sizes) in enumerate(tasks):
        steps = []
        for i, size in enumerate(sizes):
            last = i == len(sizes) - 1
            steps.append(Step(i, (Segment(1000 * (j + 1) + 2 * i, max(size - 1, 1)),), 1,
                              1000 * (j + 1) + 2 * i + 1, tool=None if last else "bash",
                              tool_seconds=0.0 if last else tool_seconds,
                              deps=(i - 1,) if i else ()))
        out.append(Task(TaskId(f"{tenant}:{j}"), tuple(steps), TenantId(tenant), arrival))
    names = sorted({t for t, _, _ in tasks})
    ten = tuple(Tenant(TenantId(n), weight=(weights or {}).get(n, 1.0)) for n in names)
    return Workload(tuple(out), ten)


@dataclass(frozen=True)
class _Work:
    steps: float
    prompt_tokens: float
    output_tokens: float
    tool_seconds: float
    source: str = "oracle"


class OraclePredictor:
    """The exact remaining work of each task of ``workload``: the sums over its steps
    whose calls have not ended (duck-types the one method the schedulers call,
    ``remaining_work``). :meth:`ended` must be told each call end before the policy is.
    """

    def __init__(self, workload: Workload) -> None:
        self.tasks: dict[TaskId, Task] = {t.id: t for t in workload.tasks}
        self.done: dict[TaskId, set[int]] = {t.id: set() for t in workload.tasks}

    def ended(self, task_id: TaskId, step: int) -> None:
        """The call ``step`` of ``task_id`` ended."""
        self.done[task_id].add(step)

    def remaining_work(self, task_id: TaskId, **_: Any) -> _Work:
        """The exact remaining work of ``task_id``."""
        t = self.tasks[task_id]
        left = [s for s in t.steps if s.index not in self.done[task_id]]
        return _Work(float(len(left)), float(sum(s.prompt_tokens for s in left)),
                     float(sum(s.output_tokens for s in left)),
                     float(sum(s.tool_seconds for s in left)))


@dataclass(frozen=True)
class AfsDecision:
    """One dispatch decision: the calls waiting, the policy's pick and the rule's."""

    time: float
    """When."""
    waiting: tuple[tuple[str, int], ...]
    """The waiting calls ``(task, step)``."""
    picked: tuple[str, int]
    """The call the policy's keys put first."""
    model: tuple[str, int]
    """The call the rule puts first."""
    near_tie: bool
    """Whether the rule ranks the two within a relative ``1e-9`` (float rounding)."""
    keys: dict[tuple[str, int], tuple[int, Fraction]]
    """The rule's key of every waiting call."""
    urgent: dict[tuple[str, int], bool]
    """Whether each waiting call is in the urgent tier."""
    urgency: dict[str, Fraction]
    """The rule's urgency of each live task."""


class _Pair(Scheduler):
    """Forwards every hook to the policy and to the rule; records each decision."""

    name = "afs-pair"

    def __init__(self, policy: Scheduler, rule: AfsRule, oracle: OraclePredictor) -> None:
        self.policy = policy
        self.rule = rule
        self.oracle = oracle
        self.pending: dict[tuple[str, int], tuple[tuple[float, ...], Any, float]] = {}
        self.decisions: list[AfsDecision] = []

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        k = self.policy.key(call, now)
        rk = self.rule.key(call.task_id, Q(call.ready_s), Q(now))
        self.pending[(call.task_id, call.step)] = (k, rk, call.ready_s)
        return k

    def observe_task_arrival(self, task: TaskArrivalView, now: float) -> None:
        self.policy.observe_task_arrival(task, now)

    def observe_task_future(self, task: Task, now: float) -> None:
        # the reference rule knows the whole task (it is the model, not a policy)
        self.rule.arrive(task, Q(now))
        self.policy.observe_task_future(task, now)

    def observe_call_start(self, call: CallView, now: float) -> None:
        me = (str(call.task_id), call.step)
        p = self.pending
        order = sorted(p, key=lambda c: (p[c][1], p[c][2], c[0], c[1]))
        best = order[0]
        near = best == me or _close(p[best][1], p[me][1]) if me in p else False
        self.decisions.append(AfsDecision(
            now, tuple(sorted(p)), me, best, near, {c: p[c][1] for c in p},
            {c: p[c][1][0] == 0 for c in p}, {str(t): u for t, u in self.rule.urgency.items()},
        ))
        self.pending = {}
        self.policy.observe_call_start(call, now)

    def observe_service(self, call: CallView, tokens: int, seconds: float, now: float) -> None:
        self.rule.service(call.task_id, tokens, Q(now))
        self.policy.observe_service(call, tokens, seconds, now)

    def observe_call_end(self, call: CallView, output_tokens: int, now: float) -> None:
        self.oracle.ended(call.task_id, call.step)
        self.rule.call_end(call.task_id, call.step)
        self.policy.observe_call_end(call, output_tokens, now)

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        self.rule.task_end(task_id)
        self.policy.observe_task_end(task_id, now)


def _close(a: tuple[int, Fraction], b: tuple[int, Fraction]) -> bool:
    if a[0] != b[0]:
        return False
    x, y = a[1], b[1]
    return abs(x - y) <= Q(1, 10**9) * max(abs(x), abs(y), Q(1))


def afs_decisions(
    workload: Workload,
    config: Any,
    *,
    waterfill: bool = False,
    servers: int = 1,
    rate: float = 1.0,
    tools: bool = True,
) -> list[AfsDecision]:
    """Run SagaAFS (AFS-WF with ``waterfill``) with ``config`` (an
    :class:`~sagacore.sched.afs.AFSConfig`) and exact remaining work in
    :func:`run_servers`, beside :class:`AfsRule`; every dispatch decision."""
    return afs_run(workload, config, waterfill=waterfill, servers=servers, rate=rate,
                   tools=tools)[0]


def afs_run(
    workload: Workload,
    config: Any,
    *,
    waterfill: bool = False,
    servers: int = 1,
    rate: float = 1.0,
    tools: bool = True,
) -> tuple[list[AfsDecision], ServerRun]:
    """:func:`afs_decisions` and the run itself (finish and start times)."""
    from sagacore.sched.afs import SagaAFS, SagaAFSWaterfill

    oracle = OraclePredictor(workload)
    cls = SagaAFSWaterfill if waterfill else SagaAFS
    policy = cls(config, predictor=oracle)  # type: ignore[arg-type]
    rule = AfsRule(
        workload=workload, epoch=Q(config.epoch_s), preempt_after=Q(config.preempt_after_s),
        slo_factor=Q(config.slo_factor),
        tenant_slo={k: Q(v) for k, v in config.tenant_slo_factors.items()},
        weights={k: Q(v) for k, v in config.tenant_weights.items()},
        capacity=Q(config.capacity), waterfill=waterfill or config.allocation == "waterfill",
        per_prompt=Q(config.seconds_per_prompt_token),
        per_output=Q(config.seconds_per_output_token),
    )
    pair = _Pair(policy, rule, oracle)
    run = run_servers(workload, pair, servers=servers, rate=rate, tools=tools)
    return pair.decisions, run


@dataclass(frozen=True)
class PolicyInstance:
    """A workload of chained calls served by the real AFS policy in ``run_servers``: the
    instances of ``proofs/saga_afs``'s policy theorems (and of their mutants' recorded
    kills)."""

    tasks: tuple[tuple[str, float, tuple[int, ...]], ...]
    """``(tenant, arrival, call sizes in tokens)`` per task."""
    weights: tuple[tuple[str, float], ...]
    """Tenant weights."""
    preempt_after: float = 1.0
    """``preempt_after_s`` (the urgent tier)."""
    tool: float = 0.0
    """Tool seconds between a task's calls."""
    servers: int = 1
    """Servers."""
    waterfill: bool = True
    """AFS-WF (else SAGA's proportional AFS)."""

    def config(self) -> AFSConfig:
        """The policy's configuration (epoch 0.5 s, capacity 1 stream per server, calls
        served at :data:`POLICY_RATE` tokens per second)."""
        from sagacore.sched.afs import AFSConfig

        return AFSConfig(epoch_s=0.5, preempt_after_s=self.preempt_after,
                         capacity=float(self.servers), tenant_weights=dict(self.weights),
                         seconds_per_prompt_token=1 / POLICY_RATE,
                         seconds_per_output_token=1 / POLICY_RATE)

    def workload(self) -> Workload:
        """The tasks as a workload."""
        return chain_workload(self.tasks, dict(self.weights), tool_seconds=self.tool)
