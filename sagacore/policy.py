"""The engine-agnostic policy interfaces: Router, Scheduler and CachePolicy.

The same policy objects run in sagacore's simulator (:mod:`sagacore.sim`), in cache-only
replay (:mod:`sagacore.cache`) and inside vLLM (``integrations/vllm``). So a policy sees
only small read-only **views** (Protocols) of what it decides about, answers one
question, and never edits mechanism state. Each mechanism implements the views over its
own state.

- A :class:`Router` answers: *which worker gets this ready LLM call?*
- A :class:`Scheduler` answers: *in what order are a worker's waiting calls served?* by a
  sort key (smaller first), and optionally whether it preempts.
- A :class:`CachePolicy` answers: *which cached prefix goes first when memory is short?*
  and *keep, swap or drop a session's KV while its tool runs?*

Stateful policies keep their own state and learn only through the ``observe_*`` hooks
the mechanism calls; they read workflow knowledge from the shared predictor, never
recomputing it. Every hook has a no-op default, so a policy overrides only what it uses
(one override point for the decision itself, as cachetools does with ``popitem``).

Every policy is a :class:`Policy`: it says what it needs to be built
(:attr:`~Policy.needs_predictor`, :attr:`~Policy.needs_cost_model`) and builds itself from
a :class:`~sagacore.build.BuildContext` (:meth:`~Policy.from_context`), the one path
:meth:`sagacore.stacks.Stack.build` takes.

Examples
--------
>>> class ShortestPromptFirst(Scheduler):
...     name = "spf"
...     def key(self, call: CallView, now: float) -> tuple[float, ...]:
...         return (call.prompt_tokens, call.ready_s)
>>> ShortestPromptFirst().preemptive
False
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, Self

from sagacore._values import quick_init
from sagacore.errors import ConfigError
from sagacore.workload.model import Task, TaskId, TenantId

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.build import BuildContext
    from sagacore.workload.predictor import Predictor

__all__ = [
    "CacheContext",
    "CacheEntryView",
    "CachePolicy",
    "CallView",
    "Policy",
    "Retention",
    "RetentionDecision",
    "Router",
    "Scheduler",
    "SessionInfo",
    "SessionView",
    "TaskArrivalView",
    "WorkerView",
]


class CallView(Protocol):
    """A ready LLM call, as a policy sees it (read-only)."""

    @property
    def task_id(self) -> TaskId:
        """The task (session) the call belongs to."""

    @property
    def tenant(self) -> TenantId:
        """The task's tenant."""

    @property
    def agent_type(self) -> str:
        """The task's agent type."""

    @property
    def step(self) -> int:
        """Index of the step in its task."""

    @property
    def parents(self) -> tuple[int, ...]:
        """Indices of the steps of its task whose outputs this call waited for (its
        parents in the task's DAG): what a program knows of a call when it issues it."""

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens of the call."""

    @property
    def task_arrival_s(self) -> float:
        """When the task arrived."""

    @property
    def ready_s(self) -> float:
        """When this call became ready (its dependencies and tools finished)."""

    @property
    def task_attained_s(self) -> float:
        """GPU service the task has received so far, in seconds of batch time shared."""

    @property
    def task_attained_tokens(self) -> int:
        """Tokens (prompt computed + output) the task has been served so far."""

    @property
    def task_wait_s(self) -> float:
        """Time the task has spent ready but not running, over its whole lifecycle."""

    @property
    def task_tool_s(self) -> float:
        """Time the task has spent in tool calls so far."""

    @property
    def steps_done(self) -> int:
        """LLM calls of the task finished so far."""

    @property
    def cached_tokens(self) -> int:
        """Prompt tokens found in the prefix cache of the worker the call waits on.

        Evaluated when read (a mechanism may answer from a cache refreshed at each
        scheduling point); 0 before the call is placed on a worker. SGLang's
        longest-prefix-match ordering reads it.
        """


class WorkerView(Protocol):
    """An engine instance, as a router sees it (read-only)."""

    @property
    def worker_id(self) -> int:
        """Index of the worker in the cluster."""

    @property
    def load(self) -> float:
        """Load in [0, inf): KV tokens in use and queued over capacity (1 = full)."""

    @property
    def queued_calls(self) -> int:
        """Calls waiting on this worker."""

    @property
    def running_calls(self) -> int:
        """Calls in the running batch."""

    @property
    def pool_tokens(self) -> int:
        """The instance's KV pool in tokens, whole blocks, vLLM's null block included: the
        denominator of :attr:`load` (as of vLLM's ``kv_cache_usage``). One block more
        than what the cache can hold, :attr:`CacheContext.capacity_tokens`. (Formerly
        named ``capacity_tokens`` too; sagacore's workers keep that name as an alias.)"""

    @property
    def free_tokens(self) -> int:
        """KV tokens free or evictable."""

    def cached_prefix_tokens(self, call: CallView) -> int:
        """Tokens of ``call``'s prompt already cached on this worker."""


class Policy(ABC):  # noqa: B024 (abstract: every policy is a Router, Scheduler or CachePolicy)
    """What every policy says about how it is built (one build path, no restating).

    A policy class declares what it needs; :meth:`from_context` builds it from a
    :class:`~sagacore.build.BuildContext`. A stack derives from the declarations whether
    its run must feed the shared predictor, and a registry lookup by name alone
    (:func:`sagacore.sched.make_scheduler`) refuses a policy that needs the context.
    """

    name: ClassVar[str] = "policy"
    needs_predictor: ClassVar[bool] = False
    """Whether the policy reads the run's shared predictor, when built
    (:attr:`BuildContext.predictor <sagacore.build.BuildContext.predictor>`) or when it
    decides (:attr:`CacheContext.predictor`): a run with such a policy feeds one."""
    needs_cost_model: ClassVar[bool] = False
    """Whether :meth:`from_context` prices work with the context's cost model."""

    @classmethod
    def from_context(cls, ctx: BuildContext) -> Self:
        """A fresh policy for a run described by ``ctx`` (default: the default
        configuration; a policy that needs the context overrides this)."""
        return cls()


class Router(Policy):
    """Places each ready LLM call on a worker. Subclasses override :meth:`route`.

    A router may also *steal work*: with :attr:`rebalance_interval_s` set, the mechanism
    calls :meth:`rebalance` that often while tasks are active, and moves calls that wait
    on one worker to another, with the KV of their prompt.
    """

    name: ClassVar[str] = "router"
    rebalance_interval_s: float | None = None
    """Seconds between calls of :meth:`rebalance` (None: never called)."""
    quiet_ticks_idle: ClassVar[bool] = False
    """A promise that lets the mechanism leave out calls of :meth:`rebalance`: a *quiet*
    call (no offered worker has a queued call) right after a quiet call with the same
    offered workers returns no pair and changes nothing that a later call reads. Results
    are the same whether such calls are made or not; a subclass that overrides
    :meth:`rebalance` keeps the promise or sets this False."""

    @abstractmethod
    def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
        """Return the ``worker_id`` of the worker that gets ``call``."""

    def rebalance(self, workers: Sequence[WorkerView], now: float) -> Sequence[tuple[int, int]]:
        """Work stealing: pairs ``(src, dst)`` of worker ids (default: none).

        For each pair in order, the mechanism takes the call that has waited longest on
        ``src`` among those :meth:`stealable` to ``dst`` (if any) and moves it to ``dst``,
        copying the KV of its
        prompt that ``src`` caches (the transfer takes the cost model's
        ``migration_seconds``); then it calls :meth:`observe_migration`.
        """
        return ()

    def stealable(self, call: CallView, dst: WorkerView) -> bool:
        """Whether work stealing may move the waiting ``call`` to ``dst`` (default: any
        call, SAGA's rule: the longest-waiting one moves)."""
        return True

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        """The task finished (forget any per-session state)."""

    def observe_migration(self, task_id: TaskId, src: int, dst: int, now: float) -> None:
        """The mechanism moved a session from worker ``src`` to ``dst``."""


class TaskArrivalView(Protocol):
    """What an online system knows of a task when it arrives: who sent it, of which
    type, when, and its first call's prompt; nothing of the calls that follow.

    The simulator and :func:`sagacore.testing.fairness.run_servers` pass
    :meth:`Task.arrival() <sagacore.workload.model.Task.arrival>`, which carries these
    fields alone, so a policy cannot read the future even by going around the type (a
    :class:`~sagacore.workload.model.Task` answers the protocol too, for callers that have
    one: doctests, sagacore's vLLM plug-in passes its own first-call view).
    """

    @property
    def id(self) -> TaskId:
        """The task."""

    @property
    def tenant(self) -> TenantId:
        """Its tenant."""

    @property
    def agent_type(self) -> str:
        """Its agent type."""

    @property
    def arrival_s(self) -> float:
        """When it arrived."""

    @property
    def first_prompt_tokens(self) -> int:
        """Tokens of its first call's prompt."""


class Scheduler(Policy):
    """Orders a worker's waiting calls. Subclasses override :meth:`key`.

    The mechanism admits waiting calls in increasing key order while the token budget
    and KV memory allow. When :attr:`preemptive` is true it may also preempt a running
    call whose key is larger than a waiting call's that cannot otherwise be admitted.
    When a running call cannot grow, the mechanism preempts the running call of largest
    key if :attr:`victim_by_key` or :attr:`preemptive` is true (vLLM's priority policy),
    else the one admitted last (vLLM's FCFS). :meth:`admit` (admission control) may defer
    a call that fits.
    """

    name: ClassVar[str] = "scheduler"
    preemptive: ClassVar[bool] = False
    victim_by_key: ClassVar[bool] = False

    @abstractmethod
    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        """Sort key of ``call`` at time ``now`` (smaller is served first)."""

    def admit(self, call: CallView, worker: WorkerView, now: float) -> bool:
        """Admission control: may ``call``, which fits in memory, join ``worker``'s batch?

        The mechanism asks at a scheduling point, for each waiting call in key order
        that fits (its whole input, after evicting what the cache policy offers). False
        *defers* the call: it stays waiting and the mechanism tries the next one (a
        deferred call does not stop the admission as a call that does not fit does).
        Between scheduling points nothing is admitted, so a decision holds until the
        next point. Default: always (no admission control). A policy that defers must
        guarantee progress itself (for example never defer on a worker that runs
        nothing: its next scheduling point comes when a running call ends).
        """
        return True

    def observe_task_arrival(self, task: TaskArrivalView, now: float) -> None:
        """A task arrived: what an online system knows of it (:class:`TaskArrivalView`)."""

    def observe_task_future(self, task: Task, now: float) -> None:
        """The oracle's hook: the arriving task's whole future (its calls, their sizes,
        tools and dependencies), right after :meth:`observe_task_arrival`.

        Only reference policies, which no engine can deploy, override it, and their
        names say so (``srpt-oracle``; Justitia with ``cost_source="oracle"``). Autellix's
        ATLAS mode does not: it reads each call's parents (:attr:`CallView.parents`) as
        the program issues it. The simulator and
        :func:`sagacore.testing.fairness.run_servers` call it; sagacore's vLLM plug-in
        passes what it has, the first call alone.
        """

    def observe_call_start(self, call: CallView, now: float) -> None:
        """``call`` joined a running batch."""

    def observe_service(self, call: CallView, tokens: int, seconds: float, now: float) -> None:
        """``call`` was served ``tokens`` tokens in a batch step lasting ``seconds``."""

    def observe_service_run(self, calls: Sequence[CallView], tokens: int, seconds: float,
                            now: float) -> None:
        """Each of ``calls`` was served ``tokens`` tokens over ``seconds`` (the steps of a
        decode run since the last scheduling point): :meth:`observe_service` of each, in
        order. A scheduler that overrides this gets a run's calls in one call (the
        simulator's, after it has counted their attained service)."""
        for call in calls:
            self.observe_service(call, tokens, seconds, now)

    def observe_call_end(self, call: CallView, output_tokens: int, now: float) -> None:
        """``call`` finished having generated ``output_tokens``."""

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        """The task finished."""


class CacheEntryView(Protocol):
    """An evictable cached prefix piece (a radix-tree leaf or a block run), read-only."""

    @property
    def entry_id(self) -> int:
        """Identity of the entry within its cache."""

    @property
    def tokens(self) -> int:
        """Tokens this entry holds (what evicting it frees)."""

    @property
    def prefix_tokens(self) -> int:
        """Tokens of the whole prefix ending with this entry."""

    @property
    def last_access_s(self) -> float:
        """Last time a call used this entry."""

    @property
    def created_s(self) -> float:
        """When the entry was filled."""

    @property
    def hits(self) -> int:
        """How many calls have reused it."""

    @property
    def task_id(self) -> TaskId | None:
        """The session whose context ends here (None when shared by several)."""

    @property
    def step(self) -> int | None:
        """Index of the step whose context produced it, when owned by one task."""

    @property
    def tool(self) -> str | None:
        """Tool the owning session is running now (None when it is not in a tool)."""

    @property
    def tool_started_s(self) -> float | None:
        """When that tool started."""


class SessionView(Protocol):
    """A session whose LLM call just ended and whose tool is about to run."""

    @property
    def task_id(self) -> TaskId:
        """The task."""

    @property
    def agent_type(self) -> str:
        """Its agent type."""

    @property
    def step(self) -> int:
        """The step that just finished."""

    @property
    def tool(self) -> str:
        """The tool about to run."""

    @property
    def context_tokens(self) -> int:
        """Tokens of KV the session holds (prompt and output of the step)."""

    @property
    def has_successor(self) -> bool:
        """Whether the task has a later step that will reuse this context."""


@quick_init
@dataclass(frozen=True, slots=True)
class CacheContext:
    """What a cache policy may read besides the entries: time, memory, the predictor."""

    now: float
    """Current time in seconds."""
    capacity_tokens: int
    """Tokens the cache can hold: its usable blocks times the block size. A mechanism
    that reserves a block (the simulator's store, as vLLM, holds back the null block)
    excludes it, so this is one block less than the instance's
    :attr:`WorkerView.pool_tokens`."""
    used_tokens: int
    """KV tokens in use: held by calls, pinned, or in transit to the host. Cached KV that
    nothing references is not in use (it is reclaimed on demand; vLLM's
    ``kv_cache_usage`` counts those blocks as free): see :attr:`cached_free_tokens`."""
    predictor: Predictor | None = None
    """Shared workflow knowledge (next-step probabilities, tool durations), if any."""
    swap_seconds_per_token: float = 0.0
    """Cost of moving one token of KV to host memory and back, seconds."""
    recompute_seconds_per_token: float = 0.0
    """Cost of re-prefilling one token, seconds."""
    cached_free_tokens: int = 0
    """Cached KV tokens that nothing references (evictable), besides :attr:`used_tokens`."""

    @property
    def used_fraction(self) -> float:
        """Memory pressure: tokens in use over capacity (as vLLM's ``kv_cache_usage``)."""
        return self.used_tokens / self.capacity_tokens if self.capacity_tokens else 1.0


class Retention(enum.Enum):
    """What to do with a session's KV while its tool runs."""

    KEEP = "keep"
    """Keep it in GPU memory (pinned for ``ttl_s`` when given, else until evicted)."""
    SWAP = "swap"
    """Move it to host memory and back before the next call."""
    DROP = "drop"
    """Free it; the next call recomputes what is no longer cached."""


@quick_init
@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A :class:`SessionView` as a plain value: what a mechanism hands a cache policy
    when a session's call ends before a tool (the simulator, cache replay and the vLLM
    plug-in all build this one)."""

    task_id: TaskId
    """The task."""
    agent_type: str
    """Its agent type."""
    step: int
    """The step that just finished."""
    tool: str
    """The tool about to run."""
    context_tokens: int
    """Tokens of KV the session holds."""
    has_successor: bool
    """Whether a later step will reuse this context."""


@quick_init
@dataclass(frozen=True, slots=True)
class RetentionDecision:
    """A retention choice with an optional pin time."""

    action: Retention
    """Keep, swap or drop."""
    ttl_s: float | None = None
    """With KEEP: protect from eviction for this long (None: not pinned, just cached)."""

    def __post_init__(self) -> None:
        if self.ttl_s is not None and not self.ttl_s >= 0:
            raise ConfigError(f"ttl_s must be >= 0 or None, got {self.ttl_s}")
        if self.ttl_s is not None and self.action is not Retention.KEEP:
            raise ConfigError(
                f"ttl_s only applies to KEEP, got {self.action.value} with {self.ttl_s}"
            )


CACHE_ONLY = RetentionDecision(Retention.KEEP)
"""The default retention: leave the KV cached, unpinned (what vLLM does)."""


class CachePolicy(Policy):
    """Chooses what leaves the KV cache: two decisions, one method each.

    - The **eviction** decision, :meth:`victim` (abstract): the mechanism calls it with
      the evictable entries (never one in use, never one whose removal would orphan a
      cached suffix) whenever it needs room.
    - The **retention** decision, :meth:`retention` (default: keep, unpinned): the
      mechanism calls it when a session enters a tool call.

    A policy whose own rule is only the retention decision composes with an eviction
    policy instead of restating one (:class:`sagacore.cache.retention.RetentionPolicy`,
    LRU by default).
    """

    name: ClassVar[str] = "cache"

    @abstractmethod
    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        """The eviction decision: index into ``candidates`` of the entry to evict next."""

    def retention(self, session: SessionView, ctx: CacheContext) -> RetentionDecision:
        """The retention decision: keep, swap or drop ``session``'s KV while its tool
        runs (default: keep, unpinned)."""
        return CACHE_ONLY

    def observe_access(self, entry: CacheEntryView, now: float) -> None:
        """A call reused ``entry``."""

    def observe_lookup(self, segments: Sequence[int], now: float) -> None:
        """A call looked up its prompt, the content segments ``segments`` (their ids, in
        order), hit or miss: what a ghost cache needs to learn which evictions a later
        request regretted."""

    def observe_tool_end(self, task_id: TaskId, tool: str, seconds: float, now: float) -> None:
        """The session's tool finished after ``seconds``."""
