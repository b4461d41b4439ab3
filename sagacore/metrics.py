"""Statistics of simulation results: TCT summaries, paired comparisons, SLO, Little's law.

Pure functions over numbers, so they serve any mechanism's results (the simulator's
:class:`~sagacore.sim.result.SimResult` uses them).

- :func:`tct_summary`: mean, median, p99 and geometric mean of task completion times.
- :func:`compare`: the geometric-mean ratio of two stacks' TCTs on the *same* tasks,
  with a percentile-bootstrap confidence interval (tasks resampled, seeded) and a
  paired significance test (Wilcoxon signed-rank on the per-task log ratios).
- :func:`slo_attainment`: the fraction of tasks whose TCT is within their SLO factor
  times their isolated TCT.
- :func:`time_average_in_system`: the time-average number of tasks in the system, the
  ``L`` of Little's law ``L = lambda W``.

Examples
--------
>>> s = tct_summary([1.0, 2.0, 4.0])
>>> round(s.mean, 4), s.p50, round(s.geomean, 4)
(2.3333, 2.0, 2.0)
>>> r = compare({"a": 2.0, "b": 4.0, "c": 8.0}, {"a": 1.0, "b": 2.0, "c": 4.0}, seed=0)
>>> r.ratio, r.ci_low, r.ci_high, r.n
(2.0, 2.0, 2.0, 3)
>>> slo_attainment([1.0, 3.0], [1.0, 1.0], [1.5, 1.5])
0.5
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sagacore._rng import Seed, as_generator
from sagacore.errors import ConfigError

__all__ = [
    "Comparison",
    "TCTSummary",
    "compare",
    "slo_attainment",
    "tct_summary",
    "time_average_in_system",
]


@dataclass(frozen=True, slots=True)
class TCTSummary:
    """Summary of task completion times, seconds (NaN when there are none)."""

    n: int
    """Number of tasks."""
    mean: float
    """Arithmetic mean."""
    p50: float
    """Median."""
    p99: float
    """99th percentile (linear interpolation)."""
    geomean: float
    """Geometric mean."""


def tct_summary(tcts: Sequence[float]) -> TCTSummary:
    """Mean, median, p99 and geometric mean of ``tcts`` (each > 0)."""
    a = np.asarray(tcts, dtype=float)
    if a.size == 0:
        nan = math.nan
        return TCTSummary(0, nan, nan, nan, nan)
    if np.any(a <= 0):
        raise ConfigError(f"task completion times must be > 0, got min {float(a.min())!r}")
    return TCTSummary(
        n=int(a.size),
        mean=float(a.mean()),
        p50=float(np.percentile(a, 50)),
        p99=float(np.percentile(a, 99)),
        geomean=float(np.exp(np.log(a).mean())),
    )


@dataclass(frozen=True, slots=True)
class Comparison:
    """Geometric-mean ratio ``a / b`` of paired TCTs with its uncertainty."""

    ratio: float
    """Geometric mean of the per-task ratios ``a_i / b_i`` (> 1: ``a`` is slower)."""
    ci_low: float
    """Lower end of the bootstrap confidence interval."""
    ci_high: float
    """Upper end."""
    p_value: float
    """Two-sided Wilcoxon signed-rank test of ``log(a_i / b_i)`` against 0."""
    n: int
    """Tasks compared (those both sides completed)."""
    confidence: float
    """Confidence level of the interval."""


def compare(
    a: Mapping[str, float],
    b: Mapping[str, float],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: Seed = 0,
) -> Comparison:
    """Compare two stacks' TCTs on the tasks both completed (see the module notes).

    Raises
    ------
    ConfigError
        If no task is common to both, or ``confidence`` is not in (0, 1).
    """
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    keys = sorted(set(a) & set(b))
    if not keys:
        raise ConfigError("compare: no task completed under both stacks")
    logs = np.log(np.array([a[k] for k in keys]) / np.array([b[k] for k in keys]))
    ratio = float(np.exp(logs.mean()))
    rng = as_generator(seed)
    idx = rng.integers(0, len(keys), size=(resamples, len(keys)))
    boot = np.exp(logs[idx].mean(axis=1))
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    if np.all(logs == 0) or len(keys) < 2:
        p = 1.0
    else:
        from scipy.stats import wilcoxon

        p = float(wilcoxon(logs, zero_method="wilcox", alternative="two-sided").pvalue)
    return Comparison(ratio, float(min(lo, ratio)), float(max(hi, ratio)), p, len(keys),
                      confidence)


def slo_attainment(
    tcts: Sequence[float],
    isolated: Sequence[float],
    factors: Sequence[float],
    *,
    total: int | None = None,
) -> float:
    """Fraction of tasks with ``tct <= factor * isolated``.

    ``total`` counts tasks that never completed as misses (default: ``len(tcts)``).
    """
    n = len(tcts) if total is None else total
    if n == 0:
        return math.nan
    met = sum(1 for t, i, f in zip(tcts, isolated, factors, strict=True) if t <= f * i)
    return met / n


def time_average_in_system(
    arrivals: Sequence[float], completions: Sequence[float], start: float, end: float
) -> float:
    """Time-average number of tasks in the system over ``[start, end]``.

    A task is in the system from its arrival to its completion.

    Examples
    --------
    >>> time_average_in_system([0.0, 1.0], [2.0, 3.0], 0.0, 4.0)
    1.0
    """
    if not end > start:
        raise ConfigError(f"time_average_in_system: end {end} must exceed start {start}")
    total = 0.0
    for a, c in zip(arrivals, completions, strict=True):
        lo, hi = max(a, start), min(c, end)
        if hi > lo:
            total += hi - lo
    return total / (end - start)
