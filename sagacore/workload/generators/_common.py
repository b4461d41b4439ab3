"""Helpers shared by the generators: seeds and streams, segment ids, the generator's body.

Every generator is :func:`generate` with a function that builds one task (ending in
:func:`make_task`); its config validates its fields with :mod:`sagacore.validate`'s
helpers, as every config of the package does.

Random streams
--------------
A generator turns its ``seed`` into one root integer (:func:`root_entropy`; an ``int``
seed is its own root, so ``source`` records a seed that regenerates the workload). Every
task ``n`` then draws from its own stream ``default_rng([root, 1, n])`` and the arrival
process from ``default_rng([root, 0])``, so task ``n`` is the same whatever the number of
tasks or the arrival process.

Segment ids
-----------
Ids below :data:`SEGMENT_BLOCK` are reserved for deliberately shared segments (system
prompts, :data:`SHARED_SEGMENT_IDS`). Task number ``n`` (0-based, unique in a workload)
numbers its own segments ``(n + 1) * SEGMENT_BLOCK + k`` for ``k = 0, 1, ...``, so ids are
deterministic and globally unique within a workload.

Examples
--------
>>> ids = SegmentIds(0)
>>> ids.new(), ids.new(), SegmentIds(2).new() == 3 * SEGMENT_BLOCK
(1048576, 1048577, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

from sagacore._rng import Seed
from sagacore.errors import ConfigError
from sagacore.validate import positive_int
from sagacore.workload.generators.arrivals import (
    Arrivals,
    PoissonArrivals,
    arrival_rng,
    arrival_times,
)
from sagacore.workload.model import Step, Task, TaskId, Tenant, TenantId, Workload

__all__ = [
    "SEGMENT_BLOCK",
    "SHARED_SEGMENT_IDS",
    "SegmentIds",
    "TaskBuilder",
    "arrival_rng",
    "check_tasks",
    "describe_seed",
    "generate",
    "lognormal",
    "lognormal_int",
    "make_task",
    "root_entropy",
    "task_rng",
]

SEGMENT_BLOCK = 1 << 20
"""Segment ids of task number ``n`` are ``(n + 1) * SEGMENT_BLOCK + k``."""

SHARED_SEGMENT_IDS: dict[str, int] = {
    "swe-bench/system": 1,
    "webarena/system": 2,
    "task-parallel/map-reduce": 3,
    "task-parallel/parallel-search": 4,
    "task-parallel/self-consistency": 5,
    "long-context/system": 6,
}
"""Ids of the segments deliberately shared by many tasks (all below ``SEGMENT_BLOCK``)."""

_TASK_STREAM = 1


class SegmentIds:
    """Allocator of the segment ids of one task (see the module notes)."""

    __slots__ = ("_base", "_next")

    def __init__(self, task_no: int) -> None:
        if task_no < 0:
            raise ConfigError(f"task number must be >= 0, got {task_no}")
        self._base = (task_no + 1) * SEGMENT_BLOCK
        self._next = 0

    def new(self) -> int:
        """A fresh id."""
        if self._next >= SEGMENT_BLOCK:  # pragma: no cover - 2**20 segments in one task
            raise ConfigError(f"a generated task needs more than {SEGMENT_BLOCK} segments")
        self._next += 1
        return self._base + self._next - 1


def root_entropy(seed: Seed) -> int:
    """The root integer of all streams: the seed itself, 0 for None, or drawn from a Generator.

    Examples
    --------
    >>> root_entropy(7), root_entropy(None)
    (7, 0)
    """
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63))
    if seed is None:
        return 0
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, a Generator or None, got {seed!r}")
    return int(seed)


def describe_seed(root: int) -> str:
    """How ``source`` records the seed (the root regenerates the same workload)."""
    return f"seed={root}"


def task_rng(root: int, task_no: int) -> np.random.Generator:
    """The random stream of task number ``task_no``."""
    return np.random.default_rng([root, _TASK_STREAM, task_no])


def check_tasks(tasks: int) -> int:
    """Validate the number of tasks (an integer >= 1)."""
    return positive_int("tasks", int(tasks) if isinstance(tasks, np.integer) else tasks)














def lognormal(rng: np.random.Generator, median: float, sigma: float, lo: float, hi: float) -> float:
    """One log-normal draw with this median and log-sd, clipped to ``[lo, hi]``."""
    return float(min(hi, max(lo, median * math.exp(sigma * float(rng.standard_normal())))))


def lognormal_int(rng: np.random.Generator, median: float, sigma: float, lo: int, hi: int) -> int:
    """A log-normal draw rounded to an integer in ``[lo, hi]``."""
    return int(min(hi, max(lo, round(median * math.exp(sigma * float(rng.standard_normal()))))))


def make_task(
    prefix: str,
    task_no: int,
    steps: Iterable[Step],
    *,
    arrival_s: float,
    tenant: TenantId | None,
    agent_type: str | None = None,
) -> Task:
    """Task ``<prefix>-<task_no:05d>`` of tenant ``tenant`` (None: ``default``).

    Its ``agent_type`` is ``agent_type``, by default ``prefix``.
    """
    return Task(
        id=TaskId(f"{prefix}-{task_no:05d}"),
        steps=tuple(steps),
        tenant=tenant if tenant is not None else TenantId("default"),
        arrival_s=arrival_s,
        agent_type=prefix if agent_type is None else agent_type,
    )


TaskBuilder = Callable[[int, np.random.Generator, float], Task]
"""Builds task number ``n`` from its stream and its arrival time: ``(n, rng, arrival_s)``."""


def generate(
    name: str,
    tasks: int,
    seed: Seed,
    arrivals: Arrivals | None,
    build: TaskBuilder,
    tenants: tuple[Tenant, ...] = (),
) -> Workload:
    """The workload ``name`` of ``tasks`` tasks: the body of every generator.

    Validates ``tasks``, takes the root of ``seed`` (:func:`root_entropy`), draws the
    arrival times (default: Poisson at the default rate) and builds task ``n`` with
    ``build(n, task_rng(root, n), arrival_s)``; ``source`` records the generator, the seed
    and the arrivals.
    """
    n = check_tasks(tasks)
    root = root_entropy(seed)
    arr = PoissonArrivals() if arrivals is None else arrivals
    times = arrival_times(arr, n, root=root)
    built = tuple(build(i, task_rng(root, i), float(times[i])) for i in range(n))
    return Workload(
        built,
        tenants,
        name=name,
        source=f"generate {name} tasks={n} {describe_seed(root)} arrivals={arr.describe()}",
    )
