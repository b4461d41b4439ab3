"""The workload model: tenants, tasks and their steps.

A **task** is an agent program: a DAG of **steps**, each an LLM call optionally followed
by a tool call. Step ``i`` may depend on earlier steps only (``deps`` are indices below
``i``), so the step order is a topological order. A ReAct agent is a chain; a
task-parallel agent (map-reduce, parallel search, self-consistency) is a DAG.

A step becomes *ready* when every dependency has finished both its LLM call and its tool
call. The tool that runs after step ``v`` is ``phi(v)`` in SAGA's notation.

**Prefix identity is exact.** A prompt is a sequence of content :class:`Segment` s, each
a run of tokens with an identity. Two prompts share exactly the tokens of their longest
common sequence of leading segments, so which calls can reuse which KV is known, not
guessed. A call's *context* after it runs is its prompt followed by its own output
segment (``output_id``), which is what a prefix cache holds when the call ends. A ReAct
step's prompt is typically the previous step's context plus a new observation segment.

Examples
--------
>>> sys_prompt = Segment(1, 1600)
>>> s0 = Step(index=0, prompt=(sys_prompt, Segment(2, 200)), output_tokens=90, output_id=3,
...           tool="bash", tool_seconds=0.25)
>>> s1 = Step(index=1, prompt=s0.context + (Segment(4, 430),), output_tokens=80, output_id=5,
...           deps=(0,))
>>> task = Task(id=TaskId("t0"), steps=(s0, s1))
>>> task.steps[1].prompt_tokens, shared_prefix_tokens(s0.context, s1.prompt)
(2320, 1890)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NewType

from sagacore.errors import WorkloadError

__all__ = [
    "DEFAULT_TENANT",
    "Segment",
    "Step",
    "Task",
    "TaskArrival",
    "TaskId",
    "Tenant",
    "TenantId",
    "Workload",
    "shared_prefix_tokens",
]

TaskId = NewType("TaskId", str)
"""Identifier of a task, unique within a workload."""

TenantId = NewType("TenantId", str)
"""Identifier of a tenant (a client sharing the cluster)."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of prompt tokens with an identity.

    Two segments with the same ``id`` hold the same tokens. Segment ids are global to a
    workload: a system prompt shared by many tasks is one id used by all of them.
    """

    id: int
    """Content identity (any integer; equal ids mean equal content)."""
    tokens: int
    """Number of tokens in the segment (positive)."""

    def __post_init__(self) -> None:
        if self.tokens <= 0:
            raise WorkloadError(f"segment {self.id}: tokens must be positive, got {self.tokens}")


def shared_prefix_tokens(a: Sequence[Segment], b: Sequence[Segment]) -> int:
    """Tokens in the longest common prefix of two segment sequences.

    Examples
    --------
    >>> shared_prefix_tokens([Segment(1, 10), Segment(2, 5)], [Segment(1, 10), Segment(3, 5)])
    10
    """
    total = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        total += x.tokens
    return total


@dataclass(frozen=True, slots=True)
class Step:
    """One LLM call of a task, optionally followed by a tool call.

    Raises :class:`~sagacore.errors.WorkloadError` when a field is out of range.
    """

    index: int
    """Position of the step in its task (0-based); also its node id in the task's graph."""
    prompt: tuple[Segment, ...]
    """The prompt as content segments (at least one)."""
    output_tokens: int
    """Tokens the call generates (at least 1)."""
    output_id: int
    """Identity of the generated content, so later prompts can include it."""
    tool: str | None = None
    """Tool type called after the LLM call (SAGA's ``phi``), or None for no tool."""
    tool_seconds: float = 0.0
    """Duration of the tool call in seconds (0 when there is no tool)."""
    deps: tuple[int, ...] = ()
    """Indices of the steps that must finish (LLM and tool) before this one is ready."""
    observed_llm_seconds: float | None = None
    """LLM latency observed in the source trace, when it has one (not used for pricing)."""
    observed_cached_tokens: int | None = None
    """Prompt tokens the source trace's provider reported as cache hits, when known."""

    def __post_init__(self) -> None:
        if self.index < 0:
            raise WorkloadError(f"step index must be >= 0, got {self.index}")
        if not self.prompt:
            raise WorkloadError(f"step {self.index}: prompt must have at least one segment")
        if self.output_tokens < 1:
            raise WorkloadError(
                f"step {self.index}: output_tokens must be >= 1, got {self.output_tokens}"
            )
        if not (math.isfinite(self.tool_seconds) and self.tool_seconds >= 0):
            raise WorkloadError(
                f"step {self.index}: tool_seconds must be finite and >= 0, got {self.tool_seconds}"
            )
        if self.tool is None and self.tool_seconds != 0:
            raise WorkloadError(
                f"step {self.index}: tool_seconds={self.tool_seconds} but no tool is named"
            )
        for d in self.deps:
            if not 0 <= d < self.index:
                raise WorkloadError(
                    f"step {self.index}: dependency {d} must be an earlier step (0..{self.index - 1})"
                )
        if len(set(self.deps)) != len(self.deps):
            raise WorkloadError(f"step {self.index}: repeated dependency in {self.deps}")

    @property
    def prompt_tokens(self) -> int:
        """Total prompt tokens."""
        return sum(s.tokens for s in self.prompt)

    @property
    def output_segment(self) -> Segment:
        """The generated tokens as a segment."""
        return Segment(self.output_id, self.output_tokens)

    @property
    def context(self) -> tuple[Segment, ...]:
        """Prompt followed by the output: the KV content the call leaves behind."""
        return (*self.prompt, self.output_segment)


