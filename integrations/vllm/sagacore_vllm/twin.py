"""A digital twin of a vLLM deployment: real schedulers, a router, agent tasks replayed.

Several :class:`~sagacore_vllm.engine.VllmEngine` instances (each a real vLLM V1
scheduler with its own KV cache) sit behind a router. Agent tasks arrive over time; a
task is a graph of LLM calls (a chain by default: each call depends on the previous
one), each issued when the calls it depends on have finished, their tools included
(:class:`LLMCall`), as sagacore's simulator issues a step. Time is simulated: every instance steps on its own clock, and a step lasts what a
caller-supplied ``step_seconds(prefill_tokens, prefill_context_tokens, decode_seqs,
decode_context_tokens)`` says (for example ``sagacore.engine.CostModel.step_seconds``),
or what a ``price(record)`` callable says of the whole :class:`StepRecord`.

How an event flows: a call becomes ready -> the router picks an instance -> the request
is added to that instance's vLLM scheduler -> whenever an instance is idle with work it
runs one vLLM step (schedule + synthetic model output), priced by ``step_seconds`` ->
at the step's end its sampled tokens and finished calls take effect -> a finished call
makes the calls that depend on it ready once all their parents and the parents' tools
have ended (:class:`sagacore.workload.progress.TaskProgress` counts the parents down).

Routers are either the twin's plain callables (:class:`TwinRouter`: ``router(call,
instances, now) -> index``) or sagacore's engine-agnostic
:class:`sagacore.policy.Router` objects, which see each instance through a
:class:`sagacore.policy.WorkerView` (:class:`WorkerAdapter`) computed the way sagacore's
simulator computes it, so the same router object places calls identically in both.

Examples
--------
>>> from sagacore_vllm.engine import VllmEngineConfig
>>> from sagacore_vllm.twin import AgentTask, LLMCall, Twin, session_affinity
>>> def step_seconds(p, cp, d, cd):
...     return 0.01 + 1e-5 * p + 1e-3 * d
>>> task = AgentTask("t0", 0.0, (
...     LLMCall(tuple(range(64)), 4),
...     LLMCall(tuple(range(64)) + (7,) * 4 + tuple(range(500, 520)), 4, tool_delay_s=1.0),
... ))
>>> twin = Twin([VllmEngineConfig(num_gpu_blocks=256)] * 2, step_seconds, router=session_affinity)
>>> result = twin.run([task])
>>> [c.cached_tokens for c in result.tasks[0].calls]
[0, 64]
>>> result.tasks[0].calls[1].ready_s == result.tasks[0].calls[0].finish_s + 1.0
True
"""

from __future__ import annotations

import heapq
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sagacore.errors import ConfigError, InvariantError, WorkloadError
from sagacore.policy import CallView, WorkerView
from sagacore.policy import Router as PolicyRouter
from sagacore.workload.model import DEFAULT_TENANT, TaskId, TenantId
from sagacore.workload.progress import TaskProgress
from sagacore_vllm.client import ProgramMetadata
from sagacore_vllm.engine import StepRecord, VllmEngine, VllmEngineConfig

__all__ = [
    "AgentTask",
    "CallResult",
    "InstanceView",
    "LLMCall",
    "ReadyCall",
    "RoundRobin",
    "StepPrice",
    "StepSeconds",
    "TaskResult",
    "Twin",
    "TwinResult",
    "TwinRouter",
    "WorkerAdapter",
    "chain_task",
    "least_loaded",
    "prefix_affinity",
    "session_affinity",
]

#: ``step_seconds(prefill_tokens, prefill_context_tokens, decode_seqs,
#: decode_context_tokens) -> seconds`` of one batch step (see
#: ``sagacore.engine.CostModel.step_seconds``).
StepSeconds = Callable[[int, int, int, int], float]

#: ``price(record) -> seconds`` of one batch step from its whole :class:`StepRecord`
#: (for example ``cost.step_seconds(**record.cost_arguments())``, which also passes the
#: exact prefill attention pairs).
StepPrice = Callable[[StepRecord], float]


