"""Helpers shared by the cache policies (not public API)."""

from __future__ import annotations

from sagacore.errors import WorkloadError
from sagacore.policy import CacheContext, CacheEntryView
from sagacore.workload.model import TaskId

__all__ = ["active_tasks", "next_call", "session_tracked"]


def active_tasks(ctx: CacheContext) -> frozenset[TaskId] | None:
    """The tasks the context's predictor tracks (None without a predictor)."""
    return None if ctx.predictor is None else ctx.predictor.active_task_set


def session_tracked(ctx: CacheContext, task_id: TaskId | None) -> bool:
    """Whether the predictor tracks ``task_id`` (started, not ended)."""
    if ctx.predictor is None or task_id is None:
        return False
    try:
        ctx.predictor.next_step(task_id)
    except WorkloadError:
        return False
    return True


def next_call(
    ctx: CacheContext, entry: CacheEntryView, active: frozenset[TaskId] | None = None
) -> tuple[float, float] | None:
    """(probability, expected seconds) of the owning session's next LLM call, if known.

    Known when the entry belongs to one session the predictor tracks; the seconds are the
    expected residual of the tool it runs now (0 when it is not in a tool). ``active``,
    when given, is the predictor's set of tracked tasks (a fast membership test for a
    policy scoring many candidates at once).
    """
    p = ctx.predictor
    task = entry.task_id
    if p is None or task is None or (active is not None and task not in active):
        return None
    started = entry.tool_started_s
    elapsed = max(0.0, ctx.now - started) if started is not None else 0.0
    try:
        f = p.next_step(task, elapsed_s=elapsed)
    except WorkloadError:
        return None
    if entry.tool is None:
        return f.probability, 0.0
    return f.probability, f.expected_seconds
