"""Fidelity of sagacore's simulator against the twin (real vLLM 0.33 schedulers).

For each vLLM stack, the same workload (same tasks, same Poisson arrival times) runs
through :func:`sagacore.sim.simulate` and through :func:`~sagacore_vllm.harness.run_twin`
on the same cluster (instances, cost model, KV capacity, scheduler limits) with the
same router class. :func:`compare` reports, per stack, the per-task TCT error
``|sim - twin| / twin`` (median, p90, max), both prefix-cache hit rates, preemption
counts, batch steps and KV utilisation. The twin is the reference: its scheduling is
vLLM's own code.

Two kinds of stacks:

- **native** (:data:`FIDELITY_STACKS`): sagacore's ``vllm`` (no prefix caching, FCFS,
  round robin) and ``vllm-apc`` (prefix caching with LRU, FCFS, session affinity), and
  two priority variants built here from sagacore's ``priority`` scheduler (priority =
  the task's arrival, as the twin sets vLLM's request priority to the task's arrival
  rank). The twin runs vLLM's own ``fcfs`` or ``priority`` policy;
- **plug-in**: every other stack of :data:`sagacore.stacks.STACKS` runs inside vLLM
  through :mod:`sagacore_vllm.plugin` (the class ``vllm serve --scheduler-cls`` loads):
  its scheduler orders vLLM's queue and picks victims, its cache policy decides
  retention. Where the plug-in cannot do what the simulator does, :func:`plugin_notes`
  says so (work stealing is turned off on both sides; a SWAP kept cached without a KV
  offloading connector; ...), and the accepted error is :data:`NOTED_BOUND` instead of
  :data:`EXACT_BOUND`. What vLLM does in the plug-in's place the simulator models
  (:func:`sim_stack_for`, :func:`sim_config`): vLLM evicts LRU whatever the cache
  policy's ``victim`` (:class:`VllmEviction`), releases TTL pins under memory pressure
  when the plug-in does (``--pins release``, the plug-in's default) and returns a pin's
  blocks to the most recently used end of the LRU order when it ends, as vLLM frees
  them.

Examples
--------
>>> sorted(FIDELITY_STACKS)
['vllm', 'vllm-apc', 'vllm-apc-priority', 'vllm-priority']
>>> twin_settings(FIDELITY_STACKS["vllm-apc"])
('session-affinity', 'fcfs', True)
>>> stack, plugin = fidelity_stack("continuum")
>>> stack.name, plugin
('continuum', True)
>>> sim_config(plugin, release_pins=True).release_pins_under_pressure
True
>>> evicts_lru(STACKS["continuum"]), evicts_lru(STACKS["sagacore"])   # by the policy
(True, False)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from sagacore.cache.lru import LRU, lru_index
from sagacore.cache.retention import RetentionPolicy
from sagacore.errors import ConfigError, UnknownNameError
from sagacore.policy import (
    CacheContext,
    CacheEntryView,
    CachePolicy,
    CallView,
    RetentionDecision,
    Router,
    SessionView,
    WorkerView,
)
from sagacore.sim import build_policies
from sagacore.sim.cluster import Simulation
from sagacore.sim.config import ClusterConfig, SimConfig
from sagacore.sim.result import SimResult
from sagacore.stacks import STACKS, BuildContext, Stack
from sagacore.workload.model import TaskId, Workload
from sagacore_vllm.bridge import SegmentTokens
from sagacore_vllm.engine import SchedulingPolicy
from sagacore_vllm.harness import TwinRun, run_twin

__all__ = [
    "EXACT_BOUND",
    "FIDELITY_STACKS",
    "NOTED_BOUND",
    "FidelityRow",
    "VllmEviction",
    "compare",
    "evicts_lru",
    "fidelity_stack",
    "format_table",
    "plugin_notes",
    "sim_config",
    "sim_stack_for",
    "stack_names",
    "twin_settings",
]

EXACT_BOUND = 0.02
"""Median per-task TCT error a stack the plug-in expresses exactly must stay within."""
NOTED_BOUND = 0.05
"""The same where :func:`plugin_notes` lists a documented difference."""

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


class _RoutingOnly(Router):
    """A router with its work stealing turned off (the plug-in sees one instance)."""

    rebalance_interval_s = None

    def __init__(self, inner: Router) -> None:
        self.inner = inner
        self.name = f"{inner.name}-no-stealing"  # type: ignore[misc]

    def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
        return self.inner.route(call, workers, now)

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        self.inner.observe_task_end(task_id, now)


def _routing_only(stack: Stack) -> Stack:
    """``stack`` with its router's work stealing off (on both sides of a comparison)."""

    def build(ctx: BuildContext) -> Router:
        r = stack.build_router(ctx)
        return _RoutingOnly(r) if r.rebalance_interval_s is not None else r

    return dataclasses.replace(stack, router=build)


