"""Task-parallel agents as Justitia evaluates them: fan-out/fan-in DAGs of LLM calls.

Three patterns (``TaskParallelConfig.pattern``; ``mixed`` draws one per task, uniformly):

``map-reduce``
    Step 0, the planner: prompt = shared system prompt + the task's query; it outputs a
    plan. Steps ``1..K`` (map) depend on the planner; prompt = the planner's context
    (system, query, plan) + a fresh document chunk. Step ``K + 1`` (reduce) depends on
    all maps; prompt = the planner's context + every map's output segment, in order.
``parallel-search``
    As map-reduce, but each branch's prompt adds a short sub-question instead of a chunk,
    outputs a search query and is followed by a ``search`` tool call; the reduce prompt
    is the planner's context + each branch's output and its search result (a fresh
    segment: what the tool returned).
``self-consistency``
    No planner (a deviation from the other two, after Wang et al.'s self-consistency:
    one prompt sampled ``K`` times): steps ``0..K-1`` share one prompt, the system prompt
    + the query, and sample longer reasoning outputs; the last step (the vote) depends on
    all of them; prompt = system + query + every sample's output.

``K`` is uniform on ``[min_fanout, max_fanout]``. Each pattern has its own shared system
prompt segment. No step but a search branch calls a tool. Token lengths are log-normal
with the medians and log-sds of :class:`TaskParallelConfig` (choices, not fitted: no
public trace of Justitia's agents was available to us). Reuse is exact: the K branches
share the planner's context as prefix, and the reduce step reuses it too.

Examples
--------
>>> w = task_parallel(tasks=3, seed=0, config=TaskParallelConfig(pattern="map-reduce"))
>>> t = w.tasks[0]
>>> k = len(t.steps) - 2
>>> t.steps[-1].deps == tuple(range(1, k + 1)), all(s.deps == (0,) for s in t.steps[1:-1])
(True, True)
>>> t.steps[1].prompt[:3] == t.steps[0].context
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from sagacore._rng import Seed
from sagacore.validate import check, int_at_least, nonempty_str, positive, positive_int
from sagacore.workload.generators._common import (
    SHARED_SEGMENT_IDS,
    SegmentIds,
    generate,
    lognormal,
    lognormal_int,
    make_task,
)
from sagacore.workload.generators.arrivals import Arrivals
from sagacore.workload.model import Segment, Step, Task, TenantId, Workload

__all__ = ["PATTERNS", "Pattern", "TaskParallelConfig", "task_parallel"]

Pattern = Literal["map-reduce", "parallel-search", "self-consistency", "mixed"]
"""A task-parallel pattern, or ``mixed`` (one drawn uniformly per task)."""

PATTERNS: tuple[str, ...] = ("map-reduce", "parallel-search", "self-consistency")
"""The concrete patterns ``mixed`` draws from."""

_OWNER = "TaskParallelConfig"
_MAX_TOKENS = 32_768


@dataclass(frozen=True, slots=True)
class TaskParallelConfig:
    """Shape of generated task-parallel agents (see the module notes).

    Token fields named ``*_median`` are medians of log-normal lengths with log-sd
    ``token_sigma``, rounded and clipped to ``[1, 32768]``.

    Examples
    --------
    >>> TaskParallelConfig(pattern="fan-out")
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: TaskParallelConfig.pattern must be one of map-reduce, parallel-search, self-consistency, mixed, got 'fan-out'
    """

    pattern: Pattern = "mixed"
    """Which DAG shape; ``mixed`` draws one of :data:`PATTERNS` per task."""
    min_fanout: int = 4
    """Fewest parallel calls K; >= 1."""
    max_fanout: int = 16
    """Most parallel calls K; >= ``min_fanout``."""
    system_prompt_tokens: int = 500
    """Tokens of each pattern's shared system prompt; >= 1."""
    query_median: float = 400.0
    """The task's query (question, instructions); tokens."""
    plan_median: float = 200.0
    """Planner output; tokens."""
    chunk_median: float = 1500.0
    """Map-reduce: document chunk of one map call; tokens."""
    map_output_median: float = 150.0
    """Map-reduce: output of one map call; tokens."""
    subquestion_median: float = 30.0
    """Parallel search: the branch's sub-question; tokens."""
    search_query_median: float = 60.0
    """Parallel search: branch output (a search query); tokens."""
    search_result_median: float = 800.0
    """Parallel search: tokens the search returns (in the reduce prompt)."""
    search_seconds_median: float = 1.2
    """Parallel search: median search tool time, seconds (log-sd 0.6, capped at 30 s)."""
    sample_median: float = 400.0
    """Self-consistency: output of one sampled reasoning path; tokens."""
    reduce_output_median: float = 300.0
    """Output of the reduce (or vote) call; tokens."""
    token_sigma: float = 0.5
    """Log-sd of every token length; >= 0."""
    agent_type: str = "task-parallel"
    """Agent type of generated tasks (also the prefix of their ids)."""

    def __post_init__(self) -> None:
        o = _OWNER
        check(
            self.pattern in (*PATTERNS, "mixed"),
            f"{o}.pattern",
            self.pattern,
            f"one of {', '.join((*PATTERNS, 'mixed'))}",
        )
        positive_int(f"{o}.min_fanout", self.min_fanout)
        int_at_least(f"{o}.max_fanout", self.max_fanout, self.min_fanout)
        positive_int(f"{o}.system_prompt_tokens", self.system_prompt_tokens)
        medians = (
            "query_median",
            "plan_median",
            "chunk_median",
            "map_output_median",
            "subquestion_median",
            "search_query_median",
            "search_result_median",
            "search_seconds_median",
            "sample_median",
            "reduce_output_median",
        )
        for name in medians:
            positive(f"{o}.{name}", getattr(self, name))
        positive(f"{o}.token_sigma", self.token_sigma, zero_ok=True)
        nonempty_str(f"{o}.agent_type", self.agent_type)


