"""Named stacks: a router, a scheduler and a cache policy that run together.

A :class:`Stack` names one policy of each kind (a registry name, or a factory taking a
:class:`BuildContext` for policies that need the predictor or the cost model) and
whether the engines cache prefixes. :data:`STACKS` is the user-facing list; the
simulator builds fresh policy objects for every run: one router and one scheduler for
the cluster, one cache policy per instance (each cache is its own).

The baselines, each in its best honest configuration:

==============  ===================  =====================  =====================
stack           router               scheduler              KV cache
==============  ===================  =====================  =====================
``vllm``        round robin          FCFS                   no prefix caching
``vllm-apc``    session affinity     FCFS                   prefix caching, LRU
``sglang``      cache-aware (SGLang) longest prefix match   radix cache, LRU
==============  ===================  =====================  =====================

The agent-aware stacks (``saga``, ``justitia``, ``astraea``, ``autellix``,
``continuum``, ``kvflow``, ``infercept``, ``vtc``, ``preble``) and sagacore's recommended
configuration, ``sagacore`` (``sagacore-best`` is an alias of it), are tabled, with
their sources and measurements, in ``docs/stacks.md``.

Examples
--------
>>> sorted(BASELINES)
['sglang', 'vllm', 'vllm-apc']
>>> get_stack("vllm").prefix_caching
False
>>> get_stack("nope")
Traceback (most recent call last):
...
sagacore.errors.UnknownNameError: unknown stack 'nope'; known: astraea, autellix, continuum, ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sagacore.cache import make_cache_policy
from sagacore.engine import CostModel
from sagacore.errors import ConfigError, UnknownNameError
from sagacore.policy import CachePolicy, Router, Scheduler
from sagacore.route import make_router
from sagacore.sched import make_scheduler

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.workload.predictor import Predictor

__all__ = ["BASELINES", "STACKS", "BuildContext", "Stack", "get_stack"]


@dataclass(frozen=True)
class BuildContext:
    """What a policy factory may use to build its policy."""

    cost: CostModel
    """Cost model of one instance."""
    instances: int
    """Number of instances in the cluster."""
    kv_capacity_tokens: int
    """KV capacity of one instance, tokens."""
    predictor: Predictor | None = None
    """The run's shared predictor (when the stack uses one)."""


RouterSpec = str | Callable[[BuildContext], Router]
SchedulerSpec = str | Callable[[BuildContext], Scheduler]
CacheSpec = str | Callable[[BuildContext], CachePolicy]


@dataclass(frozen=True)
class Stack:
    """A named combination of policies.

    Parameters
    ----------
    name
        The stack's name.
    router, scheduler, cache
        A registry name (:data:`sagacore.route.ROUTERS`, :data:`sagacore.sched.SCHEDULERS`,
        :data:`sagacore.cache.CACHE_POLICIES`) or a factory.
    prefix_caching
        Whether instances cache and share prefixes (False: vLLM without APC).
    uses_predictor
        Whether the policies read the shared predictor (the simulator then feeds one).
    description
        One line for listings.
    """

    name: str
    router: RouterSpec
    scheduler: SchedulerSpec
    cache: CacheSpec = "lru"
    prefix_caching: bool = True
    uses_predictor: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("Stack.name must be a non-empty string")

    def build_router(self, ctx: BuildContext) -> Router:
        """A fresh router."""
        return make_router(self.router) if isinstance(self.router, str) else self.router(ctx)

    def build_scheduler(self, ctx: BuildContext) -> Scheduler:
        """A fresh scheduler."""
        s = self.scheduler
        return make_scheduler(s) if isinstance(s, str) else s(ctx)

    def build_cache(self, ctx: BuildContext) -> CachePolicy:
        """A fresh cache policy (one per instance)."""
        c = self.cache
        return make_cache_policy(c) if isinstance(c, str) else c(ctx)


def _token_prices(ctx: BuildContext) -> tuple[float, float]:
    """Isolated-engine seconds per prompt and per output token, from the cost model."""
    return ctx.cost.prefill_seconds(2048) / 2048, ctx.cost.decode_step_seconds(1, 2048)


def _saga_afs(ctx: BuildContext) -> Scheduler:
    from sagacore.sched.afs import AFSConfig, SagaAFS

    p, o = _token_prices(ctx)
    cfg = AFSConfig(seconds_per_prompt_token=p, seconds_per_output_token=o)
    return SagaAFS(cfg, predictor=ctx.predictor)


def _astraea_sched(ctx: BuildContext) -> Scheduler:
    from sagacore.sched.astraea import Astraea, AstraeaConfig

    p, o = _token_prices(ctx)
    cfg = AstraeaConfig(seconds_per_prompt_token=p, seconds_per_output_token=o)
    return Astraea(cfg, predictor=ctx.predictor)


