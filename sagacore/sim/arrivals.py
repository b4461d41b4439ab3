"""Re-timing a trace's tasks with seeded Poisson arrivals.

A trace's own timestamps often come from sequential runs (the bundled SWE-bench trace
ran its agents one after another), which says nothing about the load a cluster serves.
:func:`with_poisson_arrivals` keeps the tasks and their order and gives them the arrival
times of a Poisson process of the given rate, drawn with
:func:`~sagacore.workload.generators.arrival_times` (the generators' process: the first
task arrives after one gap; times rounded to microseconds).

Examples
--------
>>> from sagacore.workload.model import Segment, Step, Task, TaskId, Workload
>>> w = Workload(tuple(Task(TaskId(f"t{i}"), (Step(0, (Segment(i, 10),), 1, 100 + i),))
...                    for i in range(3)))
>>> [round(t.arrival_s, 3) for t in with_poisson_arrivals(w, 6.0, seed=1)]
[10.73, 13.815, 67.569]
"""

from __future__ import annotations

from sagacore.workload.generators import PoissonArrivals, arrival_times
from sagacore.workload.model import Workload

__all__ = ["with_poisson_arrivals"]


def with_poisson_arrivals(workload: Workload, rate_per_min: float, *, seed: int = 0) -> Workload:
    """The workload's tasks, in their order, arriving as a Poisson process.

    Raises :class:`~sagacore.errors.ConfigError` when the rate is not positive.
    """
    times = arrival_times(PoissonArrivals(rate_per_min=rate_per_min), len(workload), root=seed)
    tasks = tuple(t.with_arrival(float(a)) for t, a in zip(workload.tasks, times, strict=True))
    src = f"{workload.source} + poisson(rate_per_min={rate_per_min:g}, seed={seed})"
    return Workload(tasks, workload.tenants, workload.name, src.strip(" +"))