def stack_names() -> list[str]:
    """Every stack :func:`compare` accepts: the native ones and sagacore's."""
    return sorted(set(FIDELITY_STACKS) | set(STACKS))


def fidelity_stack(name: str) -> tuple[Stack, bool]:
    """The stack compared under ``name``, and whether it runs through the plug-in.

    Raises
    ------
    UnknownNameError
        If ``name`` is neither a native nor a sagacore stack.
    """
    if name in FIDELITY_STACKS:
        return FIDELITY_STACKS[name], False
    if name in STACKS:
        return _routing_only(STACKS[name]), True
    raise UnknownNameError("stack", name, stack_names())


def sim_config(plugin: bool, *, release_pins: bool) -> SimConfig:
    """The simulator's settings that mirror the twin's side of a comparison.

    For a stack run through the plug-in (``plugin``), what the plug-in does with a TTL
    pin: a pin that ends returns its blocks to the most recently used end of vLLM's
    free queue (:attr:`~sagacore.sim.config.SimConfig.released_pins_most_recent`), and,
    with ``release_pins`` (the plug-in's ``release_pins_under_pressure``), pins are
    released for a request that would be refused
    (:attr:`~sagacore.sim.config.SimConfig.release_pins_under_pressure`). vLLM's own
    policies never pin: the simulator's defaults.
    """
    if not plugin:
        return SimConfig()
    return SimConfig(release_pins_under_pressure=release_pins, released_pins_most_recent=True)


def _policy_evicts_lru(policy: CachePolicy) -> bool:
    """Whether ``policy``'s ``victim`` is LRU's, whatever it has learned: LRU's own, or a
    retention policy's (:class:`~sagacore.cache.retention.RetentionPolicy`) over an
    eviction policy that evicts LRU. Judged by the code, not by probing: a learned
    ranking (``sagacore``'s next-use) evicts LRU until it has learned, so a probe of a
    fresh policy took it for LRU and the comparison missed the difference."""
    victim = type(policy).victim
    if victim is LRU.victim or victim is VllmEviction.victim:
        return True
    if victim is RetentionPolicy.victim and isinstance(policy, RetentionPolicy):
        return _policy_evicts_lru(policy.eviction)
    return False


def evicts_lru(stack: Stack, ctx: BuildContext | None = None) -> bool:
    """Whether ``stack``'s cache policy evicts as vLLM does: LRU (True without prefix
    caching, where nothing is evicted by a policy)."""
    if not stack.prefix_caching:
        return True
    if ctx is None:
        from sagacore.engine import CostModel
        from sagacore.workload.predictor import Predictor

        ctx = BuildContext(CostModel.from_presets("llama-3-8b", "a100-80gb"), 1, 1 << 20,
                           Predictor())
    return _policy_evicts_lru(stack.build_cache(ctx))


