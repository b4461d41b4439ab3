"""A digital twin of a vLLM deployment: real schedulers, a router, agent tasks replayed.

Several :class:`~sagacore_vllm.engine.VllmEngine` instances (each a real vLLM V1
scheduler with its own KV cache) sit behind a router. Agent tasks arrive over time; a
task is a chain of LLM calls, each issued when the previous one finished plus a tool
delay. Time is simulated: every instance steps on its own clock, and a step lasts what a
caller-supplied ``step_seconds(prefill_tokens, prefill_context_tokens, decode_seqs,
decode_context_tokens)`` says (for example ``sagacore.engine.CostModel.step_seconds``).

How an event flows: a call becomes ready -> the router picks an instance -> the request
is added to that instance's vLLM scheduler -> whenever an instance is idle with work it
runs one vLLM step (schedule + synthetic model output), priced by ``step_seconds`` ->
at the step's end its sampled tokens and finished calls take effect -> a finished call
makes the task's next call ready after its tool delay.

Examples
--------
>>> from sagacore_vllm.engine import EngineConfig
>>> from sagacore_vllm.twin import AgentTask, LLMCall, Twin, session_affinity
>>> def step_seconds(p, cp, d, cd):
...     return 0.01 + 1e-5 * p + 1e-3 * d
>>> task = AgentTask("t0", 0.0, (
...     LLMCall(tuple(range(64)), 4),
...     LLMCall(tuple(range(64)) + (7,) * 4 + tuple(range(500, 520)), 4, tool_delay_s=1.0),
... ))
>>> twin = Twin([EngineConfig(num_gpu_blocks=256)] * 2, step_seconds, router=session_affinity)
>>> result = twin.run([task])
>>> [c.cached_tokens for c in result.tasks[0].calls]
[0, 64]
>>> result.tasks[0].calls[1].ready_s == result.tasks[0].calls[0].finish_s + 1.0
True
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sagacore.errors import ConfigError, InvariantError, WorkloadError
from sagacore_vllm.engine import EngineConfig, StepRecord, VllmEngine

__all__ = [
    "AgentTask",
    "CallResult",
    "InstanceView",
    "LLMCall",
    "ReadyCall",
    "RoundRobin",
    "Router",
    "StepSeconds",
    "TaskResult",
    "Twin",
    "TwinResult",
    "chain_task",
    "least_loaded",
    "prefix_affinity",
    "session_affinity",
]

#: ``step_seconds(prefill_tokens, prefill_context_tokens, decode_seqs,
#: decode_context_tokens) -> seconds`` of one batch step (see
#: ``sagacore.engine.CostModel.step_seconds``).
StepSeconds = Callable[[int, int, int, int], float]


@dataclass(frozen=True)
class LLMCall:
    """One LLM call of an agent task.

    Attributes
    ----------
    prompt_token_ids
        The full prompt. Later calls of a task usually repeat earlier prompts and
        outputs as their prefix; outputs are the engine's ``output_token_id`` repeated.
    output_tokens
        Tokens the call generates (exactly).
    tool_delay_s
        Seconds between the previous call's completion (the task's arrival for the
        first call) and this call becoming ready: the tool's run time.
    """

    prompt_token_ids: tuple[int, ...]
    output_tokens: int
    tool_delay_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.prompt_token_ids:
            raise WorkloadError("LLM call with an empty prompt")
        if self.output_tokens < 1:
            raise WorkloadError(f"output_tokens must be >= 1, got {self.output_tokens}")
        if not (math.isfinite(self.tool_delay_s) and self.tool_delay_s >= 0):
            raise WorkloadError(f"tool_delay_s must be finite and >= 0, got {self.tool_delay_s}")


@dataclass(frozen=True)
class AgentTask:
    """An agent task: a chain of LLM calls, each depending on the previous one.

    Attributes
    ----------
    task_id
        Unique id; also the session id passed to vLLM.
    arrival_s
        When the task arrives.
    calls
        The calls, in order.
    priority
        vLLM request priority of every call (lower first under the priority policy).
    """

    task_id: str
    arrival_s: float
    calls: tuple[LLMCall, ...]
    priority: int = 0

    def __post_init__(self) -> None:
        if not self.task_id:
            raise WorkloadError("task_id must be non-empty")
        if not self.calls:
            raise WorkloadError(f"task {self.task_id!r} has no calls")
        if not (math.isfinite(self.arrival_s) and self.arrival_s >= 0):
            raise WorkloadError(
                f"task {self.task_id!r}: arrival_s must be >= 0, got {self.arrival_s}"
            )


def chain_task(
    task_id: str,
    arrival_s: float,
    first_prompt: Sequence[int],
    output_tokens: Sequence[int],
    observations: Sequence[Sequence[int]],
    tool_delays_s: Sequence[float],
    *,
    output_token_id: int = 7,
    priority: int = 0,
) -> AgentTask:
    """A ReAct-style chain: each prompt is the previous prompt, its output, and a tool
    observation.

    Parameters
    ----------
    task_id, arrival_s, priority
        As in :class:`AgentTask`.
    first_prompt
        The first call's prompt (system prompt and task).
    output_tokens
        Output length of each call; its length is the number of calls.
    observations
        Tool observation appended after call ``k``'s output to form call ``k + 1``'s
        prompt; one fewer than the calls.
    tool_delays_s
        Tool time before each call after the first; one fewer than the calls.
    output_token_id
        The engines' synthetic output token (:attr:`EngineConfig.output_token_id`), so
        that the repeated outputs match what the engine cached.

    Returns
    -------
    AgentTask

    Examples
    --------
    >>> t = chain_task("t", 0.0, [1, 2], [2, 1], [[9]], [0.5])
    >>> [c.prompt_token_ids for c in t.calls]
    [(1, 2), (1, 2, 7, 7, 9)]
    >>> t.calls[1].tool_delay_s
    0.5
    """
    n = len(output_tokens)
    if n == 0 or len(observations) != n - 1 or len(tool_delays_s) != n - 1:
        raise WorkloadError(
            f"task {task_id!r}: need one output length per call and one observation and "
            f"tool delay per call after the first; got {n}, {len(observations)}, "
            f"{len(tool_delays_s)}"
        )
    prompt = tuple(int(t) for t in first_prompt)
    calls = [LLMCall(prompt, int(output_tokens[0]))]
    for k in range(1, n):
        prompt = (
            prompt
            + (output_token_id,) * int(output_tokens[k - 1])
            + tuple(int(t) for t in observations[k - 1])
        )
        calls.append(LLMCall(prompt, int(output_tokens[k]), float(tool_delays_s[k - 1])))
    return AgentTask(task_id, arrival_s, tuple(calls), priority)


@dataclass(frozen=True)
class ReadyCall:
    """A call that just became ready, as the router sees it."""

    task_id: str
    index: int
    prompt_token_ids: tuple[int, ...]
    output_tokens: int
    previous_instance: int | None
    """Instance that served the task's previous call (None for the first call)."""


