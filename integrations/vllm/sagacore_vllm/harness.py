"""Run a sagacore workload through the twin on a sagacore cluster; the simulator's metrics.

:func:`run_twin` is the twin's counterpart of :func:`sagacore.sim.simulate`: the same
workload (with the same arrival times), the same cluster (instances, cost model, KV
capacity, scheduler limits) and the same router objects, but real vLLM 0.33 schedulers
instead of sagacore's worker model. It returns a :class:`TwinRun` whose metrics carry
the names and definitions of :class:`sagacore.sim.result.SimResult`, computed by the
same code (:class:`sagacore.sim.result.RunMetrics`, whose ``tasks`` are
:class:`sagacore.sim.result.TaskRecord`; :func:`sagacore.sim.isolated.isolated_tct`).

How a cluster maps onto vLLM instances (:func:`engine_config`):

- ``num_gpu_blocks = kv_capacity_tokens // block_size`` (vLLM's count, its null block
  included, so ``num_gpu_blocks - 1`` blocks hold tokens);
- ``max_num_batched_tokens``, ``max_num_seqs`` and ``block_size`` from the cluster's
  :class:`sagacore.sim.config.VllmEngineConfig`; chunked prefill on, no long-prefill cap
  (vLLM's defaults, and the simulator's behaviour);
- ``max_model_len``: the workload's longest prompt plus output, plus one block;
- a step lasts ``cost.step_seconds(**record.cost_arguments())``, the price the
  simulator gives a step of the same shape.

Examples
--------
>>> from sagacore.sim.config import ClusterConfig
>>> c = ClusterConfig.from_gpus(2, tp=1, model="llama-3-8b", gpu="a100-80gb")
>>> e = engine_config(c, max_model_len=4096)
>>> e.num_gpu_blocks == c.kv_capacity_tokens // 16, e.max_num_batched_tokens
(True, 8192)
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sagacore.errors import ConfigError
from sagacore.policy import Router as PolicyRouter
from sagacore.route import make_router
from sagacore.sim.config import ClusterConfig
from sagacore.sim.isolated import isolated_tct
from sagacore.sim.keys import context_keys
from sagacore.sim.result import RunMetrics, TaskRecord
from sagacore.stacks import BuildContext, Stack
from sagacore.workload.model import Workload
from sagacore_vllm.bridge import SegmentTokens, max_sequence_tokens, twin_tasks
from sagacore_vllm.engine import SchedulingPolicy, StepRecord, VllmEngineConfig
from sagacore_vllm.twin import Twin, TwinResult

__all__ = ["PLUGIN_CLS", "TwinRun", "TwinTask", "engine_config", "run_twin", "stack_name"]

PLUGIN_CLS = "sagacore_vllm.plugin.SagaScheduler"
"""The class ``vllm serve --scheduler-cls`` loads (synchronous variant), which the twin's
engines run when given a stack."""

RouterName = Literal["round-robin", "session-affinity", "least-loaded", "cache-aware"]


def engine_config(
    cluster: ClusterConfig,
    *,
    max_model_len: int,
    policy: SchedulingPolicy = "fcfs",
    prefix_caching: bool = True,
    vocab_size: int = 1 << 24,
    track_block_reuse: bool = True,
) -> VllmEngineConfig:
    """The vLLM instance configuration equivalent to one of ``cluster``'s instances.

    Parameters
    ----------
    cluster
        The simulator's cluster.
    max_model_len
        Longest sequence a request may reach.
    policy
        vLLM's scheduling policy.
    prefix_caching
        vLLM's automatic prefix caching.
    vocab_size
        Token ids of the prompts are below it.
    track_block_reuse
        Track idle cached blocks for the KV-utilisation metric.

    Returns
    -------
    VllmEngineConfig
    """
    e = cluster.engine
    return VllmEngineConfig(
        num_gpu_blocks=cluster.kv_capacity_tokens // e.block_size,
        block_size=e.block_size,
        max_num_batched_tokens=e.max_num_batched_tokens,
        max_num_seqs=e.max_num_seqs,
        max_model_len=max_model_len,
        enable_prefix_caching=prefix_caching,
        policy=policy,
        vocab_size=vocab_size,
        track_block_reuse=track_block_reuse and prefix_caching,
    )


def stack_name(policy: str, prefix_caching: bool, router: str) -> str:
    """A short label of a twin configuration, e.g. ``twin:fcfs+apc/session-affinity``.

    Examples
    --------
    >>> stack_name("fcfs", False, "round-robin")
    'twin:fcfs/round-robin'
    """
    return f"twin:{policy}{'+apc' if prefix_caching else ''}/{router}"


@dataclass(frozen=True, slots=True)
class TwinTask(TaskRecord):
    """One task's outcome in the twin: sagacore's ``TaskRecord`` and its preemptions."""

    preemptions: int
    """Times its calls were preempted."""


_TWIN_COUNTERS = (
    "llm_calls",
    "prefill_tokens_computed",
    "prefill_tokens_reused",
    "prefix_hit_rate",
    "decode_tokens",
    "preemptions",
    "batch_steps",
    "kv_utilization",
)


@dataclass(frozen=True)
class TwinRun(RunMetrics):
    """The outcome of one twin replay, in the simulator's terms.

    The metrics derived from the tasks (``tct``, ``slo_attainment``, ``span_s``, ...)
    are those of :class:`sagacore.sim.result.RunMetrics`. Token and step counters sum
    over all instances. ``kv_utilization`` is the time-weighted fraction of KV capacity
    holding KV that is used: blocks referenced by a request, plus the idle stretch of a
    cached block that a later request hits, over ``span_s`` and all instances (the
    simulator's definition).
    """

    stack: str
    """The twin configuration (see :func:`stack_name`)."""
    cluster: str
    """The cluster, described."""
    instances: int
    """vLLM instances."""
    tasks: tuple[TwinTask, ...]
    """Per task, in the workload's order."""
    llm_calls: int
    """LLM calls completed."""
    prefill_tokens_computed: int
    """Prompt tokens computed (recomputation after preemption included)."""
    prefill_tokens_reused: int
    """Prompt tokens hit in the prefix cache, summed over admissions (readmissions too)."""
    decode_tokens: int
    """Output tokens generated."""
    preemptions: int
    """Requests preempted."""
    batch_steps: int
    """Engine steps that scheduled work."""
    kv_utilization: float
    """Time-weighted KV capacity holding used KV (see above)."""
    start_s: float
    """First arrival."""
    end_s: float
    """Last completion."""
    sim_wall_seconds: float
    """Wall-clock time of the replay (building the engines included)."""
    events: int
    """Events the twin processed (calls becoming ready, step ends)."""
    result: TwinResult
    """The twin's own result (per call timings and hits)."""
    plugin_stats: dict[str, int] | None = None
    """With a stack: what the plug-in did, summed over the instances
    (:class:`sagacore_vllm.plugin.PluginStats` fields); None without."""

    @property
    def tasks_submitted(self) -> int:
        """Tasks of the workload: all of them complete (the twin runs to the end)."""
        return len(self.tasks)

    @property
    def prefix_hit_rate(self) -> float:
        """Reused prompt tokens over reused plus computed prompt tokens."""
        total = self.prefill_tokens_reused + self.prefill_tokens_computed
        return self.prefill_tokens_reused / total if total else 0.0

    def summary(self) -> dict[str, Any]:
        """The metrics, under the keys of ``sagacore simulate --json`` (plus hit rate)."""
        return self.metrics_summary("twin", _TWIN_COUNTERS)


def _router(router: RouterName | str | PolicyRouter) -> tuple[PolicyRouter, str]:
    r = router if isinstance(router, PolicyRouter) else make_router(router)
    if r.rebalance_interval_s is not None:
        raise ConfigError(
            f"router {r.name!r} steals work (rebalance_interval_s="
            f"{r.rebalance_interval_s!r}); the twin runs only routing: use a router "
            "without work stealing (for saga-affinity: SagaAffinity(steal=False))"
        )
    return r, (router.name if isinstance(router, PolicyRouter) else router)


def run_twin(
    workload: Workload,
    cluster: ClusterConfig,
    *,
    router: RouterName | str | PolicyRouter | None = None,
    policy: SchedulingPolicy = "fcfs",
    prefix_caching: bool = True,
    track_block_reuse: bool = True,
    table: SegmentTokens | None = None,
    adjust: Callable[[VllmEngineConfig], VllmEngineConfig] | None = None,
    stack: Stack | None = None,
    plugin_settings: dict[str, object] | None = None,
    plugin_cls: str = PLUGIN_CLS,
) -> TwinRun:
    """Replay ``workload`` through one vLLM 0.33 scheduler per instance of ``cluster``.

    Parameters
    ----------
    workload
        Chains of calls with their arrival times (as :func:`sagacore.sim.simulate`
        takes them; for example from ``sagacore.cli.simulate.load_workload``).
    cluster
        Instances, cost model, KV capacity and scheduler limits.
    router
        A sagacore router name (:data:`sagacore.route.ROUTERS`) or object: the same
        class the simulator's stack uses places the calls. Default: the stack's router
        (built with the cluster's context) with ``stack``, else ``session-affinity``.
    policy
        vLLM's ``fcfs`` or ``priority`` (priority: the task's rank by arrival); ignored
        with ``stack`` (the plug-in chooses).
    prefix_caching
        vLLM's automatic prefix caching (with ``stack``: the stack's).
    track_block_reuse
        Account idle cached blocks that are reused in ``kv_utilization`` (else that
        metric counts referenced blocks only).
    table
        Segment token table (default: built from the workload).
    adjust
        Changes the instances' configuration after it is derived from the cluster
        (for ablations, e.g. ``lambda c: dataclasses.replace(c,
        scheduler_reserve_full_isl=False)``).
    stack
        Run the stack's scheduler and cache policy inside vLLM through the plug-in
        (:data:`PLUGIN_CLS`, the class ``vllm serve --scheduler-cls`` loads), built with
        the cluster's cost model and KV capacity and one predictor shared by the
        instances (as the simulator shares it). Its router must not steal work.
    plugin_settings
        Extra plug-in settings (:class:`sagacore_vllm.plugin.PluginConfig` fields, as
        in ``--additional-config``), for example ``{"release_pins_under_pressure":
        False}``.
    plugin_cls
        The plug-in class (``"sagacore_vllm.plugin.SagaAsyncScheduler"`` steps in lock
        step here: the twin does not model async scheduling's overlap).

    Returns
    -------
    TwinRun

    Raises
    ------
    ConfigError
        If a call's KV cannot fit an instance.
    """
    wall0 = time.perf_counter()
    cost = cluster.cost
    ctx: BuildContext | None = None
    if stack is not None:
        predictor = None
        if stack.uses_predictor:
            from sagacore.workload.predictor import Predictor

            predictor = Predictor()
        ctx = BuildContext(cost, cluster.instances, cluster.kv_capacity_tokens, predictor)
        prefix_caching = stack.prefix_caching
        if router is None:
            router = stack.build_router(ctx)
    route, rname = _router(router if router is not None else "session-affinity")
    bs = cluster.engine.block_size
    longest = max_sequence_tokens(workload)
    config = engine_config(
        cluster,
        max_model_len=longest + bs,
        policy=policy,
        prefix_caching=prefix_caching,
        track_block_reuse=track_block_reuse,
    )
    if stack is not None:
        from sagacore.stacks import STACKS

        settings: dict[str, object] = dict(plugin_settings or {})
        settings.setdefault("stack", stack.name if stack.name in STACKS else "vllm-apc")
        settings["instances"] = cluster.instances
        config = dataclasses.replace(
            config, scheduler_cls=plugin_cls, additional_config={"sagacore": settings}
        )
    if adjust is not None:
        config = adjust(config)
    if -(-longest // bs) > config.num_usable_blocks:
        raise ConfigError(
            f"a call needs {longest} tokens of KV; an instance holds "
            f"{config.num_usable_blocks * bs}"
        )
    tasks = twin_tasks(workload, table)

    def price(record: StepRecord) -> float:
        return cost.step_seconds(**record.cost_arguments())

    configs = [config] * cluster.instances
    if stack is not None:
        configs = [
            dataclasses.replace(config, additional_config={
                "sagacore": {**config.additional_config["sagacore"], "worker_id": i}})
            for i in range(cluster.instances)
        ]
    twin = Twin(
        configs,
        router=route,
        price=price,
        capacity_tokens=cluster.kv_capacity_tokens,
        keep_steps=False,
    )
    if stack is not None:
        assert ctx is not None
        for engine in twin.engines:
            engine.scheduler.sagacore_use(stack, ctx)
    result = twin.run(tasks)
    records: list[TwinTask] = []
    for task, res in zip(workload.tasks, result.tasks, strict=True):
        isolated = isolated_tct(task, cost, cluster.engine, keys=context_keys(task))
        records.append(
            TwinTask(
                task_id=str(task.id),
                tenant=str(task.tenant),
                arrival_s=task.arrival_s,
                completion_s=res.finish_s,
                isolated_s=isolated,
                slo_factor=workload.tenant(task.tenant).slo_factor,
                llm_calls=len(res.calls),
                preemptions=sum(c.preemptions for c in res.calls),
            )
        )
    stats = result.instances
    start = min((t.arrival_s for t in workload.tasks), default=0.0)
    end = max((r.completion_s for r in records), default=start)
    span = end - start
    capacity_blocks = cluster.kv_capacity_tokens // bs * cluster.instances
    used = sum(s.used_block_seconds for s in stats)
    return TwinRun(
        stack=(f"twin:plugin:{stack.name}/{rname}" if stack is not None
               else stack_name(policy, prefix_caching, rname)),
        cluster=cluster.describe(),
        instances=cluster.instances,
        tasks=tuple(records),
        llm_calls=sum(len(t.calls) for t in result.tasks),
        prefill_tokens_computed=sum(s.prefill_tokens for s in stats),
        prefill_tokens_reused=sum(s.reused_tokens for s in stats),
        decode_tokens=sum(s.decode_tokens for s in stats),
        preemptions=sum(s.preemptions for s in stats),
        batch_steps=sum(s.steps for s in stats),
        kv_utilization=used / (capacity_blocks * span) if span > 0 else math.nan,
        start_s=start,
        end_s=end,
        sim_wall_seconds=time.perf_counter() - wall0,
        events=result.events,
        result=result,
        plugin_stats=_plugin_stats(twin) if stack is not None else None,
    )


def _plugin_stats(twin: Twin) -> dict[str, int]:
    total: dict[str, int] = {}
    for engine in twin.engines:
        for k, v in dataclasses.asdict(engine.scheduler.sagacore_stats).items():
            total[k] = total.get(k, 0) + int(v)
    return total
