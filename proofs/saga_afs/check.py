"""Checkers of SAGA's Agent Fair Share claims (``STATEMENT.md`` beside this file).

Model: :func:`sagacore.theory.models.serve_afs`, epochs of length 1, capacity 1.
Proofs and the refutation: ``docs/proofs/saga_afs.md``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from fractions import Fraction as Q
from typing import Any, Literal

from hypothesis import strategies as st

from sagacore.testing.policy_models import POLICY_RATE, PolicyInstance, afs_decisions, afs_run
from sagacore.testing.strategies import afs_tasks
from sagacore.theory.models import AfsTask, serve_afs
from sagacore.theory.theorems import Obligation, Theorem

PROOF = "docs/proofs/saga_afs.md"
EPOCH = Q(1)
CAPACITY = Q(1)

Instance = tuple[tuple[int, ...], list[AfsTask]]
"""(tenant weights, tasks); task deadlines and arrivals are integers (epoch boundaries
are the integers), works any positive reals."""


def describe(inst: Instance) -> dict[str, Any]:
    """Weights and tasks as plain data."""
    w, tasks = inst
    return {
        "weights": list(w),
        "tasks": [{"tenant": t.tenant, "arrival": t.arrival, "work": t.work,
                   "deadline": t.deadline} for t in tasks],
    }


def _ceil(x: Q) -> int:
    return math.ceil(x)


def declared(task: AfsTask) -> tuple[int, int, Any]:
    """``(first epoch, end epoch, declared rate)``: the task asks for
    ``work / max(d - s, epoch)`` over epochs ``s <= t_k < ceil(d)``, ``s = ceil(a)``."""
    s = _ceil(task.arrival)
    end = _ceil(task.deadline)
    span = task.deadline - s
    return s, end, task.work / (span if EPOCH < span else EPOCH)


def demand(tasks: list[AfsTask], tenant: int | None, k: int) -> Any:
    """Declared demand at epoch ``k`` of one tenant (or of all, ``tenant=None``)."""
    total: Any = Q(0)
    for t in tasks:
        if tenant is not None and t.tenant != tenant:
            continue
        s, end, rate = declared(t)
        if s <= k < end:
            total = total + rate
    return total


def _deadline_obligations(
    inst: Instance, allocation: Literal["proportional", "waterfill"], scope: Literal["tenant", "all"]
) -> list[Obligation]:
    weights, tasks = inst
    horizon = max(_ceil(t.deadline) for t in tasks) + 1
    run = serve_afs(tasks, tenants=len(weights), weights=[Q(w) for w in weights],
                    capacity=CAPACITY, epoch=EPOCH, allocation=allocation, horizon=Q(horizon))
    total_w = sum(weights)
    covered: list[int] = []
    if scope == "all":
        if all(not CAPACITY < demand(tasks, None, k) for k in range(horizon)):
            covered = list(range(len(weights)))
    else:
        for i, w in enumerate(weights):
            share = CAPACITY * Q(w, total_w)
            if all(not share < demand(tasks, i, k) for k in range(horizon)):
                covered.append(i)
    out: list[Obligation] = []
    for j, t in enumerate(tasks):
        if t.tenant in covered:
            f = run.finish[j]
            lhs = Q(horizon + 1) if f is None else f
            out.append((f"task {j} (tenant {t.tenant}): finish <= ceil(deadline)", lhs,
                        Q(_ceil(t.deadline))))
    return out


def _fits(inst: Instance) -> bool:
    """Whether the total declared demand is at most C at every epoch boundary."""
    _, tasks = inst
    horizon = max(_ceil(t.deadline) for t in tasks) + 1
    return all(not CAPACITY < demand(tasks, None, k) for k in range(horizon))


def _enum(weights_choices: tuple[tuple[int, ...], ...], thorough: bool) -> Iterator[Instance]:
    works = (Q(1, 2), Q(1), Q(3)) if not thorough else (Q(1, 2), Q(1), Q(2), Q(4))
    per = [AfsTask(tn, Q(a), wk, Q(a + s))
           for tn in (0, 1) for a in (0, 1) for wk in works for s in (1, 2, 3)]
    for weights in weights_choices:
        for n in range(1, (2 if not thorough else 3) + 1):
            for combo in itertools.combinations_with_replacement(per, n):
                yield (weights, list(combo))


def _targeted(thorough: bool) -> Iterator[Instance]:
    """Weights other than 1 and tenants at exactly their share, which a grid of equal
    weights and two tasks does not reach: tenant 1 (weight ``w``) declares exactly its
    share ``w / (1 + w)``, with one task or two whose urgencies differ (a rare ratio of
    1 to 3), while tenant 0 overloads the server with 1 to 3 urgent tasks."""
    for w, spans, heavy in itertools.product((2, 3), ((1,), (2,), (1, 3), (3, 1), (2, 3)),
                                             (1, 2, 3)):
        share = Q(w, 1 + w)
        if len(spans) == 1:
            rates = [share]
        else:  # urgencies 1 : 3 within the share
            rates = [share / 4, share * 3 / 4]
        tasks = [AfsTask(1, Q(0), r * s, Q(s)) for r, s in zip(rates, spans, strict=True)]
        tasks += [AfsTask(0, Q(0), Q(1), Q(1))] * heavy
        yield ((1, w), tasks)
        yield ((w, 1), [AfsTask(1 - t.tenant, t.arrival, t.work, t.deadline) for t in tasks])


def _targeted_staggered(thorough: bool) -> Iterator[Instance]:
    """Staggered arrivals that fill the capacity exactly, over several epochs: tenant 0
    runs one long task at rate ``a`` from 0; tenant 1 uses the rest, ``1 - a``, with a
    task due at 1 and then a newcomer at epoch 1 (urgencies must be recomputed from the
    remaining work every epoch, or the long task asks for more than it declared)."""
    for a, span, later in itertools.product((Q(1, 2), Q(1, 3), Q(2, 3)), (2, 3), (1, 2)):
        rest = 1 - a
        tasks = [_task_of(0, 0, a * span, span), _task_of(1, 0, rest, 1),
                 _task_of(1, 1, rest * later, 1 + later)]
        for w in ((1, 1), (1, 2)):
            yield (w, tasks)


def _task_of(tenant: int, arrival: int, work: Q, deadline: int) -> AfsTask:
    return AfsTask(tenant, Q(arrival), work, Q(deadline))


def _smt(thorough: bool) -> list[tuple[str, Callable[..., Instance]]]:
    # tenant weights and (tenant, arrival, deadline) per task, works symbolic in (0, 4]
    Shape = tuple[tuple[int, int], tuple[tuple[int, int, int], ...]]
    shapes: list[Shape] = [((1, 1), ((0, 0, 2), (1, 0, 1))), ((1, 2), ((0, 0, 1), (1, 0, 1)))]
    if thorough:
        shapes += [((1, 1), ((0, 0, 2), (1, 0, 1), (1, 1, 3))),
                   ((1, 1), ((0, 0, 3), (0, 1, 2), (1, 0, 2)))]
    out = []
    for weights, tasks in shapes:
        def build(real: Callable[..., Any], weights: tuple[int, int] = weights,
                  tasks: tuple[tuple[int, int, int], ...] = tasks) -> Instance:
            return (weights, [AfsTask(tn, Q(a), real(f"w{i}", lo=0, hi=4, strict_lo=True), Q(d))
                              for i, (tn, a, d) in enumerate(tasks)])
        out.append((f"weights {weights}: " + ", ".join(
            f"task(tenant {tn}, arrives {a}, deadline {d})" for tn, a, d in tasks), build))
    return out


def _strategy() -> Any:
    """Equal weights (the paper's claim is about C/N); the enumeration also covers
    unequal ones."""
    return afs_tasks(max_tenants=3, max_tasks=4).map(lambda kt: ((1,) * kt[0], kt[1]))


def _strategy_weighted() -> Any:
    """Tenant weights 1 to 3 (AFS-WF's guarantee is per weighted share)."""
    return afs_tasks(max_tenants=3, max_tasks=4).flatmap(
        lambda kt: st.tuples(st.lists(st.integers(1, 3), min_size=kt[0], max_size=kt[0])
                             .map(tuple), st.just(kt[1])))


# the smallest (first in the enumeration, also Hypothesis's shrunk one): tenant 0 asks
# for exactly its share 1/2 (work 1/2 due in 1); tenant 1 asks for the whole server. AFS
# gives tenant 0 a third, so it finishes at 3/2 > 1. Scaling tenant 1's work by k gives
# tenant 0 a share 1/(2k + 1): the lateness is unbounded (docs/proofs/saga_afs.md).
_CLAIM_CEX: Instance = ((1, 1), [AfsTask(0, Q(0), Q(1, 2), Q(1)), AfsTask(1, Q(0), Q(1), Q(1))])

AFS_CLAIM: Theorem[Instance] = Theorem(
    name="saga-afs-claim",
    title="SAGA's Theorem 2 without its assumption sum W_i <= C: a tenant within C/N "
          "keeps its completion time whatever the others do",
    claim="refuted",
    statement=(
        "Deterministic form of SAGA's Theorem 2 (Pr[TCT <= (1 + eps) E[TCT]] >= 1 - delta "
        "for tenants with W_i <= C/N) with the paper's assumption sum_i W_i <= C dropped: "
        "under AFS (capacity split in proportion to "
        "AFS_i = sum of remaining work / time to deadline, every epoch), a tenant whose "
        "declared demand (sum of work / (deadline - start) of its live tasks) stays "
        "within C/N finishes every task by its deadline rounded up to an epoch, whatever "
        "the other tenants do. False: AFS has no isolation; a tenant declaring a large "
        "urgency takes capacity in proportion to it, and a tenant within its share can be "
        "delayed without bound (the lateness grows with the other tenant's urgency). The "
        "counterexample has total declared demand 3/2 C, which the paper's assumption "
        "excludes: under it the claim holds (saga-afs-claim-within-capacity)."
    ),
    model="single server of capacity C = 1, epochs of 1, N tenants of equal weight, fluid "
          "service within an epoch, arrivals and deadlines on epoch boundaries",
    proof=f"{PROOF}#refuted-the-papers-claim",
    obligations=lambda inst: _deadline_obligations(inst, "proportional", "tenant"),
    enumerate=lambda thorough: _enum(((1, 1),), thorough),
    strategy=_strategy,
    counterexample=_CLAIM_CEX,
    describe=describe,
)

AFS_CLAIM_WITHIN: Theorem[Instance] = Theorem(
    name="saga-afs-claim-within-capacity",
    title="SAGA's Theorem 2 under its own assumption sum W_i <= C: a tenant within C/N "
          "meets every deadline",
    claim="holds",
    statement=(
        "Deterministic form of SAGA's Theorem 2 under the paper's assumption: if the "
        "tenants' total declared demand is at most C at every epoch boundary (sum_i W_i <= "
        "C), every task of a tenant whose declared demand stays within C/N finishes by its "
        "deadline rounded up to an epoch. It holds, and more: under the assumption every "
        "task of every tenant does (saga-afs-capacity), so the per-tenant condition "
        "W_i <= C/N is not needed; the probability and the (1 + eps) E[TCT] form add "
        "nothing in this deterministic model."
    ),
    model="as saga-afs-claim, instances whose total declared demand fits C",
    proof=f"{PROOF}#saga-theorem-2-under-its-assumption",
    obligations=lambda inst: (_deadline_obligations(inst, "proportional", "tenant")
                              if _fits(inst) else []),
    enumerate=lambda thorough: (i for i in _enum(((1, 1),), thorough) if _fits(i)),
    targeted=_targeted_staggered,
    strategy=_strategy,
    describe=describe,
)

AFS_CAPACITY: Theorem[Instance] = Theorem(
    name="saga-afs-capacity",
    title="AFS meets every deadline when the total declared demand fits the capacity",
    claim="holds",
    statement=(
        "Under AFS (proportional shares), if at every epoch boundary the total declared "
        "demand of all live tasks is at most C, every task finishes by its deadline "
        "rounded up to an epoch."
    ),
    model="as saga-afs-claim",
    proof=f"{PROOF}#theorem-1-afs-under-capacity",
    obligations=lambda inst: _deadline_obligations(inst, "proportional", "all"),
    enumerate=lambda thorough: _enum(((1, 1),), thorough),
    targeted=_targeted_staggered,
    strategy=_strategy,
    # no SMT check: proportional shares divide by a symbolic total (non-linear) and z3
    # gives up on the smallest shape; the proof is short (docs) and the per-epoch lemma
    # is what saga-afs-wf's SMT check exercises in the capped case
    describe=describe,
)

AFS_WF: Theorem[Instance] = Theorem(
    name="saga-afs-wf",
    title="AFS with weighted water-filling: a tenant within its share meets every deadline",
    claim="holds",
    statement=(
        "Variant AFS-WF: each epoch, tenant i gets min(AFS_i, L w_i) with the level L that "
        "fills C when the demands exceed C, and C AFS_i / sum AFS otherwise (then it is "
        "exactly AFS, so completion times are unchanged whenever demand fits). If tenant "
        "i's declared demand stays within C w_i / sum_k w_k at every epoch boundary, every "
        "task of i finishes by its deadline rounded up to an epoch, whatever the other "
        "tenants do: the guarantee SAGA's Theorem 2 claims, deterministically."
    ),
    model="as saga-afs-claim, tenants with weights",
    proof=f"{PROOF}#theorem-2-afs-wf",
    obligations=lambda inst: _deadline_obligations(inst, "waterfill", "tenant"),
    enumerate=lambda thorough: _enum(((1, 1), (1, 2)), thorough),
    targeted=lambda thorough: itertools.chain(_targeted(thorough), _targeted_staggered(thorough)),
    strategy=_strategy_weighted,
    smt=_smt,
    describe=describe,
)

THEOREMS: tuple[Theorem[Any], ...] = (AFS_CLAIM, AFS_CLAIM_WITHIN, AFS_CAPACITY, AFS_WF)


# ---------------------------------------------------------------------------------------
# The policy as implemented (sagacore.sched.afs), against its documented rule
# ---------------------------------------------------------------------------------------
POLICY_PROOF = "docs/proofs/saga_afs.md"
RATE = POLICY_RATE
"""Tokens per second of a server; a call of ``n`` tokens is ``n / 16`` seconds, priced at
the same ``1/16`` s per token by the policy, so remaining work is exact."""


def describe_policy(inst: PolicyInstance) -> dict[str, Any]:
    """The instance as plain data."""
    return {"tasks": [list(t) for t in inst.tasks], "weights": dict(inst.weights),
            "preempt_after_s": inst.preempt_after, "tool_s": inst.tool,
            "servers": inst.servers, "policy": "saga-afs-wf" if inst.waterfill else "saga-afs"}


def rule_obligations(inst: PolicyInstance) -> list[Obligation]:
    """At every decision the policy starts the call the documented rule puts first (up to
    float rounding), and so never starts a call ahead of an urgent-tier call of a more
    urgent task."""
    out: list[Obligation] = []
    for k, d in enumerate(afs_decisions(inst.workload(), inst.config(), waterfill=inst.waterfill,
                                        servers=inst.servers, rate=RATE, tools=True)):
        agree = d.picked == d.model or d.near_tie
        out.append((f"decision {k} at {d.time:g}: policy starts {d.picked}, the rule "
                    f"{d.model}", Q(0 if agree else 1), Q(0)))
        mine = d.keys[d.picked]
        for c, key in d.keys.items():
            if d.urgent[c] and c != d.picked and key < mine and not d.near_tie:
                out.append((f"decision {k}: {d.picked} started ahead of urgent {c}",
                            Q(1), Q(0)))
    return out


def isolation_obligations(inst: PolicyInstance) -> list[Obligation]:
    """A tenant whose declared demand stays within its weighted share finishes each task
    by its deadline plus one epoch plus the longest call (the policy's deadlines)."""
    w = inst.workload()
    cfg = inst.config()
    _, run = afs_run(w, cfg, waterfill=inst.waterfill, servers=inst.servers, rate=RATE)
    size = {t.id: Q(sum(s.prompt_tokens + s.output_tokens for s in t.steps)) / Q(RATE)
            for t in w.tasks}
    tool = {t.id: Q(sum(s.tool_seconds for s in t.steps)) for t in w.tasks}
    deadline = {t.id: Q(t.arrival_s) + Q(3, 2) * max(size[t.id] + tool[t.id], Q(1, 2))
                for t in w.tasks}
    lmax = max(Q(s.prompt_tokens + s.output_tokens) for t in w.tasks for s in t.steps) / Q(RATE)
    weights = dict(inst.weights)
    total_w = sum((Q(x) for x in weights.values()), Q(0))
    out: list[Obligation] = []
    for tenant, wt in weights.items():
        mine = [t for t in w.tasks if t.tenant == tenant]
        share = Q(inst.servers) * Q(wt) / total_w
        points = sorted({Q(t.arrival_s) for t in mine})
        demand = [sum((size[t.id] / (deadline[t.id] - Q(t.arrival_s)) for t in mine
                       if Q(t.arrival_s) <= x < deadline[t.id]), Q(0)) for x in points]
        if any(share < d for d in demand):
            continue
        for t in mine:
            out.append((f"task {t.id} (tenant {tenant} within its share): finish <= "
                        "deadline + epoch + L_max", Q(run.finish[t.id]),
                        deadline[t.id] + Q(1, 2) + lmax))
    return out


_SIZES = (4, 16)


def _policy_grid(thorough: bool) -> Iterator[PolicyInstance]:
    """Tenant A's chain of one or two calls against one or two tasks of tenant B (three
    when ``thorough``; arrivals 0 or 0.5 s), weights 1:1 and 2:1, the urgent tier after
    0 or 1 s (and 0.5 s when ``thorough``), with and without tool gaps, one or two
    servers (two only without tool gaps and with one task of B by default), both
    allocations."""
    a_tasks = [(s,) for s in _SIZES] + [(s, t) for s in _SIZES for t in _SIZES]
    b_tasks = [(s,) for s in (4, 16, 32)] + ([(16, 4)] if thorough else [])
    for a, nb in itertools.product(a_tasks, (1, 2, 3) if thorough else (1, 2)):
        for bs in itertools.combinations_with_replacement(b_tasks, nb):
            for arr in itertools.product((0.0, 0.5), repeat=nb):
                tasks = (("A", 0.0, a), *(("B", x, b) for x, b in zip(arr, bs, strict=True)))
                for wa, p, tool, m, wf in itertools.product(
                        (1.0, 2.0), (0.0, 0.5, 1.0) if thorough else (0.0, 1.0), (0.0, 0.5),
                        (1, 2), (True, False)):
                    if not thorough and m == 2 and (tool > 0 or nb > 1):
                        continue
                    yield PolicyInstance(tasks, (("A", wa), ("B", 1.0)), p, tool, m, wf)


def _policy_targeted(thorough: bool) -> Iterator[PolicyInstance]:
    """Staggered arrivals of three tenants with weights 1, 2, 3, calls waiting exactly
    the urgent-tier threshold (arrivals and sizes on the 1/16 s grid), a tenant returning
    after an idle period, long backlogs (six tasks of one tenant), and short calls on two
    servers with weights 3:1 (several decisions per epoch, where the shares decide)."""
    for p, wf in itertools.product((0.5, 1.0, 2.5), (True, False)):
        yield PolicyInstance((("A", 0.0, (16, 4, 8)), ("B", 0.0, (32,)), ("C", 0.25, (8, 8)),
                              ("B", 1.0, (16,)), ("C", 3.0, (4,)), ("A", 6.0, (8,))),
                             (("A", 1.0), ("B", 2.0), ("C", 3.0)), p, 0.5, 1, wf)
        yield PolicyInstance((("A", 0.0, (4, 4)),) + (("B", 0.0, (16,)),) * 6,
                             (("A", 2.0), ("B", 1.0)), p, 0.0, 1, wf)
        yield PolicyInstance((("A", 0.0, (8, 8)), ("B", 0.0, (8,)), ("B", 0.5, (16, 16)),
                              ("A", 4.0, (8,))), (("A", 3.0), ("B", 1.0)), p, 0.25, 2, wf)
    # several decisions per epoch: short calls on two servers, so tasks are compared by
    # the service counters (and so by their shares: weights, water-filling, the split
    # within a tenant, per-token charging) before the next epoch resets them
    for ta, tb, third, tool, wf in itertools.product(
            ((4, 4, 4), (8, 4, 4)), ((4, 4, 4), (8, 8)), ("A", "B"), (0.0, 0.25), (True, False)):
        yield PolicyInstance((("A", 0.0, ta), ("B", 0.0, tb), (third, 0.0, (4, 4))),
                             (("A", 3.0), ("B", 1.0)), 2.5, tool, 2, wf)


@st.composite
def policy_instances(draw: st.DrawFn) -> PolicyInstance:
    """Up to three tenants with weights 1 to 3 and up to five chains of up to three
    calls (4 to 64 tokens), arrivals on the quarter second."""
    k = draw(st.integers(1, 3))
    names = ["A", "B", "C"][:k]
    tasks = tuple(
        (draw(st.sampled_from(names)), draw(st.integers(0, 8)) / 4,
         tuple(draw(st.lists(st.sampled_from((4, 8, 16, 32, 64)), min_size=1, max_size=3))))
        for _ in range(draw(st.integers(1, 5))))
    weights = tuple((n, float(draw(st.integers(1, 3)))) for n in names)
    return PolicyInstance(tasks, weights, draw(st.sampled_from((0.0, 0.5, 1.0, 2.5))),
                          draw(st.sampled_from((0.0, 0.5))), draw(st.integers(1, 2)),
                          draw(st.booleans()))


AFS_POLICY_RULE: Theorem[PolicyInstance] = Theorem(
    name="saga-afs-policy-rule",
    title="The implemented SagaAFS / SagaAFSWaterfill dispatch by their documented rule",
    claim="holds",
    statement=(
        "Run on m non-preemptive servers with exact remaining work, SagaAFS and "
        "SagaAFSWaterfill start, at every decision, the waiting call that this rule puts "
        "first: a call that has waited more than P = preempt_after_s is urgent, and urgent "
        "calls go first, the most urgent task first (urgency rem / max(d - t_r, epoch) "
        "at the last recomputation t_r: the first decision or service report of each "
        "epoch, or after an arrival), ties to the earlier ready call; the others go by "
        "the tokens their task was served since t_r divided by the task's share (the "
        "tenant's share of the capacity, proportional or water-filled, split by "
        "urgency). Hence no call starts ahead of an urgent call of a more urgent task, "
        "and a call whose task is the most urgent from P after it became ready starts "
        "by then plus the time for a server to free (at most the longest call)."
    ),
    model="run_servers: m identical servers, non-preemptive calls of n tokens taking "
          "n/16 s, tool gaps, epochs of 0.5 s, the real policy with an exact-work oracle; "
          "the rule is sagacore.theory.afs_rule.AfsRule (exact rationals, no code "
          "shared with the policy)",
    proof=f"{POLICY_PROOF}#the-policy-as-implemented",
    obligations=rule_obligations,
    enumerate=_policy_grid,
    targeted=_policy_targeted,
    strategy=policy_instances,
    describe=describe_policy,
    hypothesis_examples=(60, 1000),
)

# tenant A (weight 2, share 2/3) has one task of two 4-token calls (work 1/2 s, deadline
# 3/4 s, declared rate 2/3): within its share; tenant B has k tasks of one 16-token call.
# The per-epoch service counters reset every epoch and at every arrival, and ties at
# zero go to the earlier ready call: each of B's tasks takes a turn before A's second
# call. A finishes at 1/2 + k seconds (k = 2 here: 5/2 > 3/4 + 1/2 + 1); the lateness
# grows without bound with k.
_POLICY_CEX = PolicyInstance((("A", 0.0, (4, 4)), ("B", 0.0, (16,)), ("B", 0.0, (16,))),
                             (("A", 2.0), ("B", 1.0)), 2.5, 0.0, 1, True)

AFS_POLICY_ISOLATION: Theorem[PolicyInstance] = Theorem(
    name="saga-afs-policy-isolation",
    title="The implemented AFS-WF keeps a tenant within its share on time",
    claim="refuted",
    statement=(
        "Claim: run on non-preemptive servers, the implemented SagaAFSWaterfill finishes "
        "every task of a tenant whose declared demand stays within its weighted share by "
        "the task's deadline plus one epoch plus the longest call, whatever the other "
        "tenants do (saga-afs-wf's guarantee, carried to the policy). False: the shares "
        "become per-epoch service counters that reset every epoch and at every arrival, "
        "so the order is a round robin over tasks, not tenants; a tenant with k tasks "
        "takes k turns. With tenant A (weight 2) running one task of two 4-token calls "
        "and tenant B k tasks of one 16-token call, A finishes at 1/2 + k s against a "
        "deadline of 3/4 s: the lateness grows without bound. The urgent tier adds a "
        "second route: a task past its deadline has urgency rem / epoch, so a tenant "
        "whose large tasks are late outranks a light tenant's nearly finished task."
    ),
    model="as saga-afs-policy-rule, SagaAFSWaterfill",
    proof=f"{POLICY_PROOF}#refuted-the-policys-isolation",
    obligations=isolation_obligations,
    enumerate=lambda thorough: (i for i in _policy_grid(thorough) if i.waterfill),
    strategy=policy_instances,
    counterexample=_POLICY_CEX,
    describe=describe_policy,
    hypothesis_examples=(30, 500),
)

THEOREMS = (*THEOREMS, AFS_POLICY_RULE, AFS_POLICY_ISOLATION)