class InstanceView(Protocol):
    """An instance as the router sees it (read-only)."""

    @property
    def index(self) -> int:
        """Position of the instance in the twin."""

    @property
    def num_waiting(self) -> int:
        """Requests waiting in its scheduler (including preempted ones)."""

    @property
    def num_running(self) -> int:
        """Requests in its running set."""

    @property
    def kv_usage(self) -> float:
        """Fraction of its usable KV blocks referenced by requests."""

    def cached_prefix_tokens(self, prompt_token_ids: Sequence[int]) -> int:
        """Prompt tokens its prefix cache would hit now."""


class Router(Protocol):
    """Chooses the instance for a ready call: ``router(call, instances, now) -> index``."""

    def __call__(self, call: ReadyCall, instances: Sequence[InstanceView], now: float) -> int:
        """Return the index of the chosen instance."""


def _load_key(inst: InstanceView) -> tuple[int, float, int]:
    return (inst.num_waiting + inst.num_running, inst.kv_usage, inst.index)


def least_loaded(call: ReadyCall, instances: Sequence[InstanceView], now: float) -> int:
    """Fewest waiting plus running requests, then lowest KV usage, then lowest index."""
    return min(instances, key=_load_key).index


def session_affinity(call: ReadyCall, instances: Sequence[InstanceView], now: float) -> int:
    """Keep a task on the instance of its previous call; place first calls least-loaded.

    This is the vLLM baseline's routing: sticky sessions in front of automatic prefix
    caching.
    """
    if call.previous_instance is not None:
        return call.previous_instance
    return least_loaded(call, instances, now)


