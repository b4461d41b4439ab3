"""SAGA's multi-tenant mix: 10 tenants (3 heavy, 4 medium, 3 light) of SWE-bench and WebArena.

Every task arrives (one arrival process for the whole mix), then draws its tenant with
probability proportional to the tenant's arrival share (a class's ``arrival_share`` split
evenly among its tenants; so each tenant's arrivals are a thinned, independent Poisson
process when the mix is Poisson), then its kind: SWE-bench with the class's
``swe_bench_fraction``, WebArena otherwise, built by the SWE-bench and WebArena
generators (:class:`MultiTenantConfig` holds their configs).

Heavy, medium and light tenants differ in both arrival share and task size. Defaults:

======  =======  =================  ============  =======================  ======
class   tenants  share of arrivals  SWE-bench     mean LLM calls per task  weight
======  =======  =================  ============  =======================  ======
heavy   3        50% (16.7% each)   80%           about 68                 1
medium  4        35% (8.75% each)   50%           about 49                 1
light   3        15% (5% each)      20%           about 30                 1
======  =======  =================  ============  =======================  ======

so a heavy tenant offers about 7.4 times the LLM calls of a light one. Weights are equal
(equal fair shares: heavy tenants exceed theirs, light ones stay below, the setting of
SAGA's fairness claim for tenants with W_i <= C/N); every tenant's SLO factor is 1.5
(SLO: TCT within 1.5x of the task's isolated TCT). Both are :class:`TenantClass` fields.
System prompts are shared by agent type across tenants (the same agent software).

Examples
--------
>>> w = multi_tenant(tasks=40, seed=0)
>>> len(w.tenants), [t.id for t in w.tenants][:4]
(10, ['heavy-0', 'heavy-1', 'heavy-2', 'light-0'])
>>> {t.slo_factor for t in w.tenants}, sorted({t.agent_type for t in w})
({1.5}, ['swe-bench', 'webarena'])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sagacore._rng import Seed
from sagacore.validate import check, finite_number, positive, positive_int
from sagacore.workload.generators._common import generate
from sagacore.workload.generators.arrivals import Arrivals
from sagacore.workload.generators.swe_bench import SweBenchConfig, swe_bench_task
from sagacore.workload.generators.webarena import WebArenaConfig, webarena_task
from sagacore.workload.model import Task, Tenant, TenantId, Workload

__all__ = ["DEFAULT_TENANT_CLASSES", "MultiTenantConfig", "TenantClass", "multi_tenant"]


@dataclass(frozen=True, slots=True)
class TenantClass:
    """A class of identical tenants (named ``<name>-0``, ``<name>-1``, ...).

    Examples
    --------
    >>> TenantClass("heavy", 3, arrival_share=0.5, swe_bench_fraction=1.2)
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: TenantClass.swe_bench_fraction must be a finite number in [0, 1], got 1.2
    """

    name: str
    """Class name, the prefix of its tenants' ids (non-empty, no ``/``)."""
    count: int
    """Number of tenants in the class; >= 1."""
    arrival_share: float
    """Share of all arrivals for the class (> 0; shares are normalised over classes)."""
    swe_bench_fraction: float = 0.5
    """Share of the class's tasks that are SWE-bench (the rest WebArena); in [0, 1]."""
    weight: float = 1.0
    """Fair-share weight of each tenant of the class; > 0."""
    slo_factor: float = 1.5
    """SLO factor of each tenant (TCT within this factor of isolated TCT); >= 1."""

    def __post_init__(self) -> None:
        o = "TenantClass"
        check(
            isinstance(self.name, str) and bool(self.name) and "/" not in self.name,
            f"{o}.name",
            self.name,
            "a non-empty string without '/'",
        )
        positive_int(f"{o}.count", self.count)
        positive(f"{o}.arrival_share", self.arrival_share)
        finite_number(f"{o}.swe_bench_fraction", self.swe_bench_fraction, lo=0.0, hi=1.0)
        positive(f"{o}.weight", self.weight)
        finite_number(f"{o}.slo_factor", self.slo_factor, lo=1.0)


