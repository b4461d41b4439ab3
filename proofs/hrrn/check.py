"""Checker of HRRN's wait bound (``STATEMENT.md`` beside this file).

Model: :func:`sagacore.theory.models.serve_hrrn`. Proof: ``docs/proofs/hrrn.md``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction as Q
from typing import Any

from sagacore.testing.strategies import hrrn_jobs
from sagacore.theory.models import HrrnJob, serve_hrrn
from sagacore.theory.theorems import Obligation, Theorem, Witness

PROOF = "docs/proofs/hrrn.md"

Instance = list[HrrnJob]


def describe(jobs: Instance) -> list[dict[str, Any]]:
    """Jobs as plain data."""
    return [
        {"arrival": j.arrival, "size": j.size, "predicted": j.estimate} for j in jobs
    ]


def bound_terms(jobs: Sequence[HrrnJob], start: Sequence[Q], j: int) -> tuple[Any, Any]:
    """``(W_j, B_j + A_j(theta_j W_j))`` of the theorem for job ``j``."""
    me = jobs[j]
    wait = start[j] - me.arrival
    s_min = jobs[0].estimate
    for x in jobs[1:]:
        if x.estimate < s_min:
            s_min = x.estimate
    theta = 1 - s_min / me.estimate
    backlog = me.arrival - me.arrival
    later = backlog
    for k, x in enumerate(jobs):
        if k == j:
            continue
        if not me.arrival < x.arrival:
            end = start[k] + x.size
            if me.arrival < end:  # unfinished work at a_j
                left = end - me.arrival
                backlog = backlog + (x.size if x.size < left else left)
        elif x.arrival <= me.arrival + theta * wait:
            later = later + x.size
    return wait, backlog + later


def obligations(jobs: Instance) -> list[Obligation]:
    """``W_j <= B_j + A_j(theta_j W_j)`` for every job."""
    run = serve_hrrn(jobs)
    out = []
    for j in range(len(jobs)):
        w, rhs = bound_terms(jobs, run.start, j)
        out.append((f"job {j}: W <= B + A(theta W)", w, rhs))
    return out


def slack(jobs: Instance) -> Q:
    """``min_j (B_j + A_j(theta_j W_j) - W_j)``: 0 when the bound is met with equality."""
    run = serve_hrrn(jobs)
    gaps: list[Q] = [rhs - w for w, rhs in (bound_terms(jobs, run.start, j) for j in range(len(jobs)))]
    return min(gaps)


def _enum(thorough: bool) -> Iterator[Instance]:
    sizes = (1, 2, 3) if not thorough else (1, 2, 3, 4)
    arrivals = (0, 1, 2) if not thorough else (0, 1, 2, 3)
    preds: tuple[int | None, ...] = (None, 1, 3) if not thorough else (None, 1, 2, 4)
    per = [HrrnJob(Q(a), Q(s), None if p is None else Q(p))
           for a in arrivals for s in sizes for p in preds]
    for n in range(1, 4):
        for combo in itertools.combinations_with_replacement(per, n):
            yield list(combo)


def _targeted(thorough: bool) -> Iterator[Instance]:
    """Long backlogs that a 3-job grid does not reach: a long job (size ``L``) behind
    short ones (size 1 or 1/2), then a stream of short jobs arriving faster than the
    server clears them (overload ``rate`` > 1). How the long job's ratio ages against theirs decides its
    wait, so an ageing term with the wrong power of the size shows here; equal ratios
    arise on the integer grid of arrivals, so do wrong tie rules."""
    for short, ahead, big, rate, count, pred in itertools.product(
        (Q(1), Q(1, 2)), (1, 2, 3), (2, 3, 4, 6), (Q(5, 4), Q(3, 2), Q(2)), (4, 8), (None, 2)
    ):
        jobs = [HrrnJob(Q(0), short)] * ahead
        jobs += [HrrnJob(Q(0), Q(big), None if pred is None else Q(big * pred))]
        jobs += [HrrnJob(Q(i) / rate, short) for i in range(1, count + 1)]
        yield jobs
    for big, gap in itertools.product((2, 3, 4), (1, 2)):
        # two long jobs and short ones arriving on a grid: ties between ratios
        yield [HrrnJob(Q(0), Q(big)), HrrnJob(Q(0), Q(big)), HrrnJob(Q(gap), Q(1)),
               HrrnJob(Q(gap), Q(big)), HrrnJob(Q(gap + 1), Q(1)), HrrnJob(Q(gap + 2), Q(big))]


def _smt(thorough: bool) -> list[tuple[str, Callable[..., Instance]]]:
    shapes: list[tuple[int, ...]] = [(1, 2), (2, 1), (1, 2, 3)]
    if thorough:
        shapes += [(3, 1, 2), (2, 3, 1), (1, 1, 2, 4), (4, 2, 1, 1)]
    out = []
    for preds in shapes:
        def build(real: Callable[..., Any], preds: tuple[int, ...] = preds) -> Instance:
            # jobs numbered in arrival order (no loss of generality); true sizes and
            # arrivals symbolic, the sizes HRRN believes fixed
            jobs, a = [], Q(0)
            for i, p in enumerate(preds):
                a = a + real(f"d{i}", lo=0)
                jobs.append(HrrnJob(a, real(f"s{i}", lo=0, strict_lo=True), Q(p)))
            return jobs
        out.append((f"{len(preds)} jobs, believed sizes {preds}", build))
    return out


# a long job waits behind a short one that arrives later but before the long job's ratio
# catches up: the window term A is reached exactly
_TIGHT = [HrrnJob(Q(0), Q(1)), HrrnJob(Q(0), Q(4)), HrrnJob(Q(1), Q(1))]

HRRN_WAIT: Theorem[Instance] = Theorem(
    name="hrrn-wait",
    title="HRRN is free of starvation: a bound on every job's wait",
    claim="holds",
    statement=(
        "One server of rate 1, non-preemptive jobs with true sizes S and believed sizes "
        "S_hat (predictions); at each decision time t the waiting job with the largest "
        "(t - a + S_hat) / S_hat starts (ties: earlier arrival, then index). Let B_j be the "
        "unfinished work at a_j of the other jobs that arrived by a_j, "
        "theta_j = 1 - s_hat_min / S_hat_j and A_j(x) the work of jobs arriving in "
        "(a_j, a_j + x]. Then job j's wait W_j satisfies W_j <= B_j + A_j(theta_j W_j). If "
        "arrivals after a_j bring at most sigma + rho x work in any x seconds with "
        "rho theta_j < 1, then W_j <= (B_j + sigma) / (1 - rho theta_j): finite even in "
        "overload rho < 1 / theta_j, where shortest-job-first starves long jobs."
    ),
    model="single server, non-preemptive jobs, predicted sizes in the ratio, any arrivals",
    proof=f"{PROOF}#theorem",
    obligations=obligations,
    enumerate=_enum,
    targeted=_targeted,
    strategy=lambda: hrrn_jobs(max_jobs=6),
    smt=_smt,
    witnesses=(Witness("the bound is met with equality", _TIGHT, slack, Q(0)),),
    describe=describe,
)



def prefix_obligations(jobs: Instance) -> list[Obligation]:
    """For every job ``j`` and every time ``T`` in ``(a_j, s_j]`` at which the window
    ``(a_j, a_j + theta_j (T - a_j)]`` is about to take in a new arrival (and at ``s_j``):
    ``T - a_j <= B_j + A_j(theta_j (T - a_j))``, the window taken just before the arrival
    (the worst case of each step)."""
    run = serve_hrrn(jobs)
    s_min = jobs[0].estimate
    for x in jobs[1:]:
        if x.estimate < s_min:
            s_min = x.estimate
    out: list[Obligation] = []
    for j, me in enumerate(jobs):
        theta = 1 - s_min / me.estimate
        backlog = Q(0)
        for k, x in enumerate(jobs):
            if k != j and not me.arrival < x.arrival:
                end = run.start[k] + x.size
                if me.arrival < end:
                    left = end - me.arrival
                    backlog = backlog + (x.size if x.size < left else left)
        later = sorted((x.arrival, x.size) for k, x in enumerate(jobs)
                       if k != j and me.arrival < x.arrival)
        points: list[tuple[Q, Q]] = []  # (T, window work just before T's new arrival)
        if theta > 0:
            acc = Q(0)
            for a_k, size in later:
                t = me.arrival + (a_k - me.arrival) / theta
                if t <= run.start[j]:
                    points.append((t, acc))
                acc = acc + size
        w = run.start[j] - me.arrival
        window = sum((size for a_k, size in later if a_k - me.arrival <= theta * w), Q(0))
        points.append((run.start[j], window))
        for t, work in points:
            out.append((f"job {j}: T - a <= B + A(theta (T - a)) at T = {t}", t - me.arrival,
                        backlog + work))
    return out


HRRN_FINITE: Theorem[Instance] = Theorem(
    name="hrrn-finite-wait",
    title="HRRN's wait is finite: the bound holds at every instant before a job starts",
    claim="holds",
    statement=(
        "In the model of hrrn-wait, for every job j and every time T with a_j < T <= s_j "
        "(s_j its start, or any T if it never started): T - a_j <= B_j + "
        "A_j(theta_j (T - a_j)). Hence if arrivals after a_j bring at most sigma + rho x "
        "work in any x seconds with rho theta_j < 1 (and sizes are bounded below, so "
        "finitely many decisions happen in bounded time), job j starts by "
        "a_j + (B_j + sigma) / (1 - rho theta_j): the wait is finite, which hrrn-wait's "
        "proof assumed."
    ),
    model="as hrrn-wait",
    proof=f"{PROOF}#closing-the-gap-the-wait-is-finite",
    obligations=prefix_obligations,
    enumerate=_enum,
    targeted=_targeted,
    strategy=lambda: hrrn_jobs(max_jobs=6),
    describe=describe,
)

THEOREMS: tuple[Theorem[Any], ...] = (HRRN_WAIT, HRRN_FINITE)
