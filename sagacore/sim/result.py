"""What a simulation returns: per-task records and cluster-wide counters.

The metrics derived from the per-task records (:class:`RunMetrics`) are shared with
other runners of workloads (the vLLM twin of ``integrations/vllm``), so that a metric
has one definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sagacore.metrics import TCTSummary, slo_attainment, tct_summary

__all__ = ["RunMetrics", "SimResult", "TaskRecord"]


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One task's outcome."""

    task_id: str
    """The task."""
    tenant: str
    """Its tenant."""
    arrival_s: float
    """When it arrived."""
    completion_s: float
    """When its last step (LLM call and tool) finished."""
    isolated_s: float
    """Its isolated TCT (alone on an idle instance, prefix caching ideal)."""
    slo_factor: float
    """Its tenant's SLO factor."""
    llm_calls: int
    """LLM calls it made."""

    @property
    def tct_s(self) -> float:
        """Task completion time: completion minus arrival."""
        return self.completion_s - self.arrival_s

    @property
    def meets_slo(self) -> bool:
        """Whether its TCT is within ``slo_factor`` times its isolated TCT."""
        return self.tct_s <= self.slo_factor * self.isolated_s


class RunMetrics:
    """The metrics of a run of a workload, derived from its tasks' outcomes.

    A mixin: the class provides ``stack``, ``cluster``, ``tasks`` (the completed tasks'
    records), ``tasks_submitted``, ``start_s``, ``end_s``, ``sim_wall_seconds`` and
    ``events`` (the fields of :class:`SimResult` of these names).
    """

    __slots__ = ()

    stack: str
    cluster: str
    tasks: Sequence[TaskRecord]
    start_s: float
    end_s: float
    sim_wall_seconds: float
    events: int

    if TYPE_CHECKING:

        @property
        def tasks_submitted(self) -> int: ...

    @property
    def span_s(self) -> float:
        """Simulated time from the first arrival to the last completion."""
        return self.end_s - self.start_s

    @property
    def tasks_completed(self) -> int:
        """Tasks that completed."""
        return len(self.tasks)

    @property
    def tct(self) -> TCTSummary:
        """Summary of the task completion times."""
        return tct_summary([r.tct_s for r in self.tasks])

    @property
    def slo_attainment(self) -> float:
        """Fraction of submitted tasks that completed within their SLO."""
        return slo_attainment(
            [r.tct_s for r in self.tasks],
            [r.isolated_s for r in self.tasks],
            [r.slo_factor for r in self.tasks],
            total=self.tasks_submitted,
        )

    @property
    def throughput_tasks_per_min(self) -> float:
        """Tasks completed per minute of the span."""
        return 60.0 * len(self.tasks) / self.span_s if self.span_s > 0 else 0.0

    def tct_by_task(self) -> dict[str, float]:
        """TCT of each completed task."""
        return {r.task_id: r.tct_s for r in self.tasks}

    def metrics_summary(self, mode: str, counters: Iterable[str]) -> dict[str, Any]:
        """The JSON summary of ``sagacore simulate --json``, with these counters.

        Parameters
        ----------
        mode
            The value of the ``mode`` key.
        counters
            Names of the attributes listed, in order, between ``tasks_completed`` and
            ``slo_attainment``.

        Returns
        -------
        dict
            ``stack``, ``mode``, ``cluster``, ``tct`` (mean, p50, p99, geomean),
            ``tasks_submitted``, ``tasks_completed``, the counters, ``slo_attainment``,
            ``throughput_tasks_per_min``, ``span_s``, ``sim_wall_seconds``, ``events``.
        """
        t = self.tct
        return {
            "stack": self.stack,
            "mode": mode,
            "cluster": self.cluster,
            "tct": {"mean": t.mean, "p50": t.p50, "p99": t.p99, "geomean": t.geomean},
            "tasks_submitted": self.tasks_submitted,
            "tasks_completed": self.tasks_completed,
            **{name: getattr(self, name) for name in counters},
            "slo_attainment": self.slo_attainment,
            "throughput_tasks_per_min": self.throughput_tasks_per_min,
            "span_s": self.span_s,
            "sim_wall_seconds": self.sim_wall_seconds,
            "events": self.events,
        }


_SIM_COUNTERS = (
    "llm_calls",
    "prefill_tokens_computed",
    "prefill_tokens_reused",
    "decode_tokens",
    "preemptions",
    "evicted_blocks",
    "swapped_out_tokens",
    "swapped_in_tokens",
    "dropped_tokens",
    "migrations",
    "migrated_tokens",
    "call_wait_mean_s",
    "call_wait_p99_s",
    "call_wait_max_s",
    "batch_steps",
    "kv_utilization",
)


@dataclass(frozen=True)
class SimResult(RunMetrics):
    """The outcome of one simulation.

    Token and step counters sum over all instances. ``kv_utilization`` is the
    time-weighted fraction of KV capacity holding KV that is used (by a running call,
    or cached and later reused), over ``span_s`` and all instances.
    """

    stack: str
    """The stack simulated."""
    mode: str
    """``fast`` or ``step``."""
    cluster: str
    """The cluster, described."""
    instances: int
    """Engine instances."""
    tasks: tuple[TaskRecord, ...]
    """Completed tasks, in order of completion."""
    tasks_submitted: int
    """Tasks of the workload."""
    llm_calls: int
    """LLM calls completed."""
    prefill_tokens_computed: int
    """Prompt tokens computed (recomputation after preemption included)."""
    prefill_tokens_reused: int
    """Prompt tokens served from the prefix cache or swapped back in."""
    decode_tokens: int
    """Output tokens generated."""
    preemptions: int
    """Calls preempted (and later recomputed)."""
    evicted_blocks: int
    """KV blocks the cache policies evicted."""
    swapped_out_tokens: int
    """Tokens of KV swapped to host memory during tool calls."""
    swapped_in_tokens: int
    """Tokens of KV swapped back before a call."""
    dropped_tokens: int
    """Tokens of KV dropped during tool calls."""
    batch_steps: int
    """Engine batch steps simulated."""
    kv_utilization: float
    """Time-weighted KV capacity holding used KV (see above)."""
    start_s: float
    """First arrival."""
    end_s: float
    """Last completion (or the time limit)."""
    sim_wall_seconds: float
    """Wall-clock time the simulation took."""
    events: int
    """Events the simulator processed."""
    migrations: int = 0
    """Waiting calls moved between instances by work stealing."""
    migrated_tokens: int = 0
    """Tokens of KV copied between instances with them."""
    call_wait_mean_s: float = 0.0
    """Mean wait of an LLM call from becoming ready to its first admission (queueing)."""
    call_wait_p99_s: float = 0.0
    """99th percentile of that wait."""
    call_wait_max_s: float = 0.0
    """Its maximum."""

    def summary(self) -> dict[str, Any]:
        """The JSON summary ``sagacore simulate --json`` writes per stack."""
        return self.metrics_summary(self.mode, _SIM_COUNTERS)
