"""Summary statistics of a workload (``sagacore trace stats``).

Examples
--------
>>> from sagacore.workload.model import Segment, Step, Task, TaskId, Workload
>>> s0 = Step(0, (Segment(1, 100),), 10, 2, tool="bash", tool_seconds=1.0)
>>> s1 = Step(1, (*s0.context, Segment(3, 90)), 5, 4, deps=(0,))
>>> st = trace_stats(Workload((Task(TaskId("a"), (s0, s1)),)))
>>> st.tasks, st.llm_calls, st.tool_calls, round(st.reusable_prefix_fraction, 4)
(1, 2, 1, 0.3667)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sagacore.workload.model import Workload
from sagacore.workload.prefix import PrefixTrie

__all__ = ["Distribution", "TraceStats", "reusable_prefix_tokens", "trace_stats"]


@dataclass(frozen=True, slots=True)
class Distribution:
    """Median, 90th and 99th percentiles (linear interpolation) and maximum."""

    median: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: list[float] | list[int]) -> Distribution:
        """Summarise ``values`` (all zeros for an empty list)."""
        if not values:
            return cls(0.0, 0.0, 0.0, 0.0)
        a = np.asarray(values, dtype=float)
        q = np.percentile(a, [50, 90, 99])
        return cls(float(q[0]), float(q[1]), float(q[2]), float(a.max()))


@dataclass(frozen=True, slots=True)
class TraceStats:
    """What ``sagacore trace stats`` reports."""

    tasks: int
    llm_calls: int
    tool_calls: int
    calls_per_task: Distribution
    prompt_tokens: Distribution
    output_tokens: Distribution
    tool_seconds: Distribution
    reusable_prefix_fraction: float
    """Share of prompt tokens that are a prefix already seen (see :func:`reusable_prefix_tokens`)."""
    observed_cached_fraction: float | None
    """Share of prompt tokens the source's provider served from cache, when recorded."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with the documented keys."""
        return asdict(self)


def reusable_prefix_tokens(workload: Workload) -> tuple[int, int]:
    """(reusable, total) prompt tokens with an unbounded prefix cache.

    A call's prompt tokens are reusable when they form a prefix of the context of a call
    seen before it: earlier in its own task or in any task that arrived before it
    (tasks in arrival order, steps in index order). This is the most an infinite prefix
    cache could save.
    """
    trie = PrefixTrie()
    reusable = 0
    total = 0
    for task in workload.tasks:
        for step in task.steps:
            _, hit = trie.longest_prefix(step.prompt)
            reusable += hit
            total += step.prompt_tokens
            trie.insert(step.context)
    return reusable, total


def trace_stats(workload: Workload) -> TraceStats:
    """Compute :class:`TraceStats` for ``workload``."""
    steps = [s for t in workload.tasks for s in t.steps]
    reusable, total = reusable_prefix_tokens(workload)
    observed = [s.observed_cached_tokens for s in steps]
    obs_frac: float | None = None
    if steps and all(o is not None for o in observed):
        obs_frac = sum(o for o in observed if o is not None) / total if total else 0.0
    return TraceStats(
        tasks=len(workload.tasks),
        llm_calls=len(steps),
        tool_calls=sum(1 for s in steps if s.tool is not None),
        calls_per_task=Distribution.of([t.llm_calls for t in workload.tasks]),
        prompt_tokens=Distribution.of([s.prompt_tokens for s in steps]),
        output_tokens=Distribution.of([s.output_tokens for s in steps]),
        tool_seconds=Distribution.of([s.tool_seconds for s in steps if s.tool is not None]),
        reusable_prefix_fraction=reusable / total if total else 0.0,
        observed_cached_fraction=obs_frac,
    )