DEFAULT_TENANT_CLASSES: tuple[TenantClass, ...] = (
    TenantClass("heavy", 3, arrival_share=0.50, swe_bench_fraction=0.8),
    TenantClass("medium", 4, arrival_share=0.35, swe_bench_fraction=0.5),
    TenantClass("light", 3, arrival_share=0.15, swe_bench_fraction=0.2),
)
"""SAGA's 10 tenants: 3 heavy, 4 medium, 3 light (shares and mixes: module notes)."""


@dataclass(frozen=True, slots=True)
class MultiTenantConfig:
    """The tenant mix and the task generators it draws from.

    Examples
    --------
    >>> sum(c.count for c in MultiTenantConfig().classes)
    10
    >>> MultiTenantConfig(classes=())
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: MultiTenantConfig.classes must be a non-empty tuple of TenantClass with distinct names, got ()
    """

    classes: tuple[TenantClass, ...] = DEFAULT_TENANT_CLASSES
    """Tenant classes (non-empty, distinct names)."""
    swe_bench: SweBenchConfig = field(default_factory=SweBenchConfig)
    """Shape of the SWE-bench tasks."""
    webarena: WebArenaConfig = field(default_factory=WebArenaConfig)
    """Shape of the WebArena tasks."""

    def __post_init__(self) -> None:
        o = "MultiTenantConfig"
        names = [c.name for c in self.classes] if isinstance(self.classes, tuple) else []
        check(
            bool(names)
            and all(isinstance(c, TenantClass) for c in self.classes)
            and len(set(names)) == len(names),
            f"{o}.classes",
            self.classes,
            "a non-empty tuple of TenantClass with distinct names",
        )
        check(isinstance(self.swe_bench, SweBenchConfig), f"{o}.swe_bench", self.swe_bench,
              "a SweBenchConfig")  # fmt: skip
        check(isinstance(self.webarena, WebArenaConfig), f"{o}.webarena", self.webarena,
              "a WebArenaConfig")  # fmt: skip

    def tenants(self) -> tuple[tuple[Tenant, float, float], ...]:
        """``(tenant, probability a task is theirs, SWE-bench fraction)`` per tenant."""
        total = sum(c.arrival_share for c in self.classes)
        return tuple(
            (
                Tenant(TenantId(f"{c.name}-{j}"), c.weight, c.slo_factor),
                c.arrival_share / total / c.count,
                c.swe_bench_fraction,
            )
            for c in self.classes
            for j in range(c.count)
        )


def multi_tenant(
    *,
    tasks: int = 100,
    seed: Seed = None,
    arrivals: Arrivals | None = None,
    config: MultiTenantConfig | None = None,
) -> Workload:
    """Generate SAGA's multi-tenant mix of SWE-bench and WebArena tasks.

    Parameters
    ----------
    tasks
        Number of tasks over all tenants (>= 1).
    seed
        Seed (int >= 0, Generator or None meaning 0). Task ``i`` (its tenant, kind and
        content) depends only on the seed and ``i``.
    arrivals
        Arrival process of the whole mix; default Poisson at 8 tasks per minute.
    config
        Tenants and task shapes; default :class:`MultiTenantConfig` ().

    Examples
    --------
    >>> w = multi_tenant(tasks=300, seed=2)
    >>> from collections import Counter
    >>> by_class = Counter(t.tenant.split("-")[0] for t in w)
    >>> by_class["heavy"] > by_class["medium"] > by_class["light"]
    True
    """
    cfg = MultiTenantConfig() if config is None else config
    table = cfg.tenants()
    cumulative = np.cumsum([p for _, p, _ in table])
    cumulative[-1] = 1.0

    def build(i: int, rng: np.random.Generator, arrival_s: float) -> Task:
        which = int(np.searchsorted(cumulative, rng.random(), side="right"))
        tenant, _, swe_fraction = table[min(which, len(table) - 1)]
        if rng.random() < swe_fraction:
            return swe_bench_task(
                cfg.swe_bench, rng, task_no=i, arrival_s=arrival_s, tenant=tenant.id
            )
        return webarena_task(cfg.webarena, rng, task_no=i, arrival_s=arrival_s, tenant=tenant.id)

    return generate("multi-tenant", tasks, seed, arrivals, build, tuple(t for t, _, _ in table))
