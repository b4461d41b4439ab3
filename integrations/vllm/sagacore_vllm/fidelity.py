"""Fidelity of sagacore's simulator against the twin (real vLLM 0.33 schedulers).

For each vLLM stack, the same workload (same tasks, same Poisson arrival times) runs
through :func:`sagacore.sim.simulate` and through :func:`~sagacore_vllm.harness.run_twin`
on the same cluster (instances, cost model, KV capacity, scheduler limits) with the
same router class. :func:`compare` reports, per stack, the per-task TCT error
``|sim - twin| / twin`` (median, p90, max), both prefix-cache hit rates, preemption
counts, batch steps and KV utilisation. The twin is the reference: its scheduling is
vLLM's own code.

Stacks (:data:`FIDELITY_STACKS`): sagacore's ``vllm`` (no prefix caching, FCFS, round
robin) and ``vllm-apc`` (prefix caching with LRU, FCFS, session affinity), and two
priority variants built here from sagacore's ``priority`` scheduler (priority = the
task's arrival, as the twin sets vLLM's request priority to the task's arrival rank).

Examples
--------
>>> sorted(FIDELITY_STACKS)
['vllm', 'vllm-apc', 'vllm-apc-priority', 'vllm-priority']
>>> twin_settings(FIDELITY_STACKS["vllm-apc"])
('session-affinity', 'fcfs', True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sagacore.errors import ConfigError
from sagacore.sim import simulate
from sagacore.sim.config import ClusterConfig
from sagacore.sim.result import SimResult
from sagacore.stacks import STACKS, Stack
from sagacore.workload.model import Workload
from sagacore_vllm.bridge import SegmentTokens
from sagacore_vllm.engine import SchedulingPolicy
from sagacore_vllm.harness import TwinRun, run_twin

__all__ = ["FIDELITY_STACKS", "FidelityRow", "compare", "format_table", "twin_settings"]

FIDELITY_STACKS: dict[str, Stack] = {
    "vllm": STACKS["vllm"],
    "vllm-apc": STACKS["vllm-apc"],
    "vllm-priority": Stack(
        "vllm-priority",
        router="round-robin",
        scheduler="priority",
        cache="lru",
        prefix_caching=False,
        description="vLLM without prefix caching, priority (task arrival), round robin",
    ),
    "vllm-apc-priority": Stack(
        "vllm-apc-priority",
        router="session-affinity",
        scheduler="priority",
        cache="lru",
        description="vLLM with prefix caching, priority (task arrival), session affinity",
    ),
}
"""The stacks the twin can mirror, by name."""

_POLICIES: dict[str, SchedulingPolicy] = {"fcfs": "fcfs", "priority": "priority"}


def twin_settings(stack: Stack) -> tuple[str, SchedulingPolicy, bool]:
    """``(router, policy, prefix_caching)`` of the twin that mirrors ``stack``.

    Raises
    ------
    ConfigError
        If the stack is not one vLLM runs: a scheduler other than ``fcfs`` or
        ``priority``, a cache policy other than ``lru``, or a router given as a factory.
    """
    if not isinstance(stack.router, str):
        raise ConfigError(f"stack {stack.name!r}: the twin needs a router given by name")
    if not isinstance(stack.scheduler, str) or stack.scheduler not in _POLICIES:
        raise ConfigError(
            f"stack {stack.name!r}: vLLM schedules fcfs or priority, not {stack.scheduler!r}"
        )
    if stack.cache != "lru":
        raise ConfigError(f"stack {stack.name!r}: vLLM evicts LRU, not {stack.cache!r}")
    return stack.router, _POLICIES[stack.scheduler], stack.prefix_caching


def _hit_rate(reused: int, computed: int) -> float:
    total = reused + computed
    return reused / total if total else 0.0


@dataclass(frozen=True)
class FidelityRow:
    """One stack's comparison of the simulator against the twin.

    Attributes
    ----------
    stack
        The stack.
    tasks
        Tasks compared.
    sim, twin
        The two results.
    errors
        Per task, ``|sim TCT - twin TCT| / twin TCT``, in the workload's order.
    """

    stack: str
    tasks: int
    sim: SimResult
    twin: TwinRun
    errors: tuple[float, ...]

    def error_quantile(self, q: float) -> float:
        """The ``q``-quantile (0..1) of the per-task errors."""
        return float(np.quantile(np.asarray(self.errors), q))

    @property
    def sim_hit_rate(self) -> float:
        """Simulator: reused over reused plus computed prompt tokens."""
        return _hit_rate(self.sim.prefill_tokens_reused, self.sim.prefill_tokens_computed)

    @property
    def twin_hit_rate(self) -> float:
        """Twin: reused over reused plus computed prompt tokens."""
        return self.twin.prefix_hit_rate

    @property
    def mean_tct_error(self) -> float:
        """``(sim mean TCT - twin mean TCT) / twin mean TCT`` (signed)."""
        return (self.sim.tct.mean - self.twin.tct.mean) / self.twin.tct.mean

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary of the comparison."""
        return {
            "stack": self.stack,
            "tasks": self.tasks,
            "tct_error": {
                "median": self.error_quantile(0.5),
                "p90": self.error_quantile(0.9),
                "max": max(self.errors),
                "mean_tct": self.mean_tct_error,
            },
            "hit_rate": {"sim": self.sim_hit_rate, "twin": self.twin_hit_rate},
            "preemptions": {"sim": self.sim.preemptions, "twin": self.twin.preemptions},
            "batch_steps": {"sim": self.sim.batch_steps, "twin": self.twin.batch_steps},
            "kv_utilization": {"sim": self.sim.kv_utilization, "twin": self.twin.kv_utilization},
            "prefill_tokens_computed": {
                "sim": self.sim.prefill_tokens_computed,
                "twin": self.twin.prefill_tokens_computed,
            },
            "wall_seconds": {"sim": self.sim.sim_wall_seconds, "twin": self.twin.sim_wall_seconds},
            "sim": self.sim.summary(),
            "twin": self.twin.summary(),
        }


