"""Seeded, deterministic workload generators.

One function per generator, each with keyword-only ``tasks``, ``seed``, ``arrivals`` and
``config`` (a frozen, validated dataclass), returning a
:class:`~sagacore.workload.model.Workload`; :data:`GENERATORS` maps a name to the function.
The same seed gives the same workload, and :func:`~sagacore.workload.native.write_native`
the same bytes, in any process. Task ``i`` depends only on the seed and ``i``.

==================  =====================  ===============================================
name                function               tasks
==================  =====================  ===============================================
``swe-bench``       :func:`swe_bench`      ReAct chains calibrated to the real trace
``webarena``        :func:`webarena`       browser agents: <= 30 steps, flat prompts
``task-parallel``   :func:`task_parallel`  planner, K parallel calls, reduce (Justitia)
``multi-tenant``    :func:`multi_tenant`   SAGA's 10 tenants of SWE-bench and WebArena
``long-context``    :func:`long_context`   coding agents past 100K tokens, sub-agents
``long-tools``      :func:`long_tools`     WebArena agents with 5-120 s waits
==================  =====================  ===============================================

Segment ids are deterministic and unique within a workload; system prompts are shared on
purpose (one segment per agent type). Details and the measured calibration:
``docs/generators.md``.

Examples
--------
>>> sorted(GENERATORS)
['long-context', 'long-tools', 'multi-tenant', 'swe-bench', 'task-parallel', 'webarena']
>>> w = GENERATORS["webarena"](tasks=4, seed=1, arrivals=PoissonArrivals(rate_per_min=2.0))
>>> len(w), w.name
(4, 'webarena')
>>> generator("nope")
Traceback (most recent call last):
...
sagacore.errors.UnknownNameError: unknown generator 'nope'; known: long-context, long-tools, multi-tenant, swe-bench, task-parallel, webarena
"""

from __future__ import annotations

from typing import Protocol

from sagacore._rng import Seed
from sagacore.errors import UnknownNameError
from sagacore.workload.generators.arrivals import (
    DEFAULT_RATE_PER_MIN,
    Arrivals,
    PoissonArrivals,
    ReplayArrivals,
    arrival_times,
    parse_arrivals,
    with_poisson_arrivals,
)
from sagacore.workload.generators.calibration import QuantileTable, SweBenchFit, fit_swe_bench
from sagacore.workload.generators.long_context import LongContextConfig, long_context
from sagacore.workload.generators.multi_tenant import (
    DEFAULT_TENANT_CLASSES,
    MultiTenantConfig,
    TenantClass,
    multi_tenant,
)
from sagacore.workload.generators.swe_bench import SweBenchConfig, swe_bench
from sagacore.workload.generators.task_parallel import (
    PATTERNS,
    Pattern,
    TaskParallelConfig,
    task_parallel,
)
from sagacore.workload.generators.webarena import (
    LONG_TOOLS,
    WebArenaConfig,
    long_tools,
    webarena,
)
from sagacore.workload.model import Workload

__all__ = [
    "DEFAULT_RATE_PER_MIN",
    "DEFAULT_TENANT_CLASSES",
    "GENERATORS",
    "LONG_TOOLS",
    "PATTERNS",
    "Arrivals",
    "GeneratorFunc",
    "LongContextConfig",
    "MultiTenantConfig",
    "Pattern",
    "PoissonArrivals",
    "QuantileTable",
    "ReplayArrivals",
    "SweBenchConfig",
    "SweBenchFit",
    "TaskParallelConfig",
    "TenantClass",
    "WebArenaConfig",
    "arrival_times",
    "fit_swe_bench",
    "generator",
    "long_context",
    "long_tools",
    "multi_tenant",
    "parse_arrivals",
    "swe_bench",
    "task_parallel",
    "webarena",
    "with_poisson_arrivals",
]


class GeneratorFunc(Protocol):
    """What every registered generator accepts (each also takes its own ``config``)."""

    def __call__(
        self, *, tasks: int = ..., seed: Seed = ..., arrivals: Arrivals | None = ...
    ) -> Workload:
        """Generate ``tasks`` tasks."""
        ...


GENERATORS: dict[str, GeneratorFunc] = {
    "swe-bench": swe_bench,
    "webarena": webarena,
    "task-parallel": task_parallel,
    "multi-tenant": multi_tenant,
    "long-context": long_context,
    "long-tools": long_tools,
}
"""Generator name -> function."""


def generator(name: str) -> GeneratorFunc:
    """The generator called ``name``; :class:`~sagacore.errors.UnknownNameError` otherwise."""
    try:
        return GENERATORS[name]
    except KeyError:
        raise UnknownNameError("generator", name, list(GENERATORS)) from None
