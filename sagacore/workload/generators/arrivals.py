"""Arrival processes of generated tasks: Poisson, or replayed from a trace.

:class:`PoissonArrivals` draws exponential inter-arrival gaps of mean ``60 / rate``
seconds; task ``i`` arrives at the sum of the first ``i + 1`` gaps (a Poisson process
started at time 0, so the first task arrives after one gap, not at 0).

:class:`ReplayArrivals` reuses the task arrival times of a real trace. The times are
sorted and shifted so that the first is 0. With ``m`` times spanning ``D`` seconds the
mean gap is ``g = D / (m - 1)``; when more than ``m`` tasks are needed the sequence is
*cycled*: task ``i`` arrives at ``(i // m) * m * g + t[i % m]``, so each repetition
starts one mean gap after the previous one ended and the long-run rate stays ``1 / g``.
Given ``rate_per_min`` all times are *scaled* by ``(60 / rate_per_min) / g``, which keeps
the trace's burstiness (the shape of its gaps) and sets its mean rate.

Examples
--------
>>> import numpy as np
>>> arrival_times(ReplayArrivals((10.0, 11.0, 13.0)), 5, root=0).tolist()
[0.0, 1.0, 3.0, 4.5, 5.5]
>>> arrival_times(ReplayArrivals((10.0, 11.0, 13.0), rate_per_min=80.0), 3, root=0).tolist()
[0.0, 0.5, 1.5]
>>> t = arrival_times(PoissonArrivals(rate_per_min=60.0), 10_000, root=1)
>>> round(float(np.diff(t).mean()), 1)
1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sagacore.errors import ConfigError
from sagacore.validate import check, positive
from sagacore.workload.model import Workload

__all__ = [
    "DEFAULT_RATE_PER_MIN",
    "Arrivals",
    "PoissonArrivals",
    "ReplayArrivals",
    "arrival_times",
    "parse_arrivals",
    "with_poisson_arrivals",
]

DEFAULT_RATE_PER_MIN = 8.0
"""SAGA's evaluation load: Poisson arrivals of about 8 tasks per minute."""

_ARRIVAL_STREAM = 0


def arrival_rng(root: int) -> np.random.Generator:
    """The random stream of the arrival process: ``default_rng([root, 0])`` (task ``n``
    draws from ``[root, 1, n]``, see ``_common``)."""
    return np.random.default_rng([root, _ARRIVAL_STREAM])


@dataclass(frozen=True, slots=True)
class PoissonArrivals:
    """Poisson arrivals at a fixed mean rate.

    Examples
    --------
    >>> PoissonArrivals(rate_per_min=0)
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: PoissonArrivals.rate_per_min must be a finite number > 0, got 0
    """

    rate_per_min: float = DEFAULT_RATE_PER_MIN
    """Mean arrival rate in tasks per minute (finite, > 0)."""

    def __post_init__(self) -> None:
        positive("PoissonArrivals.rate_per_min", self.rate_per_min)

    def describe(self) -> str:
        """A short description for a workload's ``source``."""
        return f"poisson(rate_per_min={self.rate_per_min:g})"


@dataclass(frozen=True, slots=True)
class ReplayArrivals:
    """Arrival times replayed from a trace, cycled and optionally scaled (module notes)."""

    times_s: tuple[float, ...]
    """The trace's task arrival times in seconds (any order; at least one; finite)."""
    rate_per_min: float | None = None
    """Scale the times to this mean rate (tasks per minute); None keeps them as they are."""
    source: str = ""
    """Where the times came from (for a workload's ``source``)."""

    def __post_init__(self) -> None:
        check(len(self.times_s) >= 1, "ReplayArrivals.times_s", self.times_s, "non-empty")
        bad = [t for t in self.times_s if not (isinstance(t, int | float) and math.isfinite(t))]
        check(not bad, "ReplayArrivals.times_s", bad[:3], "finite numbers")
        if self.rate_per_min is not None:
            positive("ReplayArrivals.rate_per_min", self.rate_per_min)
            if self.mean_gap_s() == 0:
                raise ConfigError(
                    f"ReplayArrivals.rate_per_min={self.rate_per_min!r} cannot be applied: "
                    f"the {len(self.times_s)} replayed arrival time(s) are all equal"
                )

    @classmethod
    def from_trace(
        cls, path: str | Path, *, format: str = "auto", rate_per_min: float | None = None
    ) -> ReplayArrivals:
        """Read any supported trace and replay its task arrival times."""
        from sagacore.workload.readers import read_workload

        workload = read_workload(path, format)
        if not workload.tasks:
            raise ConfigError(f"cannot replay arrivals from {path}: it has no tasks")
        return cls(tuple(t.arrival_s for t in workload.tasks), rate_per_min, str(path))

    def mean_gap_s(self) -> float:
        """Mean gap between consecutive replayed times (0 for a single time)."""
        m = len(self.times_s)
        return (max(self.times_s) - min(self.times_s)) / (m - 1) if m > 1 else 0.0

    def describe(self) -> str:
        """A short description for a workload's ``source``."""
        rate = "" if self.rate_per_min is None else f", rate_per_min={self.rate_per_min:g}"
        return f"replay({self.source or f'{len(self.times_s)} times'}{rate})"


