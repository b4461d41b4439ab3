"""Segment keys of a task's calls, built incrementally along its chain of prompts.

The store takes a sequence as ``(ids, ends)`` (:func:`~sagacore.cache.store.segment_key`).
A ReAct step's prompt is the previous step's context plus new segments, so the keys of
step ``k`` extend those of step ``k - 1``: building them that way costs the new segments
(and a tuple copy) rather than a walk over the whole prompt.

Examples
--------
>>> from sagacore.workload.model import Segment, Step, Task, TaskId
>>> s0 = Step(0, (Segment(1, 10),), 5, 2)
>>> s1 = Step(1, (*s0.context, Segment(3, 4)), 6, 4, deps=(0,))
>>> context_keys(Task(TaskId("t"), (s0, s1)))
[((1, 2), (10, 15)), ((1, 2, 3, 4), (10, 15, 19, 25))]
"""

from __future__ import annotations

from sagacore.workload.model import Segment, Task

__all__ = ["context_keys"]


def _extend(
    ids: tuple[int, ...], ends: tuple[int, ...], segs: tuple[Segment, ...]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    total = ends[-1] if ends else 0
    new_ids = []
    new_ends = []
    for s in segs:
        total += s.tokens
        new_ids.append(s.id)
        new_ends.append(total)
    return ids + tuple(new_ids), ends + tuple(new_ends)


def context_keys(task: Task) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """``(ids, ends)`` of each step's context (prompt then output segment)."""
    out: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    prev_ctx: tuple[Segment, ...] = ()
    for step in task.steps:
        prompt = step.prompt
        m = len(prev_ctx)
        if out and len(prompt) > m and prompt[:m] == prev_ctx:
            ids, ends = _extend(*out[-1], prompt[m:])
        else:
            ids, ends = _extend((), (), prompt)
        ctx = step.output_segment
        ids, ends = (*ids, ctx.id), (*ends, ends[-1] + ctx.tokens)
        out.append((ids, ends))
        prev_ctx = (*prompt, ctx)
    return out
