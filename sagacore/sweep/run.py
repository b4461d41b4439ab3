"""One run of a sweep: a simulation turned into one tidy row.

:func:`run_one` loads the run's workload (once per process: :func:`load_cached`),
re-times it with Poisson arrivals at the run's rate, simulates it and returns a flat
row (:data:`ROW_FIELDS`, the CSV columns) with the per-task TCTs and isolated TCTs the
analysis needs (:data:`TASK_FIELDS`, in the JSON Lines table only).

The ideal references (``ideal:infinite-kv``, ``ideal:zero-prefill``, ``ideal:both``) run
``vllm-apc`` on an idealised copy of the cluster (:func:`ideal_cluster`). Their SLO
reference stays the real cluster's isolated TCT, so their SLO attainment and goodput
are comparable with the real stacks'.

Examples
--------
>>> from sagacore.sweep.spec import parse_cluster
>>> c = ideal_cluster(parse_cluster("a100-16"), "infinite-kv")
>>> c.kv_capacity_tokens > 10**12
True
>>> z = ideal_cluster(parse_cluster("a100-16"), "zero-prefill")
>>> z.cost.prefill_seconds(100_000) == z.cost.step_overhead_s
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from sagacore.engine.cost import CostModel
from sagacore.sim.config import ClusterConfig
from sagacore.sweep.spec import IdealKind, RunSpec, ideal_kind, parse_cluster
from sagacore.workload.model import Workload

__all__ = [
    "ROW_FIELDS",
    "TASK_FIELDS",
    "ZeroPrefillCostModel",
    "ideal_cluster",
    "isolated_cached",
    "load_cached",
    "run_one",
]

ROW_FIELDS: tuple[str, ...] = (
    "workload", "cluster", "stack", "ideal", "rate_per_min", "rel_rate", "rel_to", "seed",
    "tasks", "tasks_submitted", "tasks_completed",
    "tct_mean", "tct_p50", "tct_p99", "tct_geomean", "floor_geomean",
    "slo_attainment", "goodput_tasks_per_min", "throughput_tasks_per_min",
    "kv_utilization", "prefill_tokens_computed", "prefill_tokens_reused", "decode_tokens",
    "preemptions", "evicted_blocks", "swapped_out_tokens", "migrations",
    "call_wait_mean_s", "call_wait_p99_s", "span_s", "events", "sim_wall_seconds",
)
"""Columns of the tidy table, one row per run (``sim_wall_seconds`` is a timing and
differs between identical runs; every other field is deterministic)."""

TASK_FIELDS: tuple[str, ...] = ("tct_by_task", "isolated_by_task")
"""Per-task fields of a row, kept in the JSON Lines table only."""

_INFINITE_KV_TOKENS = 1 << 50


@dataclass(frozen=True)
class ZeroPrefillCostModel(CostModel):
    """A cost model in which prompt tokens cost no GPU time (an ideal reference).

    A step costs what the same step would cost without its prefill chunks; a step with
    prefill chunks only costs the fixed step overhead (the CPU's share, so that time
    still advances). Decode is priced as in :class:`CostModel`.
    """

    def step_seconds_trusted(
        self, prefill_tokens: int, prefill_context_tokens: int, decode_seqs: int,
        decode_context_tokens: int, prefill_attention_pairs: float,
    ) -> float:
        """The step without its prefill chunks (the overhead alone when nothing decodes)."""
        if decode_seqs == 0:
            return self.step_overhead_s
        return super().step_seconds_trusted(0, 0, decode_seqs, decode_context_tokens, 0.0)

    def step_seconds(
        self,
        prefill_tokens: float = 0,
        prefill_context_tokens: float = 0,
        decode_seqs: float = 0,
        decode_context_tokens: float = 0,
        *,
        prefill_attention_pairs: float | None = None,
    ) -> float:
        """As :meth:`step_seconds_trusted`, for checked arguments."""
        if decode_seqs == 0:
            return self.step_overhead_s if prefill_tokens > 0 else 0.0
        return super().step_seconds(0, 0, decode_seqs, decode_context_tokens)

    def prefill_seconds(self, new_tokens: float, cached_tokens: float = 0) -> float:
        """One step's overhead, whatever the prompt."""
        return self.step_overhead_s