@dataclass(frozen=True, slots=True)
class Tenant:
    """A client of the cluster with a fair-share weight and an SLO."""

    id: TenantId
    """Tenant identifier."""
    weight: float = 1.0
    """Fair-share weight (positive)."""
    slo_factor: float = 1.5
    """SLO: a task meets it when its TCT is at most this factor times its isolated TCT."""

    def __post_init__(self) -> None:
        if not self.id:
            raise WorkloadError("tenant id must be a non-empty string")
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise WorkloadError(f"tenant {self.id}: weight must be positive, got {self.weight}")
        if not (math.isfinite(self.slo_factor) and self.slo_factor >= 1):
            raise WorkloadError(f"tenant {self.id}: slo_factor must be >= 1, got {self.slo_factor}")


DEFAULT_TENANT = TenantId("default")
"""Tenant of tasks whose source names none."""


@dataclass(frozen=True, slots=True)
class TaskArrival:
    """A task as an online system knows it when it arrives (:meth:`Task.arrival`): who
    sent it, of which type, when, and its first call's prompt; none of the calls that
    follow. It answers :class:`sagacore.policy.TaskArrivalView`."""

    id: TaskId
    """The task."""
    tenant: TenantId
    """Its tenant."""
    agent_type: str
    """Its agent type."""
    arrival_s: float
    """When it arrived, seconds."""
    first_prompt_tokens: int
    """Tokens of its first call's prompt."""


