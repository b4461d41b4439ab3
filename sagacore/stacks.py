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

Examples
--------
>>> sorted(BASELINES)
['sglang', 'vllm', 'vllm-apc']
>>> get_stack("vllm").prefix_caching
False
>>> get_stack("nope")
Traceback (most recent call last):
...
sagacore.errors.UnknownNameError: unknown stack 'nope'; known: sglang, vllm, vllm-apc
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
    )
}
"""The stacks by name."""

BASELINES: tuple[str, ...] = ("vllm", "vllm-apc", "sglang")
"""The baseline stacks ``sagacore simulate`` compares by default."""


def get_stack(name: str) -> Stack:
    """The stack called ``name``."""
    try:
        return STACKS[name]
    except KeyError:
        raise UnknownNameError("stack", name, list(STACKS)) from None
