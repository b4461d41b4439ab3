"""The cluster simulation: the event loop, tasks advancing through their graphs, routing.

Events sit in a heap keyed ``(time, priority, tie, sequence)`` (SimPy's scheme, with a
tie-break that does not depend on how many events came before, so fast and step modes
order simultaneous events alike): task arrivals and tool ends first, then timers (pin
expiry, swap completion), then engine step boundaries, by instance id. A router's
rebalancing ticks are timers too, kept beside the heap (the next one's time and the
sequence number it would have) and ordered with the heap's events as if they were in it;
a tick the router promises to ignore (:attr:`~sagacore.policy.Router.quiet_ticks_idle`:
no queue anywhere, after a tick like it) is only counted.

A task's step becomes *ready* when all its dependencies have finished their LLM call
and tool call. The router places the ready call on an instance; the instance's
scheduling iteration runs it (:mod:`sagacore.sim.worker`). When a call with a tool
ends, the instance's cache policy decides whether its KV is kept (optionally pinned
for a TTL), swapped to host memory or dropped while the tool runs off the GPU for its
trace or sampled duration. A task completes when its last step does.

Faults (:mod:`sagacore.sim.faults`) are timers of this loop: a lost instance leaves
:attr:`Simulation.live_views`, the routers' view, and its calls are placed again; a slowed one
prices its steps times a factor; a failing migration returns its call to the source.
Without faults none of this runs (results are bit-identical).
"""

from __future__ import annotations

import gc
import heapq
import math
import time as _time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from sagacore.build import StackPolicies
from sagacore.cache.store import CacheEntry, PrefixStore
from sagacore.errors import ConfigError, InvariantError
from sagacore.policy import CachePolicy, Retention, Router, Scheduler, SessionInfo
from sagacore.sim.config import ClusterConfig, SimConfig, kv_overflow_error
from sagacore.sim.faults import FaultSchedule, FaultStats
from sagacore.sim.isolated import isolated_tct
from sagacore.sim.keys import context_keys
from sagacore.sim.observe import Observer, TraceEvent
from sagacore.sim.result import SimResult, TaskRecord
from sagacore.sim.worker import LOADING, Call, PolicyView, Worker
from sagacore.workload.model import Task, TaskId, Workload
from sagacore.workload.progress import TaskProgress

__all__ = ["Simulation", "TaskState"]

_ARRIVAL, _TOOL_END, _TIMER, _BOUNDARY = range(4)
_PRIO = {_ARRIVAL: 0, _TOOL_END: 0, _TIMER: 1, _BOUNDARY: 2}
_PRIO_BOUNDARY = _PRIO[_BOUNDARY]
_PRIO_TIMER = _PRIO[_TIMER]


@dataclass(slots=True)
class _Hold:
    worker: Worker
    node: CacheEntry
    token: int
    expires_s: float | None = None
    """When its TTL ends (None: not a TTL hold, a migrated call's KV held for it)."""


@dataclass(slots=True)
class _Swap:
    worker: Worker
    ids: tuple[int, ...]
    ends: tuple[int, ...]
    kv: int
    start: int


def _overrides(obj: object, base: type, name: str) -> bool:
    """Whether ``obj``'s class overrides ``base``'s no-op hook ``name`` (else it is skipped)."""
    return getattr(type(obj), name) is not getattr(base, name)


class TaskState(TaskProgress):
    """A task in flight: its progress through its graph and the simulator's state of it."""

    __slots__ = (
        "attained_s",
        "attained_tokens",
        "chain",
        "hold",
        "isolated_s",
        "keys",
        "steps_done",
        "swap",
        "task",
        "tool_s",
        "tool_workers",
        "wait_s",
    )

    def __init__(self, task: Task) -> None:
        super().__init__([s.deps for s in task.steps], task.id)
        self.task = task
        """The task."""
        self.chain = task.is_chain()
        """Every step after the first depends on its predecessor alone."""
        self.steps_done = 0
        """LLM calls finished."""
        self.attained_s = 0.0
        self.attained_tokens = 0
        self.wait_s = 0.0
        self.tool_s = 0.0
        self.hold: _Hold | None = None
        self.swap: _Swap | None = None
        self.tool_workers: dict[int, Worker] = {}
        self.isolated_s = 0.0
        self.keys: list[tuple[tuple[int, ...], tuple[int, ...]]] = []


