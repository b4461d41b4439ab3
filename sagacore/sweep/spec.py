"""What a sweep runs: run specifications, clusters by name, ideal references, regimes.

A sweep is a list of :class:`RunSpec`, one simulation each. A run names its workload,
cluster and stack by strings, so that it can be written to a table, sent to another
process and matched against the rows of an earlier, interrupted sweep (:meth:`RunSpec.key`).

Ideal references are stacks of their own, named ``ideal:<kind>`` (:data:`IDEALS`): the
``vllm-apc`` stack on an idealised cluster, whose TCTs bound what any policy can gain
from the resource that the ideal removes.

Examples
--------
>>> r = RunSpec("swe-bench-trace", "a100-16", "vllm-apc", 2.83)
>>> r.key()
('swe-bench-trace', 'a100-16', 'vllm-apc', 2.83, 0, None)
>>> parse_cluster("16:4:llama-3-70b:a100-80gb").instances
4
>>> parse_rates("0.5x,1x,4")
(RelRate(factor=0.5), RelRate(factor=1.0), 4.0)
>>> sorted(REGIMES)[:3]
['long-context', 'long-tools', 'multi-tenant']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from sagacore.errors import ConfigError, UnknownNameError
from sagacore.sim.config import ClusterConfig, get_cluster
from sagacore.validate import positive, positive_int

__all__ = [
    "IDEALS",
    "IDEAL_PREFIX",
    "REGIMES",
    "Regime",
    "RelRate",
    "RunSpec",
    "ideal_kind",
    "parse_cluster",
    "parse_rates",
]

IdealKind = Literal["infinite-kv", "zero-prefill", "both"]

IDEALS: tuple[IdealKind, ...] = ("infinite-kv", "zero-prefill", "both")
"""The ideal references: ``infinite-kv`` (KV memory never binds: nothing is evicted and
no call waits for memory), ``zero-prefill`` (prompt tokens cost no GPU time, cached or
not), ``both``. Each runs the ``vllm-apc`` stack on the idealised cluster."""

IDEAL_PREFIX = "ideal:"
"""Stack names of ideal references start with this (``ideal:infinite-kv``)."""


def ideal_kind(stack: str) -> IdealKind | None:
    """The ideal kind of a stack name, or None for a real stack.

    Raises
    ------
    UnknownNameError
        For ``ideal:<kind>`` with an unknown kind.
    """
    if not stack.startswith(IDEAL_PREFIX):
        return None
    kind = stack[len(IDEAL_PREFIX):]
    for k in IDEALS:
        if k == kind:
            return k
    raise UnknownNameError("ideal", kind, list(IDEALS))


def parse_cluster(spec: str) -> ClusterConfig:
    """A cluster from a preset name or ``GPUS:TP:MODEL:GPU``
    (:func:`sagacore.sim.config.get_cluster`).

    Raises
    ------
    ConfigError, UnknownNameError
        If ``spec`` is neither (the message shows it).
    """
    return get_cluster(spec)


@dataclass(frozen=True)
class RelRate:
    """A rate given relative to a stack's SLO-peak rate (``1.5x``)."""

    factor: float
    """Multiple of the peak, > 0."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.factor) and self.factor > 0):
            raise ConfigError(f"a relative rate must be a positive multiple, got {self.factor!r}")

    def __str__(self) -> str:
        return f"{self.factor:g}x"


def parse_rates(text: str) -> tuple[float | RelRate, ...]:
    """Rates from ``--rates``: comma-separated tasks/min (``4``) or peak multiples (``1.5x``).

    Raises
    ------
    ConfigError
        On an empty list, a non-number, or a rate that is not positive and finite.
    """
    out: list[float | RelRate] = []
    for item in text.split(","):
        s = item.strip()
        if not s:
            raise ConfigError(f"--rates {text!r}: empty item")
        rel = s.endswith("x")
        try:
            v = float(s[:-1] if rel else s)
        except ValueError:
            raise ConfigError(
                f"--rates {text!r}: {s!r} is neither a rate (tasks/min) nor a peak "
                "multiple such as 1.5x"
            ) from None
        if not (math.isfinite(v) and v > 0):
            raise ConfigError(f"--rates {text!r}: {s!r} must be positive and finite")
        out.append(RelRate(v) if rel else v)
    return tuple(out)


@dataclass(frozen=True)
class RunSpec:
    """One simulation of a sweep.

    Parameters
    ----------
    workload
        ``swe-bench-trace`` (the bundled trace), a generator name or a trace file.
    cluster
        A preset name or ``GPUS:TP:MODEL:GPU`` (:func:`parse_cluster`).
    stack
        A stack name (:data:`sagacore.stacks.STACKS`) or ``ideal:<kind>``.
    rate_per_min
        Poisson arrival rate, tasks per minute.
    seed
        Seed of the arrivals (and of a generator's tasks).
    tasks
        Use the first ``tasks`` tasks (None: all; generators: 200).
    rel_rate
        When the rate was given as a multiple of a peak, that multiple.
    rel_to
        The stack whose peak ``rel_rate`` multiplies.
    """

    workload: str
    cluster: str
    stack: str
    rate_per_min: float
    seed: int = 0
    tasks: int | None = None
    rel_rate: float | None = None
    rel_to: str | None = None

    def __post_init__(self) -> None:
        positive("RunSpec.rate_per_min", self.rate_per_min)
        positive_int("RunSpec.seed", self.seed, zero_ok=True)
        if self.tasks is not None:
            positive_int("RunSpec.tasks", self.tasks)

    def key(self) -> tuple[str, str, str, float, int, int | None]:
        """Identity of the run: two runs with the same key give the same row."""
        return (self.workload, self.cluster, self.stack, round(self.rate_per_min, 9),
                self.seed, self.tasks)

    def describe(self) -> str:
        """One line for progress displays."""
        rel = f" ({self.rel_rate:g}x {self.rel_to})" if self.rel_rate is not None else ""
        return (f"{self.stack} @ {self.rate_per_min:.3g}/min{rel}, {self.workload}, "
                f"{self.cluster}, seed {self.seed}")


@dataclass(frozen=True)
class Regime:
    """A named sweep setting: a workload on a cluster over a range of loads.

    Rates are multiples of ``vllm-apc``'s SLO-peak rate in the same setting, so a regime
    spans the same relative loads whatever its absolute capacity.
    """

    name: str
    """The preset's name."""
    workload: str
    """Workload spec (as :attr:`RunSpec.workload`)."""
    cluster: str
    """Cluster spec (as :attr:`RunSpec.cluster`)."""
    tasks: int | None
    """Tasks used (None: all of a trace)."""
    rel_rates: tuple[float, ...]
    """Loads, as multiples of ``vllm-apc``'s peak."""
    why: str
    """Why the regime matters, one paragraph."""


_LOADS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0)

