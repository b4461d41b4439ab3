"""Searches over simulations: the peak sustainable throughput of a stack.

The *peak sustainable throughput* is the highest Poisson arrival rate at which a stack
still meets the SLO target (the fraction of tasks whose TCT is within their SLO factor
times their isolated TCT). :func:`peak_sustainable_rate` brackets it by doubling the
rate from ``lo`` until the target is missed, then bisects geometrically; every
evaluation re-times the same tasks with the same seed, so rates are compared on the
same arrival pattern, only compressed. Attainment need not be monotone in the rate (the
finite trace, cache effects); the search returns the boundary it brackets, with the
rates it tried.

Examples
--------
>>> from sagacore.sim.config import ClusterConfig, EngineConfig
>>> from sagacore.workload.model import Segment, Step, Task, TaskId, Workload
>>> w = Workload(tuple(Task(TaskId(f"t{i}"), (Step(0, (Segment(i, 200),), 300, 1000 + i),))
...                    for i in range(40)))
>>> c = ClusterConfig.from_gpus(1, tp=1, model="llama-3-8b",
...                             engine=EngineConfig(max_num_seqs=2))
>>> peak = peak_sustainable_rate(w, "vllm", c, slo_target=0.9, lo=8.0)
>>> 8.0 <= peak.rate_per_min < 1000, peak.attainment >= 0.9
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from sagacore.errors import ConfigError
from sagacore.sim import simulate
from sagacore.sim.config import ClusterConfig
from sagacore.stacks import Stack
from sagacore.validate import positive
from sagacore.workload.generators import with_poisson_arrivals
from sagacore.workload.model import Workload

__all__ = ["PeakRate", "peak_sustainable_rate"]


@dataclass(frozen=True)
class PeakRate:
    """Result of :func:`peak_sustainable_rate`."""

    rate_per_min: float
    """Highest rate tried that met the target (``lo`` if none did: see ``attainment``)."""
    attainment: float
    """SLO attainment at that rate."""
    throughput_tasks_per_min: float
    """Tasks completed per minute at that rate."""
    tried: tuple[tuple[float, float], ...]
    """Every (rate, attainment) evaluated, in order."""


def peak_sustainable_rate(
    workload: Workload,
    stack: str | Stack,
    cluster: ClusterConfig | str | None = None,
    *,
    slo_target: float = 0.9,
    lo: float = 1.0,
    rel_tol: float = 0.05,
    max_doublings: int = 12,
    seed: int = 0,
    mode: Literal["fast", "step"] = "fast",
) -> PeakRate:
    """The highest Poisson rate (tasks/min) at which ``stack`` meets ``slo_target``.

    Raises
    ------
    ConfigError
        If ``slo_target`` is not in (0, 1], ``lo`` not positive or ``rel_tol`` not
        positive.
    """
    if not 0 < slo_target <= 1:
        raise ConfigError(f"slo_target must be in (0, 1], got {slo_target!r}")
    positive("lo", lo)
    positive("rel_tol", rel_tol)
    tried: list[tuple[float, float]] = []
    best: tuple[float, float, float] | None = None

    def run(rate: float) -> bool:
        nonlocal best
        r = simulate(with_poisson_arrivals(workload, rate, seed=seed), stack, cluster, mode=mode)
        att = r.slo_attainment
        tried.append((rate, att))
        ok = att >= slo_target
        if ok and (best is None or rate > best[0]):
            best = (rate, att, r.throughput_tasks_per_min)
        return ok

    good, bad = lo, None
    if run(lo):
        rate = lo
        for _ in range(max_doublings):
            rate *= 2
            if not run(rate):
                bad = rate
                break
            good = rate
        if bad is not None:
            while bad / good > 1 + rel_tol:
                mid = math.sqrt(good * bad)
                if run(mid):
                    good = mid
                else:
                    bad = mid
    if best is None:
        rate0, att0 = tried[0]
        return PeakRate(rate0, att0, 0.0, tuple(tried))
    return PeakRate(best[0], best[1], best[2], tuple(tried))
