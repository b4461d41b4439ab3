"""sagacore's policies inside vLLM 0.33: the ``--scheduler-cls`` plug-in.

::

    vllm serve MODEL --enable-prefix-caching \\
        --scheduler-cls sagacore_vllm.plugin.SagaAsyncScheduler \\
        --additional-config '{"sagacore": {"stack": "saga"}}'

:class:`SagaScheduler` subclasses vLLM's ``Scheduler`` (async scheduling off) and
:class:`SagaAsyncScheduler` its ``AsyncScheduler``; both carry :class:`SagaMixin`, which
adapts vLLM requests to sagacore's read-only views (:class:`sagacore.policy.CallView`,
:class:`~sagacore.policy.SessionView`, :class:`~sagacore.policy.CacheContext`) and
drives the stack's engine-agnostic policies:

- **the Scheduler's key** orders the waiting queue (re-evaluated at every ``schedule()``,
  ties by arrival) and, when the scheduler's victim is by key (``victim_by_key`` or
  ``preemptive``), chooses the preemption victim: the plug-in runs vLLM's ``priority``
  preemption path and sets each running request's ``priority`` to the rank of its key
  before every ``schedule()``, so vLLM's ``max(running, key=(priority, arrival))`` is the
  largest key. Otherwise vLLM's FCFS victim (the request admitted last) stays. A
  ``preemptive`` scheduler (SAGA's AFS) also preempts running requests of larger key
  when a waiting request that vLLM's admission loop will reach does not fit in what
  vLLM's running pass and the admissions before it will leave: vLLM 0.33 never does
  that on its own, so the subclass does it (with vLLM's ``_preempt_request``) in the
  simulator's order (running requests grow first, then the queue is admitted in key
  order, each request with the victims it took; the victims wait behind the queue);
- **its hooks** see programs: ``observe_task_arrival`` at a program's first call,
  ``observe_call_start`` at each admission, ``observe_service`` after each step (tokens
  and the step's share of time, by tokens), ``observe_call_end``, ``observe_task_end``
  when the call flagged last and every call of its program received before it have
  finished (or after ``program_idle_s`` without a call);
- **the CachePolicy's retention** when a call ends before a tool: ``KEEP`` with a TTL pins
  the call's blocks (``BlockPool.touch``: they leave the free queue, so nothing evicts
  them) until the TTL ends, the program's next call is admitted (within vLLM's
  admission loop: the blocks it does not reuse serve the requests after it), or a
  waiting request would otherwise be refused (pins are released, the nearest expiry
  first, before
  vLLM's admission check fails: a TTL never blocks scheduling, as vLLM RFC #52113
  asks); ``DROP`` evicts the blocks the call added to the cache; ``SWAP`` drops the GPU
  copy when a KV connector is configured (vLLM's offloading connector keeps the host copy
  and restores it on the next hit), and keeps the KV cached unpinned otherwise;
- **the shared predictor** (stacks that use one) is fed as sagacore's simulator feeds it.

Program metadata comes from vLLM's ``session_id`` and ``vllm_xargs``
(:mod:`sagacore_vllm.client`); a request without it is a program of one call.

What vLLM's public surface cannot express, and the plug-in does not do:

- **eviction order**: vLLM evicts free cached blocks LRU (its free block queue); a policy's
  ``victim`` (WA-LRU, next-use, KVFlow's steps-to-execution) is not consulted. Pins and
  drops are the plug-in's only say over what stays;
- **work stealing** and routing: a plug-in sees one instance (use sagacore's routers in
  front of several instances);
- one scheduler and one cache policy per instance (the simulator shares one scheduler and
  one predictor across a cluster).

Examples
--------
>>> PluginConfig.from_additional_config({"sagacore": {"stack": "continuum"}}).stack
'continuum'
>>> PluginConfig(stack="")
Traceback (most recent call last):
...
sagacore.errors.ConfigError: sagacore plug-in: stack must be a stack name, got ''
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from vllm.v1.core.sched.async_scheduler import AsyncScheduler
from vllm.v1.core.sched.request_queue import RequestQueue, SchedulingPolicy
from vllm.v1.core.sched.scheduler import Scheduler as VllmScheduler
from vllm.v1.request import Request, RequestStatus

from sagacore.engine import CostModel
from sagacore.errors import ConfigError
from sagacore.policy import (
    CacheContext,
    CachePolicy,
    CallView,
    Retention,
    RetentionDecision,
    SessionInfo,
)
from sagacore.policy import Scheduler as PolicyScheduler
from sagacore.stacks import BuildContext, Stack, get_stack
from sagacore.workload.model import Segment, Step, Task, TaskId, TenantId
from sagacore_vllm.client import ProgramMetadata

if TYPE_CHECKING:  # pragma: no cover
    from vllm.v1.core.sched.output import SchedulerOutput
    from vllm.v1.engine import EngineCoreOutputs
    from vllm.v1.outputs import ModelRunnerOutput

    from sagacore.workload.predictor import Predictor

__all__ = [
    "KeyedRequestQueue",
    "PluginConfig",
    "PluginStats",
    "SagaAsyncScheduler",
    "SagaMixin",
    "SagaScheduler",
]

_log = logging.getLogger(__name__)

_FINISHED_OK = (RequestStatus.FINISHED_STOPPED, RequestStatus.FINISHED_LENGTH_CAPPED)


@dataclass(frozen=True)
class PluginConfig:
    """The plug-in's settings: ``--additional-config '{"sagacore": {...}}'``.

    Examples
    --------
    >>> PluginConfig(program_idle_s=0)
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: sagacore plug-in: program_idle_s must be > 0, got 0
    """

    stack: str = "saga"
    """The sagacore stack (:data:`sagacore.stacks.STACKS`) whose scheduler and cache
    policy run in this instance (its router and work stealing do not)."""
    model: str = "llama-3-8b"
    """Model preset of sagacore's cost model (prices in policies' build context, and the
    swap and recompute prices a retention decision reads)."""
    gpu: str = "a100-80gb"
    """GPU preset of the cost model."""
    tp: int = 1
    """Tensor-parallel GPUs of this instance (cost model)."""
    instances: int = 1
    """Instances in the deployment (policies that scale with the cluster read it)."""
    release_pins_under_pressure: bool = True
    """Release TTL pins (nearest expiry first) before a waiting request would be refused
    for lack of blocks, each only if its time left exceeds the time to recompute what it
    holds (cost model). False: a pin holds until its TTL or the program's next call, as
    in sagacore's simulator."""
    program_idle_s: float = 600.0
    """Forget a program that has sent no call for this long without flagging its last
    call (its scheduler state ends with ``observe_task_end``)."""
    worker_id: int = 0
    """This instance's index among ``instances`` (what a scheduler's admission control
    sees as ``WorkerView.worker_id``)."""

    def __post_init__(self) -> None:
        if not isinstance(self.stack, str) or not self.stack:
            raise ConfigError(f"sagacore plug-in: stack must be a stack name, got {self.stack!r}")
        for name in ("tp", "instances"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"sagacore plug-in: {name} must be an integer >= 1, got {v!r}")
        w = self.worker_id
        if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w < self.instances:
            raise ConfigError(
                f"sagacore plug-in: worker_id must be an integer in [0, instances="
                f"{self.instances}), got {w!r}"
            )
        idle = self.program_idle_s
        if isinstance(idle, bool) or not isinstance(idle, int | float) or not idle > 0:
            raise ConfigError(f"sagacore plug-in: program_idle_s must be > 0, got {idle!r}")
        if not isinstance(self.release_pins_under_pressure, bool):
            raise ConfigError(
                "sagacore plug-in: release_pins_under_pressure must be true or false, got "
                f"{self.release_pins_under_pressure!r}"
            )

    @classmethod
    def from_additional_config(cls, additional: Mapping[str, Any] | Any) -> PluginConfig:
        """Read the ``"sagacore"`` entry of vLLM's ``additional_config`` (defaults if absent).

        Raises
        ------
        ConfigError
            On an unknown key or a bad value.
        """
        raw = additional.get("sagacore", {}) if isinstance(additional, Mapping) else {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"sagacore plug-in: additional_config.sagacore must be an "
                              f"object, got {raw!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"sagacore plug-in: unknown setting(s) {unknown}; known: "
                              f"{sorted(known)}")
        return cls(**dict(raw))

    def build_context(self, kv_capacity_tokens: int) -> BuildContext:
        """The :class:`~sagacore.stacks.BuildContext` of this instance (predictor not set)."""
        cost = CostModel.from_presets(self.model, self.gpu, tp=self.tp)
        return BuildContext(cost, self.instances, kv_capacity_tokens)


