"""Every cache policy's replay cost against the offline bounds, per trace and capacity.

:func:`ratio_table` is the table of ``docs/caching.md`` as records: ``sagacore cache
table`` prints it and ``sagacore reproduce`` writes it into the results page.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sagacore.cache.replay import replay
from sagacore.workload.readers import BadLines, detect_format

__all__ = ["ratio_table"]


def ratio_table(
    paths: list[Path],
    capacities: list[int],
    policies: list[str],
    make_config: Any,
    *,
    head: int | None = None,
    format: str = "auto",
    on_bad_lines: str = "error",
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """One row per (trace, capacity): FOO-L, FOO-U, Belady and each policy's cost.

    ``make_config(capacity, fmt)`` returns the :class:`ReplayConfig`. Costs are
    single-tier (prefill plus swap-in tokens) so that FOO-L bounds them; ratios are
    over FOO-L of the working-set model. ``progress(done, total)`` is called after each
    bound and each replay.
    """
    from sagacore.bounds import FooSolver, belady, load_cache_trace

    rows: list[dict[str, Any]] = []
    total = len(paths) * len(capacities) * (1 + len(policies))
    done = 0
    for path in paths:
        fmt = detect_format(path) if format == "auto" else format
        bad = BadLines(on_bad_lines)  # type: ignore[arg-type]
        trace, workload = load_cache_trace(path, format=fmt, head=head, on_bad_lines=bad)
        if bad.skipped:
            sys.stderr.write(bad.summary(path) + "\n")
        solver = FooSolver(trace, working_set=True)
        for cap in capacities:
            t0 = time.perf_counter()
            r = solver.solve(cap)
            row: dict[str, Any] = {
                "trace": path.name,
                "capacity_tokens": cap,
                "lookup_tokens": r.lookup_tokens,
                "cold_tokens": r.cold_tokens,
                "foo_lower": r.lower,
                "foo_upper": r.upper,
                "belady": belady(trace, cap, working_set=True),
                "bound_seconds": time.perf_counter() - t0,
                "policies": {},
            }
            done += 1
            if progress is not None:
                progress(done, total)
            for name in policies:
                res = replay(workload, name, make_config(cap, fmt))
                row["policies"][name] = {
                    "cost_tokens": res.single_tier_cost_tokens,
                    "miss_cost_tokens": res.miss_cost_tokens,
                    "swap_in_tokens": res.swap_in_tokens,
                    "ratio": res.single_tier_cost_tokens / r.lower if r.lower else 1.0,
                    "seconds": res.wall_seconds,
                }
                done += 1
                if progress is not None:
                    progress(done, total)
            rows.append(row)
    return rows
