"""Checker of VTC's service bound (``STATEMENT.md`` beside this file).

Model: :func:`sagacore.theory.models.serve_vtc`. Proof: ``docs/proofs/vtc.md``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from fractions import Fraction as Q
from typing import Any

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

THEOREMS: tuple[Theorem[Any], ...] = (VTC_2U,)