@dataclass(frozen=True)
class LLMCall:
    """One LLM call of an agent task.

    Attributes
    ----------
    prompt_token_ids
        The full prompt. Later calls of a task usually repeat earlier prompts and
        outputs as their prefix. Any sequence of ints: a lazy one (materialised when the
        call is issued) keeps long traces out of memory.
    output_tokens
        Tokens the call generates (exactly).
    tool_delay_s
        Seconds between the moment the call's parents have all finished, their tools
        included (the task's arrival for a call without parents), and this call becoming
        ready. A chain written call by call puts the previous call's tool here; a task
        converted from a sagacore workload (:func:`sagacore_vllm.bridge.twin_tasks`) puts
        each tool on the call that invokes it (``tool_seconds``) and leaves this 0.
    output_token_ids
        The tokens the call "samples", in order (``output_tokens`` of them), so that a
        later prompt that repeats them hits their KV; None: the engine's
        ``output_token_id`` each time.
    tool
        The tool the call's answer invokes (None: none), sent as program metadata
        (:class:`sagacore_vllm.client.ProgramMetadata`) for the plug-in's retention.
    deps
        The calls of its task this call depends on (their indices, all below its own):
        it becomes ready when the last of them has finished, its tool included (what
        sagacore's simulator does with a step's ``deps``). None: the previous call (none
        for the first call), a chain.
    tool_seconds
        Run time of the tool the call's answer invokes: the calls that depend on it
        become ready no earlier than its finish plus this, and its task ends no
        earlier (sagacore's ``Step.tool_seconds``).
    """

    prompt_token_ids: Sequence[int]
    output_tokens: int
    tool_delay_s: float = 0.0
    output_token_ids: Sequence[int] | None = None
    tool: str | None = None
    deps: tuple[int, ...] | None = None
    tool_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not len(self.prompt_token_ids):
            raise WorkloadError("LLM call with an empty prompt")
        if self.output_tokens < 1:
            raise WorkloadError(f"output_tokens must be >= 1, got {self.output_tokens}")
        if not (math.isfinite(self.tool_delay_s) and self.tool_delay_s >= 0):
            raise WorkloadError(f"tool_delay_s must be finite and >= 0, got {self.tool_delay_s}")
        if not (math.isfinite(self.tool_seconds) and self.tool_seconds >= 0):
            raise WorkloadError(f"tool_seconds must be finite and >= 0, got {self.tool_seconds}")
        if self.output_token_ids is not None and len(self.output_token_ids) != self.output_tokens:
            raise WorkloadError(
                f"output_token_ids holds {len(self.output_token_ids)} ids for "
                f"output_tokens={self.output_tokens}"
            )