def task_parallel_task(
    config: TaskParallelConfig,
    rng: np.random.Generator,
    *,
    task_no: int,
    arrival_s: float = 0.0,
    tenant: TenantId | None = None,
) -> Task:
    """One task-parallel agent (the building block of :func:`task_parallel`)."""
    c = config
    pattern = PATTERNS[int(rng.integers(len(PATTERNS)))] if c.pattern == "mixed" else c.pattern
    k = int(rng.integers(c.min_fanout, c.max_fanout + 1))
    ids = SegmentIds(task_no)

    def tokens(median: float) -> int:
        return lognormal_int(rng, median, c.token_sigma, 1, _MAX_TOKENS)

    system = Segment(SHARED_SEGMENT_IDS[f"task-parallel/{pattern}"], c.system_prompt_tokens)
    query = Segment(ids.new(), tokens(c.query_median))
    steps: list[Step] = []
    if pattern == "self-consistency":
        for i in range(k):
            steps.append(Step(i, (system, query), tokens(c.sample_median), ids.new()))
        reduce_prompt = (system, query, *(s.output_segment for s in steps))
    else:
        planner = Step(0, (system, query), tokens(c.plan_median), ids.new())
        steps.append(planner)
        tail: list[Segment] = []
        for i in range(1, k + 1):
            if pattern == "map-reduce":
                branch = Step(
                    i,
                    (*planner.context, Segment(ids.new(), tokens(c.chunk_median))),
                    tokens(c.map_output_median),
                    ids.new(),
                    deps=(0,),
                )
                tail.append(branch.output_segment)
            else:
                seconds = lognormal(rng, c.search_seconds_median, 0.6, 0.0, 30.0)
                branch = Step(
                    i,
                    (*planner.context, Segment(ids.new(), tokens(c.subquestion_median))),
                    tokens(c.search_query_median),
                    ids.new(),
                    tool="search",
                    tool_seconds=round(seconds, 3),
                    deps=(0,),
                )
                tail += [branch.output_segment, Segment(ids.new(), tokens(c.search_result_median))]
            steps.append(branch)
        reduce_prompt = (*planner.context, *tail)
    first_branch = 0 if pattern == "self-consistency" else 1
    steps.append(
        Step(
            len(steps),
            reduce_prompt,
            tokens(c.reduce_output_median),
            ids.new(),
            deps=tuple(range(first_branch, len(steps))),
        )
    )
    return make_task(
        c.agent_type,
        task_no,
        steps,
        arrival_s=arrival_s,
        tenant=tenant,
        agent_type=f"{c.agent_type}/{pattern}",
    )


def task_parallel(
    *,
    tasks: int = 100,
    seed: Seed = None,
    arrivals: Arrivals | None = None,
    config: TaskParallelConfig | None = None,
) -> Workload:
    """Generate task-parallel agents (map-reduce, parallel search, self-consistency).

    A task's ``agent_type`` is ``task-parallel/<pattern>``, so that execution-graph
    inference groups tasks of one shape.

    Parameters
    ----------
    tasks
        Number of tasks (>= 1).
    seed
        Seed (int >= 0, Generator or None meaning 0). Task ``i`` depends only on the seed
        and ``i``.
    arrivals
        Arrival process; default Poisson at 8 tasks per minute.
    config
        Task shape; default :class:`TaskParallelConfig` ().

    Examples
    --------
    >>> w = task_parallel(tasks=30, seed=1)
    >>> sorted({t.agent_type for t in w})
    ['task-parallel/map-reduce', 'task-parallel/parallel-search', 'task-parallel/self-consistency']
    >>> all(len(t.successors()[-1]) == 0 and len(t.steps[-1].deps) >= 4 for t in w)
    True
    """
    cfg = TaskParallelConfig() if config is None else config
    return generate(
        "task-parallel",
        tasks,
        seed,
        arrivals,
        lambda i, rng, arrival_s: task_parallel_task(cfg, rng, task_no=i, arrival_s=arrival_s),
    )