@dataclass
class PluginStats:
    """What the plug-in did (counters, for tests and logs)."""

    programs: int = 0
    """Programs seen."""
    pins: int = 0
    """TTL pins taken."""
    pins_expired: int = 0
    """Pins released when their TTL ended."""
    pins_reused: int = 0
    """Pins released because the program's next call was admitted."""
    pins_released_for_pressure: int = 0
    """Pins released early so that a waiting request could be admitted."""
    drops: int = 0
    """Retention decisions DROP (or SWAP with a KV connector) applied."""
    swaps_kept: int = 0
    """SWAP decisions kept cached unpinned (no KV connector configured)."""
    dropped_blocks: int = 0
    """Blocks evicted from the prefix cache by DROP/SWAP."""
    preemptions_for_waiting: int = 0
    """Running requests a preemptive scheduler preempted to admit a waiting one."""
    deferred: int = 0
    """Times the scheduler's admission control deferred a waiting request in a step."""


class KeyedRequestQueue(RequestQueue):
    """vLLM's waiting queue, in the order a sagacore scheduler's key says.

    A list sorted by ``(key, arrival sequence)`` when :meth:`sort` is called (at the
    start of every ``schedule()``); between sorts new requests join at the back and
    preempted ones at the front, as in vLLM's FCFS queue. During one ``schedule()`` a
    *gate* (a scheduler's admission control, :meth:`sagacore.policy.Scheduler.admit`)
    may defer requests: vLLM's admission loop then does not see them (they stay queued
    and count as waiting).
    """

    def __init__(self) -> None:
        self._items: list[Request] = []
        self._gate: Callable[[Request], bool] | None = None
        self._on_first: Callable[[], None] | None = None
        self._on_pop: Callable[[Request], None] | None = None
        self._deferred: set[str] = set()
        self._passed: set[str] = set()

    def sort(self, key: Callable[[Request], Any]) -> None:
        """Re-sort by ``key`` (stable)."""
        self._items.sort(key=key)

    def open_pass(self, gate: Callable[[Request], bool] | None,
                  on_first: Callable[[], None] | None = None,
                  on_pop: Callable[[Request], None] | None = None) -> None:
        """Start a scheduling pass whose admissions ``gate`` may defer; ``on_first`` is
        called once, when vLLM first looks at the queue in the pass (its admission loop,
        which comes after its running requests have taken their blocks), and ``on_pop``
        with each request vLLM takes out of the queue (after its blocks were allocated,
        when it is admitted)."""
        self._gate = gate
        self._on_first = on_first
        self._on_pop = on_pop
        self._deferred.clear()
        self._passed.clear()

    def close_pass(self) -> set[str]:
        """End the pass; return the ids the gate deferred."""
        deferred = set(self._deferred)
        self._gate = None
        self._on_first = None
        self._on_pop = None
        self._deferred.clear()
        self._passed.clear()
        return deferred

    def _first(self) -> int:
        if self._on_first is not None:
            cb, self._on_first = self._on_first, None
            cb()
        gate = self._gate
        for i, r in enumerate(self._items):
            rid = r.request_id
            if gate is None:
                return i
            if rid in self._deferred:
                continue
            if rid not in self._passed:
                if not gate(r):
                    self._deferred.add(rid)
                    continue
                self._passed.add(rid)
            return i
        return -1

    def add_request(self, request: Request) -> None:
        self._items.append(request)

    def pop_request(self) -> Request:
        i = self._first()
        if i < 0:
            raise IndexError("pop from an empty queue")
        request = self._items.pop(i)
        if self._on_pop is not None:
            self._on_pop(request)
        return request

    def peek_request(self) -> Request:
        i = self._first()
        if i < 0:
            raise IndexError("peek from an empty queue")
        return self._items[i]

    def prepend_request(self, request: Request) -> None:
        self._items.insert(0, request)

    def prepend_requests(self, requests: Iterable[Request]) -> None:
        self._items[:0] = list(requests)

    def remove_request(self, request: Request) -> None:
        self._items.remove(request)

    def remove_requests(self, requests: Iterable[Request]) -> None:
        gone = set(requests)
        self._items = [r for r in self._items if r not in gone]

    def __bool__(self) -> bool:
        return self._first() >= 0

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Request]:
        return iter(list(self._items))


