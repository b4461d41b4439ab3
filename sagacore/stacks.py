"""Named stacks: a router, a scheduler and a cache policy that run together.

A :class:`Stack` names one policy of each kind, each by a spec: a registry name, a
policy class or a :class:`~sagacore.build.Configured` class (built by the class's
:meth:`~sagacore.policy.Policy.from_context`), or a factory taking a
:class:`~sagacore.build.BuildContext`; and whether the engines cache prefixes.
:meth:`Stack.build` is the one way policies are built: a fresh router and scheduler for
the cluster and one cache policy per instance (each cache is its own), as a
:class:`~sagacore.build.StackPolicies`, which is what a simulation receives
(:func:`sagacore.sim.build_policies` makes the context from a cluster). Whether a run
must feed the shared predictor is derived from what the policies declare
(:attr:`Stack.uses_predictor`), never restated. :data:`STACKS` is the user-facing list.

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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from sagacore.build import (
    BuildContext,
    Configured,
    StackPolicies,
    policy_class,
    spec_needs_predictor,
)
from sagacore.cache import CACHE_POLICIES
from sagacore.cache.sagacore import SagacoreCache, SagacoreCacheConfig
from sagacore.errors import ConfigError, UnknownNameError
from sagacore.policy import CachePolicy, Policy, Router, Scheduler
from sagacore.route import ROUTERS
from sagacore.sched import SCHEDULERS
from sagacore.sched.afs import SagaAFS
from sagacore.sched.astraea import Astraea

__all__ = ["BASELINES", "STACKS", "BuildContext", "Stack", "StackPolicies", "get_stack"]

RouterSpec = str | type[Router] | Configured[Router] | Callable[[BuildContext], Router]
"""A router: a :data:`~sagacore.route.ROUTERS` name, a class, or a factory."""
SchedulerSpec = (str | type[Scheduler] | Configured[Scheduler]
                 | Callable[[BuildContext], Scheduler])
"""A scheduler: a :data:`~sagacore.sched.SCHEDULERS` name, a class, or a factory."""
CacheSpec = (str | type[CachePolicy] | Configured[CachePolicy]
             | Callable[[BuildContext], CachePolicy])
"""A cache policy: a :data:`~sagacore.cache.CACHE_POLICIES` name, a class, or a factory."""

_KINDS: tuple[tuple[str, str, Mapping[str, str]], ...] = (
    ("router", "router", ROUTERS),
    ("scheduler", "scheduler", SCHEDULERS),
    ("cache", "cache policy", CACHE_POLICIES),
)


def _build(spec: object, kind: str, registry: Mapping[str, str], ctx: BuildContext) -> Policy:
    """The policy ``spec`` builds for the run ``ctx``."""
    if isinstance(spec, str):
        return policy_class(registry, kind, spec).from_context(ctx)
    if isinstance(spec, type) and issubclass(spec, Policy):
        built: Policy = spec.from_context(ctx)
        return built
    if callable(spec):
        made: Policy = spec(ctx)
        return made
    raise ConfigError(f"a {kind} spec must be a name, a policy class or a factory, got {spec!r}")


@dataclass(frozen=True)
class Stack:
    """A named combination of policies.

    Parameters
    ----------
    name
        The stack's name.
    router, scheduler, cache
        A registry name (:data:`sagacore.route.ROUTERS`, :data:`sagacore.sched.SCHEDULERS`,
        :data:`sagacore.cache.CACHE_POLICIES`), a policy class, a
        :class:`~sagacore.build.Configured` class, or a factory taking a
        :class:`~sagacore.build.BuildContext`.
    prefix_caching
        Whether instances cache and share prefixes (False: vLLM without APC).
    description
        One line for listings.

    Examples
    --------
    >>> from sagacore.engine import CostModel
    >>> ctx = BuildContext(CostModel.from_presets("llama-3-8b", "a100-80gb"), 2, 100_000)
    >>> built = get_stack("saga").build(ctx)
    >>> type(built.scheduler).__name__, len(built.caches), built.uses_predictor
    ('SagaAFS', 2, True)
    >>> get_stack("vllm-apc").uses_predictor
    False
    """

    name: str
    router: RouterSpec
    scheduler: SchedulerSpec
    cache: CacheSpec = "lru"
    prefix_caching: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("Stack.name must be a non-empty string")
        for field_name, kind, registry in _KINDS:
            spec = getattr(self, field_name)
            if isinstance(spec, str) and spec not in registry:
                raise UnknownNameError(kind, spec, list(registry))

    @property
    def uses_predictor(self) -> bool:
        """Whether a policy of the stack declares it reads the shared predictor (the
        mechanism then feeds one): derived from the policies' classes
        (:func:`~sagacore.build.spec_needs_predictor`; a bare factory counts as yes)."""
        return any(spec_needs_predictor(registry, kind, getattr(self, f))
                   for f, kind, registry in _KINDS)

    def build(self, ctx: BuildContext) -> StackPolicies:
        """Fresh policies for one run: the router, the scheduler, then one cache policy
        per instance (``ctx.instances``), with ``ctx``, whether the engines cache
        prefixes and the stack's name: what a simulation receives."""
        return StackPolicies(
            self.build_router(ctx),
            self.build_scheduler(ctx),
            tuple(self.build_cache(ctx) for _ in range(ctx.instances)),
            ctx,
            prefix_caching=self.prefix_caching,
            name=self.name,
        )

    def build_router(self, ctx: BuildContext) -> Router:
        """A fresh router (the part of :meth:`build` a mechanism may ask for alone)."""
        r = _build(self.router, "router", ROUTERS, ctx)
        if not isinstance(r, Router):
            raise ConfigError(f"stack {self.name!r}: its router spec built {r!r}, not a Router")
        return r

    def build_scheduler(self, ctx: BuildContext) -> Scheduler:
        """A fresh scheduler (the part of :meth:`build` a mechanism may ask for alone)."""
        s = _build(self.scheduler, "scheduler", SCHEDULERS, ctx)
        if not isinstance(s, Scheduler):
            raise ConfigError(
                f"stack {self.name!r}: its scheduler spec built {s!r}, not a Scheduler")
        return s

    def build_cache(self, ctx: BuildContext) -> CachePolicy:
        """A fresh cache policy for one instance (the part of :meth:`build` a mechanism
        may ask for alone)."""
        c = _build(self.cache, "cache policy", CACHE_POLICIES, ctx)
        if not isinstance(c, CachePolicy):
            raise ConfigError(
                f"stack {self.name!r}: its cache spec built {c!r}, not a CachePolicy")
        return c


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
            scheduler=SagaAFS,
            cache="saga-ttl",
            description="SAGA: session affinity (load < 0.8), AFS, WA-LRU + tool-aware TTL",
        ),
        Stack(
            "justitia",
            router="session-affinity",
            scheduler="justitia",
            cache="lru",
            description="Justitia: virtual-time fair queueing of agents, session affinity, LRU",
        ),
        Stack(
            "astraea",
            router="session-affinity",
            scheduler=Astraea,
            cache="astraea",
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
            description="Continuum: program-level FCFS, KV pinned with a TTL during tools",
        ),
        Stack(
            "kvflow",
            router="session-affinity",
            scheduler="fcfs",
            cache="kvflow",
            description="KVFlow: steps-to-execution eviction, FCFS, session affinity",
        ),
        Stack(
            "infercept",
            router="session-affinity",
            scheduler="fcfs",
            cache="infercept",
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
            router="idle-steal",
            scheduler="sagacore",
            cache=Configured(SagacoreCache, SagacoreCacheConfig(pin=True)),
            description="sagacore (recommended): session affinity with stealing by idle "
            "workers, predicted-SRPT with aging "
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