class VllmEviction(CachePolicy):
    """A cache policy's retention decisions with vLLM's eviction order, LRU.

    Inside vLLM the plug-in asks the stack's cache policy what to keep when a call ends
    before a tool (:meth:`retention`) and tells it when a tool ends; what is evicted is
    vLLM's choice, the least recently used free block (its free block queue), never the
    policy's ``victim``. This is the simulator's model of that: ``inner`` decides
    retention and hears of tool ends, LRU chooses victims, and nothing else reaches
    ``inner`` (its eviction ranking learns nothing, as inside vLLM).

    Examples
    --------
    >>> from types import SimpleNamespace as E
    >>> from sagacore.cache.sagacore import SagacoreCache
    >>> p = VllmEviction(SagacoreCache())
    >>> old, new = E(last_access_s=1.0, entry_id=0), E(last_access_s=2.0, entry_id=1)
    >>> p.victim([new, old], CacheContext(now=3.0, capacity_tokens=1, used_tokens=1))
    1
    """

    name: ClassVar[str] = "vllm-lru"

    def __init__(self, inner: CachePolicy) -> None:
        self.inner = inner
        """The policy whose retention decisions are kept."""

    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        """vLLM's: the least recently used candidate."""
        return lru_index(candidates)

    def retention(self, session: SessionView, ctx: CacheContext) -> RetentionDecision:
        """``inner``'s."""
        return self.inner.retention(session, ctx)

    def observe_tool_end(self, task_id: TaskId, tool: str, seconds: float, now: float) -> None:
        """Forwarded to ``inner``."""
        self.inner.observe_tool_end(task_id, tool, seconds, now)


def _hook(policy: CachePolicy, name: str) -> bool:
    return getattr(type(policy), name) is not getattr(CachePolicy, name)


def sim_stack_for(stack: Stack, plugin: bool) -> Stack:
    """The simulator's model of ``stack`` as the twin runs it.

    A stack run through the plug-in (``plugin``) whose cache policy does not evict LRU
    gets vLLM's eviction (:class:`VllmEviction`; a policy with no retention decision of
    its own becomes plain LRU); anything else is ``stack`` itself.
    """
    if not plugin or not stack.prefix_caching:
        return stack

    def build(ctx: BuildContext) -> CachePolicy:
        c = stack.build_cache(ctx)
        if _policy_evicts_lru(c):
            return c
        if not (_hook(c, "retention") or _hook(c, "observe_tool_end")):
            return LRU()
        return VllmEviction(c)

    return dataclasses.replace(stack, cache=build)


