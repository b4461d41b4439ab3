"""Cache-only replay: run a cache policy over a trace in a prefix-cache store.

Every LLM call of the workload becomes, at its start time, a lookup of its prompt in a
:class:`~sagacore.cache.store.PrefixStore` (the longest cached prefix is a hit, the
rest is prefilled), an allocation of its KV, and at its end a commit of its context
(prompt and output; the prompt alone for Mooncake-style traces) into the store's radix
tree, after which the KV is evictable. There is no batching, queueing or cost model:
calls start when the trace says (task arrival, then each step when its dependencies'
LLM calls and tools are done, with the trace's observed LLM latency, or
``default_llm_seconds``) and memory is the only constraint. The cache policy decides
what is evicted when memory runs short and, when a session enters a tool call, whether
its KV is kept (possibly pinned for a TTL), swapped to host memory or dropped.

The mechanism feeds the shared :class:`~sagacore.workload.predictor.Predictor` (task
starts, LLM calls, tool durations, task ends) exactly as the simulator does, so
policies see the same knowledge in both.

Accounting (:class:`ReplayResult`): ``hit_tokens`` are prompt tokens found cached,
``swap_in_tokens`` prompt tokens restored from host memory (no prefill, but a transfer),
``miss_cost_tokens`` the prompt tokens prefilled. ``hits`` and ``misses`` count calls
that found at least one cached token and calls that found none. For a comparison with
the single-tier bounds of :mod:`sagacore.bounds`, which know no host memory, use
``miss_cost_tokens + swap_in_tokens`` (:attr:`ReplayResult.single_tier_cost_tokens`).

Examples
--------
>>> from sagacore.workload.model import Segment, Step, Task, TaskId, Workload
>>> s0 = Step(0, (Segment(1, 100),), 10, 2, tool="bash", tool_seconds=1.0)
>>> s1 = Step(1, (*s0.context, Segment(3, 40)), 5, 4, deps=(0,))
>>> w = Workload((Task(TaskId("a"), (s0, s1)),))
>>> r = replay(w, "lru", ReplayConfig(capacity_tokens=1000))
>>> r.hit_tokens, r.miss_cost_tokens, r.hits, r.misses
(110, 140, 1, 1)
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sagacore.cache import make_cache_policy
from sagacore.cache.store import CacheEntry, Lease, PrefixStore, segment_key
from sagacore.policy import (
    CachePolicy,
    Retention,
    RetentionDecision,
    SessionInfo,
)
from sagacore.validate import positive, positive_int
from sagacore.workload.model import Task, Workload
from sagacore.workload.predictor import Predictor, PredictorConfig
from sagacore.workload.progress import TaskProgress

__all__ = ["ReplayConfig", "ReplayResult", "replay"]

# same-time order: call ends, tool ends, step ends, unpins, then call starts by (task, step),
# the request order of CacheTrace.from_workload
_END, _TOOL, _FINISH, _UNHOLD, _START = 0, 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """Parameters of a cache-only replay. Raises ConfigError showing a bad value."""

    capacity_tokens: int
    """KV cache capacity, tokens (rounded down to whole blocks)."""
    block_tokens: int = 1
    """Tokens per KV block. 1 (default) caches at token granularity, the model of the
    bounds; 16 is vLLM's paging (partial blocks are then never shared)."""
    cache_outputs: bool = True
    """Cache a call's output with its prompt (agent traces); False caches the prompt
    only (the Mooncake rule)."""
    default_llm_seconds: float = 0.0
    """LLM latency of calls whose trace records none."""
    timed_calls: bool = False
    """False (default): a call looks up, allocates and commits its KV at its start
    instant, as the requests of the bounds' model do; the next call of the task still
    waits for the LLM latency and the tool, and the cache (policy and predictor) sees
    that whole gap as the tool call. True: the call holds its KV from start to end (its
    LLM latency), so concurrent calls compete for memory, and the tool starts after."""
    recompute_seconds_per_token: float = 1e-4
    """Prefill cost per token given to policies (:class:`~sagacore.policy.CacheContext`)."""
    swap_seconds_per_token: float = 2.6e-5
    """Host round-trip cost per token given to policies."""
    predictor: PredictorConfig | None = None
    """Configuration of the predictor the replay feeds (default: its defaults)."""

    def __post_init__(self) -> None:
        positive_int("ReplayConfig.capacity_tokens", self.capacity_tokens, zero_ok=True)
        positive_int("ReplayConfig.block_tokens", self.block_tokens)
        for name in (
            "default_llm_seconds",
            "recompute_seconds_per_token",
            "swap_seconds_per_token",
        ):
            positive(f"ReplayConfig.{name}", getattr(self, name), zero_ok=True)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay measured (all token counts are prompt tokens)."""

    policy: str
    """Name of the cache policy."""
    capacity_tokens: int
    """Cache capacity used, tokens."""
    requests: int
    """LLM calls replayed."""
    lookup_tokens: int
    """Prompt tokens over all calls."""
    hit_tokens: int
    """Prompt tokens found in the cache."""
    miss_cost_tokens: int
    """Prompt tokens prefilled (neither cached nor restored from host)."""
    swap_in_tokens: int
    """Prompt tokens restored from host memory after a swap."""
    hits: int
    """Calls that found at least one cached token."""
    misses: int
    """Calls that found none."""
    evicted_tokens: int
    """Tokens evicted from the tree by the policy's choices."""
    dropped_tokens: int
    """Tokens freed by DROP or SWAP retention decisions."""
    uncached_calls: int
    """Calls too large for the free and evictable memory (served, not cached)."""
    wall_seconds: float
    """Time the replay took."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything else (for example the trace name)."""

    @property
    def single_tier_cost_tokens(self) -> int:
        """Prefill plus swap-in tokens: the cost in the single-tier model of the bounds."""
        return self.miss_cost_tokens + self.swap_in_tokens

    @property
    def requests_per_second(self) -> float:
        """Replay speed."""
        return self.requests / self.wall_seconds if self.wall_seconds > 0 else float("inf")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (with ``requests_per_second``)."""
        d = asdict(self)
        d["requests_per_second"] = self.requests_per_second
        d["single_tier_cost_tokens"] = self.single_tier_cost_tokens
        return d


class _Session(TaskProgress):
    """Per-task replay state: the task's progress and its session's KV."""

    __slots__ = ("hold", "swapped_tokens", "task")

    def __init__(self, task: Task) -> None:
        super().__init__([s.deps for s in task.steps], task.id)
        self.task = task
        self.hold: tuple[CacheEntry, int] | None = None
        self.swapped_tokens = 0


def replay(
    workload: Workload,
    policy: CachePolicy | str,
    config: ReplayConfig,
    *,
    predictor: Predictor | None = None,
) -> ReplayResult:
    """Replay ``workload`` through a prefix-cache store run by ``policy``.

    Parameters
    ----------
    workload
        The tasks (agent traces with their tool gaps, or one-step Mooncake requests).
    policy
        A :class:`~sagacore.policy.CachePolicy`, or a name in
        :data:`~sagacore.cache.CACHE_POLICIES`.
    config
        Capacity, block size and timing (:class:`ReplayConfig`).
    predictor
        The predictor to feed and hand to the policy (default: a fresh one).

    Notes
    -----
    Every schedule a replay produces is feasible in the caching model of
    ``docs/caching.md``, so ``single_tier_cost_tokens >= FOO-L`` of the same trace and
    capacity (Theorem 5 there; checked by ``tests/test_replay_bounds.py``).
    """
    pol = make_cache_policy(policy) if isinstance(policy, str) else policy
    pred = predictor if predictor is not None else Predictor(config.predictor)
    bs = config.block_tokens
    store = PrefixStore(
        max(config.capacity_tokens // bs, 1),
        pol,
        block_size=bs,
        predictor=pred,
        swap_seconds_per_token=config.swap_seconds_per_token,
        recompute_seconds_per_token=config.recompute_seconds_per_token,
    )
    capacity_tokens = (config.capacity_tokens // bs) * bs
    if capacity_tokens == 0:
        store.caching = False  # the store's one block caches nothing
    seq = itertools.count()
    heap: list[tuple[float, int, int, Any]] = []
    sessions: list[_Session] = []
    for k, task in enumerate(workload.tasks):
        ses = _Session(task)
        sessions.append(ses)
        for i in ses.roots():
            heapq.heappush(heap, (task.arrival_s, _START, (k << 32) | i, (k, i)))
    started: set[int] = set()
    leases: dict[tuple[int, int], Lease | None] = {}
    stats = {
        "lookup": 0,
        "hit": 0,
        "swap": 0,
        "miss": 0,
        "hits": 0,
        "misses": 0,
        "dropped": 0,
        "uncached": 0,
        "requests": 0,
        "pins_broken": 0,
    }
    outputs = config.cache_outputs
    default_llm = config.default_llm_seconds
    timed = config.timed_calls
    t0 = time.perf_counter()

    def finish_step(k: int, i: int, now: float) -> None:
        ses = sessions[k]
        for j in ses.finish(i):
            heapq.heappush(heap, (now, _START, (k << 32) | j, (k, j)))
        if ses.complete:
            pred.observe_task_end(ses.task.id)

    while heap:
        now, kind, _, payload = heapq.heappop(heap)
        if kind == _START:
            k, i = payload
            ses = sessions[k]
            task = ses.task
            step = task.steps[i]
            if k not in started:
                started.add(k)
                pred.observe_task_start(task.id, task.agent_type)
            if ses.hold is not None:
                store.unhold(ses.hold[0], now)
                ses.hold = None
            store.tools.pop(task.id, None)
            ids, ends = segment_key(step.prompt)
            prompt_tokens = ends[-1]
            lease: Lease | None = store.acquire(
                ids, ends, prompt_tokens, now, owner=task.id, step=i
            )
            assert lease is not None
            hit = lease.hit_tokens
            restored = 0
            if ses.swapped_tokens:
                restored = max(0, min(ses.swapped_tokens, prompt_tokens) - hit)
                ses.swapped_tokens = 0
            stats["requests"] += 1
            stats["lookup"] += prompt_tokens
            stats["hit"] += hit
            stats["swap"] += restored
            stats["miss"] += prompt_tokens - hit - restored
            stats["hits" if hit else "misses"] += 1
            kv = prompt_tokens + (step.output_tokens if outputs else 0)
            ok = store.grow(lease, kv, now)
            if not ok and any(x.hold is not None for x in sessions):
                # pins yield to a call that cannot run otherwise (an engine must run it)
                for x in sessions:
                    if x.hold is not None:
                        store.unhold(x.hold[0], now)
                        x.hold = None
                stats["pins_broken"] += 1
                ok = store.grow(lease, kv, now)
            if not ok:
                store.release(lease, now)
                stats["uncached"] += 1
                lease = None
            leases[(k, i)] = lease
            llm = step.observed_llm_seconds
            llm_s = default_llm if llm is None else llm
            if timed:
                heapq.heappush(heap, (now + llm_s, _END, next(seq), (k, i, 0.0)))
            else:
                heapq.heappush(heap, (now, _END, next(seq), (k, i, llm_s)))
        elif kind == _END:
            k, i, lag = payload
            ses = sessions[k]
            task = ses.task
            step = task.steps[i]
            pred.observe_llm_call(
                task.id,
                i,
                prompt_tokens=step.prompt_tokens,
                output_tokens=step.output_tokens,
                tool=step.tool,
                deps=step.deps,
            )
            lease = leases.pop((k, i))
            kv_segments = step.context if outputs else step.prompt
            node: CacheEntry | None = None
            if lease is not None:
                cids, cends = segment_key(kv_segments)
                store.commit(lease, cids, cends, cends[-1], now)
                node = lease.node
            decision = RetentionDecision(Retention.KEEP)
            if step.tool is not None:
                store.tools[task.id] = (step.tool, now)
                view = SessionInfo(
                    task.id,
                    task.agent_type,
                    i,
                    step.tool,
                    sum(s.tokens for s in kv_segments),
                    ses.has_successors(i),
                )
                decision = pol.retention(view, store.context(now))
            if lease is not None:
                assert node is not None
                store.release(lease, now)
                holds = store.will_hold(decision, node)
                if holds and ses.hold is not None:
                    # one hold per session, as in the simulator: a parallel step's hold
                    # replaces its sibling's (which its timer no longer ends)
                    store.unhold(ses.hold[0], now)
                    ses.hold = None
                freed = store.apply_retention(decision, node, task.id, now) * bs
                if holds:
                    assert decision.ttl_s is not None
                    token = next(seq)
                    ses.hold = (node, token)
                    expiry = now + decision.ttl_s
                    heapq.heappush(heap, (expiry, _UNHOLD, token, (k, token)))
                stats["dropped"] += freed
                if decision.action is Retention.SWAP and freed:
                    ses.swapped_tokens = sum(s.tokens for s in kv_segments) // bs * bs
            if step.tool is not None:
                done = now + lag + step.tool_seconds
                heapq.heappush(heap, (done, _TOOL, next(seq), (k, i, lag)))
            elif lag > 0:
                heapq.heappush(heap, (now + lag, _FINISH, next(seq), (k, i)))
            else:
                finish_step(k, i, now)
        elif kind == _TOOL:
            k, i, lag = payload
            ses = sessions[k]
            task = ses.task
            step = task.steps[i]
            store.tools.pop(task.id, None)
            assert step.tool is not None
            # with instant calls the cache sees one gap: the LLM latency and the tool
            gap = lag + step.tool_seconds
            pred.observe_tool_call(task.id, i, gap)
            pol.observe_tool_end(task.id, step.tool, gap, now)
            finish_step(k, i, now)
        elif kind == _FINISH:
            k, i = payload
            finish_step(k, i, now)
        else:  # _UNHOLD
            k, token = payload
            ses = sessions[k]
            if ses.hold is not None and ses.hold[1] == token:
                store.unhold(ses.hold[0], now)
                ses.hold = None
    wall = time.perf_counter() - t0
    return ReplayResult(
        policy=pol.name,
        capacity_tokens=capacity_tokens,
        requests=stats["requests"],
        lookup_tokens=stats["lookup"],
        hit_tokens=stats["hit"],
        miss_cost_tokens=stats["miss"],
        swap_in_tokens=stats["swap"],
        hits=stats["hits"],
        misses=stats["misses"],
        evicted_tokens=store.stats.evicted_blocks * bs,
        dropped_tokens=stats["dropped"],
        uncached_calls=stats["uncached"],
        wall_seconds=wall,
        extra={"workload": workload.name, "pins_broken": stats["pins_broken"]},
    )
