"""One engine instance: continuous batching, chunked prefill, paged KV cache, preemption.

A :class:`Worker` is one vLLM-like engine. At every batch-step boundary it runs the
scheduling iteration of vLLM V1:

1. the running calls, in the order they joined, each ask for their next tokens (a
   prefill chunk within the token budget, or one decode token) and the KV blocks they
   need; a prefill's full blocks enter the prefix cache when they are scheduled, as in
   vLLM. When memory runs out, even after evicting cached blocks the cache policy
   offers, a running call is *preempted*: the one admitted last (vLLM's FCFS), or the
   one of largest key when the scheduler's victim is by key (vLLM's priority policy);
   its KV is freed (its computed blocks stay cached), it waits again and is recomputed.
   Under FCFS no further running call is scheduled in that step; by key, when the call
   preempted itself, the calls after it are still tried;
2. when nothing was preempted, waiting calls in scheduler-key order join while the token
   budget, ``max_num_seqs`` and memory allow (a call joins only if its whole input
   fits, though it is allocated only its first chunk: vLLM 0.33's
   ``scheduler_reserve_full_isl``); the first that does not fit stops the admission
   (head-of-line, as vLLM), unless, at a scheduling point, a preemptive scheduler evicts
   running calls of larger key for it (vLLM never does). A scheduler with admission
   control (:meth:`~sagacore.policy.Scheduler.admit`) may defer a call that fits: it
   stays waiting and the next is tried; such a scheduler admits only at scheduling
   points, in both modes;
3. the batch step is priced by the cost model.

**Decode runs.** A *run* is a maximal sequence of decode-only steps of the same calls.
Its step ``x`` ends at ``t0 + S(x)``, ``S`` the closed-form sum of the cost model's
decode step times (affine in the batch's context, which grows by one token per call per
step). In ``fast`` mode the worker jumps over a run to the next step at which anything
can change: a call finishes, memory needs a new victim or a preemption, or an event
reaches the worker (a new call, freed memory), which cuts the jump at the next step
boundary. In ``step`` mode every step is an event, priced alone by the cost model and
checked against the run's closed form (to 1e-9); both modes place step boundaries at
``t0 + S(x)``, so they give identical results, and step mode also checks, step by
step, what fast mode assumes (nothing is admitted between scheduling points).

**Folded mixed steps.** In ``fast`` mode a mixed step whose end decides nothing (every
running call is in it, each prefill completes its prompt, no call finishes, none needs a
new block for the next step, nobody waits, the scheduler observes no service and every
call's task is a chain) is planned together with the decode run after it: one event
instead of two (:meth:`Worker._fold`). Its completion is applied at the window's end
with the mixed step's end as its time, and the views (``load``) count it once that time
has passed, as they would in step mode; a poke before it unfolds the step.

**Scheduling points.** The waiting queue is re-sorted, and the scheduler's
``observe_service`` is called with the service since the previous point, at *scheduling
points*: boundaries after an event reached the worker, after a mixed (prefill) step,
where the batch changes, or where memory needed a victim or a preemption. Between them
keys are not re-evaluated, in either mode.

**Pins released under pressure** (opt-in:
:attr:`~sagacore.sim.config.SimConfig.release_pins_under_pressure`, what sagacore's vLLM
plug-in does by default). At a scheduling point, before the running calls are scheduled,
when the waiting call of smallest key does not fit (its input less its hit against the
free and evictable blocks), the cluster releases TTL holds on this instance for it,
nearest expiry first, while they are worth more than their recompute
(:meth:`~sagacore.sim.cluster.Simulation.release_pins_for`). Only at scheduling points,
so both modes agree; the plug-in asks at every step, so while the head does not fit in
what a step leaves and a hold could be released for it, the next step is a scheduling
point (a head that fit before the running calls took their blocks, but not after, is
released for at the next step, as inside vLLM).

**The port.** A worker holds its simulation only as a :class:`WorkerHost`: the clock
(``now`` and the position of the event being processed among simultaneous ones), the
scheduling of its own step boundaries, the decode coefficients the cluster caches, the
scheduler's service hook, and the few things that concern a call's task beyond this
instance (its admission and preemption, a swap-in to restore and its timer, TTL holds to
release under pressure), which live with the tasks in the cluster. Nothing else of the
simulation is reached from here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, Protocol

from sagacore.cache.store import Lease, PrefixStore
from sagacore.engine import CostModel
from sagacore.errors import InvariantError
from sagacore.policy import CallView, Scheduler
from sagacore.sim.config import EngineConfig
from sagacore.workload.model import Step, TaskId, TenantId

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.sim.cluster import TaskState

__all__ = ["Call", "PolicyView", "Worker", "WorkerHost", "run_seconds"]

# call states
WAITING, LOADING, PREFILL, DECODE, DONE = range(5)
# kinds of the step in flight
IDLE, MIXED, RUN = range(3)


def run_seconds(intercept: float, slope: float, n: int, c0: int, x: int) -> float:
    """Time of the first ``x`` steps of a decode run of ``n`` calls of total context ``c0``.

    ``x * intercept + slope * (x * c0 + n * x * (x - 1) / 2)``: the sum of
    ``intercept + slope * (c0 + n * j)`` for ``j < x``, the cost model's decode step time
    (:meth:`~sagacore.engine.CostModel.decode_cost_coefficients`).

    Examples
    --------
    >>> run_seconds(1.0, 0.5, 2, 10, 3) == (1 + 5.0) + (1 + 6.0) + (1 + 7.0)
    True
    """
    return x * intercept + slope * (x * c0 + n * x * (x - 1) / 2)


class Call:
    """One LLM call in the simulator; as a policy sees it, a :class:`~sagacore.policy.CallView`."""

    __slots__ = (
        "admitted",
        "agent_type",
        "ends",
        "enqueued_s",
        "generated",
        "ids",
        "key",
        "kv",
        "lease",
        "output_tokens",
        "prompt_tokens",
        "ready_s",
        "seq",
        "spec",
        "state",
        "step",
        "target",
        "task",
        "task_arrival_s",
        "task_id",
        "tenant",
        "worker",
    )

    def __init__(self, task: TaskState, spec: Step, ids: tuple[int, ...], ends: tuple[int, ...],
                 ready_s: float, seq: int) -> None:
        self.task = task
        self.spec = spec
        # the CallView's constants, plain attributes (policies read them on every hook)
        t = task.task
        self.task_id: TaskId = t.id
        """The task (session)."""
        self.tenant: TenantId = t.tenant
        """The task's tenant."""
        self.agent_type: str = t.agent_type
        """The task's agent type."""
        self.task_arrival_s: float = t.arrival_s
        """When the task arrived."""
        self.step: int = spec.index
        """Index of the step in its task."""
        self.ids = ids
        """Segment ids of the call's context (prompt, then output)."""
        self.ends = ends
        """Token offsets where those segments end."""
        self.prompt_tokens = ends[-2] if len(ends) > 1 else 0
        self.output_tokens = spec.output_tokens
        self.ready_s = ready_s
        self.enqueued_s = ready_s
        self.seq = seq
        self.worker: Worker | None = None
        self.state = WAITING
        self.kv = 0
        """Tokens of KV the call holds."""
        self.generated = 0
        """Output tokens generated so far."""
        self.target = self.prompt_tokens
        """KV tokens its (re)prefill must reach: prompt plus tokens generated before."""
        self.lease: Lease | None = None
        self.key: tuple[float, ...] = ()
        self.admitted = False

    # --- CallView (the constants above, and) ----------------------------------------------
    @property
    def parents(self) -> tuple[int, ...]:
        """The steps of its task whose outputs the call waited for."""
        return self.spec.deps

    @property
    def task_attained_s(self) -> float:
        """Batch time the task has been served (its token share of each step)."""
        return self.task.attained_s

    @property
    def task_attained_tokens(self) -> int:
        """Tokens the task has been served (prefill computed and output)."""
        return self.task.attained_tokens

    @property
    def task_wait_s(self) -> float:
        """Time the task's calls spent ready but not running."""
        return self.task.wait_s

    @property
    def task_tool_s(self) -> float:
        """Time the task has spent in tool calls."""
        return self.task.tool_s

    @property
    def steps_done(self) -> int:
        """LLM calls of the task finished."""
        return self.task.steps_done

    @property
    def cached_tokens(self) -> int:
        """Prompt tokens cached on the worker the call is placed on (0 before)."""
        w = self.worker
        return 0 if w is None else w.cached_prefix_tokens(self)

    def __repr__(self) -> str:
        return f"Call({self.task.task.id}#{self.spec.index}, state={self.state}, kv={self.kv})"


