"""Checker of Justitia's worst-case delay with mispredicted costs (``STATEMENT.md`` beside).

Model (:func:`sagacore.theory.models.serve_agents` with ``tags="fluid"`` and
``Agent.predicted`` set): Justitia computes its tags on the fluid system of the
*predicted* costs; the real server does the *true* work. The reference ``g_hat`` comes
from :func:`sagacore.theory.reference.gps_finish`, not from the clock that makes the
tags. Proof:
``docs/proofs/justitia_delay.md``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from fractions import Fraction as Q
from typing import Any

from sagacore.testing.fairness import run_servers
from sagacore.testing.policy_models import chain_workload
from sagacore.testing.strategies import unit_agents
from sagacore.theory.models import Agent, serve_agents
from sagacore.theory.reference import gps_finish
from sagacore.theory.theorems import Obligation, Theorem, Witness
from sagacore.workload.model import TaskId

PROOF = "docs/proofs/justitia_delay.md"

Instance = list[Agent]


def describe(agents: Instance) -> list[dict[str, Any]]:
    """Agents as plain data."""
    return [
        {"arrival": a.arrival, "units": list(a.units), "weight": a.weight,
         "predicted_cost": a.predicted}
        for a in agents
    ]


def epsilon(agents: Instance) -> Q:
    """``max_k (C_k / C_hat_k - 1)^+``: the worst relative under-prediction."""
    eps = Q(0)
    for a in agents:
        if a.misprediction is not None and eps < 1 / a.misprediction - 1:
            eps = 1 / a.misprediction - 1
    return eps


def predicted_gps(agents: Instance) -> list[Any]:
    """``g_hat``: finish times in the GPS of the *predicted* costs, each agent one packet
    at its arrival (:func:`~sagacore.theory.reference.gps_finish`, independent of the
    ``VirtualClock`` that makes Justitia's tags)."""
    return gps_finish([(j, a.arrival, a.predicted) for j, a in enumerate(agents)],
                      [a.weight for a in agents])


def obligations(agents: Instance) -> list[Obligation]:
    """``f_j <= g_hat_j + L_max + eps (g_hat_j - b_j)`` for every agent ``j``."""
    run = serve_agents(agents)
    eps = epsilon(agents)
    g_hat = predicted_gps(agents)
    out = []
    for j in range(len(agents)):
        g = g_hat[j]
        out.append((
            f"agent {j}: finish <= g_hat + L_max + eps (g_hat - busy start)",
            run.finish[j],
            g + run.max_unit + eps * (g - run.busy_start[j]),
        ))
    return out


def excess(agents: Instance) -> Q:
    """``max_j (f_j - g_hat_j - L_max)``: how far mis-prediction pushes past the exact bound."""
    run = serve_agents(agents)
    return max(f - g - run.max_unit for f, g in zip(run.finish, run.tag_fluid_finish, strict=True))


def _enum(thorough: bool) -> Iterator[Instance]:
    ratios = (Q(1, 2), Q(1), Q(2)) if not thorough else (Q(1, 4), Q(1, 2), Q(1), Q(2), Q(4))
    units = [(1,), (2,), (1, 1)] + ([(2, 1), (1, 2)] if thorough else [])
    per = []
    for a, u, w, r in itertools.product((0, 1), units, (1, 2), ratios):
        uu = tuple(Q(x) for x in u)
        per.append(Agent(Q(a), uu, (), Q(w), r))
    for n in (1, 2):
        yield from (list(c) for c in itertools.product(per, repeat=n))
    if thorough:  # three agents on a smaller grid
        small = [a for a in per if len(a.units) == 1 and a.misprediction in (Q(1, 2), Q(2))]
        yield from (list(c) for c in itertools.product(small, repeat=3))


def _targeted(thorough: bool) -> Iterator[Instance]:
    """Long backlogs and late arrivals, weights other than 1, under- and
    over-prediction: where a wrong clock or an inverted prediction shows."""
    one = Q(1)
    for n, late, t_late, w0, w1, r0, r1 in itertools.product(
        (4, 8), (2, 4), (2, 5), (1, 2), (1, 3), (Q(1, 2), Q(1), Q(2)), (Q(1, 2), Q(1), Q(2))
    ):
        yield [Agent(Q(0), (one,) * n, (), Q(w0), r0),
               Agent(Q(t_late), (one,) * late, (), Q(w1), r1)]


def _smt(thorough: bool) -> list[tuple[str, Callable[..., Instance]]]:
    # (weight, units, misprediction) per agent; sizes and arrivals symbolic
    half, two = Q(1, 2), Q(2)
    shapes: list[tuple[tuple[int, int, Q], ...]] = [((1, 1, half), (1, 1, two))]
    if thorough:
        shapes += [((1, 1, two), (1, 1, half)), ((1, 2, half), (1, 1, Q(1))),
                   ((1, 1, half), (2, 1, half))]
    out = []
    for shape in shapes:
        def build(real: Callable[..., Any], shape: tuple[tuple[int, int, Q], ...] = shape) -> Instance:
            return [
                Agent(real(f"a{i}", lo=0),
                      tuple(real(f"u{i}_{x}", lo=0, strict_lo=True) for x in range(k)),
                      (), Q(w), r)
                for i, (w, k, r) in enumerate(shape)
            ]
        desc = ", ".join(f"agent(w={w}, {k} unit{'s' if k > 1 else ''}, predicted x {r})"
                         for w, k, r in shape)
        out.append((desc, build))
    return out


# agent 0 is predicted at 1/4 of its true cost 4 (eps = 3): it runs first, and agent 1,
# predicted exactly, finishes at 6: 2 after its predicted-fluid finish 3 plus L_max
_MISPREDICTED = [
    Agent(Q(0), (Q(1),) * 4, (), Q(1), Q(1, 4)),
    Agent(Q(0), (Q(1),) * 2, (), Q(1)),
]

JUSTITIA_DELAY: Theorem[Instance] = Theorem(
    name="justitia-delay",
    title="Justitia's worst-case delay, with cost mis-prediction",
    claim="holds",
    statement=(
        "One server of rate r (r = 1 here); agents with weights, true costs C_j split into "
        "non-preemptive units (L_max the largest), all ready from arrival, and predicted "
        "costs C_hat_j. Justitia's tags F_j = V(a_j) + C_hat_j / w_j use the virtual time "
        "of the fluid system of the predicted costs, in which j finishes at g_hat_j. Let "
        "eps = max_k (C_k / C_hat_k - 1)^+ (worst relative under-prediction) and b_j the "
        "start of the busy period in which j finishes. Then "
        "f_j <= g_hat_j + L_max / r + eps (g_hat_j - b_j). With exact costs g_hat = g and "
        "this is wfq-agent; over-prediction alone (eps = 0) costs nothing beyond L_max."
    ),
    model="single server, non-preemptive units, no tool gaps, predicted costs in the tags",
    proof=f"{PROOF}#theorem",
    obligations=obligations,
    enumerate=_enum,
    targeted=_targeted,
    strategy=lambda: unit_agents(max_agents=4, max_units=4, max_size=4, predicted=True),
    smt=_smt,
    witnesses=(
        Witness("under-prediction (eps = 3) pushes an agent 2 past g_hat + L_max: the "
                "eps term is needed", _MISPREDICTED, excess, Q(2)),
    ),
    describe=describe,
)



# ---------------------------------------------------------------------------------------
# Against the TRUE fair-share system (the GPS of the true costs), not the predicted one
# ---------------------------------------------------------------------------------------
def true_gps(agents: Instance) -> list[Any]:
    """``g``: finish times in the GPS of the *true* costs (the fair-share system the
    agents are owed), from :func:`~sagacore.theory.reference.gps_finish`."""
    return gps_finish([(j, a.arrival, a.cost) for j, a in enumerate(agents)],
                      [a.weight for a in agents])


def kappa(agents: Instance) -> Q:
    """``max(1, 1 / rho_min) rho_max`` over the prediction ratios ``rho = C_hat / C``
    (1 when every prediction is exact, or wrong by one common factor below 1)."""
    rs = [a.misprediction if a.misprediction is not None else Q(1) for a in agents]
    lo, hi = min(rs), max(rs)
    return (1 / lo if lo < 1 else Q(1)) * hi


def true_obligations(agents: Instance) -> list[Obligation]:
    """``f_j <= g_j + L_max`` against the true GPS (the refuted claim)."""
    run = serve_agents(agents)
    g = true_gps(agents)
    return [(f"agent {j}: finish <= true fair share + L_max", run.finish[j],
             g[j] + run.max_unit) for j in range(len(agents))]


def batch_obligations(agents: Instance) -> list[Obligation]:
    """``f_j <= kappa g_j + L_max`` against the true GPS, agents arriving together
    (vacuous otherwise)."""
    if any(a.arrival != agents[0].arrival for a in agents):
        return []
    run = serve_agents(agents)
    g = true_gps(agents)
    t0 = agents[0].arrival
    k = kappa(agents)
    return [(f"agent {j}: finish <= kappa x true fair share + L_max", run.finish[j] - t0,
             k * (g[j] - t0) + run.max_unit) for j in range(len(agents))]


# agent 0: 4 units, predicted at half its cost; agent 1 (weight 3) arrives at 2, also
# predicted at half. The predicted fluid system finishes agent 0 at 2, before agent 1's
# tag, so agent 0 runs to 4 and agent 1 finishes at 6; in the true fair share agent 1
# finishes at 14/3, so 6 > 14/3 + 1. With N units for agent 0 and agent 1 arriving at
# N/2, the lateness past the true fair share is N/2 - 2/3: unbounded, though every
# prediction is off by the same factor 1/2.
_UNIFORM_HALF = [
    Agent(Q(0), (Q(1),) * 4, (), Q(1), Q(1, 2)),
    Agent(Q(2), (Q(1),) * 2, (), Q(3), Q(1, 2)),
]

JUSTITIA_TRUE: Theorem[Instance] = Theorem(
    name="justitia-true-fair-share",
    title="With predicted costs, Justitia keeps every agent within L_max of its true fair share",
    claim="refuted",
    statement=(
        "Claim: with predicted costs in the tags, every agent finishes by g_j + L_max / r, "
        "g_j its finish in the fair-share (GPS) system of the TRUE costs. False, even when "
        "every prediction is off by one common factor: agent 0 (4 units of 1) and agent 1 "
        "(weight 3, 2 units, arriving at 2), both predicted at half their cost. The "
        "predicted fluid system finishes agent 0 at 2, before agent 1's tag, so agent 0 "
        "runs to 4 and agent 1 finishes at 6 > 14/3 + 1. With N units for agent 0 and "
        "agent 1 arriving at N/2, agent 1 is N/2 - 2/3 past its true fair share plus "
        "L_max: unbounded. justitia-delay (against the predicted system) and "
        "justitia-true-fair-share-batch (agents arriving together) are what holds."
    ),
    model="as justitia-delay; reference: the GPS of the true costs",
    proof=f"{PROOF}#against-the-true-fair-share",
    obligations=true_obligations,
    enumerate=_enum,
    counterexample=_UNIFORM_HALF,
    describe=describe,
)

JUSTITIA_BATCH: Theorem[Instance] = Theorem(
    name="justitia-true-fair-share-batch",
    title="Agents arriving together: Justitia is within kappa of the true fair share plus L_max",
    claim="holds",
    statement=(
        "As justitia-delay, all agents arriving at the same time t0, prediction ratios "
        "rho_k = C_hat_k / C_k and kappa = max(1, 1 / rho_min) rho_max. Then every agent "
        "finishes by t0 + kappa (g_j - t0) + L_max / r, g_j its finish in the GPS of the "
        "true costs. Exact predictions, or all off by one common factor below 1, give "
        "kappa = 1: the L_max bound against the true fair share."
    ),
    model="as justitia-delay, simultaneous arrivals (Justitia's task-parallel batch); "
          "reference: the GPS of the true costs",
    proof=f"{PROOF}#against-the-true-fair-share",
    obligations=batch_obligations,
    enumerate=lambda thorough: (i for i in _enum(thorough) if all(a.arrival == 0 for a in i)),
    targeted=lambda thorough: (
        [Agent(Q(0), a.units, (), a.weight, a.misprediction) for a in inst]
        for inst in _targeted(thorough)),
    strategy=lambda: unit_agents(max_agents=4, max_units=4, max_size=4, max_arrival=0,
                                 predicted=True),
    describe=describe,
)



# ---------------------------------------------------------------------------------------
# the policy that runs, against the model
# ---------------------------------------------------------------------------------------


def policy_obligations(agents: Instance) -> list[Obligation]:
    """The policy :class:`sagacore.sched.justitia.Justitia` (fluid clock, exact costs) in
    :func:`run_servers` finishes every agent when the model does, to within ``1e-9``
    (unit ``u`` becomes a call of ``2u`` tokens on a server of 2 tokens per second; the
    model's capacity 1 is the policy's 2). Instances whose model tags tie are not
    compared: the two break ties differently."""
    from sagacore.sched.justitia import Justitia, JustitiaConfig

    exact = [Agent(a.arrival, a.units, (), a.weight) for a in agents]
    model = serve_agents(exact)
    tags = [t[0] for t in model.tags]
    if len(set(tags)) < len(tags):
        return []
    weights = {f"a{j}": float(a.weight) for j, a in enumerate(exact)}
    w = chain_workload([(f"a{j}", float(a.arrival), [int(2 * u) for u in a.units])
                        for j, a in enumerate(exact)], weights)
    cfg = JustitiaConfig(cost="tokens", cost_source="oracle", capacity=2.0,
                         tenant_weights=weights)
    run = run_servers(w, Justitia(cfg), rate=2.0, tools=False)
    out: list[Obligation] = []
    for j, f in enumerate(model.finish):
        got = Q(run.finish[TaskId(f"a{j}:{j}")])
        out.append((f"agent {j}: policy finish {float(got):g} = model finish {f}",
                    abs(got - f), Q(1, 10**9)))
    return out


JUSTITIA_POLICY: Theorem[Instance] = Theorem(
    name="justitia-policy-model",
    title="The implemented Justitia serves agents as the exact model does",
    claim="holds",
    statement=(
        "Run in the abstract server (one server, non-preemptive calls, exact costs), the "
        "policy sagacore.sched.justitia.Justitia with its fluid clock finishes every agent "
        "at the time the exact model of wfq-agent (serve_agents, tags on the fluid "
        "system's own clock) finishes it, whenever the model's tags do not tie. So "
        "wfq-agent and justitia-delay, proved for the model, hold for the policy. The "
        "policy's clock (sagacore.sched.fluid.VirtualClock) and the model's "
        "(sagacore.theory.fluid.GpsClock) are separate implementations."
    ),
    model="run_servers, one server of 2 tokens/s, unit u as a call of 2u tokens, oracle "
          "costs; the model is sagacore.theory.models.serve_agents",
    proof=f"{PROOF}#the-policy-as-implemented",
    obligations=policy_obligations,
    enumerate=lambda thorough: (i for i in _enum(thorough)
                                if len(i) > 1 and all(a.misprediction == 1 for a in i)),
    targeted=lambda thorough: (i for i in _targeted(thorough)
                               if all(a.misprediction == 1 for a in i)),
    strategy=lambda: unit_agents(max_agents=4, max_units=3, max_size=3),
    describe=describe,
)

THEOREMS: tuple[Theorem[Any], ...] = (JUSTITIA_DELAY, JUSTITIA_TRUE, JUSTITIA_BATCH,
                                      JUSTITIA_POLICY)