@dataclass(frozen=True, slots=True)
class Task:
    """An agent task: a DAG of steps arriving at ``arrival_s`` for a tenant."""

    id: TaskId
    """Unique task identifier."""
    steps: tuple[Step, ...]
    """Steps in topological order; ``steps[i].index == i``."""
    tenant: TenantId = DEFAULT_TENANT
    """The tenant the task belongs to."""
    arrival_s: float = 0.0
    """Arrival time in seconds."""
    agent_type: str = "agent"
    """Kind of agent (for example ``swe-bench``); AEG inference groups tasks by it."""

    def __post_init__(self) -> None:
        if not self.id:
            raise WorkloadError("task id must be a non-empty string")
        if not self.tenant:
            raise WorkloadError(f"task {self.id}: tenant id must be a non-empty string")
        if not self.steps:
            raise WorkloadError(f"task {self.id}: must have at least one step")
        if not (math.isfinite(self.arrival_s) and self.arrival_s >= 0):
            raise WorkloadError(
                f"task {self.id}: arrival_s must be finite and >= 0, got {self.arrival_s}"
            )
        for i, s in enumerate(self.steps):
            if s.index != i:
                raise WorkloadError(f"task {self.id}: step at position {i} has index {s.index}")

    @property
    def first_prompt_tokens(self) -> int:
        """Tokens of the first call's prompt: what an engine sees of the task when it
        arrives (:class:`~sagacore.policy.TaskArrivalView`)."""
        return self.steps[0].prompt_tokens

    def arrival(self) -> TaskArrival:
        """What an online system knows of this task when it arrives, and nothing more:
        the object the simulator hands a scheduler's ``observe_task_arrival``.

        Examples
        --------
        >>> t = Task(TaskId("t"), (Step(0, (Segment(1, 7),), 1, 3),), arrival_s=2.0)
        >>> t.arrival()
        TaskArrival(id='t', tenant='default', agent_type='agent', arrival_s=2.0, first_prompt_tokens=7)
        >>> hasattr(t.arrival(), "steps")
        False
        """
        return TaskArrival(self.id, self.tenant, self.agent_type, self.arrival_s,
                           self.steps[0].prompt_tokens)

    @property
    def llm_calls(self) -> int:
        """Number of LLM calls (one per step)."""
        return len(self.steps)

    @property
    def tool_calls(self) -> int:
        """Number of tool calls."""
        return sum(1 for s in self.steps if s.tool is not None)

    def successors(self) -> tuple[tuple[int, ...], ...]:
        """For each step, the steps that depend on it."""
        succ: list[list[int]] = [[] for _ in self.steps]
        for s in self.steps:
            for d in s.deps:
                succ[d].append(s.index)
        return tuple(tuple(x) for x in succ)

    def ancestors(self, index: int) -> list[int]:
        """The steps step ``index`` depends on, directly or not, in increasing order."""
        seen: set[int] = set()
        stack = list(self.steps[index].deps)
        while stack:
            d = stack.pop()
            if d not in seen:
                seen.add(d)
                stack.extend(self.steps[d].deps)
        return sorted(seen)

    def is_chain(self) -> bool:
        """True when every step after the first depends exactly on its predecessor."""
        return all(s.deps == ((s.index - 1,) if s.index else ()) for s in self.steps)

    def with_arrival(self, arrival_s: float) -> Task:
        """A copy of the task arriving at another time."""
        return Task(self.id, self.steps, self.tenant, arrival_s, self.agent_type)


@dataclass(frozen=True)
class Workload:
    """A set of tasks (sorted by arrival, then id) and the tenants they belong to.

    Tenants that tasks name but ``tenants`` omits get weight 1 and the default SLO.
    """

    tasks: tuple[Task, ...]
    """Tasks sorted by (arrival_s, id)."""
    tenants: tuple[Tenant, ...] = ()
    """Tenant descriptions."""
    name: str = "workload"
    """A short name (for reports)."""
    source: str = ""
    """Where the workload came from (a file, a generator and its seed)."""
    _tenant_index: dict[TenantId, Tenant] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        seen: set[TaskId] = set()
        for t in self.tasks:
            if t.id in seen:
                raise WorkloadError(f"workload {self.name}: duplicate task id {t.id!r}")
            seen.add(t.id)
        order = sorted(self.tasks, key=lambda t: (t.arrival_s, t.id))
        object.__setattr__(self, "tasks", tuple(order))
        index = {t.id: t for t in self.tenants}
        if len(index) != len(self.tenants):
            raise WorkloadError(f"workload {self.name}: duplicate tenant id")
        for t in self.tasks:
            if t.tenant not in index:
                index[t.tenant] = Tenant(t.tenant)
        object.__setattr__(self, "tenants", tuple(sorted(index.values(), key=lambda x: x.id)))
        object.__setattr__(self, "_tenant_index", index)

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def tenant(self, tenant_id: TenantId) -> Tenant:
        """The tenant with this id."""
        try:
            return self._tenant_index[tenant_id]
        except KeyError:
            raise WorkloadError(f"workload {self.name}: no tenant {tenant_id!r}") from None

    @property
    def llm_calls(self) -> int:
        """Total LLM calls."""
        return sum(t.llm_calls for t in self.tasks)

    @property
    def tool_calls(self) -> int:
        """Total tool calls."""
        return sum(t.tool_calls for t in self.tasks)

    def head(self, n: int) -> Workload:
        """The first ``n`` tasks by arrival."""
        return Workload(self.tasks[:n], self.tenants, self.name, self.source)
