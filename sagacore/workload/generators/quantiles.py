"""The fitted distributions the SWE-bench generator samples: quantile tables.

:class:`SweBenchFit` is what :func:`~sagacore.workload.generators.calibration.fit_swe_bench`
produces and :func:`~sagacore.workload.generators.swe_bench.swe_bench` samples; it lives
apart from both, so that the committed fit (``_swe_bench_fit.py``), the generator and its
calibration import it one way.

Examples
--------
>>> q = QuantileTable((0.0, 0.5, 1.0), (0.0, 10.0, 30.0))
>>> q.sample(np.array([0.25, 0.75])).tolist(), q.quantile(0.5)
([5.0, 20.0], 10.0)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sagacore.errors import ConfigError

__all__ = ["FIT_PROBABILITIES", "QuantileTable", "SweBenchFit"]

FIT_PROBABILITIES: tuple[float, ...] = (
    0.0,
    0.001,
    0.005,
    *(round(k / 100, 2) for k in range(1, 100)),
    0.995,
    0.999,
    1.0,
)
"""Probabilities at which the quantile tables are sampled (105 knots, dense in the tails)."""

_DIGITS = 4


@dataclass(frozen=True, slots=True)
class QuantileTable:
    """An empirical distribution as its inverse CDF at a grid of probabilities.

    Sampling maps uniform ``u`` through the piecewise-linear inverse CDF.
    """

    probabilities: tuple[float, ...]
    """Strictly increasing, from 0 to 1."""
    values: tuple[float, ...]
    """Quantiles at ``probabilities`` (non-decreasing, finite)."""

    def __post_init__(self) -> None:
        p, v = self.probabilities, self.values
        if len(p) < 2 or len(p) != len(v):
            raise ConfigError(
                f"QuantileTable needs >= 2 probabilities and as many values, got {len(p)} and {len(v)}"
            )
        if p[0] != 0.0 or p[-1] != 1.0 or any(b <= a for a, b in itertools.pairwise(p)):
            raise ConfigError(
                f"QuantileTable.probabilities must increase strictly from 0 to 1, got {p!r}"
            )
        if not all(math.isfinite(x) for x in v) or any(b < a for a, b in itertools.pairwise(v)):
            raise ConfigError(f"QuantileTable.values must be finite and non-decreasing, got {v!r}")

    def sample(self, u: np.ndarray) -> np.ndarray:
        """Values at uniform draws ``u`` (the inverse CDF)."""
        return np.asarray(np.interp(u, self.probabilities, self.values), dtype=float)

    def quantile(self, p: float) -> float:
        """The ``p`` quantile."""
        return float(np.interp(p, self.probabilities, self.values))

    def scaled(self, factor: float) -> QuantileTable:
        """The distribution of ``factor`` times the variable."""
        return QuantileTable(self.probabilities, tuple(x * factor for x in self.values))

    @classmethod
    def fit(
        cls, data: Sequence[float] | np.ndarray, probabilities: Sequence[float] = FIT_PROBABILITIES
    ) -> QuantileTable:
        """Empirical quantiles of ``data`` (NumPy's linear method), rounded to 4 decimals."""
        a = np.asarray(data, dtype=float)
        if a.size == 0:
            raise ConfigError("cannot fit a quantile table to no data")
        q = np.quantile(a, np.asarray(probabilities))
        return cls(
            tuple(float(x) for x in probabilities), tuple(round(float(x), _DIGITS) for x in q)
        )


@dataclass(frozen=True, slots=True)
class SweBenchFit:
    """The distributions the SWE-bench generator samples (see :func:`fit_swe_bench`)."""

    calls_per_task: QuantileTable
    """LLM calls per task."""
    first_prompt_tokens: QuantileTable
    """Prompt tokens of a task's first call (system prompt included)."""
    observation_tokens: QuantileTable
    """Tokens a call's prompt adds to the previous call's context (the tool observation)."""
    output_tokens: QuantileTable
    """Output tokens per call."""
    tool_seconds: QuantileTable
    """Seconds per tool call."""
    output_observation_correlation: float
    """Normal-scores correlation of a call's output tokens with the next observation
    (pooled over all tasks)."""
    task_output_variance: float
    """Share of the variance of output normal scores due to the task (a task effect)."""
    task_observation_variance: float
    """Share of the variance of observation normal scores due to the task."""
    task_effect_correlation: float
    """Correlation of a task's output effect with its observation effect."""
    system_prompt_tokens: int
    """Length of the system prompt every task shares (0 when none is shared)."""
    source: str = ""
    """What was fitted."""

    def __post_init__(self) -> None:
        r = self.output_observation_correlation
        if not (math.isfinite(r) and -1 < r < 1):
            raise ConfigError(
                f"SweBenchFit.output_observation_correlation must be in (-1, 1), got {r!r}"
            )
        for name in ("task_output_variance", "task_observation_variance"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 <= v < 1):
                raise ConfigError(f"SweBenchFit.{name} must be in [0, 1), got {v!r}")
        c = self.task_effect_correlation
        if not (math.isfinite(c) and -1 <= c <= 1):
            raise ConfigError(f"SweBenchFit.task_effect_correlation must be in [-1, 1], got {c!r}")
        if self.system_prompt_tokens < 0:
            raise ConfigError(
                f"SweBenchFit.system_prompt_tokens must be >= 0, got {self.system_prompt_tokens!r}"
            )