def plugin_notes(
    stack: Stack, cluster: ClusterConfig, stats: Mapping[str, int] | None = None,
    *, pins_modelled: bool = False, eviction_modelled: bool = False,
) -> tuple[str, ...]:
    """What the plug-in did differently from the simulator for ``stack`` (empty: nothing).

    Checked by behaviour, not by name: the router's work stealing (turned off on both
    sides), an eviction order other than LRU (:func:`evicts_lru`; vLLM's free queue is
    LRU), unless ``eviction_modelled`` (the simulator evicted LRU too,
    :func:`sim_stack_for`), and, from the plug-in's counters of a run (``stats``,
    :attr:`sagacore_vllm.harness.TwinRun.plugin_stats`), SWAP decisions kept cached for
    want of a KV offloading connector and TTL pins released under memory pressure
    (unless ``pins_modelled``: the simulator released them too, :func:`sim_config`).
    """
    ctx = BuildContext(cluster.cost, cluster.instances, cluster.kv_capacity_tokens)
    notes: list[str] = []
    original = STACKS.get(stack.name)
    if original is not None:
        r = original.build_router(ctx)
        if r.rebalance_interval_s is not None:
            notes.append(f"router {r.name}: work stealing off on both sides")
    cache = stack.build_cache(ctx)
    if stack.prefix_caching and not eviction_modelled and not _policy_evicts_lru(cache):
        notes.append(f"cache {cache.name}: vLLM evicts LRU, the simulator by the policy")
    st = stats or {}
    if st.get("swaps_kept"):
        notes.append(f"cache {cache.name}: {st['swaps_kept']} SWAP decisions kept the KV "
                     "cached (no KV offloading connector)")
    if st.get("pins_released_for_pressure") and not pins_modelled:
        notes.append(f"cache {cache.name}: {st['pins_released_for_pressure']} TTL pins "
                     "released under memory pressure")
    return tuple(notes)


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
    plugin: bool = False
    """Whether the twin ran the stack through the plug-in (else vLLM's own policy)."""
    notes: tuple[str, ...] = ()
    """Known differences of the plug-in (:func:`plugin_notes`)."""
    modelled: tuple[str, ...] = ()
    """What the plug-in did that the simulator modelled too (informative: no difference,
    the bound stays :data:`EXACT_BOUND` for it)."""

    @property
    def bound(self) -> float:
        """The accepted median error: :data:`EXACT_BOUND`, or :data:`NOTED_BOUND` with notes."""
        return NOTED_BOUND if self.notes else EXACT_BOUND

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
            "plugin": self.plugin,
            "notes": list(self.notes),
            "modelled": list(self.modelled),
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
    *,
    release_pins: bool = True,
) -> list[FidelityRow]:
    """Run ``workload`` through the simulator and the twin under each stack.

    Parameters
    ----------
    workload
        Chains with their arrival times.
    cluster
        The cluster both run on.
    stacks
        Names in :data:`FIDELITY_STACKS` (native) or :data:`sagacore.stacks.STACKS`
        (through the plug-in).
    ablate
        Names in :data:`sagacore_vllm.ablations.ABLATIONS`: known differences to remove
        (diagnostics; by default none).
    release_pins
        The plug-in's ``release_pins_under_pressure`` (its default, True). False holds a
        TTL pin until it expires or the program's next call. The simulator does the same
        (:func:`sim_config`).

    Returns
    -------
    list of FidelityRow
        One per stack, in order.

    Raises
    ------
    UnknownNameError
        If a stack or ablation name is unknown.
    """
    from sagacore_vllm.ablations import get_ablations, sim_stack, twin_adjust

    ablations = get_ablations(ablate)
    adjust = twin_adjust(ablations)
    table = SegmentTokens.for_workload(workload)
    rows: list[FidelityRow] = []
    policy_eviction = any(a.sim_policy_eviction for a in ablations)
    ctx = BuildContext(cluster.cost, cluster.instances, cluster.kv_capacity_tokens)
    for name in stacks:
        stack, plugin = fidelity_stack(name)
        modelled_stack = stack if policy_eviction else sim_stack_for(stack, plugin)
        simulation = Simulation(workload,
                                build_policies(sim_stack(modelled_stack, ablations), cluster),
                                cluster, sim_config(plugin, release_pins=release_pins))
        sim = simulation.run()
        notes: tuple[str, ...] = ()
        modelled: tuple[str, ...] = ()
        if plugin:
            twin = run_twin(workload, cluster, stack=stack, table=table, adjust=adjust,
                            plugin_settings={"release_pins_under_pressure": release_pins})
            notes = plugin_notes(stack, cluster, twin.plugin_stats,
                                 pins_modelled=release_pins,
                                 eviction_modelled=not policy_eviction)
            if not policy_eviction and not evicts_lru(stack, ctx):
                modelled += (f"cache {stack.build_cache(ctx).name}: vLLM evicts LRU, "
                             "the simulator too (the policy decides retention)",)
            released = (twin.plugin_stats or {}).get("pins_released_for_pressure", 0)
            if release_pins and (released or simulation.pins_released_for_pressure):
                modelled += (f"TTL pins released under memory pressure: "
                             f"{simulation.pins_released_for_pressure} in the simulator, "
                             f"{released} inside vLLM",)
        else:
            router, policy, caching = twin_settings(stack)
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
        rows.append(FidelityRow(name, len(t), sim, twin, errors, plugin, notes, modelled))
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
    hit rates; preemptions; batch steps; KV utilisation; wall time of each. Stacks run
    through the plug-in are marked; their notes, and what they did that the simulator
    modelled too, follow the table.
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
            f"| {r.stack}{' (plug-in)' if r.plugin else ''} | {r.tasks} "
            f"| {r.sim.tct.mean:,.1f} / {r.twin.tct.mean:,.1f} "
            f"| {_pct(r.error_quantile(0.5))} | {_pct(r.error_quantile(0.9))} "
            f"| {_pct(max(r.errors))} "
            f"| {_pct(r.sim_hit_rate)} / {_pct(r.twin_hit_rate)} "
            f"| {r.sim.preemptions} / {r.twin.preemptions} "
            f"| {r.sim.batch_steps:,} / {r.twin.batch_steps:,} "
            f"| {_pct(r.sim.kv_utilization)} / {_pct(r.twin.kv_utilization)} "
            f"| {r.sim.sim_wall_seconds:.1f} / {r.twin.sim_wall_seconds:.1f} |"
        )
    noted = [r for r in rows if r.notes or r.modelled]
    if noted:
        lines.append("")
        for r in noted:
            lines.append(f"{r.stack}: " + "; ".join((*r.notes, *r.modelled)))
    return "\n".join(lines)