class WorkerHost(Protocol):
    """What a :class:`Worker` asks of the simulation that runs it (its one port).

    :class:`~sagacore.sim.cluster.Simulation` implements it.
    """

    now: float
    """The time of the event being processed."""
    cur_prio: int
    """That event's priority (2: a step boundary)."""
    cur_tie: int
    """Its tie-break among simultaneous events of its priority (a boundary: the instance)."""
    observe_service: Callable[[CallView, int, float, float], None] | None
    """The scheduler's ``observe_service`` hook, None when it does not observe service."""
    observe_service_run: Callable[[Sequence[CallView], int, float, float], None] | None
    """Its ``observe_service_run`` hook, None when it does not override it."""

    def schedule_boundary(self, worker: Worker, t: float) -> None:
        """Schedule ``worker``'s next step boundary at ``t`` (supersedes earlier ones)."""

    def decode_coefficients(self, n: int) -> tuple[float, float]:
        """The cost model's decode step coefficients for a batch of ``n``."""

    def admitted(self, call: Call, worker: Worker, now: float) -> None:
        """``call`` joined ``worker``'s running batch."""

    def preempted(self, call: Call, worker: Worker, now: float) -> None:
        """``call`` was preempted (it waits again on ``worker``)."""

    def restorable(self, call: Call, worker: Worker, hit: int) -> int:
        """Tokens of ``call``'s KV a swap-in on ``worker`` would restore (0: none)."""

    def start_loading(self, call: Call, worker: Worker, seconds: float, now: float) -> None:
        """``call`` waits ``seconds`` for its KV to come back from the host; the host
        calls :meth:`Worker.loaded` then."""

    def cancel_loading(self, call: Call) -> None:
        """``call`` was preempted (or its instance lost) while loading."""

    def release_pins_for(self, worker: Worker, head: Call, fits: Callable[[], bool],
                         now: float) -> int:
        """Release TTL holds on ``worker`` for ``head`` until ``fits()``; return how many."""

    def has_releasable_pin(self, worker: Worker, head: Call, now: float) -> bool:
        """Whether :meth:`release_pins_for` would release a hold for ``head`` now."""


class PolicyView:
    """A worker as the policies see it: :class:`~sagacore.policy.WorkerView` and nothing
    else (read-only; the worker's queues, store and simulation stay out of reach).

    Routers (``route``, ``rebalance``, ``stealable``) and a scheduler's ``admit`` get this,
    one per worker for the whole run (so a policy may compare or key them by identity).
    """

    __slots__ = ("_w", "pool_tokens", "worker_id")

    def __init__(self, worker: Worker) -> None:
        self._w = worker
        # constants of the instance: plain attributes (routers read them most); a policy
        # that assigned one would change only its own view, never the mechanism's state
        self.worker_id = worker.worker_id
        """The instance's index."""
        self.pool_tokens = worker.pool_tokens
        """The instance's KV pool, null block included (the denominator of loads)."""

    @property
    def load(self) -> float:
        """KV tokens of running calls plus prompt tokens of waiting calls, over the pool."""
        return self._w.load

    @property
    def queued_calls(self) -> int:
        """Calls waiting."""
        return len(self._w.waiting)

    @property
    def running_calls(self) -> int:
        """Calls in the running batch."""
        return len(self._w.running)

    @property
    def capacity_tokens(self) -> int:
        """Deprecated name of :attr:`pool_tokens` (warns; ``capacity_tokens`` names the
        cache's usable capacity, :attr:`sagacore.policy.CacheContext.capacity_tokens`)."""
        warnings.warn("WorkerView.capacity_tokens is deprecated: use pool_tokens",
                      DeprecationWarning, stacklevel=2)
        return self._w.pool_tokens

    @property
    def free_tokens(self) -> int:
        """KV tokens free or evictable."""
        return self._w.free_tokens

    def cached_prefix_tokens(self, call: CallView) -> int:
        """Tokens of ``call``'s prompt in this worker's prefix cache."""
        return self._w.cached_prefix_tokens(call)

    def __repr__(self) -> str:
        return f"PolicyView(worker {self._w.worker_id})"