class _Program:
    """A program (agent task) in flight on this instance."""

    __slots__ = (
        "agent_type",
        "arrival_s",
        "attained_s",
        "attained_tokens",
        "calls",
        "ended",
        "first_hit_blocks",
        "in_flight",
        "last_seen_s",
        "last_sent",
        "pid",
        "pin",
        "steps_done",
        "tenant",
        "tool_s",
        "wait_s",
    )

    def __init__(self, pid: str, meta: ProgramMetadata, arrival_s: float) -> None:
        self.pid = pid
        self.tenant = meta.tenant
        self.agent_type = meta.agent_type
        self.arrival_s = arrival_s
        self.attained_s = 0.0
        self.attained_tokens = 0
        self.wait_s = 0.0
        self.tool_s = 0.0
        self.steps_done = 0
        self.calls = 0
        self.ended: dict[int, tuple[float, str | None]] = {}
        """Steps that finished and whose tool no later call has waited for yet: when they
        finished, and their tool."""
        self.last_seen_s = arrival_s
        self.in_flight = 0
        """Its calls received here that have not finished."""
        self.last_sent = False
        """Whether its call flagged last has been received: no call follows it."""
        self.pin: _Pin | None = None
        self.first_hit_blocks = -1


@dataclass
class _Pin:
    blocks: list[Any]
    expires_s: float


class _Call:
    """A vLLM request as a :class:`sagacore.policy.CallView`."""

    __slots__ = ("_mixin", "enqueued_s", "meta", "program", "request", "seq", "step")

    def __init__(self, mixin: SagaMixin, request: Request, program: _Program,
                 meta: ProgramMetadata, step: int, seq: int) -> None:
        self._mixin = mixin
        self.request = request
        self.program = program
        self.meta = meta
        self.step = step
        self.seq = seq
        self.enqueued_s = float(request.arrival_time)

    @property
    def task_id(self) -> TaskId:
        return TaskId(self.program.pid)

    @property
    def tenant(self) -> TenantId:
        return TenantId(self.program.tenant)

    @property
    def agent_type(self) -> str:
        return self.program.agent_type

    @property
    def parents(self) -> tuple[int, ...]:
        # what the client said (sagacore_parents), else a chain: the call before
        return self.meta.parents_of(self.step)

    @property
    def prompt_tokens(self) -> int:
        return int(self.request.num_prompt_tokens)

    @property
    def task_arrival_s(self) -> float:
        return self.program.arrival_s

    @property
    def ready_s(self) -> float:
        return float(self.request.arrival_time)

    @property
    def task_attained_s(self) -> float:
        return self.program.attained_s

    @property
    def task_attained_tokens(self) -> int:
        return self.program.attained_tokens

    @property
    def task_wait_s(self) -> float:
        return self.program.wait_s

    @property
    def task_tool_s(self) -> float:
        return self.program.tool_s

    @property
    def steps_done(self) -> int:
        return self.program.steps_done

    @property
    def cached_tokens(self) -> int:
        return self._mixin.sagacore_cached_tokens(self.request)


class _InstanceView:
    """This vLLM instance as a :class:`sagacore.policy.WorkerView` (for ``admit``)."""

    def __init__(self, mixin: SagaMixin) -> None:
        self._m = mixin

    @property
    def worker_id(self) -> int:
        return self._m.sagacore_config.worker_id

    @property
    def pool_tokens(self) -> int:
        return int(self._m.kv_cache_manager.block_pool.num_gpu_blocks) * self._m.block_size

    @property
    def capacity_tokens(self) -> int:  # the former name of pool_tokens
        return self.pool_tokens

    @property
    def load(self) -> float:
        m = self._m
        tokens = sum(int(r.num_computed_tokens) for r in m.running)
        tokens += sum(int(r.num_prompt_tokens) for r in m.waiting)
        return tokens / self.pool_tokens

    @property
    def queued_calls(self) -> int:
        return len(self._m.waiting)

    @property
    def running_calls(self) -> int:
        return len(self._m.running)

    @property
    def free_tokens(self) -> int:
        m = self._m
        return int(m.kv_cache_manager.block_pool.get_num_free_blocks()) * m.block_size

    def cached_prefix_tokens(self, call: CallView) -> int:
        r = getattr(call, "request", None)
        return self._m.sagacore_cached_tokens(r) if r is not None else 0


def _overrides(obj: object, base: type, name: str) -> bool:
    return getattr(type(obj), name) is not getattr(base, name)


