"""sagacore workloads as twin tasks: token ids built from content segments.

A sagacore :class:`~sagacore.workload.model.Task` says which prompts share which
prefixes through content :class:`~sagacore.workload.model.Segment` s: two prompts share
exactly the tokens of their longest common run of leading segments. The twin needs
token ids, so :class:`SegmentTokens` gives every segment id a deterministic run of
token ids with two properties:

- equal segment ids give equal tokens (a segment of ``n`` tokens is the first ``n``
  tokens of its id's run);
- different segment ids differ in their *first* token (the first token is one plus the
  segment's index in the table, unique per id).

So two token prompts share exactly the tokens their segment lists share, and vLLM's
prefix cache (whole blocks of a hashed token prefix) sees exactly the sharing the trace
describes. A call's output segment is what the twin's synthetic sampler emits
(:attr:`~sagacore_vllm.twin.LLMCall.output_token_ids`), so a later prompt that repeats
an output hits its KV as it would in vLLM.

Prompts are :class:`PromptTokens`: lazy sequences materialised only when the call is
issued, so a 15,881-call trace with 22K-token prompts needs no more memory than its
distinct segments.

Every task graph converts: chains (ReAct agents such as SWE-bench and WebArena) and
DAGs (task-parallel agents: a planner, parallel branches, a join). A call keeps its
step's ``deps`` and its step's tool (:attr:`~sagacore_vllm.twin.LLMCall.tool_seconds`),
so the twin makes a call ready when the last of its parents' tools has ended, as
sagacore's simulator does.

Examples
--------
>>> from sagacore.workload.model import Segment, Step, Task, TaskId, Workload
>>> s0 = Step(0, (Segment(1, 20), Segment(2, 5)), 3, 10, tool="bash", tool_seconds=0.5)
>>> s1 = Step(1, (*s0.context, Segment(4, 6)), 2, 11, deps=(0,))
>>> w = Workload((Task(TaskId("t"), (s0, s1)),))
>>> table = SegmentTokens.for_workload(w)
>>> (task,) = twin_tasks(w, table)
>>> c0, c1 = task.calls
>>> list(c1.prompt_token_ids)[:28] == list(c0.prompt_token_ids) + list(c0.output_token_ids)
True
>>> c0.tool_seconds, c1.deps, len(c1.prompt_token_ids)
(0.5, (0,), 34)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

import numpy as np

from sagacore.errors import ConfigError, WorkloadError
from sagacore.workload.model import Segment, Workload
from sagacore_vllm.twin import AgentTask, LLMCall

__all__ = ["PromptTokens", "SegmentTokens", "max_sequence_tokens", "twin_tasks"]

_POOL_SIZE = 1 << 16


class SegmentTokens:
    """Token ids of content segments (see the module notes).

    Parameters
    ----------
    segment_ids
        Every segment id the workload uses (prompts and outputs); their order fixes the
        first tokens.
    vocab_size
        Token ids are below it; it must exceed the number of segments.
    seed
        Seed of the pseudo-random token runs.

    Raises
    ------
    ConfigError
        If the vocabulary cannot give every segment its own first token.
    """

    def __init__(
        self, segment_ids: Sequence[int], *, vocab_size: int = 1 << 24, seed: int = 0
    ) -> None:
        index: dict[int, int] = {}
        for sid in segment_ids:
            if sid not in index:
                index[sid] = len(index)
        if len(index) + 1 >= vocab_size:
            raise ConfigError(
                f"vocab_size {vocab_size} cannot give {len(index)} segments distinct first tokens"
            )
        self.vocab_size = vocab_size
        self._index = index
        rng = np.random.default_rng(seed)
        self._pool = rng.integers(0, vocab_size, size=2 * _POOL_SIZE, dtype=np.int64)
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    @classmethod
    def for_workload(
        cls, workload: Workload, *, vocab_size: int = 1 << 24, seed: int = 0
    ) -> SegmentTokens:
        """The table of every segment of ``workload``, in order of first use."""
        ids: list[int] = []
        seen: set[int] = set()
        for task in workload.tasks:
            for step in task.steps:
                for seg in (*step.prompt, step.output_segment):
                    if seg.id not in seen:
                        seen.add(seg.id)
                        ids.append(seg.id)
        return cls(ids, vocab_size=vocab_size, seed=seed)

    def __len__(self) -> int:
        return len(self._index)

    def tokens(self, segment: Segment) -> np.ndarray:
        """The segment's token ids (a read-only int64 array of ``segment.tokens`` ids).

        Raises
        ------
        WorkloadError
            If the segment id is not in the table.
        """
        key = (segment.id, segment.tokens)
        arr = self._cache.get(key)
        if arr is None:
            try:
                k = self._index[segment.id]
            except KeyError:
                raise WorkloadError(f"segment {segment.id} is not in the token table") from None
            n = segment.tokens
            arr = np.empty(n, dtype=np.int64)
            arr[0] = k + 1
            if n > 1:
                # a window of the pool, its start a hash of the segment's index
                start = (k * 2654435761) % _POOL_SIZE
                rest = n - 1
                reps = -(-(start + rest) // len(self._pool))
                src = np.tile(self._pool, reps) if reps > 1 else self._pool
                arr[1:] = src[start : start + rest]
            arr.setflags(write=False)
            self._cache[key] = arr
        return arr

    def concat(self, segments: Sequence[Segment]) -> list[int]:
        """The token ids of a run of segments, as a list."""
        if not segments:
            return []
        return np.concatenate([self.tokens(s) for s in segments]).tolist()  # type: ignore[no-any-return]


class PromptTokens(Sequence[int]):
    """A prompt's token ids, materialised from its segments when read.

    Parameters
    ----------
    table
        The segment token table.
    segments
        The prompt's segments.
    """

    __slots__ = ("_length", "_segments", "_table")

    def __init__(self, table: SegmentTokens, segments: Sequence[Segment]) -> None:
        self._table = table
        self._segments = tuple(segments)
        self._length = sum(s.tokens for s in self._segments)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[int]:
        return iter(self._table.concat(self._segments))

    @overload
    def __getitem__(self, i: int) -> int: ...

    @overload
    def __getitem__(self, i: slice) -> list[int]: ...

    def __getitem__(self, i: int | slice) -> int | list[int]:
        return self._table.concat(self._segments)[i]

    def __repr__(self) -> str:
        return f"PromptTokens({len(self._segments)} segments, {self._length} tokens)"


def max_sequence_tokens(workload: Workload) -> int:
    """The longest prompt plus output of any call of ``workload``."""
    return max(s.prompt_tokens + s.output_tokens for t in workload.tasks for s in t.steps)


def twin_tasks(workload: Workload, table: SegmentTokens | None = None) -> list[AgentTask]:
    """The workload's tasks as twin tasks, in the workload's order.

    Call ``k`` is step ``k``: its ``deps`` are the step's, and its ``tool_seconds``
    the step's tool, which runs after the call (the calls that depend on it become
    ready when it ends; a join when the last of its parents' tools has ended). A call's
    priority is its task's rank by arrival, so vLLM's ``priority`` policy orders calls
    by (task arrival, call arrival), as sagacore's ``Priority`` scheduler does.

    Parameters
    ----------
    workload
        The tasks (chains or DAGs).
    table
        Segment token table (default: :meth:`SegmentTokens.for_workload`).

    Returns
    -------
    list of AgentTask
    """
    tab = table if table is not None else SegmentTokens.for_workload(workload)
    out: list[AgentTask] = []
    for rank, task in enumerate(workload.tasks):
        calls = tuple(
            LLMCall(
                PromptTokens(tab, step.prompt),
                step.output_tokens,
                0.0,
                PromptTokens(tab, (step.output_segment,)),
                tool=step.tool,
                deps=step.deps,
                tool_seconds=step.tool_seconds,
            )
            for step in task.steps
        )
        out.append(
            AgentTask(
                str(task.id),
                task.arrival_s,
                calls,
                priority=rank,
                tenant=str(task.tenant),
                agent_type=task.agent_type,
            )
        )
    return out
