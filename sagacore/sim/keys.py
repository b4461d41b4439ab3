"""Segment keys of a task's calls, built incrementally along its chain of prompts.

The store takes a sequence as ``(ids, ends)`` (:func:`~sagacore.cache.store.segment_key`).
A ReAct step's prompt is the previous step's context plus new segments, so the keys of
step ``k`` extend those of step ``k - 1``: building them that way costs the new segments,
a tuple copy and a comparison with the previous prompt (whose segment objects the prompt
shares, so each compares by identity) rather than a walk over the whole prompt.

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


def context_keys(task: Task) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """``(ids, ends)`` of each step's context (prompt then output segment)."""
    out: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    ids: tuple[int, ...] = ()
    ends: tuple[int, ...] = ()
    prev: tuple[Segment, ...] | None = None  # the previous step's prompt
    out_id = out_tokens = 0  # and its output segment
    for step in task.steps:
        prompt = step.prompt
        new: tuple[Segment, ...] = prompt
        if prev is not None:
            m = len(prev)
            if len(prompt) > m + 1:
                s = prompt[m]
                # the prompt extends the previous context (prompt, then output segment)
                if s.id == out_id and s.tokens == out_tokens and prompt[:m] == prev:
                    new = prompt[m + 1:]
        if new is prompt:
            ids = ends = ()
        total = ends[-1] if ends else 0
        new_ids = [s.id for s in new]
        new_ends = []
        for s in new:
            total += s.tokens
            new_ends.append(total)
        out_id = step.output_id
        out_tokens = step.output_tokens
        new_ids.append(out_id)
        new_ends.append(total + out_tokens)
        ids = ids + tuple(new_ids)
        ends = ends + tuple(new_ends)
        out.append((ids, ends))
        prev = prompt
    return out
