"""One workload from a name: the bundled trace, a generator, or a trace file.

What ``--workload`` means to every command that runs a workload (``simulate``,
``sweep``, ``reproduce``, the vLLM twin): :data:`DEFAULT_WORKLOAD` is the bundled real
SWE-bench trace, a name of :data:`~sagacore.workload.generators.GENERATORS` draws that
many tasks (200 by default) with Poisson arrivals, and anything else is a trace file in
any supported format, re-timed with seeded Poisson arrivals.

Examples
--------
>>> w = load_workload("webarena", tasks=3, rate=2.0, seed=1)
>>> len(w), w.tasks[0].arrival_s > 0
(3, True)
>>> load_workload("no-such-thing", tasks=None, rate=None, seed=0)
Traceback (most recent call last):
...
sagacore.errors.ConfigError: --workload 'no-such-thing' is neither swe-bench-trace, a generator (long-context, long-tools, multi-tenant, swe-bench, task-parallel, webarena) nor an existing file
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sagacore.data import bundled_trace
from sagacore.errors import ConfigError
from sagacore.workload.generators import (
    DEFAULT_RATE_PER_MIN,
    GENERATORS,
    PoissonArrivals,
    with_poisson_arrivals,
)
from sagacore.workload.model import Workload

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.workload.readers import OnBadLines

__all__ = ["DEFAULT_WORKLOAD", "MAX_GENERATED_TASKS", "load_workload"]

DEFAULT_WORKLOAD = "swe-bench-trace"
"""The bundled real SWE-bench trace."""

MAX_GENERATED_TASKS = 100_000
"""Most tasks drawn from a generator at once (``generate`` writes about 1 GB of native
JSONL for that many SWE-bench-like agents)."""


def load_workload(
    spec: str,
    *,
    tasks: int | None,
    rate: float | None,
    seed: int,
    on_bad_lines: OnBadLines = "error",
) -> Workload:
    """The workload of ``--workload``: the bundled trace, a generator or a trace file.

    Traces are re-timed with Poisson arrivals at ``rate`` (default
    :data:`~sagacore.workload.generators.DEFAULT_RATE_PER_MIN`); generators draw their
    own Poisson arrivals. ``on_bad_lines`` (``error``, ``warn``, ``skip``) applies to a
    trace file; with ``warn`` or ``skip`` a count of skipped lines goes to stderr.
    Errors in the input raise :class:`~sagacore.errors.ConfigError` (or a reader's
    :class:`~sagacore.errors.WorkloadError`), naming the flag.
    """
    rate_v = DEFAULT_RATE_PER_MIN if rate is None else rate
    if tasks is not None and tasks < 1:
        raise ConfigError(f"--tasks must be >= 1, got {tasks}")
    if spec in GENERATORS:
        n = 200 if tasks is None else tasks
        if n > MAX_GENERATED_TASKS:
            raise ConfigError(
                f"--tasks {n}: a generated workload has at most {MAX_GENERATED_TASKS:,} tasks")
        return GENERATORS[spec](tasks=n, seed=seed, arrivals=PoissonArrivals(rate_per_min=rate_v))
    from sagacore.workload.readers import BadLines, read_workload

    path = bundled_trace() if spec == DEFAULT_WORKLOAD else Path(spec)
    if spec != DEFAULT_WORKLOAD and not path.exists():
        raise ConfigError(
            f"--workload {spec!r} is neither {DEFAULT_WORKLOAD}, a generator "
            f"({', '.join(sorted(GENERATORS))}) nor an existing file"
        )
    bad = BadLines(on_bad_lines)
    w = read_workload(path, on_bad_lines=bad)
    if bad.skipped:
        sys.stderr.write(bad.summary(path) + "\n")
    if len(w) == 0:
        raise ConfigError(f"--workload {spec}: no tasks")
    if tasks is not None:
        w = w.head(tasks)
    return with_poisson_arrivals(w, rate_v, seed=seed)
