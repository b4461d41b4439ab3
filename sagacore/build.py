"""How policies are built: the :class:`BuildContext` a mechanism hands them, and names.

One path builds every policy a run uses. The caller of a mechanism makes one
:class:`BuildContext` and asks a :class:`~sagacore.stacks.Stack` to
:meth:`~sagacore.stacks.Stack.build` its policies, a :class:`StackPolicies`, which is
what the mechanism receives (the simulator never sees the stack; the vLLM plug-in asks
for the two parts it runs); the stack builds each one from its
spec: a registry name (:data:`sagacore.route.ROUTERS`, :data:`sagacore.sched.SCHEDULERS`,
:data:`sagacore.cache.CACHE_POLICIES`, resolved by :func:`policy_class`), a policy
class, a :class:`Configured` class, or a plain factory. A class is built by its
:meth:`~sagacore.policy.Policy.from_context`, and says what it needs in its
:attr:`~sagacore.policy.Policy.needs_predictor` and
:attr:`~sagacore.policy.Policy.needs_cost_model`: the stack derives from them whether
the run must feed a predictor (:func:`spec_needs_predictor`).

This module imports no policy module, so policy modules may import it (the stacks
import the policies, never the reverse).

Examples
--------
>>> from sagacore.engine import CostModel
>>> from sagacore.sched import SCHEDULERS
>>> ctx = BuildContext(CostModel.from_presets("llama-3-8b", "a100-80gb"), 1, 100_000)
>>> p, o = ctx.token_prices()                 # seconds per prompt / output token
>>> p < o
True
>>> cls = policy_class(SCHEDULERS, "scheduler", "saga-afs")
>>> cls.__name__, cls.needs_predictor, cls.needs_cost_model
('SagaAFS', True, True)
>>> spec_needs_predictor(SCHEDULERS, "scheduler", "fcfs")
False
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from sagacore.errors import UnknownNameError

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.engine import CostModel
    from sagacore.policy import CachePolicy, Policy, Router, Scheduler
    from sagacore.workload.predictor import Predictor

__all__ = ["BuildContext", "Configured", "StackPolicies", "policy_class",
           "spec_needs_predictor"]

P = TypeVar("P", bound="Policy")


@dataclass(frozen=True)
class BuildContext:
    """What a policy may use to build itself (:meth:`~sagacore.policy.Policy.from_context`)."""

    cost: CostModel
    """Cost model of one instance."""
    instances: int
    """Number of instances in the cluster."""
    kv_capacity_tokens: int
    """KV capacity of one instance, tokens (the cluster's figure: the mechanism may hold
    back a block of it, see :attr:`~sagacore.policy.CacheContext.capacity_tokens`)."""
    predictor: Predictor | None = None
    """The run's shared predictor (when a policy of the stack declares it needs one)."""

    def token_prices(self) -> tuple[float, float]:
        """Isolated-engine seconds per prompt token and per output token, from the cost
        model (prefill of 2,048 tokens, and one decode step at that context): how the
        work-pricing schedulers turn predicted tokens into seconds."""
        return (self.cost.prefill_seconds(2048) / 2048,
                self.cost.decode_step_seconds(1, 2048))


@dataclass(frozen=True)
class StackPolicies:
    """The policy objects :meth:`sagacore.stacks.Stack.build` makes for one run, with what
    the mechanism needs beside them: the whole of what a simulation receives."""

    router: Router
    """The cluster's router."""
    scheduler: Scheduler
    """The cluster's scheduler (it orders every worker's queue)."""
    caches: tuple[CachePolicy, ...]
    """One cache policy per instance, in instance order."""
    context: BuildContext
    """What they were built for: the instances, the KV capacity, and the run's predictor
    (the one the mechanism feeds)."""
    prefix_caching: bool = True
    """Whether instances cache and share prefixes (False: vLLM without APC)."""
    name: str = "custom"
    """The stack's name, for results."""

    @property
    def uses_predictor(self) -> bool:
        """Whether any of the policies declares it reads the shared predictor."""
        return any(p.needs_predictor for p in (self.router, self.scheduler, *self.caches))


@dataclass(frozen=True)
class Configured(Generic[P]):
    """A policy class with a configuration: builds ``policy.from_context(ctx, config)``.

    What it needs is what ``policy`` declares.

    Examples
    --------
    >>> from sagacore.cache.sagacore import SagacoreCache, SagacoreCacheConfig
    >>> from sagacore.engine import CostModel
    >>> ctx = BuildContext(CostModel.from_presets("llama-3-8b", "a100-80gb"), 1, 100_000)
    >>> spec = Configured(SagacoreCache, SagacoreCacheConfig(pin=True))
    >>> spec.policy.needs_predictor, spec(ctx).config.pin
    (True, True)
    """

    policy: type[P]
    """The policy class."""
    config: object
    """The configuration its :meth:`~sagacore.policy.Policy.from_context` takes."""

    def __call__(self, ctx: BuildContext) -> P:
        """The policy, built."""
        # each class's from_context types its own config; the base's takes none
        built: P = cast(Any, self.policy).from_context(ctx, self.config)
        return built


def policy_class(registry: Mapping[str, str], kind: str, name: str) -> type[Policy]:
    """The class a registry (name -> ``"module:Class"``) gives ``name``, not built.

    Raises
    ------
    UnknownNameError
        ``name`` is not in ``registry`` (``kind`` names the registry in the message).
    """
    try:
        module, cls = registry[name].split(":")
    except KeyError:
        raise UnknownNameError(kind, name, list(registry)) from None
    found: type[Policy] = getattr(importlib.import_module(module), cls)
    return found


def spec_needs_predictor(registry: Mapping[str, str], kind: str, spec: object) -> bool:
    """Whether the policy a stack spec builds declares it reads the shared predictor.

    A name or a class answers by its class's
    :attr:`~sagacore.policy.Policy.needs_predictor`, as does a :class:`Configured` and a
    class's own ``from_context``. Any other factory cannot say what it builds: it counts
    as needing the predictor (the run then feeds one; a policy that does not read it
    gives the same results, at some cost in speed).
    """
    if isinstance(spec, str):
        return bool(policy_class(registry, kind, spec).needs_predictor)
    if isinstance(spec, Configured):
        return bool(spec.policy.needs_predictor)
    if inspect.isclass(spec):
        return bool(getattr(spec, "needs_predictor", True))
    owner: Any = getattr(spec, "__self__", None)
    if inspect.ismethod(spec) and inspect.isclass(owner):
        return bool(getattr(owner, "needs_predictor", True))
    return True