def prefix_affinity(call: ReadyCall, instances: Sequence[InstanceView], now: float) -> int:
    """The instance whose prefix cache holds most of the prompt; ties least-loaded."""
    return min(
        instances, key=lambda i: (-i.cached_prefix_tokens(call.prompt_token_ids), *_load_key(i))
    ).index


@dataclass
class RoundRobin:
    """Cycle through the instances regardless of state (a cache-oblivious reference)."""

    next_index: int = 0

    def __call__(self, call: ReadyCall, instances: Sequence[InstanceView], now: float) -> int:
        index = self.next_index % len(instances)
        self.next_index += 1
        return index


@dataclass(frozen=True)
class CallResult:
    """What happened to one call.

    Attributes
    ----------
    task_id, index
        The call.
    instance
        Instance that served it.
    ready_s
        When it became ready (and was routed and queued).
    admitted_s
        Start of the step in which it was first scheduled.
    first_token_s
        End of the step that produced its first output token.
    finish_s
        End of the step that produced its last output token.
    prompt_tokens, output_tokens
        Its sizes.
    cached_tokens
        Prompt tokens hit in the prefix cache at its first admission.
    preemptions
        Times it was preempted.
    """

    task_id: str
    index: int
    instance: int
    ready_s: float
    admitted_s: float
    first_token_s: float
    finish_s: float
    prompt_tokens: int
    output_tokens: int
    cached_tokens: int
    preemptions: int


@dataclass(frozen=True)
class TaskResult:
    """A task's calls and completion."""

    task_id: str
    arrival_s: float
    calls: tuple[CallResult, ...]

    @property
    def finish_s(self) -> float:
        """When the last call finished."""
        return self.calls[-1].finish_s

    @property
    def completion_s(self) -> float:
        """Task completion time (TCT): finish minus arrival."""
        return self.finish_s - self.arrival_s


@dataclass(frozen=True)
class TwinResult:
    """Results of one replay.

    Attributes
    ----------
    tasks
        Per task, in the input order.
    steps
        Per instance, the records of its steps with their start and end times.
    """

    tasks: tuple[TaskResult, ...]
    steps: tuple[tuple[tuple[float, float, StepRecord], ...], ...]

    @property
    def makespan_s(self) -> float:
        """Time of the last call's completion."""
        return max(t.finish_s for t in self.tasks)

    @property
    def mean_completion_s(self) -> float:
        """Mean task completion time."""
        return sum(t.completion_s for t in self.tasks) / len(self.tasks)

    @property
    def prefix_hit_rate(self) -> float:
        """Cached prompt tokens over all prompt tokens, at first admission."""
        calls = [c for t in self.tasks for c in t.calls]
        return sum(c.cached_tokens for c in calls) / sum(c.prompt_tokens for c in calls)

    @property
    def busy_s(self) -> tuple[float, ...]:
        """Per instance, the total duration of its steps."""
        return tuple(sum(end - start for start, end, _ in steps) for steps in self.steps)


@dataclass
class _CallState:
    task_index: int
    index: int
    instance: int
    ready_s: float
    admitted_s: float | None = None
    first_token_s: float | None = None
    cached_tokens: int | None = None
    preemptions: int = 0


class _Instance:
    """One engine with the twin's clock state; implements :class:`InstanceView`."""

    def __init__(self, index: int, config: EngineConfig) -> None:
        self.index = index
        self.engine = VllmEngine(config)
        self.busy = False
        self.steps: list[tuple[float, float, StepRecord]] = []

    @property
    def num_waiting(self) -> int:
        return self.engine.request_counts()[1]

    @property
    def num_running(self) -> int:
        return self.engine.request_counts()[0]

    @property
    def kv_usage(self) -> float:
        return self.engine.kv_usage()

    def cached_prefix_tokens(self, prompt_token_ids: Sequence[int]) -> int:
        return self.engine.cached_prefix_tokens(prompt_token_ids)


