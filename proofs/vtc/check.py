"""Checker of VTC's service bound (``STATEMENT.md`` beside this file).

Model: :func:`sagacore.theory.models.serve_vtc`. Proof: ``docs/proofs/vtc.md``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from fractions import Fraction as Q
from typing import Any

from hypothesis import strategies as st

from sagacore.testing.fairness import run_servers
from sagacore.testing.policy_models import chain_workload
from sagacore.testing.strategies import vtc_requests
from sagacore.theory.models import Request, VtcRun, serve_vtc
from sagacore.theory.theorems import Obligation, Theorem, Witness

PROOF = "docs/proofs/vtc.md"

Instance = tuple[int, list[Request]]


def describe(inst: Instance) -> dict[str, Any]:
    """Clients and requests as plain data."""
    k, reqs = inst
    return {"clients": k, "requests": [(r.client, r.arrival, r.size) for r in reqs]}


def _differences(run: VtcRun, clients: int) -> Iterator[tuple[str, Any]]:
    """``(label, W_f(t_i, t_k) - W_g(t_i, t_k))`` for every pair of clients and every pair
    of event times between which both stay backlogged. Service is linear between events,
    so the extremes over all ``t1 < t2`` are at event times."""
    ev = run.events
    for f, g in itertools.combinations(range(clients), 2):
        for i in range(len(ev)):
            for k in range(i + 1, len(ev)):
                if not (ev[k - 1][2][f] and ev[k - 1][2][g]):
                    break
                d = (ev[k][1][f] - ev[i][1][f]) - (ev[k][1][g] - ev[i][1][g])
                yield f"clients {f},{g} over [t{i}, t{k}]", d


def obligations(inst: Instance) -> list[Obligation]:
    """``|W_f(t1, t2) - W_g(t1, t2)| <= 2 U`` while both are backlogged."""
    k, reqs = inst
    run = serve_vtc(reqs, k)
    two_u = 2 * run.max_size
    out: list[Obligation] = []
    for label, d in _differences(run, k):
        out.append((label + ": W_f - W_g <= 2U", d, two_u))
        out.append((label + ": W_g - W_f <= 2U", -d, two_u))
    return out


def gap_over_u(inst: Instance) -> Q:
    """``max |W_f - W_g| / U`` over backlogged intervals."""
    k, reqs = inst
    run = serve_vtc(reqs, k)
    best = Q(0)
    for _, d in _differences(run, k):
        best = max(best, abs(d))
    return best / run.max_size


def _enum(thorough: bool) -> Iterator[Instance]:
    sizes = (1, 2) if not thorough else (1, 2, 3)
    arrivals = (0, 1, 2) if not thorough else (0, 1, 2, 3)
    reqs = [Request(c, Q(a), Q(s)) for c in (0, 1) for a in arrivals for s in sizes]
    for n in range(1, (4 if not thorough else 5) + 1):
        for combo in itertools.combinations_with_replacement(reqs, n):
            yield (2, list(combo))
    if thorough:
        reqs3 = [Request(c, Q(a), Q(s)) for c in (0, 1, 2) for a in (0, 1) for s in (1, 2)]
        for combo in itertools.combinations_with_replacement(reqs3, 4):
            yield (3, list(combo))


def _targeted(thorough: bool) -> Iterator[Instance]:
    """Families where VTC's bookkeeping matters and a 4-request grid does not reach:

    - *idle then return*: one client backlogged from 0, the other arriving later with a
      backlog (its counter must be lifted, not kept), with or without a third client
      that never sends (the lift looks at backlogged clients only);
    - *everyone idle, then both return*: one client served alone, the server idles, and
      both come back, the other client's request first (it must be lifted to the last
      leaver's counter);
    - *mixed sizes*: long backlogs of small and large requests (counters must charge
      tokens, not requests).
    """
    one = Q(1)
    for k, t_late, m, early in itertools.product((2, 3, 4), (1, 2, 3), (2, 3, 4), (0, 1)):
        late = 1 - early
        reqs = [Request(early, Q(0), one)] * k + [Request(late, Q(t_late), one)] * m
        yield (2, reqs)
        yield (3, reqs)  # with a third client that never sends: it is not backlogged
    for k, m in itertools.product((3, 4), (3, 4)):
        gap = Q(k + 1)
        yield (2, [Request(0, Q(0), one)] * k + [Request(1, gap, one)] * m
               + [Request(0, gap, one)] * m)
    for n, big in itertools.product((3, 4, 5, 6), (2, 3, 4)):
        yield (2, [Request(0, Q(0), one)] * n + [Request(1, Q(0), Q(big))] * n)


def _smt(thorough: bool) -> list[tuple[str, Callable[..., Instance]]]:
    shapes = [(0, 1, 0)] + ([(0, 1, 0, 1), (0, 1, 1, 0), (0, 0, 1, 1)] if thorough else [])
    out = []
    for shape in shapes:
        def build(real: Callable[..., Any], shape: tuple[int, ...] = shape) -> Instance:
            # requests numbered in arrival order (no loss of generality): a_i = a_{i-1} + d_i
            reqs, a = [], Q(0)
            for i, c in enumerate(shape):
                a = a + real(f"d{i}", lo=0)
                reqs.append(Request(c, a, real(f"s{i}", lo=0, strict_lo=True)))
            return (2, reqs)
        out.append((f"2 clients, requests of clients {shape}", build))
    return out


def _near_2u(eps: Q) -> Instance:
    # client 0 wins the tie at 0 and is served U = 1; client 1 then catches up with a
    # request of 1 - eps, is still below, and is served another U: 2U - eps in a row
    return (2, [Request(0, Q(0), Q(1)), Request(0, Q(0), Q(1)),
                Request(1, Q(0), 1 - eps), Request(1, Q(0), Q(1))])


VTC_2U: Theorem[Instance] = Theorem(
    name="vtc-2u",
    title="VTC: two backlogged clients' service differs by at most 2U",
    claim="holds",
    statement=(
        "One server; clients send requests of service at most U; when the server is "
        "free it starts the head request of the backlogged client with the smallest "
        "virtual counter (ties: lower index); a client's counter grows with the service "
        "it receives; a client that becomes backlogged is lifted to the minimum counter "
        "of the backlogged clients (or to the last one to leave, when none is). Then for "
        "any two clients f, g both backlogged throughout [t1, t2], "
        "|W_f(t1, t2) - W_g(t1, t2)| <= 2U. The bound is tight: instances reach "
        "2U - eps for every eps > 0."
    ),
    model="single server, non-preemptive requests, counters charged as service is received",
    proof=f"{PROOF}#theorem",
    obligations=obligations,
    enumerate=_enum,
    targeted=_targeted,
    strategy=lambda: vtc_requests(max_clients=3, max_requests=7),
    smt=_smt,
    witnesses=(
        Witness("reaches 2U - eps (eps = 1/8)", _near_2u(Q(1, 8)), gap_over_u, Q(15, 8)),
        Witness("reaches 2U - eps (eps = 1/64)", _near_2u(Q(1, 64)), gap_over_u, Q(127, 64)),
    ),
    describe=describe,
)



# ---------------------------------------------------------------------------------------
# the policy that runs
# ---------------------------------------------------------------------------------------

RATE = 16
"""Tokens per second of the abstract server (dyadic: the policy's float times are exact)."""

PolicyInstance = tuple[str, list[tuple[str, Q, int]]]
"""``(activity, tasks)``: single-call tasks ``(tenant, arrival, size in tokens)``."""


def policy_gap(inst: PolicyInstance) -> tuple[Q, int]:
    """``(largest service difference, U)`` in tokens: the policy
    :class:`sagacore.sched.vtc.VTC` (``output_weight`` 1, so a call's charge is its size)
    in :func:`run_servers`; two tenants compared over every interval between event times
    in which both are backlogged (a tenant is backlogged from a task's arrival to its end).
    :func:`weighted_gap` with every weight 1."""
    activity, tasks = inst
    gap, u = weighted_gap((activity, tasks, {}))
    return gap, int(u)


def policy_obligations(inst: PolicyInstance) -> list[Obligation]:
    """Two backlogged tenants' service differs by at most ``2U``."""
    gap, u = policy_gap(inst)
    return [(f"VTC policy ({inst[0]} activity): service gap <= 2U", gap, 2 * u)]


def _policy_targeted(thorough: bool) -> Iterator[PolicyInstance]:
    """For both activities: a tenant arriving while another's queue is long (the lift,
    and the first-come-first-served degeneration of a tenant counted active only while
    a call runs), tenants returning after the server idled, sizes 2 and 16 tokens (per
    request instead of per token), and three tenants arriving one after another."""
    q = Q
    families: list[list[tuple[str, Q, int]]] = [
        [("A", q(0), 9)] * 8 + [("B", q(1, 2), 9)] * 8,
        [("B", q(0), 8)] * 8 + [("A", q(2), 8)] * 4,
        [("A", q(0), 8)] * 3 + [("B", q(4), 8)] * 4 + [("A", q(17, 4), 8)] * 4,
        [("A", q(0), 2)] * 6 + [("B", q(0), 16)] * 4,
        [("A", q(0), 8)] * 4 + [("B", q(1, 4), 8)] * 4 + [("C", q(1, 2), 8)] * 4,
    ]
    for activity in ("call", "task"):
        for tasks in families:
            yield (activity, list(tasks))


def _policy_grid(thorough: bool) -> Iterator[PolicyInstance]:
    """Two tenants, up to three tasks (four when ``thorough``), arrivals 0 or 1/2 s,
    sizes 2 or 8 tokens, both activities."""
    per = [(ten, Q(a, 2), size) for ten in ("A", "B") for a in (0, 1) for size in (2, 8)]
    for activity in ("call", "task"):
        for n in range(1, (4 if thorough else 3) + 1):
            for combo in itertools.combinations_with_replacement(per, n):
                yield (activity, list(combo))


@st.composite
def _policy_strategy(draw: st.DrawFn) -> PolicyInstance:
    tasks = draw(st.lists(st.tuples(st.sampled_from(["A", "B", "C"]),
                                    st.integers(0, 16).map(lambda x: Q(x, 4)),
                                    st.integers(2, 32)), min_size=1, max_size=8))
    return (draw(st.sampled_from(["call", "task"])), tasks)


VTC_POLICY: Theorem[PolicyInstance] = Theorem(
    name="vtc-policy-2u",
    title="The implemented VTC keeps backlogged tenants within 2U",
    claim="holds",
    statement=(
        "The policy sagacore.sched.vtc.VTC (counters in tokens, output weight 1) run in "
        "the abstract server on single-call tasks, with either activity rule (a tenant is "
        "active while it has a call waiting or running, or a task in progress: for "
        "single-call tasks both are vtc-2u's backlog): any two tenants backlogged "
        "throughout an interval receive service within 2U of each other there, U the "
        "largest call. The policy charges a call when the server reports its service and "
        "lifts a tenant when it becomes active, as the model of vtc-2u does."
    ),
    model="run_servers: one server of 16 tokens/s, non-preemptive single-call tasks of "
          "2 to 32 tokens; the gap measured exactly between event times",
    proof=f"{PROOF}#the-policy-as-implemented",
    obligations=policy_obligations,
    enumerate=_policy_grid,
    targeted=_policy_targeted,
    strategy=_policy_strategy,
    describe=lambda inst: {"activity": inst[0],
                           "tasks": [(t, str(a), s) for t, a, s in inst[1]]},
)

# ---------------------------------------------------------------------------------------
# the policy with tenant weights
# ---------------------------------------------------------------------------------------

WeightedInstance = tuple[str, list[tuple[str, Q, int]], dict[str, int]]
"""``(activity, tasks, weights)``: as :data:`PolicyInstance`, tenants with weights."""


def weighted_gap(inst: WeightedInstance) -> tuple[Q, Q]:
    """``(largest difference of weighted service, largest charge)``: the policy with
    ``tenant_weights`` (none given: VTC's default, every tenant weight 1), two tenants'
    service divided by their weights compared over every interval between event times in
    which both are backlogged; a call's charge is its size over its tenant's weight."""
    from sagacore.sched.vtc import VTC, VTCConfig

    activity, tasks, weights = inst
    w = chain_workload([(ten, float(a), (size,)) for ten, a, size in tasks])
    cfg = VTCConfig(output_weight=1.0, activity=activity,  # type: ignore[arg-type]
                    tenant_weights={t: float(x) for t, x in weights.items()})
    run = run_servers(w, VTC(cfg), rate=float(RATE))
    spans = {}
    for i, (ten, a, size) in enumerate(tasks):
        start = Q(run.starts[(f"{ten}:{i}", 0)])  # type: ignore[index]
        spans[i] = (ten, a, start, start + Q(size, RATE))
    points = sorted({x for _, a, s0, e in spans.values() for x in (a, s0, e)})

    def served(ten: str, t1: Q, t2: Q) -> Q:
        return sum((max(Q(0), min(e, t2) - max(s0, t1)) * RATE
                    for n, _, s0, e in spans.values() if n == ten), Q(0)) / weights.get(ten, 1)

    def backlogged(ten: str, t1: Q, t2: Q) -> bool:
        x = t1
        for a, e in sorted((a, e) for n, a, _, e in spans.values() if n == ten):
            if a <= x < e:
                x = e
        return x >= t2

    worst = Q(0)
    names = sorted({ten for ten, _, _ in tasks})
    for i, t1 in enumerate(points):
        for t2 in points[i + 1:]:
            both = [n for n in names if backlogged(n, t1, t2)]
            for f, g in itertools.permutations(both, 2):
                worst = max(worst, served(f, t1, t2) - served(g, t1, t2))
    return worst, max(Q(size, weights.get(ten, 1)) for ten, _, size in tasks)


def weighted_obligations(inst: WeightedInstance) -> list[Obligation]:
    """Two backlogged tenants' service over their weights differs by at most twice the
    largest charge."""
    gap, c = weighted_gap(inst)
    return [(f"weighted VTC policy ({inst[0]} activity): weighted service gap <= 2 C_max",
             gap, 2 * c)]


def _weighted_targeted(thorough: bool) -> Iterator[WeightedInstance]:
    """Both tenants backlogged from the start with weights 1:2, 1:3 and 2:1 (a policy
    that ignores the weights, or multiplies by them, serves them equally or the wrong
    way round), a weighted tenant arriving while another's queue is long, and three
    tenants of weights 1, 2 and 4."""
    q = Q
    families: list[tuple[list[tuple[str, Q, int]], dict[str, int]]] = []
    for wa, wb in ((1, 2), (1, 3), (2, 1)):
        families.append(([("A", q(0), 8)] * 8 + [("B", q(0), 8)] * 8, {"A": wa, "B": wb}))
        families.append(([("A", q(0), 8)] * 8 + [("B", q(1, 2), 8)] * 8, {"A": wa, "B": wb}))
    families.append(([("A", q(0), 8)] * 6 + [("B", q(0), 8)] * 6 + [("C", q(1, 4), 8)] * 6,
                     {"A": 1, "B": 2, "C": 4}))
    for activity in ("call", "task"):
        for tasks, weights in families:
            yield (activity, list(tasks), dict(weights))


@st.composite
def _weighted_strategy(draw: st.DrawFn) -> WeightedInstance:
    tasks = draw(st.lists(st.tuples(st.sampled_from(["A", "B", "C"]),
                                    st.integers(0, 16).map(lambda x: Q(x, 4)),
                                    st.integers(2, 32)), min_size=1, max_size=8))
    weights = {t: draw(st.integers(1, 4)) for t in ("A", "B", "C")}
    return (draw(st.sampled_from(["call", "task"])), tasks, weights)


VTC_WEIGHTED: Theorem[WeightedInstance] = Theorem(
    name="vtc-policy-weighted",
    title="The implemented VTC with tenant weights keeps backlogged tenants' weighted "
          "service within twice the largest charge",
    claim="holds",
    statement=(
        "The policy sagacore.sched.vtc.VTC with tenant_weights w (a call of s tokens "
        "charges s / w_tenant; output weight 1) run in the abstract server on single-call "
        "tasks, with either activity rule: any two tenants f, g backlogged throughout an "
        "interval have |S_f / w_f - S_g / w_g| <= 2 C_max there, S the service in tokens "
        "and C_max the largest charge of a call (max s / w). With every weight 1 this is "
        "vtc-policy-2u."
    ),
    model="run_servers: one server of 16 tokens/s, non-preemptive single-call tasks of "
          "2 to 32 tokens, tenant weights 1 to 4; the gap measured exactly between event "
          "times",
    proof=f"{PROOF}#weights",
    obligations=weighted_obligations,
    targeted=_weighted_targeted,
    strategy=_weighted_strategy,
    describe=lambda inst: {"activity": inst[0],
                           "tasks": [(t, str(a), s) for t, a, s in inst[1]],
                           "weights": inst[2]},
)

THEOREMS: tuple[Theorem[Any], ...] = (VTC_2U, VTC_POLICY, VTC_WEIGHTED)