def ideal_cluster(cluster: ClusterConfig, kind: IdealKind) -> ClusterConfig:
    """``cluster`` with its KV memory unbounded, its prefill free, or both."""
    engine, cost = cluster.engine, cluster.cost
    if kind in ("infinite-kv", "both"):
        engine = replace(engine, kv_capacity_tokens=_INFINITE_KV_TOKENS)
    if kind in ("zero-prefill", "both"):
        fields = {f: getattr(cost, f) for f in cost.__dataclass_fields__}
        cost = ZeroPrefillCostModel(**fields)
    return ClusterConfig(cluster.instances, cost, engine)


_WORKLOADS: dict[tuple[str, int, int | None], Workload] = {}
_ISOLATED: dict[tuple[str, int, int | None, str], dict[str, float]] = {}


def load_cached(workload: str, seed: int, tasks: int | None) -> Workload:
    """The run's tasks (before re-timing), loaded once per process."""
    k = (workload, seed, tasks)
    w = _WORKLOADS.get(k)
    if w is None:
        from sagacore.workload.load import load_workload

        w = _WORKLOADS[k] = load_workload(workload, tasks=tasks, rate=None, seed=seed)
    return w


def isolated_cached(spec: RunSpec) -> dict[str, float]:
    """Isolated TCTs of the run's tasks on its (real) cluster, computed once per process."""
    k = (spec.workload, spec.seed, spec.tasks, spec.cluster)
    iso = _ISOLATED.get(k)
    if iso is None:
        from sagacore.sim import isolated_tcts

        w = load_cached(spec.workload, spec.seed, spec.tasks)
        iso = _ISOLATED[k] = isolated_tcts(w, parse_cluster(spec.cluster))
    return iso


def _geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else math.nan


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Simulate ``spec`` and return its row (:data:`ROW_FIELDS` + :data:`TASK_FIELDS`).

    Raises
    ------
    SagacoreError
        For an unknown workload, cluster or stack.
    """
    from sagacore.sim import simulate
    from sagacore.workload.generators import with_poisson_arrivals

    kind = ideal_kind(spec.stack)
    cluster = parse_cluster(spec.cluster)
    if kind is not None:
        cluster = ideal_cluster(cluster, kind)
    base = load_cached(spec.workload, spec.seed, spec.tasks)
    iso = isolated_cached(spec)
    w = with_poisson_arrivals(base, spec.rate_per_min, seed=spec.seed)
    r = simulate(w, "vllm-apc" if kind is not None else spec.stack, cluster, isolated=iso)
    s = r.summary()
    t = s["tct"]
    met = sum(1 for rec in r.tasks if rec.meets_slo)
    span_min = r.span_s / 60.0
    row: dict[str, Any] = {
        "workload": spec.workload,
        "cluster": spec.cluster,
        "stack": spec.stack,
        "ideal": kind is not None,
        "rate_per_min": spec.rate_per_min,
        "rel_rate": spec.rel_rate,
        "rel_to": spec.rel_to,
        "seed": spec.seed,
        "tasks": spec.tasks,
        "tasks_submitted": s["tasks_submitted"],
        "tasks_completed": s["tasks_completed"],
        "tct_mean": t["mean"],
        "tct_p50": t["p50"],
        "tct_p99": t["p99"],
        "tct_geomean": t["geomean"],
        "floor_geomean": _geomean([iso[rec.task_id] for rec in r.tasks]),
        "slo_attainment": s["slo_attainment"],
        "goodput_tasks_per_min": met / span_min if span_min > 0 else 0.0,
        "throughput_tasks_per_min": s["throughput_tasks_per_min"],
    }
    for f in ROW_FIELDS:
        if f not in row:
            row[f] = s[f]
    row["tct_by_task"] = {rec.task_id: rec.tct_s for rec in r.tasks}
    row["isolated_by_task"] = {rec.task_id: iso[rec.task_id] for rec in r.tasks}
    return row