def _affinity_without_stealing(ctx: BuildContext) -> Router:
    from sagacore.route.saga import SagaAffinity

    return SagaAffinity(steal=False)


def _sagacore_sched(ctx: BuildContext) -> Scheduler:
    from sagacore.sched.admission import SagacoreScheduler

    p, o = _token_prices(ctx)
    return SagacoreScheduler(ctx.predictor, seconds_per_prompt_token=p,
                             seconds_per_output_token=o)


def _sagacore_cache(ctx: BuildContext) -> CachePolicy:
    from sagacore.cache.sagacore import SagacoreCache, SagacoreCacheConfig

    return SagacoreCache(SagacoreCacheConfig(pin=True))


def _justitia(ctx: BuildContext) -> Scheduler:
    from sagacore.sched.justitia import Justitia

    return Justitia(predictor=ctx.predictor)



STACKS: dict[str, Stack] = {
    s.name: s
    for s in (
        Stack(
            "vllm",
            router="round-robin",
            scheduler="fcfs",
            cache="lru",
            prefix_caching=False,
            description="vLLM without prefix caching, FCFS, round-robin routing",
        ),
        Stack(
            "vllm-apc",
            router="session-affinity",
            scheduler="fcfs",
            cache="lru",
            description="vLLM with automatic prefix caching (LRU), FCFS, session affinity",
        ),
        Stack(
            "sglang",
            router="cache-aware",
            scheduler="lpm",
            cache="lru",
            description="SGLang: radix cache (LRU), longest-prefix-match, cache-aware routing",
        ),
        # Agent-aware stacks (docs/stacks.md): each paper's router, scheduler and cache
        # policy; where a paper has no router, vllm-apc's session affinity.
        Stack(
            "saga",
            router="saga-affinity",
            scheduler=_saga_afs,
            cache="saga-ttl",
            uses_predictor=True,
            description="SAGA: session affinity (load < 0.8), AFS, WA-LRU + tool-aware TTL",
        ),
        Stack(
            "justitia",
            router="session-affinity",
            scheduler=_justitia,
            cache="lru",
            uses_predictor=True,
            description="Justitia: virtual-time fair queueing of agents, session affinity, LRU",
        ),
        Stack(
            "astraea",
            router="session-affinity",
            scheduler=_astraea_sched,
            cache="astraea",
            uses_predictor=True,
            description="Astraea: lifecycle HRRN, keep/swap/drop KV by pressure, session affinity",
        ),
        Stack(
            "autellix",
            router="autellix",
            scheduler="autellix",
            cache="lru",
            description="Autellix: PLAS multi-level queues, locality-aware load balancing, LRU",
        ),
        Stack(
            "continuum",
            router="session-affinity",
            scheduler="priority",
            cache="continuum-ttl",
            uses_predictor=True,
            description="Continuum: program-level FCFS, KV pinned with a TTL during tools",
        ),
        Stack(
            "kvflow",
            router="session-affinity",
            scheduler="fcfs",
            cache="kvflow",
            uses_predictor=True,
            description="KVFlow: steps-to-execution eviction, FCFS, session affinity",
        ),
        Stack(
            "infercept",
            router="session-affinity",
            scheduler="fcfs",
            cache="infercept",
            uses_predictor=True,
            description="InferCept: keep/swap/drop KV by least waste during tools, FCFS",
        ),
        Stack(
            "vtc",
            router="session-affinity",
            scheduler="vtc",
            cache="lru",
            description="VTC: virtual token counter fair share per tenant, session affinity, LRU",
        ),
        Stack(
            "preble",
            router="preble",
            scheduler="lpm",
            cache="lru",
            description="Preble: E2 prefix-aware routing against load, longest prefix match, LRU",
        ),
        Stack(
            "sagacore",
            router="session-affinity",
            scheduler=_sagacore_sched,
            cache=_sagacore_cache,
            uses_predictor=True,
            description="sagacore (recommended): session affinity, predicted-SRPT with aging "
            "and working-set admission control, adaptive next-use/LRU eviction with break-even "
            "pins through tools",
        ),
    )
}
"""The stacks by name."""

STACKS["sagacore-best"] = replace(
    STACKS["sagacore"], name="sagacore-best",
    description="alias of sagacore (the former name of the recommended stack)",
)

BASELINES: tuple[str, ...] = ("vllm", "vllm-apc", "sglang")
"""The baseline stacks ``sagacore simulate`` compares by default."""


def get_stack(name: str) -> Stack:
    """The stack called ``name``."""
    try:
        return STACKS[name]
    except KeyError:
        raise UnknownNameError("stack", name, list(STACKS)) from None