def compare(
    workload: Workload,
    cluster: ClusterConfig,
    stacks: Sequence[str] = ("vllm", "vllm-apc"),
    ablate: Sequence[str] = (),
) -> list[FidelityRow]:
    """Run ``workload`` through the simulator and the twin under each stack.

    Parameters
    ----------
    workload
        Chains with their arrival times.
    cluster
        The cluster both run on.
    stacks
        Names in :data:`FIDELITY_STACKS`.
    ablate
        Names in :data:`sagacore_vllm.ablations.ABLATIONS`: known differences to remove
        (diagnostics; by default none).

    Returns
    -------
    list of FidelityRow
        One per stack, in order.

    Raises
    ------
    UnknownNameError
        If a stack or ablation name is unknown.
    """
    from sagacore.errors import UnknownNameError
    from sagacore_vllm.ablations import get_ablations, sim_stack, twin_adjust

    ablations = get_ablations(ablate)
    adjust = twin_adjust(ablations)
    table = SegmentTokens.for_workload(workload)
    rows: list[FidelityRow] = []
    for name in stacks:
        try:
            stack = FIDELITY_STACKS[name]
        except KeyError:
            raise UnknownNameError("stack", name, list(FIDELITY_STACKS)) from None
        router, policy, caching = twin_settings(stack)
        sim = simulate(workload, sim_stack(stack, ablations), cluster)
        twin = run_twin(
            workload,
            cluster,
            router=router,
            policy=policy,
            prefix_caching=caching,
            table=table,
            adjust=adjust,
        )
        s = sim.tct_by_task()
        t = twin.tct_by_task()
        errors = tuple(abs(s[k] - t[k]) / t[k] for k in t)
        rows.append(FidelityRow(name, len(t), sim, twin, errors))
    return rows


def _pct(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if 0 < abs(x) < 5e-5:
        return f"{100 * x:.0e}%"  # float rounding, not a difference
    return f"{100 * x:.2f}%"


def format_table(rows: Sequence[FidelityRow]) -> str:
    """The comparison as a Markdown table (one row per stack).

    Columns: tasks; mean TCT of each; per-task TCT error median, p90 and max; prefix
    hit rates; preemptions; batch steps; KV utilisation; wall time of each.
    """
    head = (
        "| stack | tasks | TCT mean sim / twin (s) | TCT err median | p90 | max "
        "| hit rate sim / twin | preemptions sim / twin | steps sim / twin "
        "| KV util sim / twin | wall s sim / twin |"
    )
    sep = "|" + "---|" * 11
    lines = [head, sep]
    for r in rows:
        lines.append(
            f"| {r.stack} | {r.tasks} | {r.sim.tct.mean:,.1f} / {r.twin.tct.mean:,.1f} "
            f"| {_pct(r.error_quantile(0.5))} | {_pct(r.error_quantile(0.9))} "
            f"| {_pct(max(r.errors))} "
            f"| {_pct(r.sim_hit_rate)} / {_pct(r.twin_hit_rate)} "
            f"| {r.sim.preemptions} / {r.twin.preemptions} "
            f"| {r.sim.batch_steps:,} / {r.twin.batch_steps:,} "
            f"| {_pct(r.sim.kv_utilization)} / {_pct(r.twin.kv_utilization)} "
            f"| {r.sim.sim_wall_seconds:.1f} / {r.twin.sim_wall_seconds:.1f} |"
        )
    return "\n".join(lines)