class SagaMixin:
    """The adapter between vLLM's V1 scheduler and sagacore's policies (module notes).

    Mixed into a vLLM ``Scheduler`` subclass ahead of it: its ``__init__`` runs vLLM's,
    then :meth:`sagacore_setup`. The attributes below are the plug-in's; everything else
    is vLLM's.
    """

    # vLLM's attributes the mixin uses (declared for type checkers)
    requests: dict[str, Request]
    running: list[Request]
    waiting: Any
    policy: SchedulingPolicy
    kv_cache_manager: Any
    connector: Any
    vllm_config: Any
    block_size: int

    sagacore_clock: Callable[[], float]
    """The plug-in's clock (``time.time``, the clock of vLLM's ``arrival_time``; the twin
    sets a simulated one)."""
    sagacore_config: PluginConfig
    sagacore_stats: PluginStats

    def __init__(
        self,
        vllm_config: Any,
        kv_cache_config: Any,
        structured_output_manager: Any,
        block_size: int,
        hash_block_size: int | None = None,
        mm_registry: Any = None,
        include_finished_set: bool = False,
        log_stats: bool = False,
    ) -> None:
        """vLLM's scheduler ``__init__`` (the class after the mixin), then :meth:`sagacore_setup`."""
        if mm_registry is None:
            from vllm.multimodal import MULTIMODAL_REGISTRY

            mm_registry = MULTIMODAL_REGISTRY
        super().__init__(  # type: ignore[call-arg]
            vllm_config=vllm_config,
            kv_cache_config=kv_cache_config,
            structured_output_manager=structured_output_manager,
            block_size=block_size,
            hash_block_size=hash_block_size,
            mm_registry=mm_registry,
            include_finished_set=include_finished_set,
            log_stats=log_stats,
        )
        self.sagacore_setup()

    def sagacore_setup(self) -> None:
        """Read the settings and build the stack's policies (end of ``__init__``)."""
        self.sagacore_clock = time.time
        self.sagacore_stats = PluginStats()
        self.sagacore_config = PluginConfig.from_additional_config(
            self.vllm_config.additional_config
        )
        cap = self._usable_blocks() * self.block_size
        self.sagacore_use(get_stack(self.sagacore_config.stack),
                          self.sagacore_config.build_context(cap))

    def sagacore_use(self, stack: Stack, ctx: BuildContext) -> None:
        """Run ``stack``'s scheduler and cache policy (fresh objects) from now on.

        The twin calls it to run a stack object (for example one built for an experiment)
        with its cluster's cost model; ``vllm serve`` gets the stack named in its settings.
        Must be called before any request arrives.
        """
        if self.requests:
            raise ConfigError("sagacore plug-in: change policies only before requests arrive")
        predictor: Predictor | None = ctx.predictor
        if predictor is None and stack.uses_predictor:
            from sagacore.workload.predictor import Predictor

            predictor = Predictor()
        ctx = BuildContext(ctx.cost, ctx.instances, ctx.kv_capacity_tokens, predictor)
        self.sagacore_stack = stack
        self.sagacore_predictor = predictor
        self.sagacore_policy: PolicyScheduler = stack.build_scheduler(ctx)
        self.sagacore_cache: CachePolicy = stack.build_cache(ctx)
        sched = self.sagacore_policy
        self._by_key = bool(sched.victim_by_key or sched.preemptive)
        self._preemptive = bool(sched.preemptive)
        self._gated = _overrides(sched, PolicyScheduler, "admit")
        self._view = _InstanceView(self)
        self.policy = SchedulingPolicy.PRIORITY if self._by_key else SchedulingPolicy.FCFS
        old = list(self.waiting) if getattr(self, "waiting", None) is not None else []
        self.waiting = KeyedRequestQueue()
        for r in old:
            self.waiting.add_request(r)
        self._retains = _overrides(self.sagacore_cache, CachePolicy, "retention")
        self._tool_end_hook = _overrides(self.sagacore_cache, CachePolicy, "observe_tool_end")
        self._observe_service = _overrides(sched, PolicyScheduler, "observe_service")
        self._swap_pt = 2 * ctx.cost.swap_seconds(1)
        self._recompute_pt = ctx.cost.prefill_seconds(2048) / 2048
        self._programs: dict[str, _Program] = {}
        self._calls: dict[str, _Call] = {}
        self._seq = 0
        self._inflight: list[tuple[Any, float]] = []
        self._last_update_s = -math.inf
        self._next_idle_check = 0.0
        self._cached_probe: dict[str, tuple[int, int]] = {}
        self._held: list[list[Any]] = []

    # -- vLLM's entry points ----------------------------------------------------------

    def add_request(self, request: Request) -> None:
        """vLLM's ``add_request``, after recording the call's program."""
        if request.request_id not in self.requests:  # not a streaming session's next chunk
            self._sagacore_arrive(request)
        super().add_request(request)  # type: ignore[misc]

    def schedule(self, throttle_prefills: bool = False) -> SchedulerOutput:
        """vLLM's ``schedule()``, with the waiting queue and victims ordered by key."""
        now = self.sagacore_clock()
        self._sagacore_before(now)
        running_before = {r.request_id for r in self.running}
        queue = self.waiting
        assert isinstance(queue, KeyedRequestQueue)
        queue.open_pass(self._gate_for(now) if self._gated else None,
                        self._release_held if self._held else None,
                        self._popped)
        try:
            out: SchedulerOutput = super().schedule(throttle_prefills)  # type: ignore[misc]
        finally:
            self.sagacore_stats.deferred += len(queue.close_pass())
            self._release_held()
        self._sagacore_admitted(now, running_before, out)
        self._inflight.append((out, now))
        del self._inflight[:-8]  # outputs still in flight (async scheduling: one or two)
        return out

    def _popped(self, request: Request) -> None:
        """vLLM took ``request`` out of the queue: when it was admitted (its blocks are
        allocated, its prefix hit referenced), its program's pin ends at once, so that the
        pinned blocks its prompt does not reuse are free for the requests admitted after
        it in the same step (the simulator releases a hold when the call is admitted)."""
        call = self._calls.get(request.request_id)
        if call is None or call.program.pin is None:
            return
        if self.kv_cache_manager.get_blocks(request.request_id).blocks[0]:
            self._release_pin(call.program, "reused")

    def update_from_output(
        self, scheduler_output: SchedulerOutput, model_runner_output: ModelRunnerOutput
    ) -> dict[int, EngineCoreOutputs]:
        """vLLM's ``update_from_output``, after charging the step's service."""
        self._sagacore_service(scheduler_output)
        result: dict[int, EngineCoreOutputs] = super().update_from_output(  # type: ignore[misc]
            scheduler_output, model_runner_output
        )
        return result

    def _free_blocks(self, request: Request) -> None:
        """vLLM's ``_free_blocks`` for a finished request, with the retention decision."""
        rid = request.request_id
        call = self._calls.pop(rid, None)
        if call is None:
            super()._free_blocks(request)  # type: ignore[misc]
            return
        now = self.sagacore_clock()
        decision, blocks = self._sagacore_call_end(call, request, now)
        pin_blocks: list[Any] = []
        if decision is not None and decision.action is Retention.KEEP and blocks:
            pin_blocks = [b for b in blocks if b.block_hash is not None and not b.is_null]
            if pin_blocks and decision.ttl_s is not None and decision.ttl_s > 0:
                self.kv_cache_manager.block_pool.touch(pin_blocks)
                self._release_pin(call.program, "replaced")
                call.program.pin = _Pin(pin_blocks, now + decision.ttl_s)
                self.sagacore_stats.pins += 1
        super()._free_blocks(request)  # type: ignore[misc]
        if decision is not None and decision.action is not Retention.KEEP and blocks:
            if decision.action is Retention.SWAP and self.connector is None:
                self.sagacore_stats.swaps_kept += 1
            else:
                self._drop(call.program, blocks)
        prog = call.program
        prog.in_flight -= 1
        if prog.last_sent and prog.in_flight == 0:
            # its last call and every call sent before it have finished (a DAG's
            # parallel last calls may finish in any order)
            self._sagacore_program_end(prog, now)

    # -- program bookkeeping -------------------------------------------------------------

    def _sagacore_arrive(self, request: Request) -> None:
        meta = ProgramMetadata.parse(
            request.request_id,
            request.session_id,
            request.sampling_params.extra_args if request.sampling_params is not None else None,
        )
        now = float(request.arrival_time)
        prog = self._programs.get(meta.program_id)
        if prog is None:
            prog = _Program(meta.program_id, meta, now)
            self._programs[meta.program_id] = prog
            self.sagacore_stats.programs += 1
            task = Task(
                TaskId(prog.pid),
                (Step(0, (Segment(0, max(int(request.num_prompt_tokens), 1)),),
                      max(int(request.max_tokens), 1), 0),),
                TenantId(prog.tenant),
                max(now, 0.0),
                prog.agent_type,
            )
            self.sagacore_policy.observe_task_arrival(task, now)
            # all it knows of the program's future is this first call (an oracle gets
            # that)
            self.sagacore_policy.observe_task_future(task, now)
            if self.sagacore_predictor is not None:
                self.sagacore_predictor.observe_task_start(TaskId(prog.pid), prog.agent_type)
        step = meta.step if meta.step is not None else prog.calls
        measured = meta.parent_tool_s
        for k, parent in enumerate(meta.parents_of(step)):
            ended = prog.ended.pop(parent, None)
            if ended is None:
                continue  # not finished here (or its tool already heard of)
            # the parent's tool ran for what the agent measured, else from the parent's
            # end until this call (in a join, until the last parent's tool ended: an
            # upper bound of each branch's tool)
            gap = measured[k] if measured is not None else max(now - ended[0], 0.0)
            prog.tool_s += gap
            tool = ended[1]
            if tool is not None:
                if self._tool_end_hook:
                    self.sagacore_cache.observe_tool_end(TaskId(prog.pid), tool, gap, now)
                if self.sagacore_predictor is not None:
                    try:
                        self.sagacore_predictor.observe_tool_call(TaskId(prog.pid),
                                                                  parent, gap)
                    except Exception as exc:  # a step the predictor never saw
                        _log.warning("sagacore: predictor ignored a tool of %s: %s",
                                     prog.pid, exc)
        prog.calls += 1
        prog.in_flight += 1
        prog.last_sent = prog.last_sent or meta.last
        prog.last_seen_s = now
        self._seq += 1
        self._calls[request.request_id] = _Call(self, request, prog, meta, step, self._seq)

    def _sagacore_call_end(
        self, call: _Call, request: Request, now: float
    ) -> tuple[RetentionDecision | None, list[Any]]:
        prog = call.program
        if request.status not in _FINISHED_OK:
            return None, []
        out_tokens = int(request.num_output_tokens)
        prog.steps_done += 1
        self.sagacore_policy.observe_call_end(call, out_tokens, now)
        meta = call.meta
        tool = meta.tool
        if self.sagacore_predictor is not None:
            try:
                self.sagacore_predictor.observe_llm_call(
                    TaskId(prog.pid), call.step, prompt_tokens=call.prompt_tokens,
                    output_tokens=out_tokens, tool=tool,
                )
            except Exception as exc:  # a step seen twice: a client error, not ours
                _log.warning("sagacore: predictor ignored call %s: %s", request.request_id, exc)
        prog.ended[call.step] = (now, tool)
        prog.last_seen_s = now
        if tool is None or not self._retains or not self.kv_cache_manager.enable_caching:
            return None, []
        blocks = list(self.kv_cache_manager.get_blocks(request.request_id).blocks[0])
        session = SessionInfo(TaskId(prog.pid), prog.agent_type, call.step, tool,
                           int(request.num_computed_tokens), not meta.last)
        # as the simulator asks: after the call released its blocks
        freed = [b for b in blocks if b.ref_cnt == 1 and not b.is_null]
        cached = sum(1 for b in freed if b.block_hash is not None)
        decision = self.sagacore_cache.retention(
            session, self._context(now, len(freed), cached, with_cached=True))
        return decision, blocks

    def _sagacore_program_end(self, prog: _Program, now: float) -> None:
        self._release_pin(prog, "end")
        if self._programs.pop(prog.pid, None) is None:
            return
        self.sagacore_policy.observe_task_end(TaskId(prog.pid), now)
        if self.sagacore_predictor is not None:
            try:
                self.sagacore_predictor.observe_task_end(TaskId(prog.pid))
            except Exception as exc:  # pragma: no cover - defensive
                _log.warning("sagacore: predictor ignored the end of %s: %s", prog.pid, exc)

    def _context(self, now: float, freed: int = 0, freed_cached: int = 0, *,
                 with_cached: bool = False) -> CacheContext:
        """What the cache policy reads; ``freed`` blocks (``freed_cached`` of them with a
        prefix hash) count as released, as the simulator asks after the release."""
        pool = self.kv_cache_manager.block_pool
        usable = self._usable_blocks()
        free = int(pool.get_num_free_blocks()) + freed
        bs = self.block_size
        cached_free = 0
        if with_cached and self.kv_cache_manager.enable_caching:
            # cached KV nothing references (evictable): free blocks that keep a hash
            cached_free = freed_cached + sum(
                1 for b in pool.blocks
                if b.ref_cnt == 0 and b.block_hash is not None and not b.is_null
            )
        return CacheContext(
            now=now,
            capacity_tokens=usable * bs,
            used_tokens=(usable - free) * bs,
            cached_free_tokens=cached_free * bs,
            predictor=self.sagacore_predictor,
            swap_seconds_per_token=self._swap_pt,
            recompute_seconds_per_token=self._recompute_pt,
        )

    def _usable_blocks(self) -> int:
        return int(self.kv_cache_manager.block_pool.num_gpu_blocks) - 1

    # -- pins ------------------------------------------------------------------------------

    def _release_pin(self, prog: _Program, why: str) -> None:
        pin = prog.pin
        if pin is None:
            return
        prog.pin = None
        # tail first to the front of the LRU order, as vLLM frees a request's blocks
        self.kv_cache_manager.block_pool.free_blocks(reversed(pin.blocks))
        st = self.sagacore_stats
        if why == "expired":
            st.pins_expired += 1
        elif why == "reused":
            st.pins_reused += 1
        elif why == "pressure":
            st.pins_released_for_pressure += 1

    def _drop(self, prog: _Program, blocks: list[Any]) -> None:
        """Evict the call's blocks beyond those its program first hit from others."""
        keep = max(prog.first_hit_blocks, 0)
        ids = {b.block_id for b in blocks[keep:]
               if b.ref_cnt == 0 and b.block_hash is not None and not b.is_null}
        if ids:
            self.kv_cache_manager.block_pool.evict_blocks(ids)
        self.sagacore_stats.drops += 1
        self.sagacore_stats.dropped_blocks += len(ids)

    def _relieve_pressure(self, now: float) -> None:
        """Release pins until the head waiting request fits (or no pin is worth releasing).

        Nearest expiry first, and only a pin whose time left exceeds the time to recompute
        what it holds: waiting for a pin about to expire costs the head less than its
        session would pay to recompute its context when its tool returns (releasing every
        pin doubled Continuum's TCT on SWE-bench's long contexts; docs/vllm-plugin.md).
        """
        pinned = [p for p in self._programs.values() if p.pin is not None]
        if not pinned or not self.waiting:
            return
        head = self.waiting.peek_request()
        head_call = self._calls.get(head.request_id)
        need = self._blocks_needed(head)
        pool = self.kv_cache_manager.block_pool
        if need <= pool.get_num_free_blocks():
            return
        pinned.sort(key=lambda p: p.pin.expires_s if p.pin is not None else math.inf)
        per_block = self.block_size * self._recompute_pt
        for prog in pinned:
            pin = prog.pin
            if pin is None or (head_call is not None and prog is head_call.program):
                continue  # the head's own context: releasing it would only cost a hit
            if pin.expires_s - now <= len(pin.blocks) * per_block:
                continue  # cheaper to wait for it to expire than to recompute it
            self._release_pin(prog, "pressure")
            need = self._blocks_needed(head)
            if need <= pool.get_num_free_blocks():
                return

    def _blocks_needed(self, request: Request) -> int:
        """Blocks ``request`` must take from the free queue to be admitted whole."""
        bs = self.block_size
        total = -(-int(request.num_tokens) // bs)
        if request.num_computed_tokens or not self.kv_cache_manager.enable_caching:
            return total
        hit_blocks, _ = self._hit(request)
        # hit blocks with no reference come out of the free queue too
        return total - sum(1 for b in hit_blocks if b.ref_cnt > 0)

    def _hit(self, request: Request) -> tuple[list[Any], int]:
        manager = self.kv_cache_manager
        if not request.block_hashes:
            return [], 0
        blocks, n = manager.coordinator.find_longest_cache_hit(
            request.block_hashes, int(request.num_tokens) - 1
        )[:2]
        return list(blocks[0]), int(n)

    def _gate_for(self, now: float) -> Callable[[Request], bool]:
        """The admission gate of one pass: ``admit`` asked for a request that fits."""
        admit = self.sagacore_policy.admit
        view = self._view
        pool = self.kv_cache_manager.block_pool

        def gate(r: Request) -> bool:
            call = self._calls.get(r.request_id)
            if call is None or r.num_computed_tokens:
                return True
            if self._blocks_needed(r) > pool.get_num_free_blocks():
                return True  # it does not fit: vLLM stops the admission, admit is not asked
            return bool(admit(call, view, now))

        return gate

    def sagacore_next_event_s(self) -> float | None:
        """The earliest pin expiry (None: no pin), when scheduling may change on its own."""
        times = [p.pin.expires_s for p in self._programs.values() if p.pin is not None]
        return min(times) if times else None

    def sagacore_cached_tokens(self, request: Request) -> int:
        """Prompt tokens of ``request`` its prefix cache would hit now (no LRU update)."""
        if not self.kv_cache_manager.enable_caching:
            return 0
        return self._hit(request)[1]

    # -- each step ---------------------------------------------------------------------------

    def _sagacore_before(self, now: float) -> None:
        # pins whose TTL ended
        for prog in list(self._programs.values()):
            pin = prog.pin
            if pin is not None and pin.expires_s <= now:
                self._release_pin(prog, "expired")
        if now >= self._next_idle_check:
            self._next_idle_check = now + 1.0
            idle = self.sagacore_config.program_idle_s
            active = {c.program.pid for c in self._calls.values()}
            for prog in list(self._programs.values()):
                if prog.pid not in active and now - prog.last_seen_s > idle:
                    self._sagacore_program_end(prog, now)
        key = self.sagacore_policy.key
        calls = self._calls
        keys: dict[str, tuple[tuple[float, ...], int]] = {}

        def order(r: Request) -> tuple[tuple[float, ...], int]:
            k = keys.get(r.request_id)
            if k is None:
                c = calls.get(r.request_id)
                k = (key(c, now), c.seq) if c is not None else ((-math.inf,), 0)
                keys[r.request_id] = k
            return k

        if self.waiting:
            assert isinstance(self.waiting, KeyedRequestQueue)
            self.waiting.sort(order)
        if self._by_key and self.running:
            ranked = sorted(self.running, key=order)
            for rank, r in enumerate(ranked):
                r.priority = rank
        if self.sagacore_config.release_pins_under_pressure and self.waiting:
            self._relieve_pressure(now)
        if self._preemptive and self.waiting and self.running:
            self._preempt_for_head(order)

    def _preempt_for_head(self, order: Callable[[Request], tuple[tuple[float, ...], int]]) -> None:
        """A preemptive scheduler: for each waiting request vLLM's admission loop will
        reach, in queue order, running requests of larger key are preempted (largest
        first) until it fits (what vLLM 0.33's scheduler never does on its own; the
        simulator's ``Worker._admit`` and ``_preempt_for``, which go on down the queue
        after a call is admitted, so that a fan-out's branches preempt in one pass).

        As in the simulator, the waiting requests are admitted with what vLLM's running
        pass leaves: the blocks and tokens the running requests take this step are
        counted first (:meth:`_running_pass_blocks`), nothing is preempted when the
        running pass will itself preempt (vLLM then admits nothing in the step), and a
        victim's blocks stay held until vLLM's admission loop starts
        (:meth:`_release_held`), so that the running requests' new blocks come from the
        free queue as if the victim still ran, and the victim's blocks return to it in
        vLLM's order just before the first waiting request is admitted. The victims wait
        at the back of the queue for the rest of the pass. Each admission that would
        follow takes its blocks, its prefix hit (blocks cached now, or by a request
        admitted before it in the pass), its first chunk of the token budget and a
        running slot; the pass stops where vLLM's loop would: no budget or slot left, or
        a request that does not fit even with the victims it may take. Under admission
        control (``admit``) only the head is considered (the gate decides the rest).
        """
        pool = self.kv_cache_manager.block_pool
        free = int(pool.get_num_free_blocks())
        passed = self._running_pass_blocks(free)
        if passed is None:
            return  # vLLM's running pass preempts, or no budget is left for admission
        taken, tokens, budget = passed
        avail = free - sum(taken.values())
        slots = int(getattr(self, "max_num_active_reqs",
                            getattr(self, "max_num_running_reqs", 1 << 30)))
        seqs = len(self.running)
        bs = self.block_size
        caching = self.kv_cache_manager.enable_caching
        threshold = 0
        if len(self.running) + len(self.waiting) > 1:
            threshold = int(getattr(self.vllm_config.scheduler_config,
                                    "long_prefill_token_threshold", 0) or 0)
        chunked = bool(getattr(self.vllm_config.scheduler_config,
                               "enable_chunked_prefill", True))
        victims: list[Request] = []
        holds: dict[int, int] = {}  # holds per block (victims of this pass)
        claimed: set[int] = set()  # free hit blocks taken by the admissions before
        scheduled: set[Any] = set()  # block hashes cached by the admissions before
        queue = list(self.waiting)
        for n_seen, req in enumerate(queue):
            if budget <= 0 or seqs >= slots or (n_seen and self._gated):
                break
            total = -(-int(req.num_tokens) // bs)
            hit_blocks: list[Any] = []
            hit_tokens = 0
            if caching and not req.num_computed_tokens:
                hit_blocks, hit_tokens = self._hit(req)
                # blocks a request admitted before it in the pass caches when scheduled
                hashes = req.block_hashes
                cap = (int(req.num_tokens) - 1) // bs
                j = len(hit_blocks)
                while j < min(len(hashes), cap) and hashes[j] in scheduled:
                    j += 1
                hit_tokens = max(hit_tokens, j * bs)
                extra = j - len(hit_blocks)
            else:
                extra = 0
                hit_tokens = int(req.num_computed_tokens)
            hit_ids = {id(b) for b in hit_blocks}
            base = total - len(hit_blocks) - extra
            need = base + _loose(hit_blocks, holds, claimed)
            if need > avail:
                key = order(req)
                cands = sorted((r for r in self.running if order(r) > key), key=order)
                while cands and need > avail:
                    victim = cands.pop()
                    if not self._request_blocks_can_be_freed(victim):  # type: ignore[attr-defined]
                        continue
                    blocks = [b for b in
                              self.kv_cache_manager.get_blocks(victim.request_id).blocks[0]
                              if not b.is_null]
                    for b in blocks:  # held: vLLM's free below leaves them referenced
                        b.ref_cnt += 1
                        holds[id(b)] = holds.get(id(b), 0) + 1
                    self._held.append(blocks)
                    # the blocks no request references once the victim is gone: its own,
                    # and those it shared only with earlier victims (a program's parallel
                    # calls); those the request hits it takes back from the queue
                    freed = [b for b in blocks if b.ref_cnt == 1 + holds[id(b)]
                             and id(b) not in claimed]
                    avail += taken.pop(victim.request_id, 0) + len(freed)
                    budget += tokens.pop(victim.request_id, 0)
                    self.running.remove(victim)
                    seqs -= 1
                    self._preempt_request(victim, time.monotonic())  # type: ignore[attr-defined]
                    # hit blocks only the victim referenced are loose now
                    need = base + _loose(hit_blocks, holds, claimed)
                    self.sagacore_stats.preemptions_for_waiting += 1
                    victims.append(victim)
                if need > avail:
                    break  # vLLM's admission loop stops here
            # it is admitted: its blocks, its hit, its first chunk and a slot
            avail -= need
            claimed |= hit_ids
            seqs += 1
            n = int(req.num_tokens) - hit_tokens
            if 0 < threshold < n:
                n = threshold
            if not chunked and n > budget:
                break
            n = min(n, budget)
            budget -= n
            if caching:
                scheduled.update(req.block_hashes[:(hit_tokens + n) // bs])
        # vLLM put the victims at the front; they wait behind the queue until the next
        # schedule() sorts it (as in the simulator, whose admission pass goes on with the
        # calls after the head)
        for victim in victims:
            self.waiting.remove_request(victim)
            self.waiting.add_request(victim)

    def _running_pass_blocks(
        self, free: int
    ) -> tuple[dict[str, int], dict[str, int], int] | None:
        """Blocks and tokens each running request takes in vLLM's running pass this step
        (its order, token budget and chunking), and the token budget left for admission;
        None when the blocks exceed ``free`` (vLLM will preempt) or no budget is left
        (vLLM admits nothing)."""
        bs = self.block_size
        budget = int(getattr(self, "max_num_scheduled_tokens", 0)) or 1 << 62
        max_len = int(getattr(self, "max_model_len", 1 << 62))
        sampled = int(getattr(self, "num_sampled_tokens_per_step", 1))
        lookahead = int(getattr(self, "num_lookahead_tokens", 0))
        threshold = 0
        if len(self.running) + len(self.waiting) > 1:
            threshold = int(getattr(self.vllm_config.scheduler_config,
                                    "long_prefill_token_threshold", 0) or 0)
        taken: dict[str, int] = {}
        tokens: dict[str, int] = {}
        total = 0
        manager = self.kv_cache_manager
        for r in self.running:
            if budget <= 0:
                break
            computed = int(r.num_computed_tokens)
            n = int(r.num_tokens_with_spec) + int(r.num_output_placeholders) - computed
            if 0 < threshold < n:
                n = threshold
            n = min(n, budget, max_len - computed - sampled)
            if n <= 0:
                continue
            have = len(manager.get_blocks(r.request_id).blocks[0])
            k = max(-(-(computed + n + lookahead) // bs) - have, 0)
            taken[r.request_id] = k
            tokens[r.request_id] = n
            total += k
            budget -= n
        if total > free or budget <= 0:
            return None
        return taken, tokens, budget

    def _release_held(self) -> None:
        """Return the blocks of requests preempted for the head to the free queue, tail
        first as vLLM frees a request's blocks (vLLM's admission loop is starting)."""
        if not self._held:
            return
        pool = self.kv_cache_manager.block_pool
        for blocks in self._held:
            pool.free_blocks(reversed(blocks))
        self._held.clear()

    def _sagacore_admitted(self, now: float, running_before: set[str],
                           out: SchedulerOutput) -> None:
        scheduled: Mapping[str, int] = out.num_scheduled_tokens
        for rid in out.preempted_req_ids or ():
            c = self._calls.get(rid)
            if c is not None:
                c.enqueued_s = now  # it waits again from now
        for r in self.running:
            rid = r.request_id
            if rid in running_before:
                continue
            call = self._calls.get(rid)
            if call is None:
                continue
            prog = call.program
            prog.wait_s += max(now - call.enqueued_s, 0.0)
            if prog.first_hit_blocks < 0:  # what its first call hit (shared with others)
                hit = int(r.num_computed_tokens) - int(scheduled.get(rid, 0))
                prog.first_hit_blocks = max(hit, 0) // self.block_size
            if prog.pin is not None:
                self._release_pin(prog, "reused")  # the call references its blocks now
            self.sagacore_policy.observe_call_start(call, now)

    def _sagacore_service(self, scheduler_output: SchedulerOutput) -> None:
        now = self.sagacore_clock()
        start = now
        for i, (out, t) in enumerate(self._inflight):
            if out is scheduler_output:
                start = t
                del self._inflight[: i + 1]
                break
        start = max(start, min(self._last_update_s, now))
        self._last_update_s = now
        counts: Mapping[str, int] = scheduler_output.num_scheduled_tokens
        total = sum(counts.values())
        if not total:
            return
        seconds = max(now - start, 0.0)
        observe = self._observe_service
        policy = self.sagacore_policy
        for rid, n in counts.items():
            call = self._calls.get(rid)
            if call is None:
                continue
            share = seconds * n / total
            prog = call.program
            prog.attained_s += share
            prog.attained_tokens += n
            if observe:
                policy.observe_service(call, n, share, now)


class SagaScheduler(SagaMixin, VllmScheduler):
    """vLLM's synchronous ``Scheduler`` driven by a sagacore stack (module notes).

    ``--scheduler-cls sagacore_vllm.plugin.SagaScheduler`` (async scheduling off).
    """

    plugin_name: ClassVar[str] = "sagacore"


class SagaAsyncScheduler(SagaMixin, AsyncScheduler):
    """vLLM's ``AsyncScheduler`` driven by a sagacore stack (module notes).

    ``--scheduler-cls sagacore_vllm.plugin.SagaAsyncScheduler``: scheduling of step N+1
    overlaps step N's forward pass; a step's service is charged when its output returns.
    """

    plugin_name: ClassVar[str] = "sagacore"


def _loose(hit: list[Any], holds: Mapping[int, int], claimed: set[int]) -> int:
    """Hit blocks that no request references (beyond this pass's holds, and not taken by
    an admission before): an admission takes them out of the free queue too."""
    return sum(1 for b in hit if b.ref_cnt - holds.get(id(b), 0) == 0 and id(b) not in claimed)