class Worker:
    """One engine instance; as a router sees it, a :class:`~sagacore.policy.WorkerView`."""

    def __init__(
        self,
        sim: WorkerHost,
        worker_id: int,
        cost: CostModel,
        engine: EngineConfig,
        store: PrefixStore,
        scheduler: Scheduler,
        *,
        fast: bool,
        checked: bool,
        pool_tokens: int,
        release_pins: bool = False,
    ) -> None:
        self.sim = sim
        self.worker_id = worker_id
        self.cost = cost
        self.engine = engine
        self.store = store
        self.scheduler = scheduler
        self.gated = type(scheduler).admit is not Scheduler.admit
        """The scheduler does admission control (:meth:`~sagacore.policy.Scheduler.admit`)."""
        self.fast = fast
        self.checked = checked
        self.release_pins = release_pins
        """Release TTL holds for the head of the queue at scheduling points
        (:attr:`~sagacore.sim.config.SimConfig.release_pins_under_pressure`)."""
        self.block_size = store.block_size
        self.pool_tokens = pool_tokens
        """The instance's KV pool, null block included (the denominator of loads)."""
        self.view = PolicyView(self)
        """This worker as the policies see it."""
        self.waiting: list[Call] = []
        self.running: list[Call] = []
        self.kind = IDLE
        self.event_token = 0
        self.pending = False
        """A boundary event is scheduled."""
        self.poked = False
        self.processing = False
        self.kind_prev_mixed = False
        self.kv_sum = 0
        self.queued_tokens = 0
        # the mixed step in flight
        self.batch: list[Call] = []
        self.batch_tokens: list[int] = []
        self.step_seconds = 0.0
        # the decode run
        self.run_calls: list[Call] = []
        self.run_t0 = 0.0
        self.run_c0 = 0
        self.run_icpt = 0.0
        self.run_slope = 0.0
        self.run_x = 0
        """Steps of the run completed (0: no run in progress)."""
        self.flush_x = 0
        # the window of the run in flight: steps run_x .. run_x + win_k - 1
        self.win_k = 0
        self.win_alloc = 0
        self.win_m = 0
        self.win_msum = 0.0
        self.win_cumle: list[int] = []
        self.win_static = True
        """The window's blocks all come from free memory: the tree stays as it is."""
        # a mixed step folded into the decode run after it (fast mode): it ends at
        # fold_end, where its completion is due (applied at the window's end)
        self.folded = False
        self.fold_end = 0.0
        self.fold_tokens = 0
        self._sb_key: tuple[float, int, int, int] = (-1.0, 0, 0, 0)
        self._sb_val = 0
        # counters
        self.steps = 0
        self.prefill_computed = 0
        self.prefill_reused = 0
        self.preemptions = 0
        self.swapped_in_tokens = 0
        # faults (sagacore.sim.faults): a slowdown's factor on step times, and a loss
        self.slow = 1.0
        """Factor on the cost model's step times of the steps planned now (1: none)."""
        self.run_slow = 1.0
        """The factor the decode run in progress was priced with."""
        self.lost = False
        """The instance was lost (it never runs again; it is in no router's view)."""
        self.lost_s = 0.0
        self.lost_kv = 0
        """KV tokens its running calls held when it was lost."""
        self.lost_useful = 0.0
        """Its KV utilisation integral when it was lost."""

    # --- WorkerView ----------------------------------------------------------------------
    @property
    def load(self) -> float:
        """KV tokens of running calls plus prompt tokens of waiting calls, over capacity."""
        extra = 0
        if self.kind == RUN:
            now = self.sim.now
            if self.win_k > 1:
                extra = len(self.run_calls) * self._started_before(now)
            if self.folded and self._passed(self.fold_end, now):
                extra += self.fold_tokens  # the folded mixed step has ended
        return (self.kv_sum + extra + self.queued_tokens) / self.pool_tokens

    @property
    def queued_calls(self) -> int:
        """Calls waiting."""
        return len(self.waiting)

    @property
    def running_calls(self) -> int:
        """Calls in the running batch."""
        return len(self.running)

    @property
    def free_tokens(self) -> int:
        """KV tokens free or evictable."""
        avail = self.store.available_blocks
        if self.kind == RUN and self.win_k > 1 and not self.processing:
            # blocks the window's steps started so far take, allocated or not yet
            avail -= self._crossings(self._started_before(self.sim.now))
            avail += self._crossings(self.win_alloc)
        return avail * self.block_size

    def cached_prefix_tokens(self, call: CallView) -> int:
        """Tokens of ``call``'s prompt in this worker's prefix cache."""
        if not isinstance(call, Call):
            return 0
        if not self.win_static:
            self.sync(self.sim.now)
        return self.store.match(call.ids, call.ends, call.prompt_tokens)

    # --- decode-run arithmetic -----------------------------------------------------------
    def _run_time(self, x: int) -> float:
        return self.run_t0 + run_seconds(
            self.run_icpt, self.run_slope, len(self.run_calls), self.run_c0, x
        )

    def _passed(self, t: float, now: float) -> bool:
        """Whether this worker's step boundary at ``t`` has been processed by ``now``.

        Boundaries at the current time are processed after arrivals, tool ends and timers,
        and in instance order: the one at ``now`` is past only while a later instance's
        boundary at ``now`` is being processed.
        """
        if t < now:
            return True
        sim = self.sim
        return t == now and sim.cur_prio == 2 and sim.cur_tie > self.worker_id

    def _started_before(self, now: float) -> int:
        """Steps of the window in flight, beyond its first, whose start has been processed."""
        k = self.win_k
        if k <= 1:
            return 0
        sim = self.sim
        key = (now, sim.cur_prio, sim.cur_tie, self.event_token)
        if key == self._sb_key:
            return self._sb_val
        self._sb_key = key
        self._sb_val = v = self._started_before_uncached(now)
        return v

    def _started_before_uncached(self, now: float) -> int:
        k = self.win_k
        x0 = self.run_x
        # solve S(x0 + l) = now - t0 for l, then settle on the exact comparison
        n = len(self.run_calls)
        icpt, slope, c0, t0 = self.run_icpt, self.run_slope, self.run_c0, self.run_t0
        a = icpt + slope * c0
        b = slope * n
        target = now - t0
        qa, qb = b / 2, a - b / 2
        if qa > 0:
            x = int((-qb + math.sqrt(qb * qb + 4 * qa * max(target, 0.0))) / (2 * qa))
        else:
            x = int(target / qb) if qb > 0 else x0
        lo = min(max(x - x0, 0), k - 1)
        # _passed(_run_time(x0 + l), now), inlined
        sim = self.sim
        late = sim.cur_prio == 2 and sim.cur_tie > self.worker_id
        while lo > 0:
            y = x0 + lo
            t = t0 + (y * icpt + slope * (y * c0 + n * y * (y - 1) / 2))
            if t < now or (t == now and late):
                break
            lo -= 1
        while lo < k - 1:
            y = x0 + lo + 1
            t = t0 + (y * icpt + slope * (y * c0 + n * y * (y - 1) / 2))
            if not (t < now or (t == now and late)):
                break
            lo += 1
        return lo

    def _cumle(self) -> list[int]:
        """``cumle[r]``: calls of the window whose first new block comes at step ``1..r``."""
        if not self.win_cumle:
            bs = self.block_size
            cnt = [0] * bs
            for c in self.run_calls:
                cnt[-c.kv % bs] += 1
            cnt[0] = 0  # calls on a block boundary cross at step bs, never at 1..bs-1
            self.win_cumle = list(accumulate(cnt))
        return self.win_cumle

    def _crossings(self, j: int) -> int:
        """Blocks the window's calls need for its steps 1..j (beyond step 0's)."""
        if j <= 0:
            return 0
        q, r = divmod(j, self.block_size)
        return len(self.run_calls) * q + self._cumle()[r]

    def _alloc_through(self, j: int, now: float) -> None:
        """Allocate the blocks of the window's steps up to ``j`` (mid-window, fast mode)."""
        if j <= self.win_alloc:
            return
        m = self._crossings(j) - self._crossings(self.win_alloc)
        self.win_alloc = j
        if m:
            self.store.grow_bulk(m, now)
            self.win_m += m
            self.win_msum += m * now

    def sync(self, now: float) -> None:
        """Bring memory up to ``now`` within a jumped-over decode run (fast mode).

        Called before reading the worker's memory and before any event changes it from
        outside (a swap-out ends, a pin is released), so that the steps that started
        earlier take their blocks first, as in step mode.
        """
        if self.kind == RUN and self.win_k > 1 and not self.processing:
            self._alloc_through(self._started_before(now), now)

    def _end_window(self, now: float) -> list[Call]:
        """Apply a window of ``win_k > 1`` decode steps at its end (fast mode).

        Each call's new blocks are the steps ``l`` in ``1..k-1`` where its token count
        crosses a block boundary; those not yet allocated by a mid-window sync are
        allocated now, and every block is credited in the utilisation integral from the
        start of the step that needed it (a closed-form sum over each call's crossings).
        """
        k = self.win_k
        bs = self.block_size
        x0 = self.run_x
        calls = self.run_calls
        n = len(calls)
        icpt, slope, c0, t0 = self.run_icpt, self.run_slope, self.run_c0, self.run_t0
        finished: list[Call] = []
        total = 0
        sx = sxx = 0  # sums of the crossing steps' indices and their squares (exact ints)
        for call in calls:
            old = call.kv
            new = old + k
            call.kv = new
            g = call.generated + k
            call.generated = g
            c = (new - 1) // bs - old // bs
            if c:
                lease = call.lease
                assert lease is not None
                lease.private += c  # PrefixStore.adopt(lease, c), inlined
                total += c
                # crossings at run steps y = first, first + bs, ..., first + (c - 1) bs
                first = x0 + (-old % bs or bs)
                if c == 1:  # the common case (a window shorter than a block): cc == 0
                    sx += first
                    sxx += first * first
                else:
                    cc = c * (c - 1)
                    sx += c * first + bs * cc // 2
                    sxx += (c * first * first + first * bs * cc
                            + bs * bs * cc * (2 * c - 1) // 6)
            if g == call.output_tokens:
                finished.append(call)
        rest = total - self.win_m
        if rest < 0 or (self.checked and self.win_alloc and
                        self.win_m != self._crossings(self.win_alloc)):
            raise InvariantError(f"worker {self.worker_id}: window blocks out of step")
        # the sum of the crossings' start times t0 + S(y), S(y) = y icpt + slope (y c0 +
        # n y (y - 1) / 2)
        tsum = total * t0 + icpt * sx + slope * (c0 * sx + n * (sxx - sx) / 2)
        store = self.store
        if rest:
            store.grow_bulk(rest, now)
        # the store credited them from their allocation: add the time before it
        store.backdate(self.win_msum + rest * now - tsum)
        self.win_m = 0
        self.win_msum = 0.0
        self.win_cumle = []
        return finished

    # --- events --------------------------------------------------------------------------
    def enqueue(self, call: Call, now: float) -> None:
        """A ready call was routed here."""
        call.worker = self
        call.enqueued_s = now
        self.waiting.append(call)
        self.queued_tokens += call.prompt_tokens
        self.poke(now)

    def poke(self, now: float) -> None:
        """Something changed that may let the worker admit a call: act at the next boundary."""
        if self.processing or self.lost:
            return
        self.poked = True
        if self.kind == IDLE:
            if not self.pending:
                self.pending = True
                self.event_token += 1
                self.sim.schedule_boundary(self, now)
            return
        if self.kind == RUN and self.folded and not self._passed(self.fold_end, now):
            self._unfold()  # the mixed step ends as planned; the next step is planned then
            return
        if self.kind == RUN and self.win_k > 1:
            l_next = self._started_before(now) + 1
            if l_next < self.win_k:
                self.win_k = l_next
                self.event_token += 1
                self.sim.schedule_boundary(self, self._run_time(self.run_x + l_next))

    # --- completing a step ---------------------------------------------------------------
    def _complete_mixed(self, now: float, finished: list[Call]) -> None:
        """The mixed step in flight ends at ``now``: apply it; append the calls that finish."""
        store = self.store
        dur = self.step_seconds
        batch_tokens = self.batch_tokens
        total = sum(batch_tokens)
        observe = self.sim.observe_service
        for call, tok in zip(self.batch, batch_tokens, strict=True):
            secs = dur * tok / total
            t = call.task
            t.attained_s += secs
            t.attained_tokens += tok
            if observe is not None:
                observe(call, tok, secs, now)
            if call.state == PREFILL:
                call.kv += tok
                if call.kv == call.target:
                    call.generated += 1
                    call.state = DECODE
                    assert call.lease is not None
                    store.commit(call.lease, call.ids, call.ends, call.kv, now)
                    if call.generated == call.output_tokens:
                        finished.append(call)
            else:
                call.kv += 1
                call.generated += 1
                if call.generated == call.output_tokens:
                    finished.append(call)
            self.kv_sum += tok
        self.batch = []
        self.batch_tokens = []
        self.steps += 1

    def boundary(self, now: float) -> list[Call]:
        """Process the step boundary at ``now``: finish the step, plan the next.

        Returns the calls that finished (the cluster continues their tasks, then calls
        :meth:`plan`).
        """
        self.processing = True
        self.pending = False
        finished: list[Call] = []
        kind = self.kind
        if kind == MIXED:
            self._complete_mixed(now, finished)
        elif kind == RUN:
            if self.folded:
                # the folded mixed step ended at fold_end, where nothing finished
                self.folded = False
                self._complete_mixed(self.fold_end, finished)
                if finished:
                    raise InvariantError(f"worker {self.worker_id}: a folded step finished calls")
            k = self.win_k
            if k > 1:
                finished = self._end_window(now)
            else:
                for call in self.run_calls:
                    call.kv += 1
                    call.generated += 1
                    if call.generated == call.output_tokens:
                        finished.append(call)
            self.kv_sum += k * len(self.run_calls)
            self.run_x += k
            self.steps += k
            self.win_k = 0
            self.win_alloc = 0
        self.kind = IDLE
        if finished:
            store = self.store
            running = self.running
            for call in finished:
                lease = call.lease
                assert lease is not None
                store.commit(lease, call.ids, call.ends, call.kv, now)
                call.state = DONE
                running.remove(call)
                self.kv_sum -= call.kv
        return finished

    def release(self, call: Call, now: float) -> None:
        """Release a finished call's lease (after the cluster read its context node)."""
        assert call.lease is not None
        self.store.release(call.lease, now)
        call.lease = None

    # --- planning the next step ----------------------------------------------------------
    def _flush(self, now: float) -> None:
        """Report the run's service since the last scheduling point."""
        x = self.run_x
        fx = self.flush_x
        if x == fx:
            return
        calls = self.run_calls
        if calls and x > fx:
            dx = x - fx
            n = len(calls)
            icpt, slope, c0 = self.run_icpt, self.run_slope, self.run_c0
            secs = (
                run_seconds(icpt, slope, n, c0, x) - run_seconds(icpt, slope, n, c0, fx)
            ) / n
            observe = self.sim.observe_service
            observe_run = self.sim.observe_service_run
            if observe_run is not None:
                observe = None  # the run's calls are reported together, after the loop
            for call in calls:
                t = call.task
                t.attained_s += secs
                t.attained_tokens += dx
                if observe is not None:
                    observe(call, dx, secs, now)
            if observe_run is not None:
                observe_run(calls, dx, secs, now)
        self.flush_x = x

    def _keys(self, calls: list[Call], now: float) -> None:
        key = self.scheduler.key
        for c in calls:
            c.key = key(c, now)

    def plan(self, now: float, composition_changed: bool) -> None:
        """The scheduling iteration at a boundary: choose and price the next step.

        Three phases, as in vLLM V1's ``schedule()``: the running calls' next tokens and
        blocks (:meth:`_schedule_running`, which may preempt), admissions from the
        waiting queue when nothing was preempted (:meth:`_admit`), then the step's price
        and end (:meth:`_start_step`).
        """
        store = self.store
        stats = store.stats
        victims0 = stats.victim_calls
        point = self.poked or composition_changed or self.kind_prev_mixed
        self.poked = False
        if point:
            if self.run_x != self.flush_x:  # _flush's own test, hoisted (a hot path)
                self._flush(now)
            if self.release_pins and self.waiting and store.caching:
                self._relieve_pressure(now)
        prefill: list[Call] = []
        chunks: list[int] = []
        decode: list[Call] = []
        budget, preempted, k_fin = self._schedule_running(now, prefill, chunks, decode)
        admitted = False
        if not preempted and self.waiting and budget > 0:
            resorted = point or stats.victim_calls != victims0
            if resorted:
                if self.run_x != self.flush_x:  # _flush's own test, hoisted (a hot path)
                    self._flush(now)
                self._keys(self.waiting, now)
                self.waiting.sort(key=_wait_order)
            admitted = self._admit(now, budget, prefill, chunks, decode, resorted)
            if admitted and not resorted and self.checked:
                raise InvariantError(
                    f"worker {self.worker_id} admitted a call between scheduling points at {now}"
                )
        if preempted or admitted or stats.victim_calls != victims0:
            if self.run_x != self.flush_x:  # _flush's own test, hoisted (a hot path)
                self._flush(now)
        if preempted:
            # vLLM admits nothing in a step that preempted: the next boundary tries
            self.poked = True
        elif self.release_pins and self.waiting and store.caching and not self.poked:
            self.poked = self._pressure_pending(now)
        self.processing = False
        self._start_step(now, prefill, chunks, decode, preempted, admitted, k_fin)

    def _schedule_running(self, now: float, prefill: list[Call], chunks: list[int],
                          decode: list[Call]) -> tuple[int, bool, int]:
        """Phase 1 of :meth:`plan`: the running calls, in the order they joined, take
        their next tokens (a prefill chunk, or a decode token) and blocks, into
        ``prefill`` (with ``chunks``) and ``decode``, preempting when memory runs out.

        Returns the token budget left, whether a call was preempted, and the fewest
        decode steps left to a call of ``decode`` (0: none).
        """
        store = self.store
        bs = self.block_size
        budget = self.engine.max_num_batched_tokens
        preempted = False
        running = self.running
        k_fin = 0  # the fewest decode steps left to a call of ``decode``
        for call in list(running) if running else ():
            st = call.state
            if st == DECODE:
                chunk = 1
                if budget <= 0:
                    continue
                if call.kv % bs:
                    decode.append(call)
                    left = call.output_tokens - call.generated
                    if left < k_fin or not k_fin:
                        k_fin = left
                    budget -= 1
                    continue
            elif st == PREFILL:
                chunk = min(call.target - call.kv, budget)
                if chunk <= 0:
                    continue
            else:
                continue  # loading, or preempted earlier in this loop
            lease = call.lease
            assert lease is not None
            # a running call's further blocks (a later prefill chunk, a decode block)
            # drain the last victim first; the policy is asked afresh at admissions
            ok = store.grow(lease, call.kv + chunk, now, rerank=False)
            while not ok:
                self._flush(now)
                victim = self._victim(now)
                budget += self._unschedule(victim, prefill, chunks, decode)
                self._preempt(victim, now)
                preempted = True
                if victim is call:
                    break
                ok = store.grow(lease, call.kv + chunk, now, rerank=False)
            if not ok:
                if self.scheduler.victim_by_key or self.scheduler.preemptive:
                    # vLLM's priority policy preempted the call itself, of lowest
                    # priority: the calls after it may still fit
                    continue
                break  # vLLM's FCFS schedules no further running call
            if st == DECODE:
                decode.append(call)
                left = call.output_tokens - call.generated
                if left < k_fin or not k_fin:
                    k_fin = left
            else:
                prefill.append(call)
                chunks.append(chunk)
                # vLLM caches a prefill's full blocks when it schedules them
                store.commit(lease, call.ids, call.ends, call.kv + chunk, now)
            budget -= chunk
        return budget, preempted, k_fin

    def _start_step(self, now: float, prefill: list[Call], chunks: list[int],
                    decode: list[Call], preempted: bool, admitted: bool, k_fin: int) -> None:
        """Phase 3 of :meth:`plan`: price the step chosen and schedule its end: a mixed
        step (some prefill; folded with the decode run after it when nothing is decided
        between them), nothing (idle), or the next steps of a decode run."""
        if prefill:
            self._start_mixed(now, prefill, chunks, decode)
            return
        if not decode:
            self._flush(now)
            self.kind = IDLE
            self.kind_prev_mixed = False
            self.run_calls = []
            self.flush_x = self.run_x = 0
            if preempted and self.waiting:
                # everything was preempted: the next (empty) step admits again at once
                self.event_token += 1
                self.pending = True
                self.sim.schedule_boundary(self, now)
            return
        self._start_run(now, decode, preempted or admitted, k_fin)

    def _start_mixed(self, now: float, prefill: list[Call], chunks: list[int],
                     decode: list[Call]) -> None:
        """A mixed step: price it with the cost model; its end is the next boundary."""
        if self.run_x != self.flush_x:  # _flush's own test, hoisted (a hot path)
            self._flush(now)
        p = cp = 0
        pairs = 0.0
        for c, n_new in zip(prefill, chunks, strict=True):
            kv = c.kv
            p += n_new
            cp += kv
            pairs += n_new * kv + n_new * (n_new + 1) / 2
        self.prefill_computed += p
        cd = 0
        for c in decode:
            cd += c.kv
        dur = self.cost.step_seconds_trusted(p, cp, len(decode), cd, pairs)
        if self.slow != 1.0:
            dur *= self.slow
        self.kind = MIXED
        self.kind_prev_mixed = True
        self.batch = prefill + decode
        self.batch_tokens = chunks + [1] * len(decode)
        self.step_seconds = dur
        self.run_calls = []
        self.flush_x = self.run_x = 0
        self.event_token += 1
        self.pending = True
        if (self.fast and not self.poked and not self.waiting
                and len(self.batch) == len(self.running) <= self.engine.max_num_batched_tokens
                and self.sim.observe_service is None
                and self._fold(now + dur, prefill, chunks, p + len(decode))):
            return
        self.sim.schedule_boundary(self, now + dur)

    def _start_run(self, now: float, decode: list[Call], changed: bool, k_fin: int) -> None:
        """Decode only: continue the run or start one; in fast mode its next boundary is
        the end of the window of steps that decide nothing (:meth:`_window`).
        ``changed``: calls were preempted or admitted in this iteration (``k_fin`` may
        count calls no longer in ``decode``)."""
        if (self.kind_prev_mixed or not self.run_x or decode != self.run_calls
                or self.run_slow != self.slow):
            if self.run_x != self.flush_x:  # _flush's own test, hoisted (a hot path)
                self._flush(now)
            self.run_calls = decode
            self.run_t0 = now
            if len(decode) == len(self.running):
                c0 = self.kv_sum  # every running call decodes
            else:
                c0 = 0
                for c in decode:
                    c0 += c.kv
            self.run_c0 = c0
            self._price_run(len(decode))
            self.run_x = 0
            self.flush_x = 0
        self.kind = RUN
        self.kind_prev_mixed = False
        self.win_cumle = []
        self.win_static = True
        if self.fast:
            if self.poked:
                k = 1
            else:
                if changed:  # calls may have left ``decode`` since
                    k_fin = min([c.output_tokens - c.generated for c in decode])
                k = self._window(decode, k_fin)
        else:
            k = 1
            self._check_step_price()
        self.win_k = k
        self.win_alloc = 0
        self.event_token += 1
        self.pending = True
        self.sim.schedule_boundary(self, self._run_time(self.run_x + k))

    def _fold(self, t1: float, prefill: list[Call], chunks: list[int], tokens: int) -> bool:
        """Plan the decode run after the mixed step just planned, if nothing is decided at
        its end ``t1`` (fast mode); return whether it was folded.

        The caller checked that every running call is in the step, the run's first step
        has the budget for all, nobody waits, no poke is due and the scheduler observes no
        service. The boundary at ``t1`` then decides nothing when, besides, every prefill
        completes its prompt there, no call finishes there, none needs a new block for
        the run's first step and every call's task is a chain (the service reported at
        ``t1`` is read by nobody before the window's end). So the run is planned now as
        the boundary at ``t1`` would plan it: the worker's memory and views cannot change
        before ``t1`` without poking it, and a poke before ``t1`` unfolds
        (:meth:`_unfold`). The mixed step's completion (``tokens`` tokens) is applied at
        the window's end, at ``t1``; the views see it once ``t1`` has passed.
        """
        for c, chunk in zip(prefill, chunks, strict=True):
            if c.kv + chunk != c.target:
                return False
        bs = self.block_size
        running = self.running
        cnt = [0] * bs
        k_fin = 0
        for c in running:
            kv = c.target if c.state == PREFILL else c.kv + 1  # after the mixed step
            left = c.output_tokens - c.generated - 1
            if left <= 0 or not kv % bs or not c.task.chain:
                return False
            if left < k_fin or not k_fin:
                k_fin = left
            cnt[-kv % bs] += 1
        cumle = list(accumulate(cnt))  # cnt[0] == 0: no call is on a block boundary
        run = list(running)
        self.folded = True
        self.fold_end = t1
        self.fold_tokens = tokens
        self.kind = RUN
        self.kind_prev_mixed = False
        self.run_calls = run
        self.run_t0 = t1
        self.run_c0 = self.kv_sum + tokens
        self._price_run(len(run))
        self.run_x = self.flush_x = 0
        self.win_cumle = cumle  # of the kv after the mixed step, which the calls lack yet
        self.win_static = True
        k = self._window(run, k_fin)
        self.win_k = k
        self.win_alloc = 0
        self.sim.schedule_boundary(self, self._run_time(k))
        return True

    def _price_run(self, n: int) -> None:
        """The decode run's step-time coefficients for ``n`` calls (slowed when slowed)."""
        self.run_icpt, self.run_slope = self.sim.decode_coefficients(n)
        self.run_slow = s = self.slow
        if s != 1.0:
            self.run_icpt *= s
            self.run_slope *= s

    def set_slow(self, factor: float, now: float) -> None:
        """A slowdown starts or ends (:mod:`sagacore.sim.faults`): steps planned from the
        next boundary on take ``factor`` times the cost model's time (a decode run in
        flight ends at its next step, in both modes)."""
        self.slow = factor
        self.poke(now)

    def lose(self, now: float) -> list[Call]:
        """The instance is lost at ``now``: it stops for good; return its calls.

        The step in flight never completes; its steps that completed before ``now`` (of a
        decode run jumped over in fast mode) are counted, as step mode counts them. The
        calls, running ones first (in the order they joined) then the waiting ones (in
        queue order), are reset to wait from scratch (no KV, no output) for the cluster
        to place them again. The store is left as it was, never used again: its KV is
        gone with the instance.
        """
        extra = 0  # KV of the steps completed since the calls' counts were last updated
        if self.kind == RUN and not self.processing:
            if self.folded and self._passed(self.fold_end, now):
                self.steps += 1
                extra += self.fold_tokens
            self.sync(now)
            started = self._started_before(now)
            self.steps += started
            extra += len(self.run_calls) * started
        self.lost_kv = self.kv_sum + extra
        self.lost = True
        self.lost_s = now
        self.lost_useful = self.store.useful_block_seconds(now)
        calls = self.running + self.waiting
        for c in self.running:
            if c.state == LOADING:
                self.sim.cancel_loading(c)
            c.lease = None
            c.state = WAITING
            c.kv = 0
            c.generated = 0
            c.target = c.prompt_tokens
        for c in self.waiting:
            c.task.wait_s += now - c.enqueued_s
        self.running = []
        self.waiting = []
        self.kv_sum = 0
        self.queued_tokens = 0
        self.kind = IDLE
        self.kind_prev_mixed = False
        self.folded = False
        self.batch = []
        self.batch_tokens = []
        self.run_calls = []
        self.run_x = self.flush_x = 0
        self.win_k = 0
        self.win_alloc = 0
        self.win_cumle = []
        self.event_token += 1  # the step in flight never ends
        self.pending = False
        self.poked = False
        return calls

    def _unfold(self) -> None:
        """A poke before the folded mixed step's end: it ends there, as a plain mixed step."""
        self.folded = False
        self.kind = MIXED
        self.kind_prev_mixed = True
        self.run_calls = []
        self.flush_x = self.run_x = 0
        self.win_k = 0
        self.win_alloc = 0
        self.win_cumle = []
        self.event_token += 1
        self.sim.schedule_boundary(self, self.fold_end)

    def _victim(self, now: float) -> Call:
        """The running call to preempt when memory runs out.

        With a scheduler whose victim is by key (or a preemptive one), the one of largest
        key (vLLM's priority policy); otherwise the one admitted last (vLLM's FCFS pops
        the end of its running queue).
        """
        sched = self.scheduler
        if sched.victim_by_key or sched.preemptive:
            self._keys(self.running, now)
            return max(self.running, key=_preempt_order)
        return self.running[-1]

    def _check_step_price(self) -> None:
        """Step mode: price this decode step alone and check the run's closed form."""
        x = self.run_x
        n = len(self.run_calls)
        alone = self.cost.decode_step_seconds(n, self.run_c0 + n * x) * self.run_slow
        icpt, slope, c0 = self.run_icpt, self.run_slope, self.run_c0
        closed = run_seconds(icpt, slope, n, c0, x + 1) - run_seconds(icpt, slope, n, c0, x)
        if abs(alone - closed) > 1e-9 * alone + 1e-12 * (self.run_t0 + closed):
            raise InvariantError(
                f"worker {self.worker_id}: decode step {x} of a run of {n} costs {alone} "
                f"alone but {closed} in the run's closed form"
            )

    @staticmethod
    def _unschedule(call: Call, prefill: list[Call], chunks: list[int], decode: list[Call]) -> int:
        """Take ``call`` out of the step being built; return the budget it used."""
        if call in decode:
            decode.remove(call)
            return 1
        if call in prefill:
            i = prefill.index(call)
            prefill.pop(i)
            return chunks.pop(i)
        return 0

    def _window(self, decode: list[Call], k_fin: int) -> int:
        """Steps of the run that can pass with nothing to decide (fast mode).

        ``k_fin``: the fewest steps left to a call of ``decode`` (the window's longest).
        """
        if k_fin <= 1:
            return 1
        bs = self.block_size
        store = self.store
        free = store.free_blocks
        n = len(decode)
        if n * ((k_fin - 2) // bs + 1) <= free:
            return k_fin  # enough free memory even if every call crossed as early as possible
        cumle = self._cumle()
        q, r = divmod(k_fin - 1, bs)
        need = n * q + cumle[r]
        if need <= free:
            return k_fin
        self.win_static = False
        avail = free + store.draining_blocks
        if need <= avail:
            return k_fin
        lo, hi = 1, k_fin - 1  # the first step j whose blocks exceed what is available
        while lo < hi:
            mid = (lo + hi) // 2
            q, r = divmod(mid, bs)
            if n * q + cumle[r] > avail:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _head_fits(self, head: Call) -> bool:
        """Whether ``head``'s whole input, less the prefix it hits, fits in the free and
        evictable blocks now (the admission check of :meth:`_admit`)."""
        store = self.store
        bs = self.block_size
        hit, pinned = store.lease_cost(head.ids, head.ends, head.target - 1)
        need = -(-head.target // bs) - hit // bs
        return need <= store.free_blocks + store.evictable_blocks - pinned

    def _relieve_pressure(self, now: float) -> None:
        """Release TTL holds while the head of the queue does not fit (before the running
        calls are scheduled, as vLLM's plug-in does before vLLM's running pass).

        The head is the waiting call of smallest key now. Which holds go, and in what
        order, is the cluster's (:meth:`~sagacore.sim.cluster.Simulation.release_pins_for`).
        """
        self._keys(self.waiting, now)
        head = min(self.waiting, key=_wait_order)
        if not self._head_fits(head):
            self.sim.release_pins_for(self, head, lambda: self._head_fits(head), now)

    def _pressure_pending(self, now: float) -> bool:
        """Whether the next step should be a scheduling point for the pressure rule: the
        head of the queue does not fit in what this step leaves and a hold could be
        released for it (the plug-in asks at every step; a head that fit before the
        running calls took their blocks is released for at the next)."""
        head = min(self.waiting, key=_wait_order)
        return not self._head_fits(head) and self.sim.has_releasable_pin(self, head, now)

    def _admit(
        self, now: float, budget: int, prefill: list[Call], chunks: list[int], decode: list[Call],
        point: bool,
    ) -> bool:
        """Admit waiting calls in key order (see the module notes); return whether any was.

        A preemptive scheduler evicts running calls for the head call only at a scheduling
        ``point``: between points keys are not evaluated (in step mode, whose every step
        tries to admit, re-evaluating them would also advance a scheduler's clock, such as
        AFS's epochs, at times fast mode never visits).
        """
        store = self.store
        sim = self.sim
        bs = self.block_size
        max_seqs = self.engine.max_num_seqs
        admitted = False
        waiting = self.waiting
        checked = self.checked
        gate = self.scheduler.admit if self.gated else None
        if gate is not None and not point:
            return False  # the scheduler's admission decisions hold until the next point
        i = 0  # waiting[:i] were deferred by the scheduler at this point
        while i < len(waiting) and budget > 0 and len(self.running) < max_seqs:
            call = waiting[i]
            target = call.target
            cap = target - 1
            swap = call.task.swap is not None
            # vLLM 0.33 admits a call only if its whole input sequence fits
            # (scheduler_reserve_full_isl), though it allocates only the first chunk
            if not checked and -(-target // bs) <= store.free_blocks:
                hit = -1  # it fits whatever it hits: the lease tells (one walk, not two)
            else:
                hit, pinned = store.lease_cost(call.ids, call.ends, cap)
                need = -(-target // bs) - hit // bs
                if need > store.free_blocks + store.evictable_blocks - pinned:
                    if point and self.scheduler.preemptive and self._preempt_for(
                        call, need, pinned, now, prefill, chunks, decode
                    ):
                        continue
                    break
            if gate is not None and not gate(call, self.view, now):
                i += 1
                continue
            waiting.pop(i)
            self.queued_tokens -= call.prompt_tokens
            lease = store.acquire(call.ids, call.ends, cap, now, owner=call.task.task.id,
                                  step=call.spec.index)
            if hit < 0:
                hit = lease.hit_tokens
            elif lease.hit_tokens != hit:
                raise InvariantError(f"lease hit {lease.hit_tokens} != predicted {hit}")
            restore = sim.restorable(call, self, hit) if swap else 0
            loading = restore > hit
            kv0 = restore if loading else hit
            chunk = 0 if loading else min(target - kv0, budget)
            call.lease = lease
            if not store.grow(lease, kv0 + chunk, now):
                raise InvariantError(f"worker {self.worker_id}: admission check disagreed")
            sim.admitted(call, self, now)
            call.kv = kv0
            self.kv_sum += kv0
            self.prefill_reused += kv0
            self.running.append(call)
            admitted = True
            if loading:
                call.state = LOADING
                self.swapped_in_tokens += restore - hit
                sim.start_loading(call, self, self.cost.swap_seconds(restore - hit), now)
            else:
                call.state = PREFILL
                prefill.append(call)
                chunks.append(chunk)
                budget -= chunk
                # vLLM caches a prefill's full blocks when it schedules them: calls
                # admitted after it in this pass already hit them
                store.commit(lease, call.ids, call.ends, kv0 + chunk, now)
        return admitted

    def _preempt_for(self, call: Call, need: int, pinned: int, now: float, prefill: list[Call],
                     chunks: list[int], decode: list[Call]) -> bool:
        """Preempt running calls with a larger key than ``call`` until it fits."""
        store = self.store
        self._keys(self.running, now)
        cands = sorted((c for c in self.running if c.key > call.key), key=_preempt_order)
        if not cands:
            return False
        while cands and need > store.free_blocks + store.evictable_blocks - pinned:
            victim = cands.pop()
            self._unschedule(victim, prefill, chunks, decode)
            self._preempt(victim, now)
        return need <= store.free_blocks + store.evictable_blocks - pinned

    def _preempt(self, call: Call, now: float) -> None:
        """Preempt by recompute: keep its computed blocks cached, free the rest, requeue."""
        lease = call.lease
        assert lease is not None
        if call.kv and call.state != LOADING:
            self.store.commit(lease, call.ids, call.ends, call.kv, now)
        self.store.release(lease, now)
        call.lease = None
        self.running.remove(call)
        self.kv_sum -= call.kv
        if call.state == LOADING:
            self.sim.cancel_loading(call)
        call.state = WAITING
        call.kv = 0
        call.target = call.prompt_tokens + call.generated
        call.enqueued_s = now
        self.preemptions += 1
        self.waiting.append(call)
        self.queued_tokens += call.prompt_tokens
        self.sim.preempted(call, self, now)

    def loaded(self, call: Call, now: float) -> None:
        """A swap-in finished: the call continues its prefill."""
        call.state = PREFILL
        self.poke(now)

    def check(self) -> None:
        """Checked-mode invariants of the worker and its store."""
        self.store.check()
        if self.kv_sum != sum(c.kv for c in self.running):
            raise InvariantError(f"worker {self.worker_id}: kv_sum {self.kv_sum} out of step")
        for c in self.running:
            if c.state not in (LOADING, PREFILL, DECODE) or c.lease is None:
                raise InvariantError(f"worker {self.worker_id}: bad running call {c!r}")
        for c in self.waiting:
            if c.state != WAITING:
                raise InvariantError(f"worker {self.worker_id}: bad waiting call {c!r}")


def _preempt_order(c: Call) -> tuple[tuple[float, ...], int]:
    return (c.key, c.seq)


def _wait_order(c: Call) -> tuple[tuple[float, ...], int]:
    return (c.key, c.seq)