REGIMES: dict[str, Regime] = {
    r.name: r
    for r in (
        Regime(
            "swe-trace-16", "swe-bench-trace", "a100-16", None, _LOADS,
            "The bundled real SWE-bench trace (198 mini-swe-agent runs) on 16 A100s (4 "
            "Llama-3-70B instances, TP 4). Small enough that agents compete for KV memory "
            "from about vllm-apc's peak on: the regime where LRU evicts sessions during "
            "their tools and prefill is recomputed.",
        ),
        Regime(
            "long-context", "long-context", "a100-16", 120, _LOADS,
            "Long-context coding agents (Claude Code / OpenHands-like sessions whose "
            "context grows past 100K tokens over 40-150 calls): a few sessions fill an "
            "instance's KV, so retention and admission decide everything.",
        ),
        Regime(
            "long-tools", "long-tools", "a100-16", 600, _LOADS,
            "Browser and human-in-the-loop agents whose tools take 5-120 s: KV held "
            "through a tool is idle for long, so keeping it has a real price.",
        ),
        Regime(
            "multi-tenant", "multi-tenant", "a100-16", 200, _LOADS,
            "SAGA's 10 tenants (3 heavy, 4 medium, 3 light) of SWE-bench and WebArena "
            "agents: fairness and isolation between tenants under load.",
        ),
        Regime(
            "task-parallel", "task-parallel", "a100-16", 200, _LOADS,
            "Map-reduce agents (a planner, K parallel calls, a reduce): bursts of "
            "parallel calls that share a prefix, as Justitia studies.",
        ),
        Regime(
            "swe-gen-64", "swe-bench", "a100-64", 600, _LOADS,
            "SAGA's cluster (64 A100s, 16 instances) with 600 generated SWE-bench tasks, "
            "enough to reach overload on the large cluster (the bundled 198 tasks do "
            "not: a task there takes only 1.17x its isolated time).",
        ),
    )
}
"""The named regimes (``sagacore sweep --regime NAME``); docs/results.md explains each."""
