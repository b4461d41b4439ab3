"""Cache traces: the request sequence that offline bounds and replay work on.

A **cache trace** is a sequence of requests ``t = 0, 1, ..., n-1``. Each request names a
root-to-node path in a **prefix tree** whose nodes are content blocks with sizes in
tokens (a node stands for its whole prefix: equal nodes mean equal prefixes):

- its **lookup path** ``P_t`` (the prompt): the tokens it must prefill unless they are
  found as a cached prefix, and
- its **context path** ``E_t`` (``P_t`` extended by the output segment, when outputs are
  cached): what the cache may hold once the request has run.

``P_t`` is always a prefix of ``E_t``. The caching problem over such traces is defined
in ``docs/caching.md`` and ``proofs/kv_caching/STATEMENT.md``.

Examples
--------
>>> tr = CacheTrace.from_paths([[(1, 100), (2, 30)], [(1, 100), (3, 20)]])
>>> tr.n_requests, tr.n_nodes, tr.lookup_tokens
(2, 3, 250)
>>> [tr.lookup(t) for t in range(2)]
[[0, 1], [0, 2]]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sagacore.errors import WorkloadError
from sagacore.workload.model import Segment, Task, Workload
from sagacore.workload.progress import ready_time

__all__ = ["CacheTrace", "call_times", "load_cache_trace"]

IntArray = npt.NDArray[np.int64]

MAX_NODE_TOKENS = 2**62
"""Largest total of block sizes a :class:`CacheTrace` holds (sums stay within int64)."""
FloatArray = npt.NDArray[np.float64]


def call_times(task: Task, *, default_llm_seconds: float = 0.0) -> list[float]:
    """Start time of each step's LLM call in isolation (no queueing).

    A step starts when all its dependencies have finished their LLM call (observed
    latency, or ``default_llm_seconds`` when the trace has none) and their tool call
    (:func:`~sagacore.workload.progress.ready_time`).

    Examples
    --------
    >>> from sagacore.workload.model import Segment, Step, Task, TaskId
    >>> s0 = Step(0, (Segment(1, 10),), 5, 2, tool="bash", tool_seconds=2.0,
    ...           observed_llm_seconds=1.0)
    >>> s1 = Step(1, (*s0.context, Segment(3, 4)), 5, 4, deps=(0,))
    >>> call_times(Task(TaskId("a"), (s0, s1), arrival_s=10.0))
    [10.0, 13.0]
    """
    starts: list[float] = []
    finish: list[float] = []
    for step in task.steps:
        # the rule of TaskProgress in closed form (never before the task's arrival)
        starts.append(max(task.arrival_s, ready_time(step, finish, task.arrival_s)))
        llm = step.observed_llm_seconds
        llm_s = default_llm_seconds if llm is None else llm
        finish.append(starts[-1] + llm_s + step.tool_seconds)
    return starts


@dataclass(frozen=True, eq=False)
class CacheTrace:
    """A request sequence over a prefix tree of sized blocks (read-only arrays).

    Build one with :meth:`from_workload`, :meth:`from_segments` or :meth:`from_paths`.
    Nodes are numbered in order of first appearance, so a parent's id is below its
    children's.
    """

    parent: IntArray
    """Parent node of each node (``-1`` for a child of the root)."""
    size: IntArray
    """Tokens of each node (positive)."""
    path_ptr: IntArray
    """CSR offsets: the context path of request ``t`` is ``path_nodes[path_ptr[t]:path_ptr[t+1]]``."""
    path_nodes: IntArray
    """Concatenated context paths (root first)."""
    lookup_len: IntArray
    """Number of leading nodes of each context path that the request looks up (its prompt)."""
    times: FloatArray
    """Arrival time of each request, seconds (non-decreasing)."""
    depth: IntArray = field(init=False)
    """Depth of each node (1 for a child of the root)."""

    def __post_init__(self) -> None:
        n_nodes = len(self.parent)
        if len(self.size) != n_nodes:
            raise WorkloadError("cache trace: parent and size differ in length")
        if n_nodes and int(self.size.min()) <= 0:
            raise WorkloadError("cache trace: node sizes must be positive")
        n = len(self.lookup_len)
        if len(self.path_ptr) != n + 1 or len(self.times) != n:
            raise WorkloadError("cache trace: inconsistent request arrays")
        lengths = np.diff(self.path_ptr)
        if n and (np.any(self.lookup_len < 0) or np.any(self.lookup_len > lengths)):
            raise WorkloadError("cache trace: lookup path longer than context path")
        depth = np.zeros(n_nodes, dtype=np.int64)
        for v in range(n_nodes):
            p = int(self.parent[v])
            if p >= v:
                raise WorkloadError(f"cache trace: node {v} has parent {p} not below it")
            depth[v] = 1 if p < 0 else depth[p] + 1
        object.__setattr__(self, "depth", depth)
        for arr in (self.parent, self.size, self.path_ptr, self.path_nodes, self.lookup_len):
            arr.setflags(write=False)
        self.times.setflags(write=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_segments(
        cls,
        requests: Iterable[tuple[Sequence[Segment], Sequence[Segment], float]],
    ) -> CacheTrace:
        """Build from ``(prompt, context, time)`` triples in request order.

        ``prompt`` must be a prefix of ``context`` (pass ``context = prompt`` when
        outputs are not cached). Times must not decrease.

        Examples
        --------
        >>> a, b, o = Segment(1, 10), Segment(2, 5), Segment(9, 3)
        >>> tr = CacheTrace.from_segments([((a, b), (a, b, o), 0.0), ((a,), (a,), 1.0)])
        >>> tr.context(0), tr.lookup(0), tr.lookup(1)
        ([0, 1, 2], [0, 1], [0])
        """
        index: dict[tuple[int, int, int], int] = {}
        parent: list[int] = []
        size: list[int] = []
        ptr = [0]
        nodes: list[int] = []
        lookup: list[int] = []
        times: list[float] = []
        last_time = -np.inf
        for t, (prompt, context, time) in enumerate(requests):
            if tuple(context[: len(prompt)]) != tuple(prompt):
                raise WorkloadError(f"cache trace: request {t}: prompt is not a prefix of context")
            if time < last_time:
                raise WorkloadError(f"cache trace: request {t}: time {time} before {last_time}")
            last_time = time
            node = -1
            for seg in context:
                key = (node, seg.id, seg.tokens)
                nxt = index.get(key)
                if nxt is None:
                    nxt = len(parent)
                    index[key] = nxt
                    parent.append(node)
                    size.append(seg.tokens)
                nodes.append(nxt)
                node = nxt
            ptr.append(len(nodes))
            lookup.append(len(prompt))
            times.append(float(time))
        if size and (max(size) > MAX_NODE_TOKENS or sum(size) > MAX_NODE_TOKENS):
            raise WorkloadError(
                f"cache trace: {max(size) if max(size) > MAX_NODE_TOKENS else sum(size)} "
                f"tokens exceed the bounds' limit of {MAX_NODE_TOKENS} (2**62)"
            )
        return cls(
            parent=np.asarray(parent, dtype=np.int64),
            size=np.asarray(size, dtype=np.int64),
            path_ptr=np.asarray(ptr, dtype=np.int64),
            path_nodes=np.asarray(nodes, dtype=np.int64),
            lookup_len=np.asarray(lookup, dtype=np.int64),
            times=np.asarray(times, dtype=np.float64),
        )

    @classmethod
    def from_paths(
        cls,
        paths: Sequence[Sequence[tuple[int, int]]],
        *,
        outputs: Sequence[Sequence[tuple[int, int]]] | None = None,
    ) -> CacheTrace:
        """Build from prompts given as ``(segment id, tokens)`` lists (handy in tests).

        ``outputs[t]``, when given, is appended to request ``t``'s prompt to form its
        context. Request ``t`` arrives at time ``t``.
        """
        reqs = []
        for t, p in enumerate(paths):
            prompt = tuple(Segment(i, k) for i, k in p)
            extra = tuple(Segment(i, k) for i, k in (outputs[t] if outputs else ()))
            reqs.append((prompt, prompt + extra, float(t)))
        return cls.from_segments(reqs)

    @classmethod
    def from_workload(
        cls,
        workload: Workload,
        *,
        cache_outputs: bool = True,
        default_llm_seconds: float = 0.0,
    ) -> CacheTrace:
        """One request per LLM call, in order of call start (see :func:`call_times`).

        Parameters
        ----------
        workload
            The tasks; each step is a request whose prompt is looked up.
        cache_outputs
            When true the context is :attr:`Step.context` (prompt and output: what a
            KV cache holds after the call, as in an agent trace). When false it is the
            prompt alone (the Mooncake rule: a request's input blocks are cached).
        default_llm_seconds
            LLM latency of steps whose trace has none.

        Examples
        --------
        >>> from sagacore.workload.model import Step, Task, TaskId
        >>> s0 = Step(0, (Segment(1, 100),), 10, 2, tool="bash", tool_seconds=1.0)
        >>> s1 = Step(1, (*s0.context, Segment(3, 40)), 5, 4, deps=(0,))
        >>> tr = CacheTrace.from_workload(Workload((Task(TaskId("a"), (s0, s1)),)))
        >>> tr.lookup(1), tr.lookup_tokens
        ([0, 1, 2], 250)
        """
        calls: list[tuple[float, int, int]] = []
        for k, task in enumerate(workload.tasks):
            for i, t in enumerate(call_times(task, default_llm_seconds=default_llm_seconds)):
                calls.append((t, k, i))
        calls.sort()
        reqs = []
        for time, k, i in calls:
            step = workload.tasks[k].steps[i]
            reqs.append((step.prompt, step.context if cache_outputs else step.prompt, time))
        return cls.from_segments(reqs)

    # ------------------------------------------------------------------ access
    @property
    def n_requests(self) -> int:
        """Number of requests."""
        return len(self.lookup_len)

    @property
    def n_nodes(self) -> int:
        """Number of distinct blocks (prefix-tree nodes)."""
        return len(self.parent)

    @property
    def lookup_tokens(self) -> int:
        """Total prompt tokens over all requests (the miss cost of an empty cache)."""
        total = 0
        sizes = self.size
        for t in range(self.n_requests):
            a = int(self.path_ptr[t])
            total += int(sizes[self.path_nodes[a : a + int(self.lookup_len[t])]].sum())
        return total

    def context(self, t: int) -> list[int]:
        """Node ids of request ``t``'s context path, root first."""
        return [int(v) for v in self.path_nodes[self.path_ptr[t] : self.path_ptr[t + 1]]]

    def lookup(self, t: int) -> list[int]:
        """Node ids of request ``t``'s lookup path (its prompt), root first."""
        a = int(self.path_ptr[t])
        return [int(v) for v in self.path_nodes[a : a + int(self.lookup_len[t])]]

    def is_unit(self) -> bool:
        """True when every node has the same size."""
        return self.n_nodes == 0 or bool(np.all(self.size == self.size[0]))

    def is_flat(self) -> bool:
        """True when no node has a parent (independent objects, no prefix constraint)."""
        return bool(np.all(self.parent < 0))

    def max_context_tokens(self) -> int:
        """Largest context of a request, tokens."""
        best = 0
        for t in range(self.n_requests):
            best = max(best, int(self.size[self.context(t)].sum()))
        return best


def load_cache_trace(
    path: str | Path,
    *,
    format: str = "auto",
    cache_outputs: bool | None = None,
    head: int | None = None,
    on_bad_lines: Any = "error",
) -> tuple[CacheTrace, Workload]:
    """Read a trace file into a :class:`CacheTrace` (and the workload it came from).

    Parameters
    ----------
    path
        Any trace :func:`~sagacore.workload.readers.read_workload` reads.
    format
        Its format (``auto`` detects it).
    cache_outputs
        Whether a call's output is cached after it (see :meth:`CacheTrace.from_workload`).
        Default: false for Mooncake-style hash-id traces (their rule: a request's input
        blocks are cached), true for agent traces (the KV cache holds the context).
    head
        Keep only the first ``head`` tasks by arrival.
    on_bad_lines
        ``error``, ``warn``, ``skip`` or a :class:`~sagacore.workload.readers.BadLines`
        (see :func:`~sagacore.workload.readers.read_workload`).
    """
    from sagacore.workload.readers import detect_format, read_workload

    fmt = detect_format(path) if format == "auto" else format
    workload = read_workload(path, fmt, on_bad_lines=on_bad_lines)
    if head is not None:
        workload = workload.head(head)
    outputs = (fmt != "mooncake") if cache_outputs is None else cache_outputs
    return CacheTrace.from_workload(workload, cache_outputs=outputs), workload