Arrivals = PoissonArrivals | ReplayArrivals
"""An arrival process."""


def arrival_times(arrivals: Arrivals | None, n: int, *, root: int) -> np.ndarray:
    """Arrival times (seconds, non-decreasing) of ``n`` tasks.

    ``root`` is the generator's root entropy (see ``_common``); the Poisson process draws
    from its own stream of it. ``None`` means ``PoissonArrivals()``. Times are rounded to
    microseconds.
    """
    if arrivals is None:
        arrivals = PoissonArrivals()
    if isinstance(arrivals, PoissonArrivals):
        gaps = arrival_rng(root).exponential(60.0 / arrivals.rate_per_min, n)
        times = np.cumsum(gaps)
    else:
        base = np.sort(np.asarray(arrivals.times_s, dtype=float))
        base = base - base[0]
        m = len(base)
        gap = arrivals.mean_gap_s()
        if arrivals.rate_per_min is not None:
            factor = (60.0 / arrivals.rate_per_min) / gap
            base = base * factor
            gap *= factor
        i = np.arange(n)
        times = (i // m) * (m * gap) + base[i % m]
    return np.round(times, 6)


def parse_arrivals(spec: str, *, rate_per_min: float | None = None) -> Arrivals:
    """Parse the CLI's ``--arrivals``: ``poisson`` or ``replay:PATH``.

    For ``poisson`` a missing rate means :data:`DEFAULT_RATE_PER_MIN`; for a replay it
    means the trace's own times.

    Examples
    --------
    >>> parse_arrivals("poisson", rate_per_min=4)
    PoissonArrivals(rate_per_min=4)
    >>> parse_arrivals("uniform")
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: arrivals must be 'poisson' or 'replay:PATH', got 'uniform'
    """
    if spec == "poisson":
        return PoissonArrivals(DEFAULT_RATE_PER_MIN if rate_per_min is None else rate_per_min)
    if spec.startswith("replay:") and len(spec) > len("replay:"):
        return ReplayArrivals.from_trace(spec[len("replay:") :], rate_per_min=rate_per_min)
    raise ConfigError(f"arrivals must be 'poisson' or 'replay:PATH', got {spec!r}")


def with_poisson_arrivals(workload: Workload, rate_per_min: float, *, seed: int = 0) -> Workload:
    """The workload's tasks, in their order, arriving as a Poisson process.

    A trace's own timestamps often come from sequential runs (the bundled SWE-bench trace
    ran its agents one after another), which says nothing about the load a cluster
    serves. This keeps the tasks and their order and gives them the arrival times of a
    Poisson process of the given rate, drawn with :func:`arrival_times` (the generators'
    process: the first task arrives after one gap; times rounded to microseconds).
    Raises :class:`~sagacore.errors.ConfigError` when the rate is not positive.

    Examples
    --------
    >>> from sagacore.workload.model import Segment, Step, Task, TaskId, Workload
    >>> w = Workload(tuple(Task(TaskId(f"t{i}"), (Step(0, (Segment(i, 10),), 1, 100 + i),))
    ...                    for i in range(3)))
    >>> [round(t.arrival_s, 3) for t in with_poisson_arrivals(w, 6.0, seed=1)]
    [10.73, 13.815, 67.569]
    """
    times = arrival_times(PoissonArrivals(rate_per_min=rate_per_min), len(workload), root=seed)
    tasks = tuple(t.with_arrival(float(a)) for t, a in zip(workload.tasks, times, strict=True))
    src = f"{workload.source} + poisson(rate_per_min={rate_per_min:g}, seed={seed})"
    return Workload(tasks, workload.tenants, workload.name, src.strip(" +"))