# Event kinds; at equal times a step's end is handled before calls becoming ready.
_STEP_END = 0
_CALL_READY = 1


@dataclass(order=True)
class _Event:
    time: float
    kind: int
    seq: int
    payload: tuple[int, int] = field(compare=False)


class Twin:
    """Several vLLM instances behind a router, replaying agent tasks in simulated time.

    Parameters
    ----------
    configs
        One :class:`~sagacore_vllm.engine.EngineConfig` per instance.
    step_seconds
        Duration of a step from its four aggregates; must be positive for a non-empty
        step.
    router
        Chooses an instance per ready call; default :func:`session_affinity`.

    Notes
    -----
    Deterministic: events are ordered by (time, kind, sequence number), instances are
    started in index order, and vLLM's scheduling is deterministic. A twin runs once;
    build a new one per replay.
    """

    def __init__(
        self,
        configs: Sequence[EngineConfig],
        step_seconds: StepSeconds,
        router: Router = session_affinity,
    ) -> None:
        if not configs:
            raise ConfigError("a twin needs at least one instance config")
        self._instances = [_Instance(i, c) for i, c in enumerate(configs)]
        self._step_seconds = step_seconds
        self._router = router
        self._used = False

    def run(self, tasks: Sequence[AgentTask], max_time_s: float = math.inf) -> TwinResult:
        """Replay ``tasks`` to completion.

        Parameters
        ----------
        tasks
            The tasks, with unique ids.
        max_time_s
            Stop with an error if simulated time passes this.

        Returns
        -------
        TwinResult
            Per task, per call timings, cache hits and preemptions; per instance, steps.

        Raises
        ------
        WorkloadError
            If task ids repeat or a call does not fit an instance's ``max_model_len``.
        ConfigError
            If ``step_seconds`` returns a non-positive or non-finite time for a non-empty
            step, or the router returns an invalid index.
        InvariantError
            If an instance stalls (requests it can never schedule) or time passes
            ``max_time_s``.
        """
        if self._used:
            raise ConfigError("a Twin runs once; build a new one per replay")
        self._used = True
        ids = [t.task_id for t in tasks]
        if len(set(ids)) != len(ids):
            raise WorkloadError("task ids must be unique")
        events: list[_Event] = []
        seq = 0

        def push(time: float, kind: int, payload: tuple[int, int]) -> None:
            nonlocal seq
            heapq.heappush(events, _Event(time, kind, seq, payload))
            seq += 1

        calls: dict[str, _CallState] = {}
        results: list[list[CallResult]] = [[] for _ in tasks]
        previous_instance: list[int | None] = [None] * len(tasks)
        for ti, task in enumerate(tasks):
            push(task.arrival_s + task.calls[0].tool_delay_s, _CALL_READY, (ti, 0))

        now = 0.0
        while events:
            now = events[0].time
            if now > max_time_s:
                raise InvariantError(f"simulated time passed max_time_s={max_time_s}")
            while events and events[0].time == now:
                ev = heapq.heappop(events)
                if ev.kind == _CALL_READY:
                    ti, ci = ev.payload
                    self._issue(tasks, ti, ci, now, calls, previous_instance)
                else:
                    self._end_step(ev.payload[0], now, tasks, calls, results, push)
            for inst in self._instances:
                if not inst.busy and inst.engine.has_unfinished_requests():
                    self._start_step(inst, now, calls, push)

        unfinished = [
            t.task_id for t, r in zip(tasks, results, strict=True) if len(r) != len(t.calls)
        ]
        if unfinished:
            raise InvariantError(f"tasks left unfinished: {unfinished[:5]}")
        return TwinResult(
            tasks=tuple(
                TaskResult(t.task_id, t.arrival_s, tuple(r))
                for t, r in zip(tasks, results, strict=True)
            ),
            steps=tuple(tuple(inst.steps) for inst in self._instances),
        )

    # -- events ---------------------------------------------------------------------

    def _issue(
        self,
        tasks: Sequence[AgentTask],
        ti: int,
        ci: int,
        now: float,
        calls: dict[str, _CallState],
        previous_instance: list[int | None],
    ) -> None:
        task = tasks[ti]
        call = task.calls[ci]
        ready = ReadyCall(
            task.task_id, ci, call.prompt_token_ids, call.output_tokens, previous_instance[ti]
        )
        index = self._router(ready, self._instances, now)
        if not (isinstance(index, int) and 0 <= index < len(self._instances)):
            raise ConfigError(
                f"router returned {index!r}; expected an instance index in "
                f"[0, {len(self._instances)})"
            )
        inst = self._instances[index]
        rid = f"{task.task_id}#{ci}"
        try:
            inst.engine.add_request(
                rid,
                call.prompt_token_ids,
                call.output_tokens,
                arrival_time=now,
                priority=task.priority,
                session_id=task.task_id,
            )
        except ConfigError as exc:
            raise WorkloadError(f"task {task.task_id!r} call {ci}: {exc}") from exc
        calls[rid] = _CallState(ti, ci, index, now)
        previous_instance[ti] = index

    def _start_step(
        self,
        inst: _Instance,
        now: float,
        calls: dict[str, _CallState],
        push: Callable[[float, int, tuple[int, int]], None],
    ) -> None:
        record = inst.engine.step()
        for adm in record.admissions:
            state = calls[adm.request_id]
            if state.admitted_s is None:
                state.admitted_s = now
                state.cached_tokens = adm.num_cached_tokens
        for rid in record.preempted:
            calls[rid].preemptions += 1
        if record.is_empty:
            if not record.preempted:
                raise InvariantError(
                    f"instance {inst.index} stalled at t={now}: {record.num_waiting} waiting "
                    f"and {record.num_running} running requests, none schedulable"
                )
            # Preemption without work: a zero-length step, retried at once.
            inst.busy = True
            inst.steps.append((now, now, record))
            push(now, _STEP_END, (inst.index, len(inst.steps) - 1))
            return
        duration = self._step_seconds(
            record.prefill_tokens,
            record.prefill_context_tokens,
            record.decode_seqs,
            record.decode_context_tokens,
        )
        if not (math.isfinite(duration) and duration > 0):
            raise ConfigError(
                f"step_seconds returned {duration!r} for a non-empty step "
                f"({record.cost_arguments()}); it must be positive and finite"
            )
        inst.busy = True
        inst.steps.append((now, now + duration, record))
        push(now + duration, _STEP_END, (inst.index, len(inst.steps) - 1))

    def _end_step(
        self,
        index: int,
        now: float,
        tasks: Sequence[AgentTask],
        calls: dict[str, _CallState],
        results: list[list[CallResult]],
        push: Callable[[float, int, tuple[int, int]], None],
    ) -> None:
        inst = self._instances[index]
        inst.busy = False
        _, _, record = inst.steps[-1]
        for rid in record.sampled:
            state = calls[rid]
            if state.first_token_s is None:
                state.first_token_s = now
        for rid in record.finished:
            state = calls.pop(rid)
            task = tasks[state.task_index]
            call = task.calls[state.index]
            if state.admitted_s is None or state.first_token_s is None:
                raise InvariantError(f"request {rid} finished without being scheduled")
            results[state.task_index].append(
                CallResult(
                    task_id=task.task_id,
                    index=state.index,
                    instance=state.instance,
                    ready_s=state.ready_s,
                    admitted_s=state.admitted_s,
                    first_token_s=state.first_token_s,
                    finish_s=now,
                    prompt_tokens=len(call.prompt_token_ids),
                    output_tokens=call.output_tokens,
                    cached_tokens=state.cached_tokens or 0,
                    preemptions=state.preemptions,
                )
            )
            if state.index + 1 < len(task.calls):
                nxt = task.calls[state.index + 1]
                push(now + nxt.tool_delay_s, _CALL_READY, (state.task_index, state.index + 1))