class Simulation:
    """One simulation of a workload on a cluster under a stack's policies. Run it with
    :meth:`run`.

    Parameters
    ----------
    workload
        The tasks (their ``arrival_s`` are used as given).
    policies
        The policy objects to run, as :meth:`sagacore.stacks.Stack.build` makes them
        (:func:`sagacore.sim.build_policies` builds them for a cluster); their context's
        predictor, if any, is the one the simulation feeds.
    cluster
        The cluster (as many instances, and the KV capacity, the policies were built for).
    config
        Mode and checks.
    observers
        Callables receiving every :class:`~sagacore.sim.observe.TraceEvent`.
    progress
        Called now and then with (tasks completed, tasks submitted).
    isolated
        Isolated TCT of each task by id, when already computed (for example for another
        stack on the same cluster); computed otherwise.
    faults
        Instances lost or slowed and migrations failing (:mod:`sagacore.sim.faults`);
        checked against the cluster here. What they did is in :attr:`fault_stats`.
    """

    def __init__(
        self,
        workload: Workload,
        policies: StackPolicies,
        cluster: ClusterConfig,
        config: SimConfig | None = None,
        *,
        observers: Sequence[Observer] = (),
        progress: Callable[[int, int], None] | None = None,
        isolated: Mapping[str, float] | None = None,
        faults: FaultSchedule | None = None,
    ) -> None:
        if not isinstance(policies, StackPolicies):
            raise ConfigError("Simulation: policies must be a StackPolicies (Stack.build, or "
                              f"sagacore.sim.build_policies), got {policies!r}")
        ctx = policies.context
        if (ctx.instances, ctx.kv_capacity_tokens) != (cluster.instances,
                                                       cluster.kv_capacity_tokens):
            raise ConfigError(
                f"Simulation: policies built for {ctx.instances} instances of "
                f"{ctx.kv_capacity_tokens} KV tokens, the cluster has {cluster.instances} "
                f"of {cluster.kv_capacity_tokens}")
        predictor = ctx.predictor
        if predictor is None and policies.uses_predictor:
            raise ConfigError(f"Simulation: a policy of {policies.name!r} reads the shared "
                              "predictor, and its build context has none")
        if faults is not None:
            if not isinstance(faults, FaultSchedule):
                raise ConfigError(f"Simulation: faults must be a FaultSchedule, got {faults!r}")
            faults.check(cluster.instances)
        self.faults = faults
        self.fault_stats = FaultStats()
        """What the faults did."""
        self._fault_rng = (np.random.default_rng(faults.seed)
                           if faults is not None and faults.migration is not None else None)
        self.workload = workload
        self.isolated = isolated
        self.policies = policies
        """The policies run."""
        self.cluster = cluster
        self.config = config if config is not None else SimConfig()
        self.predictor = predictor
        self.observers = tuple(observers)
        self.progress = progress
        self.now = 0.0
        self.cur_prio = 0
        """Priority of the event being processed (2: a step boundary)."""
        self.cur_tie = 0
        """Its tie-break (for a boundary: the instance id)."""
        self._heap: list[tuple[float, int, int, int, int, object, int]] = []
        self._seq = 0
        self.events = 0
        cost = cluster.cost
        engine = cluster.engine
        capacity = cluster.kv_capacity_tokens
        built = policies
        if len(built.caches) != cluster.instances:
            raise ConfigError(f"Simulation: policies hold {len(built.caches)} cache policies "
                              f"for {cluster.instances} instances")
        self.router: Router = built.router
        self.scheduler: Scheduler = built.scheduler
        self.cache_policies: list[CachePolicy] = []
        self.workers: list[Worker] = []
        fast = self.config.mode == "fast"
        swap_pt = 2 * cost.swap_seconds(1)
        recompute_pt = cost.prefill_seconds(2048) / 2048
        for i, policy in enumerate(built.caches):
            # vLLM's pool of capacity // block_size blocks reserves block 0 as its
            # null block: one block fewer holds KV (loads and utilisation keep the
            # full capacity as their denominator, as vLLM's do)
            store = PrefixStore(
                capacity // engine.block_size - 1,
                policy,
                block_size=engine.block_size,
                caching=built.prefix_caching,
                predictor=predictor,
                swap_seconds_per_token=swap_pt,
                recompute_seconds_per_token=recompute_pt,
                checked=self.config.checked,
            )
            self.cache_policies.append(policy)
            self.workers.append(
                Worker(self, i, cost, engine, store, self.scheduler, fast=fast,
                       checked=self.config.checked,
                       pool_tokens=capacity // engine.block_size * engine.block_size,
                       release_pins=self.config.release_pins_under_pressure)
            )
        self.live: list[Worker] = self.workers
        """The workers not lost."""
        self.live_views = [w.view for w in self.live]
        """Their views (:class:`~sagacore.sim.worker.PolicyView`): the routers' view of
        the cluster."""
        self._block_size = engine.block_size
        self._capacity_blocks = self.workers[0].store.capacity_blocks if self.workers else 0
        self.tasks: dict[TaskId, TaskState] = {}
        self.records: list[TaskRecord] = []
        self._call_seq = 0
        self._loading: dict[Call, int] = {}
        self._timer_seq = 0
        self.llm_calls = 0
        self.decode_tokens = 0
        self.swapped_out_tokens = 0
        self.dropped_tokens = 0
        self._ran = False
        self._unheld_recent = self.config.released_pins_most_recent
        self.pins_released_for_pressure = 0
        """TTL holds released under memory pressure
        (:attr:`~sagacore.sim.config.SimConfig.release_pins_under_pressure`)."""
        sched = self.scheduler
        # hooks a policy does not override are not called (they are no-ops)
        self.observe_service = (
            sched.observe_service if _overrides(sched, Scheduler, "observe_service") else None
        )
        self.observe_service_run = (sched.observe_service_run
                                    if _overrides(sched, Scheduler, "observe_service_run")
                                    else None)
        self._coef: dict[int, tuple[float, float]] = {}
        self._sched_future = _overrides(sched, Scheduler, "observe_task_future")
        """The scheduler reads a task's future (an oracle: ``observe_task_future``)."""
        self._sched_call_start = _overrides(sched, Scheduler, "observe_call_start")
        self._sched_call_end = _overrides(sched, Scheduler, "observe_call_end")
        self._retains = [_overrides(p, CachePolicy, "retention") for p in self.cache_policies]
        self.migrations = 0
        self.migrated_tokens = 0
        self._waits: list[float] = []
        """Each call's wait from becoming ready to its first admission."""
        every = self.router.rebalance_interval_s
        if every is not None and not (isinstance(every, int | float) and every > 0):
            raise ConfigError(
                f"router {self.router.name!r}: rebalance_interval_s must be a number > 0 "
                f"or None, got {every!r}"
            )
        self._rebalance_s = every
        self._steal_any = not _overrides(self.router, Router, "stealable")
        self._tick_at = math.inf
        """The next rebalancing tick (inf: not ticking). Not in the heap: its place there
        is (this time, timer, 0, a sequence number just above :attr:`_tick_seq`)."""
        self._tick_seq = 0
        """:attr:`_seq` when the next tick was due: at its time, the timers pushed up to
        it go before it, the later ones after."""
        self._skip_quiet = bool(self.router.quiet_ticks_idle)
        self._quiet_views: list[PolicyView] | None = None
        self._queues = [w.waiting for w in self.live]
        """The live workers' queues (a worker keeps its list until it is lost)."""
        """The views of the router's last ``rebalance`` call, when it was quiet."""
        self._tool_end_hook = [
            _overrides(p, CachePolicy, "observe_tool_end") for p in self.cache_policies
        ]

    def decode_coefficients(self, n: int) -> tuple[float, float]:
        """The cost model's decode step coefficients for a batch of ``n`` (cached)."""
        c = self._coef.get(n)
        if c is None:
            c = self._coef[n] = self.cluster.cost.decode_cost_coefficients(n)
        return c

    # --- the event queue -----------------------------------------------------------------
    def _push(self, t: float, kind: int, tie: int, obj: object, arg: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, _PRIO[kind], tie, self._seq, kind, obj, arg))

    def schedule_boundary(self, worker: Worker, t: float) -> None:
        """Schedule ``worker``'s next step boundary at ``t`` (supersedes earlier ones)."""
        self._seq += 1
        heapq.heappush(self._heap, (t, _PRIO_BOUNDARY, worker.worker_id, self._seq, _BOUNDARY,
                                    worker, worker.event_token))

    def _timer(self, t: float, fn: Callable[[float], None]) -> None:
        self._push(t, _TIMER, 0, fn, 0)

    def _emit(self, event: TraceEvent) -> None:
        for obs in self.observers:
            obs(event)

    # --- running -------------------------------------------------------------------------
    def run(self) -> SimResult:
        """Simulate until every task completes (or the time limit); return the result."""
        if self._ran:
            raise ConfigError("a Simulation runs once; build a new one")
        self._ran = True
        wall0 = _time.perf_counter()
        limit = self.config.max_sim_seconds
        for task in self.workload.tasks:
            self._push(task.arrival_s, _ARRIVAL, 0, task, 0)
        if self.faults is not None:
            self._arm_faults(self.faults)
        heap = self._heap
        pop = heapq.heappop
        total = len(self.workload.tasks)
        progress = self.progress
        checked = self.config.checked
        events = self.events
        boundary = _BOUNDARY
        call_finished = self._call_finished
        inf = math.inf
        item: tuple[float, int, int, int, int, object, int] | None
        # the loop makes little cyclic garbage (about a thousand objects on the default
        # run) and many long-lived objects, whose count sets off full collections that
        # walk every object: the collector waits for the end of the run
        collecting = gc.isenabled()
        gc.disable()
        try:
            while True:
                if heap:
                    item = heap[0]
                    t = item[0]
                    if t >= self._tick_at and (t > self._tick_at or self._tick_first(item)):
                        item = None
                    else:
                        pop(heap)
                elif self._tick_at < inf:
                    item = None
                else:
                    break
                if item is None:  # the rebalancing tick comes first
                    if limit is not None and self._tick_at > limit:
                        break
                    before = events
                    events += self._ticks(heap[0] if heap else None, limit)
                    if progress is not None and before >> 10 != events >> 10:
                        self.events = events
                        progress(len(self.records), total)
                    continue
                t, prio, tie, _seq, kind, obj, arg = item
                if limit is not None and t > limit:
                    break
                if kind == boundary:
                    w: Worker = obj  # type: ignore[assignment]
                    if arg != w.event_token:
                        continue  # superseded
                    self.cur_prio = prio
                    self.cur_tie = tie
                    self.now = t
                    events += 1
                    finished = w.boundary(t)
                    if finished:
                        for call in finished:
                            call_finished(call, w, t)
                        w.plan(t, True)
                    else:
                        w.plan(t, False)
                    if checked:
                        w.check()
                else:
                    self.cur_prio = prio
                    self.cur_tie = tie
                    self.now = t
                    events += 1
                    if kind == _TOOL_END:
                        self._tool_end(obj, arg, t)  # type: ignore[arg-type]
                    elif kind == _ARRIVAL:
                        self._arrival(obj, t)  # type: ignore[arg-type]
                    else:
                        obj(t)  # type: ignore[operator]
                if progress is not None and not events & 1023:
                    self.events = events
                    progress(len(self.records), total)
        finally:
            self.events = events
            if collecting:
                gc.enable()
        if progress is not None:
            progress(len(self.records), total)
        if limit is None and len(self.records) != total:
            raise InvariantError(
                f"simulation ended with {total - len(self.records)} of {total} tasks unfinished"
            )
        if checked:
            self._check_end()
        wall = _time.perf_counter() - wall0
        start = min((tk.arrival_s for tk in self.workload.tasks), default=0.0)
        end = max((r.completion_s for r in self.records), default=start)
        if limit is not None and len(self.records) != total:
            end = max(end, min(limit, self.now))
        useful = sum(w.store.useful_block_seconds(end) for w in self.workers if not w.lost)
        cap_blocks: float = sum(w.pool_tokens // w.block_size for w in self.workers)
        span = end - start
        if self.fault_stats.instances_lost:
            # a lost instance counts its KV and its capacity up to its loss
            useful += sum(w.lost_useful for w in self.workers if w.lost)
            cap_blocks = sum(
                w.pool_tokens // w.block_size
                * (max(0.0, min(w.lost_s, end) - start) / span if span > 0 else 1.0)
                for w in self.workers
                if w.lost
            ) + sum(w.pool_tokens // w.block_size for w in self.live)
        return SimResult(
            stack=self.policies.name,
            mode=self.config.mode,
            cluster=self.cluster.describe(),
            instances=len(self.workers),
            tasks=tuple(self.records),
            tasks_submitted=total,
            llm_calls=self.llm_calls,
            prefill_tokens_computed=sum(w.prefill_computed for w in self.workers),
            prefill_tokens_reused=sum(w.prefill_reused for w in self.workers),
            decode_tokens=self.decode_tokens,
            preemptions=sum(w.preemptions for w in self.workers),
            evicted_blocks=sum(w.store.stats.evicted_blocks for w in self.workers),
            swapped_out_tokens=self.swapped_out_tokens,
            swapped_in_tokens=sum(w.swapped_in_tokens for w in self.workers),
            dropped_tokens=self.dropped_tokens,
            batch_steps=sum(w.steps for w in self.workers),
            kv_utilization=useful / (cap_blocks * span) if span > 0 else 0.0,
            start_s=start,
            end_s=end,
            sim_wall_seconds=wall,
            events=self.events,
            migrations=self.migrations,
            migrated_tokens=self.migrated_tokens,
            call_wait_mean_s=float(np.mean(self._waits)) if self._waits else 0.0,
            call_wait_p99_s=float(np.percentile(self._waits, 99)) if self._waits else 0.0,
            call_wait_max_s=max(self._waits, default=0.0),
        )

    def _check_end(self) -> None:
        for ts in self.tasks.values():
            if not all(ts.done):
                raise InvariantError(f"task {ts.task.id}: steps never finished")
        for w in self.workers:
            if w.running or w.waiting:
                raise InvariantError(f"worker {w.worker_id} ended with calls left")
            if not w.lost:
                w.check()
        if len(self.records) == len(self.workload.tasks) and (
                self.llm_calls != self.workload.llm_calls):
            raise InvariantError(
                f"{self.llm_calls} LLM calls finished; the workload has {self.workload.llm_calls}"
            )

    # --- tasks ---------------------------------------------------------------------------
    def _arrival(self, task: Task, now: float) -> None:
        if task.id in self.tasks:
            raise InvariantError(f"task {task.id} arrived twice")
        ts = TaskState(task)
        ts.keys = context_keys(task)
        iso = None if self.isolated is None else self.isolated.get(task.id)
        if iso is None:
            iso = isolated_tct(task, self.cluster.cost, self.cluster.engine, keys=ts.keys)
        ts.isolated_s = iso
        self.tasks[task.id] = ts
        if self._rebalance_s is not None and self._tick_at == math.inf:
            self._tick_at = now + self._rebalance_s
            self._tick_seq = self._seq
        self.scheduler.observe_task_arrival(task.arrival(), now)
        if self._sched_future:
            self.scheduler.observe_task_future(task, now)
        if self.predictor is not None:
            self.predictor.observe_task_start(task.id, task.agent_type)
        if self.observers:
            self._emit(TraceEvent("task_arrival", now, task.id))
        for i in ts.roots():
            self._ready(ts, i, now)

    def _ready(self, ts: TaskState, index: int, now: float) -> None:
        spec = ts.task.steps[index]
        ids, ends = ts.keys[index]
        self._call_seq += 1
        call = Call(ts, spec, ids, ends, now, self._call_seq)
        bs = self._block_size
        need = -(-ends[-1] // bs)
        cap = self._capacity_blocks
        if need > cap:
            raise kv_overflow_error(ts.task.id, index, ends[-1], cap * bs)
        wid = self._place(call, now)
        if self.observers:
            self._emit(TraceEvent("call_ready", now, ts.task.id, index, wid))
        self.workers[wid].enqueue(call, now)

    def _place(self, call: Call, now: float) -> int:
        """The router's worker for ``call`` (a live one: see :meth:`_failover`)."""
        wid = self.router.route(call, self.live_views, now)
        if not isinstance(wid, int) or not 0 <= wid < len(self.workers):
            raise InvariantError(f"router {self.router.name!r} returned worker {wid!r}")
        if self.workers[wid].lost:
            wid = self._failover(call, wid, now)
        return wid

    def _call_finished(self, call: Call, worker: Worker, now: float) -> None:
        ts = call.task
        spec = call.spec
        idx = spec.index
        if ts.done[idx]:
            raise InvariantError(f"task {ts.task.id} step {idx} finished twice")
        lease = call.lease
        assert lease is not None
        node = lease.node
        worker.release(call, now)
        self.llm_calls += 1
        self.decode_tokens += call.output_tokens
        ts.steps_done += 1
        if self._sched_call_end:
            self.scheduler.observe_call_end(call, call.output_tokens, now)
        if self.predictor is not None:
            self.predictor.observe_llm_call(
                ts.task.id, idx, prompt_tokens=call.prompt_tokens,
                output_tokens=call.output_tokens, tool=spec.tool, deps=spec.deps,
            )
        if self.observers:
            self._emit(TraceEvent("call_end", now, ts.task.id, idx, worker.worker_id,
                                  call.output_tokens))
        if spec.tool is None:
            self._step_done(ts, idx, now)
            return
        if worker.store.caching and self._retains[worker.worker_id]:
            self._retain(call, worker, node, now)
        worker.store.tools[ts.task.id] = (spec.tool, now)
        ts.tool_workers[idx] = worker
        if self.observers:
            self._emit(TraceEvent("tool_start", now, ts.task.id, idx, worker.worker_id))
        self._push(now + spec.tool_seconds, _TOOL_END, 0, ts, idx)

    def _retain(self, call: Call, worker: Worker, node: CacheEntry, now: float) -> None:
        ts = call.task
        spec = call.spec
        assert spec.tool is not None
        store = worker.store
        session = SessionInfo(ts.task.id, ts.task.agent_type, spec.index, spec.tool, call.kv,
                           ts.has_successors(spec.index))
        decision = store.policy.retention(session, store.context(now))
        holds = store.will_hold(decision, node)
        if holds:
            self._release_hold(ts, now)  # one hold per session: the earlier one ends first
        start = node.start  # where the session's own KV begins (a swap restores from it)
        freed = store.apply_retention(decision, node, ts.task.id, now, transit=True)
        if holds:
            assert decision.ttl_s is not None
            self._timer_seq += 1
            token = self._timer_seq
            expires = now + decision.ttl_s
            ts.hold = _Hold(worker, node, token, expires)
            self._timer(expires, lambda t: self._hold_expired(ts, token, t))
            return
        if not freed:
            return
        bs = store.block_size
        if decision.action is Retention.DROP:
            self.dropped_tokens += freed * bs
            worker.poke(now)
            return
        # SWAP: the blocks stay in use until the copy to the host is done (transit)
        self.swapped_out_tokens += freed * bs
        ts.swap = _Swap(worker, call.ids, call.ends, call.kv, start)

        def done(t: float) -> None:
            worker.sync(t)  # steps that started before the copy ended did not have its blocks
            store.release_transit(freed)
            worker.poke(t)

        self._timer(now + worker.cost.swap_seconds(freed * bs), done)

    def _hold_expired(self, ts: TaskState, token: int, now: float) -> None:
        h = ts.hold
        if h is not None and h.token == token:
            ts.hold = None
            h.worker.sync(now)
            h.worker.store.unhold(h.node, now, most_recent=self._unheld_recent)
            h.worker.poke(now)

    def _release_hold(self, ts: TaskState, now: float) -> None:
        h = ts.hold
        if h is not None:
            ts.hold = None
            h.worker.sync(now)
            h.worker.store.unhold(h.node, now, most_recent=self._unheld_recent)
            h.worker.poke(now)

    def _tool_end(self, ts: TaskState, idx: int, now: float) -> None:
        spec = ts.task.steps[idx]
        ts.tool_s += spec.tool_seconds
        tool = spec.tool
        assert tool is not None
        w = ts.tool_workers.pop(idx)
        w.store.tools.pop(ts.task.id, None)
        if self._tool_end_hook[w.worker_id]:
            w.store.policy.observe_tool_end(ts.task.id, tool, spec.tool_seconds, now)
        if self.predictor is not None:
            self.predictor.observe_tool_call(ts.task.id, idx, spec.tool_seconds)
        if self.observers:
            self._emit(TraceEvent("tool_end", now, ts.task.id, idx))
        self._step_done(ts, idx, now)

    def _step_done(self, ts: TaskState, idx: int, now: float) -> None:
        for s in ts.finish(idx):
            self._ready(ts, s, now)
        if ts.complete:
            self._task_end(ts, now)

    def _task_end(self, ts: TaskState, now: float) -> None:
        task = ts.task
        self._release_hold(ts, now)
        ts.swap = None
        tenant = self.workload.tenant(task.tenant)
        self.records.append(
            TaskRecord(str(task.id), str(task.tenant), task.arrival_s, now, ts.isolated_s,
                       tenant.slo_factor, len(task.steps))
        )
        del self.tasks[task.id]
        self.router.observe_task_end(task.id, now)
        self.scheduler.observe_task_end(task.id, now)
        if self.predictor is not None:
            self.predictor.observe_task_end(task.id)
        if self.observers:
            self._emit(TraceEvent("task_end", now, task.id))

    # --- work stealing -------------------------------------------------------------------
    def _tick_first(self, item: tuple[float, int, int, int, int, object, int]) -> bool:
        """Whether the next tick comes before the heap's event ``item``."""
        t, prio, tie, seq = item[0], item[1], item[2], item[3]
        at = self._tick_at
        if at != t:
            return at < t
        # at the same time: timers before boundaries; among timers, by sequence number
        if prio != _PRIO_TIMER:
            return prio > _PRIO_TIMER
        return tie > 0 or (tie == 0 and seq > self._tick_seq)

    def _ticks(self, nxt: tuple[float, int, int, int, int, object, int] | None,
               limit: float | None) -> int:
        """Run the next tick and, when the router ignores it
        (:attr:`~sagacore.policy.Router.quiet_ticks_idle`), every later tick before the
        heap's next event ``nxt`` (nothing changes between them); return how many ran."""
        t = self._tick_at
        self.cur_prio = _PRIO_TIMER
        self.cur_tie = 0
        self.now = t
        if not (self._skip_quiet and self.live_views is self._quiet_views and self.tasks
                and self._quiet()):
            self._rebalance(t)
            return 1
        every = self._rebalance_s
        assert every is not None
        self._tick_seq = self._seq  # each tick passed is where the next one is due
        n = 1
        while True:
            t += every
            self._tick_at = t
            if limit is not None and t > limit:
                break
            if nxt is not None and (nxt[0] < t or (nxt[0] == t and not self._tick_first(nxt))):
                break  # the heap's next event comes first
            n += 1
            self.now = t
        return n

    def _quiet(self) -> bool:
        """No live worker has a queued call."""
        return not any(self._queues)

    def _rebalance(self, now: float) -> None:
        """A rebalancing tick: move the calls the router asks for; tick on while tasks live."""
        n = len(self.workers)
        views = self.live_views
        if self._skip_quiet:
            self._quiet_views = views if self._quiet() else None
        for pair in self.router.rebalance(views, now):
            src, dst = pair
            if not (isinstance(src, int) and isinstance(dst, int) and 0 <= src < n
                    and 0 <= dst < n):
                raise InvariantError(
                    f"router {self.router.name!r} asked to move a call from worker "
                    f"{src!r} to {dst!r}"
                )
            if src != dst and self.workers[src].waiting and not self.workers[dst].lost:
                self._migrate(self.workers[src], self.workers[dst], now)
        if self.tasks:
            assert self._rebalance_s is not None
            self._tick_at = now + self._rebalance_s
            self._tick_seq = self._seq
        else:
            self._tick_at = math.inf

    def _migrate(self, src: Worker, dst: Worker, now: float) -> None:
        """Move ``src``'s longest-waiting call the router lets move to ``dst``
        (:meth:`~sagacore.policy.Router.stealable`; none: nothing moves) with the KV of
        its prompt."""
        if self._steal_any:
            call = min(src.waiting, key=_enqueue_order)
        else:
            view = dst.view
            movable = [c for c in src.waiting if self.router.stealable(c, view)]
            if not movable:
                return
            call = min(movable, key=_enqueue_order)
        src.waiting.remove(call)
        src.queued_tokens -= call.prompt_tokens
        src.sync(now)
        # what an admission on src would reuse: whole blocks, one token short of the input
        tokens = src.store.match(call.ids, call.ends, call.target - 1)
        ts = call.task
        ts.wait_s += now - call.enqueued_s
        self._release_hold(ts, now)  # the session leaves src
        # the KV moves: src frees the session's own blocks once they are copied (shared
        # prefixes stay); until then they are in transit
        moved = 0
        if tokens:
            store = src.store
            moved = store.detach_session(store.deepest_node(call.ids, call.ends), ts.task.id, now)
            store.reserve_transit(moved)
        # src's queue (and maybe its memory) changed: a scheduling point at its next step,
        # in both modes (its next waiting call may now be admitted)
        src.poke(now)
        self.migrations += 1
        self.migrated_tokens += tokens
        self.router.observe_migration(ts.task.id, src.worker_id, dst.worker_id, now)
        if self.observers:
            self._emit(TraceEvent("call_migrate", now, ts.task.id, call.spec.index,
                                  dst.worker_id, tokens))

        def arrive(t: float) -> None:
            ts.wait_s += t - now  # the transfer is waiting time too
            if moved:
                src.sync(t)  # steps started before the copy ended did not have its blocks
                src.store.release_transit(moved)
                src.poke(t)
            if dst.lost or src.lost:  # an end of the copy was lost during it
                self._requeue(call, None if dst.lost else dst, t)
                return
            if tokens and dst.store.caching:
                self._install(call, dst, tokens, t)
            dst.enqueue(call, t)

        if tokens:
            secs = dst.cost.migration_seconds(tokens)
            if self._fault_rng is not None and self._migration_fails():
                assert self.faults is not None and self.faults.migration is not None
                self._timer(now + secs * self.faults.migration.midway,
                            lambda t: self._migration_failed(call, src, dst, moved, now, t))
            else:
                self._timer(now + secs, arrive)
        else:
            arrive(now)

    def _install(self, call: Call, worker: Worker, tokens: int, now: float) -> None:
        """Put ``tokens`` of ``call``'s prompt KV into ``worker``'s cache, held until admission.

        The blocks ``worker`` lacks are allocated (evicting as its policy says); when even
        that cannot make room, nothing is installed and the call recomputes its prompt.
        """
        worker.sync(now)  # steps started before now take their blocks first
        store = worker.store
        ts = call.task
        lease = store.acquire(call.ids, call.ends, tokens, now, owner=ts.task.id,
                              step=call.spec.index)
        if lease.hit_tokens < tokens and store.grow(lease, tokens, now):
            store.commit(lease, call.ids, call.ends, tokens, now)
        node = lease.node
        store.hold(node, now)
        store.release(lease, now)
        self._release_hold(ts, now)
        self._timer_seq += 1
        ts.hold = _Hold(worker, node, self._timer_seq)

    # --- faults (sagacore.sim.faults; docs/faults.md) ------------------------------------
    def _arm_faults(self, faults: FaultSchedule) -> None:
        """Schedule the losses and slowdowns as timers."""
        for loss in faults.losses:
            self._timer(loss.at_s, partial(self._lose, self.workers[loss.instance]))
        for s in faults.slowdowns:
            w = self.workers[s.instance]
            self._timer(s.start_s, partial(w.set_slow, s.factor))
            if s.end_s is not None:
                self._timer(s.end_s, partial(w.set_slow, 1.0))

    def _migration_fails(self) -> bool:
        rng = self._fault_rng
        mig = None if self.faults is None else self.faults.migration
        return rng is not None and mig is not None and bool(rng.random() < mig.probability)

    def _lose(self, w: Worker, now: float) -> None:
        """Instance ``w`` is lost: it leaves the routers' view; its calls are placed again."""
        stats = self.fault_stats
        stats.instances_lost += 1
        running = len(w.running)
        calls = w.lose(now)
        stats.kv_tokens_lost += w.lost_kv
        self.live = [x for x in self.live if x is not w]
        self.live_views = [x.view for x in self.live]
        self._queues = [x.waiting for x in self.live]
        for ts in self.tasks.values():  # its pins and its host memory are gone too
            if ts.hold is not None and ts.hold.worker is w:
                ts.hold = None
            if ts.swap is not None and ts.swap.worker is w:
                ts.swap = None
        stats.calls_requeued += len(calls)
        stats.calls_restarted += running
        for i, call in enumerate(calls):
            if i < running and self.observers:
                self._emit(TraceEvent("call_preempt", now, call.task.task.id, call.spec.index,
                                      w.worker_id))
            self._requeue(call, None, now)
        if self.config.checked:
            seen: set[int] = set()
            for x in self.workers:
                for c in (*x.running, *x.waiting):
                    if c.seq in seen or x.lost:
                        raise InvariantError(f"call {c!r} is on two instances or a lost one")
                    seen.add(c.seq)

    def _requeue(self, call: Call, worker: Worker | None, now: float) -> None:
        """Queue ``call`` on ``worker``, or where the router places it (None)."""
        wid = self._place(call, now) if worker is None else worker.worker_id
        if self.observers:
            self._emit(TraceEvent("call_migrate", now, call.task.task.id, call.spec.index,
                                  wid, 0))
        self.workers[wid].enqueue(call, now)

    def _failover(self, call: Call, wid: int, now: float) -> int:
        """The router named lost instance ``wid`` (a session's old home): the call goes to
        the least-loaded live instance (lowest id on ties) and the router is told that the
        session moved there (:meth:`~sagacore.policy.Router.observe_migration`)."""
        best = min(self.live, key=lambda x: (x.load, x.queued_calls, x.worker_id))
        self.fault_stats.failovers += 1
        self.router.observe_migration(call.task.task.id, wid, best.worker_id, now)
        return best.worker_id

    def _migration_failed(self, call: Call, src: Worker, dst: Worker, moved: int, t0: float,
                          now: float) -> None:
        """A migration fails midway: the call returns to ``src`` (placed anew if ``src`` was
        lost meanwhile), which frees the blocks it was copying; the router is told."""
        ts = call.task
        ts.wait_s += now - t0
        self.fault_stats.migrations_failed += 1
        if moved:
            src.sync(now)
            src.store.release_transit(moved)
            src.poke(now)
        if src.lost:
            self._requeue(call, None, now)
            return
        self.router.observe_migration(ts.task.id, dst.worker_id, src.worker_id, now)
        self._requeue(call, src, now)

    # --- callbacks from workers ----------------------------------------------------------
    def restorable(self, call: Call, worker: Worker, hit: int) -> int:
        """Tokens of ``call``'s KV a swap-in on ``worker`` would restore (0: none)."""
        rec = call.task.swap
        if rec is None or rec.worker is not worker:
            return 0
        bs = worker.block_size
        if hit < rec.start // bs * bs:
            return 0  # the prefix before the swapped part is gone: recompute
        shared = 0
        for a, e, b in zip(rec.ids, rec.ends, call.ids, strict=False):
            if a != b:
                break
            shared = e
        tokens = min(shared, rec.kv, call.target - 1) // bs * bs
        return tokens if tokens > hit else 0

    def admitted(self, call: Call, worker: Worker, now: float) -> None:
        """``call`` joined ``worker``'s running batch."""
        ts = call.task
        ts.wait_s += now - call.enqueued_s
        if not call.admitted:
            call.admitted = True
            self._waits.append(now - call.ready_s)
            for d in call.spec.deps:
                if not ts.done[d]:
                    raise InvariantError(
                        f"task {ts.task.id} step {call.spec.index} ran before step {d}"
                    )
        h = ts.hold
        if h is not None and h.worker is worker:
            ts.hold = None
            worker.store.unhold(h.node, now, most_recent=self._unheld_recent)
        swap = ts.swap
        if swap is not None:
            ts.swap = None  # restored here, or stale now that the session moved on
            if swap.worker is not worker:
                swap.worker.poke(now)
        if self._sched_call_start:
            self.scheduler.observe_call_start(call, now)
        if self.observers:
            assert call.lease is not None
            self._emit(TraceEvent("call_start", now, ts.task.id, call.spec.index,
                                  worker.worker_id, call.lease.hit_tokens))

    def _releasable(self, worker: Worker, head: Call, now: float) -> list[TaskState]:
        """The tasks whose TTL hold on ``worker`` the pressure rule may release for
        ``head`` at ``now``, in the order it releases them (:meth:`release_pins_for`)."""
        holds = [ts for ts in self.tasks.values()
                 if ts.hold is not None and ts.hold.worker is worker
                 and ts.hold.expires_s is not None and ts is not head.task]
        if not holds:
            return holds
        holds.sort(key=_hold_expiry)
        per_block = worker.block_size * worker.store.recompute_seconds_per_token
        out = []
        for ts in holds:
            h = ts.hold
            assert h is not None and h.expires_s is not None
            if h.expires_s - now > (h.node.lo + h.node.cached) * per_block:
                out.append(ts)
        return out

    def release_pins_for(self, worker: Worker, head: Call, fits: Callable[[], bool],
                         now: float) -> int:
        """Release ``worker``'s TTL holds until ``fits()`` (``head`` is refused otherwise).

        :attr:`~sagacore.sim.config.SimConfig.release_pins_under_pressure`: nearest expiry
        first (ties: the task that arrived first), skipping ``head``'s own task's hold
        (releasing it would only cost ``head`` a hit) and every hold whose time left is
        at most the time to recompute its path's cached blocks (waiting for it to expire
        costs ``head`` less than its session would pay to recompute). Returns the number
        released; ``fits`` is asked after each.
        """
        store = worker.store
        released = 0
        for ts in self._releasable(worker, head, now):
            h = ts.hold
            assert h is not None
            ts.hold = None
            store.unhold(h.node, now, most_recent=self._unheld_recent)
            released += 1
            if fits():
                break
        self.pins_released_for_pressure += released
        return released

    def has_releasable_pin(self, worker: Worker, head: Call, now: float) -> bool:
        """Whether :meth:`release_pins_for` would release a hold for ``head`` at ``now``."""
        return bool(self._releasable(worker, head, now))

    def start_loading(self, call: Call, worker: Worker, seconds: float, now: float) -> None:
        """``call`` waits ``seconds`` for its KV to come back from the host."""
        self._timer_seq += 1
        token = self._timer_seq
        self._loading[call] = token

        def done(t: float) -> None:
            if self._loading.get(call) == token and call.state == LOADING:
                del self._loading[call]
                worker.loaded(call, t)

        self._timer(now + seconds, done)

    def cancel_loading(self, call: Call) -> None:
        """``call`` was preempted while loading."""
        self._loading.pop(call, None)

    def preempted(self, call: Call, worker: Worker, now: float) -> None:
        """``call`` was preempted (it waits again on ``worker``)."""
        if self.observers:
            self._emit(TraceEvent("call_preempt", now, call.task.task.id, call.spec.index,
                                  worker.worker_id))


def _enqueue_order(c: Call) -> tuple[float, int]:
    return (c.enqueued_s, c.seq)


def _hold_expiry(ts: TaskState) -> float:
    assert ts.hold is not None and ts.hold.expires_s is not None
    return ts.hold.expires_s