@dataclass(frozen=True)
class AgentTask:
    """An agent task: LLM calls, each depending on the previous one (a chain) unless
    its ``deps`` say otherwise (a DAG: :meth:`graph`).

    Attributes
    ----------
    task_id
        Unique id; also the session id passed to vLLM.
    arrival_s
        When the task arrives.
    calls
        The calls, in order (a call depends on earlier calls only).
    priority
        vLLM request priority of every call (lower first under the priority policy).
    final_tool_s
        A tool that runs after the task's calls (and their tools) have all ended; the
        task completes when it ends.
    tenant, agent_type
        What a sagacore router sees of the task (:class:`sagacore.policy.CallView`).
    """

    task_id: str
    arrival_s: float
    calls: tuple[LLMCall, ...]
    priority: int = 0
    final_tool_s: float = 0.0
    tenant: str = DEFAULT_TENANT
    agent_type: str = "agent"

    def __post_init__(self) -> None:
        if not self.task_id:
            raise WorkloadError("task_id must be non-empty")
        if not self.calls:
            raise WorkloadError(f"task {self.task_id!r} has no calls")
        if not (math.isfinite(self.arrival_s) and self.arrival_s >= 0):
            raise WorkloadError(
                f"task {self.task_id!r}: arrival_s must be >= 0, got {self.arrival_s}"
            )
        if not (math.isfinite(self.final_tool_s) and self.final_tool_s >= 0):
            raise WorkloadError(
                f"task {self.task_id!r}: final_tool_s must be >= 0, got {self.final_tool_s}"
            )
        for i, call in enumerate(self.calls):
            deps = call.deps
            if deps is None:
                continue
            if (not isinstance(deps, tuple) or len(set(deps)) != len(deps)
                    or not all(isinstance(d, int) and 0 <= d < i for d in deps)):
                raise WorkloadError(
                    f"task {self.task_id!r} call {i}: deps must be distinct indices of "
                    f"earlier calls, got {deps!r}"
                )

    def graph(self) -> tuple[tuple[int, ...], ...]:
        """Each call's dependencies, by index (a call without ``deps``: the previous one).

        Examples
        --------
        >>> c = LLMCall((1, 2), 1)
        >>> AgentTask("t", 0.0, (c, c, LLMCall((1,), 1, deps=(0,)))).graph()
        ((), (0,), (0,))
        """
        return tuple(
            c.deps if c.deps is not None else ((i - 1,) if i else ())
            for i, c in enumerate(self.calls)
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
        The engines' synthetic output token (:attr:`VllmEngineConfig.output_token_id`), so
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
    prompt_token_ids: Sequence[int]
    output_tokens: int
    previous_instance: int | None
    """Instance that served the call of the task issued last before this one (None for
    the task's first call); in a chain, its previous call."""


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


class TwinRouter(Protocol):
    """Chooses the instance for a ready call: ``router(call, instances, now) -> index``."""

    def __call__(self, call: ReadyCall, instances: Sequence[InstanceView], now: float) -> int:
        """Return the index of the chosen instance."""


def __getattr__(name: str) -> object:
    """``Router``, the former name of :class:`TwinRouter`, for existing imports: deprecated
    (``DeprecationWarning``), as it named two things, this callable protocol and
    :class:`sagacore.policy.Router`."""
    if name == "Router":
        warnings.warn("sagacore_vllm.twin.Router is deprecated: use TwinRouter "
                      "(sagacore.policy.Router is the policy interface)",
                      DeprecationWarning, stacklevel=2)
        return TwinRouter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _load_key(inst: InstanceView) -> tuple[int, float, int]:
    return (inst.num_waiting + inst.num_running, inst.kv_usage, inst.index)


def least_loaded(call: ReadyCall, instances: Sequence[InstanceView], now: float) -> int:
    """Fewest waiting plus running requests, then lowest KV usage, then lowest index."""
    return min(instances, key=_load_key).index


def session_affinity(call: ReadyCall, instances: Sequence[InstanceView], now: float) -> int:
    """Keep a task on the instance of its previous call; place first calls least-loaded.

    This is the vLLM baseline's routing: sticky sessions in front of automatic prefix
    caching. (sagacore's ``SessionAffinity`` places first calls by its own load measure;
    pass that object to use it.)
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
    tool_seconds
        Its tool's run time after ``finish_s`` (:attr:`LLMCall.tool_seconds`).
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
    tool_seconds: float = 0.0


@dataclass(frozen=True)
class TaskResult:
    """A task's calls (by index) and completion."""

    task_id: str
    arrival_s: float
    calls: tuple[CallResult, ...]
    final_tool_s: float = 0.0

    @property
    def finish_s(self) -> float:
        """When the task completed: the last end of a call's tool (of a call without
        one, of the call), plus its final tool."""
        return max(c.finish_s + c.tool_seconds for c in self.calls) + self.final_tool_s

    @property
    def completion_s(self) -> float:
        """Task completion time (TCT): finish minus arrival."""
        return self.finish_s - self.arrival_s


@dataclass(frozen=True)
class InstanceStats:
    """Counters of one instance over a replay (kept even when steps are not).

    Attributes
    ----------
    steps
        Engine steps that scheduled work.
    prefill_tokens
        Tokens of prefill chunks computed (recomputation after preemption included).
    reused_tokens
        Prefix-cache hits summed over all admissions (readmissions included).
    decode_tokens
        Output tokens sampled.
    preemptions
        Requests preempted.
    busy_s
        Total duration of its steps.
    used_block_seconds
        Integral over time of the KV blocks referenced by requests, plus, for every
        hit block that was cached with no request referencing it, the time it sat idle
        before the hit (credited at the hit): the KV that was used. Only with
        ``VllmEngineConfig.track_block_reuse`` does it include that idle credit.
    """

    steps: int
    prefill_tokens: int
    reused_tokens: int
    decode_tokens: int
    preemptions: int
    busy_s: float
    used_block_seconds: float


@dataclass(frozen=True)
class TwinResult:
    """Results of one replay.

    Attributes
    ----------
    tasks
        Per task, in the input order.
    steps
        Per instance, the records of its steps with their start and end times (empty
        tuples when the twin was built with ``keep_steps=False``).
    instances
        Per instance, its counters.
    events
        Events the twin processed (calls becoming ready and step ends).
    """

    tasks: tuple[TaskResult, ...]
    steps: tuple[tuple[tuple[float, float, StepRecord], ...], ...]
    instances: tuple[InstanceStats, ...] = ()
    events: int = 0

    @property
    def makespan_s(self) -> float:
        """Time of the last task's completion."""
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
        return tuple(i.busy_s for i in self.instances)


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

    def __init__(self, index: int, config: VllmEngineConfig, capacity_tokens: int) -> None:
        self.index = index
        self.engine = VllmEngine(config)
        self.capacity_tokens = capacity_tokens
        self.busy = False
        self.sleep_until: float | None = None
        """Could schedule nothing; retry at this time or when a call arrives."""
        self.in_flight: StepRecord | None = None
        self.steps: list[tuple[float, float, StepRecord]] = []
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.last_t = 0.0
        self.last_used = 0
        self.n_steps = 0
        self.prefill_tokens = 0
        self.reused_tokens = 0
        self.decode_tokens = 0
        self.preemptions = 0
        self.busy_s = 0.0
        self.block_seconds = 0.0

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

    def hold(self, now: float, used: int) -> None:
        """Account the blocks held since the last change, then hold ``used`` from now."""
        self.block_seconds += self.last_used * (now - self.last_t)
        self.last_t = now
        self.last_used = used

    def stats(self) -> InstanceStats:
        return InstanceStats(
            steps=self.n_steps,
            prefill_tokens=self.prefill_tokens,
            reused_tokens=self.reused_tokens,
            decode_tokens=self.decode_tokens,
            preemptions=self.preemptions,
            busy_s=self.busy_s,
            used_block_seconds=self.block_seconds,
        )


@dataclass(frozen=True)
class _TwinCall:
    """A ready call as a sagacore router sees it (:class:`sagacore.policy.CallView`)."""

    task_id: TaskId
    tenant: TenantId
    agent_type: str
    step: int
    prompt_tokens: int
    task_arrival_s: float
    ready_s: float
    steps_done: int
    prompt_token_ids: Sequence[int]
    task_attained_s: float = 0.0
    parents: tuple[int, ...] = ()
    task_attained_tokens: int = 0
    task_wait_s: float = 0.0
    task_tool_s: float = 0.0
    cached_tokens: int = 0


class WorkerAdapter:
    """An instance of the twin as a sagacore :class:`~sagacore.policy.WorkerView`.

    The view is the one sagacore's simulator gives at the same moment: while a step
    runs, requests in it count with the KV they held before it (vLLM advances its
    counters when it schedules the step, the simulator when the step ends), and
    requests that finish in it still count as running.

    Parameters
    ----------
    instance
        The twin's instance.
    """

    def __init__(self, instance: _Instance) -> None:
        self._inst = instance

    @property
    def worker_id(self) -> int:
        """The instance's index."""
        return self._inst.index

    @property
    def load(self) -> float:
        """KV tokens of running requests plus prompt tokens of waiting ones, over capacity."""
        inst = self._inst
        rec = inst.in_flight
        in_step = {c.request_id: c.num_context_tokens for c in rec.chunks} if rec else {}
        return inst.engine.token_load(in_step) / inst.capacity_tokens

    @property
    def queued_calls(self) -> int:
        """Requests waiting (preempted ones included)."""
        return self._inst.engine.request_counts()[1]

    @property
    def running_calls(self) -> int:
        """Requests running, counting those that finish in the step in flight."""
        inst = self._inst
        rec = inst.in_flight
        return inst.engine.request_counts()[0] + (len(rec.finished) if rec else 0)

    @property
    def pool_tokens(self) -> int:
        """The KV capacity the load is measured against, tokens."""
        return self._inst.capacity_tokens

    @property
    def capacity_tokens(self) -> int:
        """Deprecated name of :attr:`pool_tokens` (warns)."""
        warnings.warn("WorkerView.capacity_tokens is deprecated: use pool_tokens",
                      DeprecationWarning, stacklevel=2)
        return self._inst.capacity_tokens

    @property
    def free_tokens(self) -> int:
        """Tokens of free blocks (including cached blocks no request references)."""
        engine = self._inst.engine
        return engine.num_free_blocks() * engine.config.block_size

    def cached_prefix_tokens(self, call: CallView) -> int:
        """Prompt tokens of ``call`` the instance's prefix cache would hit now."""
        tokens = getattr(call, "prompt_token_ids", None)
        if tokens is None:
            return 0
        return self._inst.engine.cached_prefix_tokens(tokens)


def _by_index(c: CallResult) -> int:
    return c.index


# Event kinds; at equal times a step's end is handled before calls becoming ready.
_STEP_END = 0
_CALL_READY = 1
_WAKE = 2  # an instance that could schedule nothing may retry (a plug-in's pin expires)


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
        One :class:`~sagacore_vllm.engine.VllmEngineConfig` per instance.
    step_seconds
        Duration of a step from its four aggregates; must be positive for a non-empty
        step. Ignored when ``price`` is given.
    router
        Chooses an instance per ready call: a twin :class:`TwinRouter` callable (default
        :func:`session_affinity`) or a :class:`sagacore.policy.Router`.
    price
        Duration of a step from its whole record (overrides ``step_seconds``).
    capacity_tokens
        KV capacity a sagacore router's load is measured against (default: the usable
        blocks of the first instance times its block size).
    keep_steps
        Keep every step's record in the result (memory grows with the steps).

    Notes
    -----
    Deterministic: events are ordered by (time, kind, sequence number), instances are
    started in index order, and vLLM's scheduling is deterministic. A twin runs once;
    build a new one per replay.
    """

    def __init__(
        self,
        configs: Sequence[VllmEngineConfig],
        step_seconds: StepSeconds | None = None,
        router: TwinRouter | PolicyRouter = session_affinity,
        *,
        price: StepPrice | None = None,
        capacity_tokens: int | None = None,
        keep_steps: bool = True,
    ) -> None:
        if not configs:
            raise ConfigError("a twin needs at least one instance config")
        if step_seconds is None and price is None:
            raise ConfigError("a twin needs step_seconds or price")
        cap = (
            capacity_tokens
            if capacity_tokens is not None
            else configs[0].num_usable_blocks * configs[0].block_size
        )
        if cap < 1:
            raise ConfigError(f"capacity_tokens must be positive, got {cap}")
        self._instances = [_Instance(i, c, cap) for i, c in enumerate(configs)]
        self._views = [WorkerAdapter(inst) for inst in self._instances]
        if price is None:
            assert step_seconds is not None
            f = step_seconds

            def price_aggregates(r: StepRecord) -> float:
                return f(
                    r.prefill_tokens,
                    r.prefill_context_tokens,
                    r.decode_seqs,
                    r.decode_context_tokens,
                )

            price = price_aggregates
        self._price: StepPrice = price
        self._router = router
        self._keep_steps = keep_steps
        self._used = False
        self._events = 0
        self._progress: list[TaskProgress] = []
        self._ends: list[list[float]] = []
        self._sent: list[int] = []

    @property
    def engines(self) -> tuple[VllmEngine, ...]:
        """The instances' engines (for example to bind a plug-in's policies before a run)."""
        return tuple(inst.engine for inst in self._instances)

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
            Per task, per call timings, cache hits and preemptions; per instance, steps
            and counters.

        Raises
        ------
        WorkloadError
            If task ids repeat or a call does not fit an instance's ``max_model_len``.
        ConfigError
            If the step price is non-positive or not finite for a non-empty step, or the
            router returns an invalid index.
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
        # each task's graph, counted down as its calls finish (the simulator's mechanism)
        self._progress = [TaskProgress(t.graph(), t.task_id) for t in tasks]
        # when each finished call's tool ends (its finish when it has none)
        self._ends = [[math.nan] * len(t.calls) for t in tasks]
        # how many of each task's calls have been sent (the last one sent is flagged)
        self._sent = [0] * len(tasks)
        for ti, task in enumerate(tasks):
            for ci in self._progress[ti].roots():
                push(task.arrival_s + task.calls[ci].tool_delay_s, _CALL_READY, (ti, ci))

        now = 0.0
        while events:
            now = events[0].time
            if now > max_time_s:
                raise InvariantError(f"simulated time passed max_time_s={max_time_s}")
            while events and events[0].time == now:
                ev = heapq.heappop(events)
                self._events += 1
                if ev.kind == _CALL_READY:
                    ti, ci = ev.payload
                    self._issue(tasks, ti, ci, now, calls, previous_instance, results)
                elif ev.kind == _WAKE:
                    woken = self._instances[ev.payload[0]]
                    if woken.sleep_until is not None and now >= woken.sleep_until:
                        woken.sleep_until = None
                else:
                    self._end_step(ev.payload[0], now, tasks, calls, results, push)
            for inst in self._instances:
                if (not inst.busy and inst.sleep_until is None
                        and inst.engine.has_unfinished_requests()):
                    self._start_step(inst, now, calls, push)

        unfinished = [
            t.task_id for t, p in zip(tasks, self._progress, strict=True) if not p.complete
        ]
        if unfinished:
            raise InvariantError(f"tasks left unfinished: {unfinished[:5]}")
        for inst in self._instances:
            inst.hold(now, 0)
        return TwinResult(
            tasks=tuple(
                TaskResult(t.task_id, t.arrival_s, tuple(sorted(r, key=_by_index)),
                           t.final_tool_s)
                for t, r in zip(tasks, results, strict=True)
            ),
            steps=tuple(tuple(inst.steps) for inst in self._instances),
            instances=tuple(inst.stats() for inst in self._instances),
            events=self._events,
        )

    # -- events ---------------------------------------------------------------------

    def _route(
        self,
        task: AgentTask,
        ci: int,
        now: float,
        previous: int | None,
        results: list[CallResult],
        parents: tuple[int, ...],
    ) -> int:
        call = task.calls[ci]
        router = self._router
        if isinstance(router, PolicyRouter):
            view = _TwinCall(
                task_id=TaskId(task.task_id),
                tenant=TenantId(task.tenant),
                agent_type=task.agent_type,
                step=ci,
                prompt_tokens=len(call.prompt_token_ids),
                task_arrival_s=task.arrival_s,
                ready_s=now,
                steps_done=len(results),
                prompt_token_ids=call.prompt_token_ids,
                parents=parents,
            )
            workers: Sequence[WorkerView] = self._views
            wid = router.route(view, workers, now)
        else:
            ready = ReadyCall(task.task_id, ci, call.prompt_token_ids, call.output_tokens, previous)
            wid = router(ready, self._instances, now)
        if not (isinstance(wid, int) and 0 <= wid < len(self._instances)):
            raise ConfigError(
                f"router returned {wid!r}; expected an instance index in "
                f"[0, {len(self._instances)})"
            )
        return wid

    def _issue(
        self,
        tasks: Sequence[AgentTask],
        ti: int,
        ci: int,
        now: float,
        calls: dict[str, _CallState],
        previous_instance: list[int | None],
        results: list[list[CallResult]],
    ) -> None:
        task = tasks[ti]
        call = task.calls[ci]
        progress = self._progress[ti]
        parents = tuple(progress.deps[ci])
        index = self._route(task, ci, now, previous_instance[ti], results[ti], parents)
        inst = self._instances[index]
        rid = f"{task.task_id}#{ci}"
        self._sent[ti] += 1
        meta = ProgramMetadata(
            task.task_id,
            step=ci,
            tenant=task.tenant,
            agent_type=task.agent_type,
            tool=call.tool if call.tool is not None else "",
            # no call of the task follows this one: in a chain its last call; of
            # parallel last calls, the one sent last (the plug-in ends the program when
            # this call and every call of it sent before have finished)
            last=self._sent[ti] == len(task.calls),
            parents=parents,
            # each parent's tool as the agent measured it (with this call's own delay,
            # where a chain written call by call puts its parent's tool)
            parent_tool_s=tuple(task.calls[d].tool_seconds + call.tool_delay_s
                                for d in parents),
        )
        try:
            inst.engine.add_request(
                rid,
                call.prompt_token_ids,
                call.output_tokens,
                arrival_time=now,
                priority=task.priority,
                session_id=task.task_id,
                output_token_ids=call.output_token_ids,
                extra_args=meta.xargs(),
            )
        except ConfigError as exc:
            raise WorkloadError(f"task {task.task_id!r} call {ci}: {exc}") from exc
        calls[rid] = _CallState(ti, ci, index, now)
        previous_instance[ti] = index
        inst.sleep_until = None  # new work: try to schedule again

    def _start_step(
        self,
        inst: _Instance,
        now: float,
        calls: dict[str, _CallState],
        push: Callable[[float, int, tuple[int, int]], None],
    ) -> None:
        record = inst.engine.step(now, self._price)
        for adm in record.admissions:
            state = calls[adm.request_id]
            if state.admitted_s is None:
                state.admitted_s = now
                state.cached_tokens = adm.num_cached_tokens
            inst.reused_tokens += adm.num_cached_tokens
            for step, at_end, blocks in adm.reused_idle:
                since = inst.ends[step] if at_end else inst.starts[step]
                inst.block_seconds += blocks * (now - since)
        for rid in record.preempted:
            calls[rid].preemptions += 1
        inst.preemptions += len(record.preempted)
        if record.is_empty and not record.preempted:
            wake = inst.engine.next_event_s()
            if wake is not None and wake > now:
                # nothing fits until the plug-in's next event (a pin's expiry) or new work
                inst.starts.append(now)
                inst.ends.append(now)
                inst.hold(now, record.num_blocks_used_in_step)
                inst.sleep_until = wake
                push(wake, _WAKE, (inst.index, record.step))
                return
        if record.is_empty:
            if not record.preempted:
                raise InvariantError(
                    f"instance {inst.index} stalled at t={now}: {record.num_waiting} waiting "
                    f"and {record.num_running} running requests, none schedulable"
                )
            # Preemption without work: a zero-length step, retried at once.
            duration = 0.0
        else:
            duration = record.duration_s
            if not (math.isfinite(duration) and duration > 0):
                raise ConfigError(
                    f"step_seconds returned {duration!r} for a non-empty step "
                    f"({record.cost_arguments()}); it must be positive and finite"
                )
            inst.n_steps += 1
            inst.prefill_tokens += record.prefill_tokens
        inst.busy = True
        inst.in_flight = record
        inst.busy_s += duration
        inst.starts.append(now)
        inst.ends.append(now + duration)
        inst.hold(now, record.num_blocks_used_in_step)
        if self._keep_steps:
            inst.steps.append((now, now + duration, record))
        push(now + duration, _STEP_END, (inst.index, record.step))

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
        record = inst.in_flight
        assert record is not None
        inst.in_flight = None
        inst.hold(now, record.num_blocks_used)
        inst.decode_tokens += len(record.sampled)
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
                    tool_seconds=call.tool_seconds,
                )
            )
            ti = state.task_index
            ends = self._ends[ti]
            # the call's step ends with its tool; a call is ready when its last parent's
            # step has ended (sagacore.workload.progress.ready_time), plus its own delay
            ends[state.index] = now + call.tool_seconds
            progress = self._progress[ti]
            graph = progress.deps
            for ci in progress.finish(state.index):
                deps = graph[ci]
                ready = ends[deps[0]] if len(deps) == 1 else max([ends[d] for d in deps])
                push(ready + task.calls[ci].tool_delay_s, _CALL_READY, (ti, ci))
            if progress.complete and isinstance(self._router, PolicyRouter):
                self._router.observe_task_end(TaskId(task.task_id), max(ends) + task.final_tool_s)
