"""Configuration of a simulated cluster: engine settings, cluster shape, simulator mode.

Frozen, validated dataclasses; a bad value raises :class:`~sagacore.errors.ConfigError`
that shows it. :data:`CLUSTERS` holds named presets.

Examples
--------
>>> c = ClusterConfig.from_gpus(64, tp=4, model="llama-3-70b", gpu="a100-80gb")
>>> c.instances, c.kv_capacity_tokens
(16, 439616)
>>> EngineConfig(max_num_seqs=0)
Traceback (most recent call last):
...
sagacore.errors.ConfigError: EngineConfig.max_num_seqs must be a positive integer, got 0
>>> ClusterConfig.from_gpus(10, tp=4)
Traceback (most recent call last):
...
sagacore.errors.ConfigError: ClusterConfig: gpus=10 is not a multiple of tp=4
>>> SimConfig(release_pins_under_pressure=1)
Traceback (most recent call last):
...
sagacore.errors.ConfigError: SimConfig.release_pins_under_pressure must be True or False, got 1
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sagacore.engine import CostModel
from sagacore.errors import ConfigError, UnknownNameError
from sagacore.validate import positive, positive_int

if TYPE_CHECKING:
    from pathlib import Path

    from sagacore.engine.profile import Profile
    from sagacore.workload.model import TaskId, Workload

__all__ = [
    "CLUSTERS",
    "DEFAULT_CLUSTER",
    "MAX_INSTANCES",
    "ClusterConfig",
    "EngineConfig",
    "SimConfig",
    "get_cluster",
    "kv_overflow_error",
    "kv_room_tokens",
]


MAX_INSTANCES = 10_000
"""Most engine instances a simulated cluster may have (each is a worker in memory;
40,000 GPUs at tensor parallel 4)."""


@dataclass(frozen=True)
class EngineConfig:
    """Settings of one engine instance (vLLM's scheduler and cache configuration).

    Defaults are vLLM V1's for online serving with chunked prefill on large GPUs.
    """

    max_num_batched_tokens: int = 8192
    """Token budget of one batch step (prefill chunks plus one token per decode)."""
    max_num_seqs: int = 256
    """Most calls in the running batch."""
    block_size: int = 16
    """Tokens per KV-cache block."""
    kv_capacity_tokens: int | None = None
    """Override of the KV capacity (tokens); None: the cost model's, from memory. As in
    vLLM, one block of it is the null block, which never holds KV."""

    def __post_init__(self) -> None:
        for name in ("max_num_batched_tokens", "max_num_seqs", "block_size"):
            positive_int(f"EngineConfig.{name}", getattr(self, name))
        if self.kv_capacity_tokens is not None:
            positive_int("EngineConfig.kv_capacity_tokens", self.kv_capacity_tokens)
            if self.kv_capacity_tokens < 2 * self.block_size:
                raise ConfigError(
                    f"EngineConfig.kv_capacity_tokens must hold two blocks "
                    f"({2 * self.block_size} tokens: one is vLLM's null block), "
                    f"got {self.kv_capacity_tokens}"
                )


@dataclass(frozen=True)
class ClusterConfig:
    """A cluster of identical engine instances.

    Parameters
    ----------
    instances
        Number of engine instances (each ``cost.tp`` GPUs).
    cost
        The cost model of one instance (model, GPU, tensor parallelism).
    engine
        Engine settings of every instance.
    """

    instances: int
    """Number of engine instances."""
    cost: CostModel
    """Cost model of one instance."""
    engine: EngineConfig = field(default_factory=EngineConfig)
    """Engine settings of every instance."""

    def __post_init__(self) -> None:
        positive_int("ClusterConfig.instances", self.instances)
        if self.instances > MAX_INSTANCES:
            raise ConfigError(
                f"ClusterConfig: {self.instances} instances; the simulator models at most "
                f"{MAX_INSTANCES}"
            )
        if not isinstance(self.cost, CostModel):
            raise ConfigError(f"ClusterConfig.cost must be a CostModel, got {self.cost!r}")
        if self.cost.block_size != self.engine.block_size:
            raise ConfigError(
                f"ClusterConfig: the cost model's block_size {self.cost.block_size} differs "
                f"from the engine's {self.engine.block_size}"
            )

    @classmethod
    def from_gpus(
        cls,
        gpus: int = 64,
        *,
        tp: int = 4,
        model: str = "llama-3-70b",
        gpu: str = "a100-80gb",
        engine: EngineConfig | None = None,
        profile: Profile | str | Path | None = None,
    ) -> ClusterConfig:
        """``gpus / tp`` instances of ``model`` on ``tp`` GPUs of type ``gpu`` each; with a
        measured ``profile`` (or its file) their steps are priced by it where it covers them
        (:func:`~sagacore.engine.profile.with_profile`)."""
        positive_int("ClusterConfig.gpus", gpus)
        positive_int("ClusterConfig.tp", tp)
        if gpus % tp:
            raise ConfigError(f"ClusterConfig: gpus={gpus} is not a multiple of tp={tp}")
        if gpus // tp > MAX_INSTANCES:
            raise ConfigError(
                f"ClusterConfig: gpus={gpus} with tp={tp} is {gpus // tp} instances; the "
                f"simulator models at most {MAX_INSTANCES}"
            )
        eng = engine if engine is not None else EngineConfig()
        from sagacore.engine import get_gpu, get_model

        cost = CostModel(get_model(model), get_gpu(gpu), tp=tp, block_size=eng.block_size)
        if profile is not None:
            from sagacore.engine.profile import with_profile

            cost = with_profile(cost, profile)
        return cls(gpus // tp, cost, eng)

    @property
    def kv_capacity_tokens(self) -> int:
        """KV capacity of one instance, tokens (whole blocks)."""
        if self.engine.kv_capacity_tokens is not None:
            bs = self.engine.block_size
            return self.engine.kv_capacity_tokens // bs * bs
        return self.cost.kv_capacity_tokens()

    def check_fits(self, workload: Workload) -> None:
        """Refuse a workload with a call whose context cannot fit in one instance's KV.

        Such a call could never run. Checked before any work (the simulator checks it
        too, but only when the call becomes ready).

        Raises
        ------
        ConfigError
            Naming the first such task and step, its tokens and the capacity.
        """
        for task_id, index, need in self.oversized(workload)[:1]:
            raise kv_overflow_error(task_id, index, need, self.kv_room_tokens)

    @property
    def kv_room_tokens(self) -> int:
        """The most tokens one call's context may take on an instance
        (:func:`kv_room_tokens` of its capacity)."""
        return kv_room_tokens(self.kv_capacity_tokens, self.engine.block_size)

    def oversized(self, workload: Workload) -> list[tuple[TaskId, int, int]]:
        """The tasks with a call too large for one instance's KV, in workload order.

        Returns
        -------
        list of (task id, step index, tokens)
            For each such task, its first such step and that step's context (prompt
            plus output tokens), which exceeds :attr:`kv_room_tokens`.
        """
        room = self.kv_room_tokens
        out: list[tuple[TaskId, int, int]] = []
        for task in workload.tasks:
            for step in task.steps:
                need = step.prompt_tokens + step.output_tokens
                if need > room:
                    out.append((task.id, step.index, need))
                    break
        return out

    def describe(self) -> str:
        """A one-line description."""
        c = self.cost
        return (
            f"{self.instances} x {c.model.name} on {c.tp} x {c.gpu.name} "
            f"({self.instances * c.tp} GPUs, {self.kv_capacity_tokens} KV tokens per instance)"
        )


CLUSTERS: dict[str, tuple[int, int, str, str]] = {
    "a100-64": (64, 4, "llama-3-70b", "a100-80gb"),
    "a100-16": (16, 4, "llama-3-70b", "a100-80gb"),
    "h100-8": (8, 4, "llama-3-70b", "h100-80gb"),
    "a100-8-llama8b": (8, 1, "llama-3-8b", "a100-80gb"),
}
"""Cluster presets: name -> (gpus, tp, model, gpu). ``a100-64`` is SAGA's evaluation
cluster (16 instances of Llama-3-70B, tensor parallel 4, on 64 A100-80GB)."""

DEFAULT_CLUSTER = "a100-64"
"""The preset ``sagacore simulate`` uses by default."""


def kv_room_tokens(capacity_tokens: int, block_size: int) -> int:
    """Tokens of context one call may hold on an instance of ``capacity_tokens``: whole
    blocks, less the one block vLLM keeps as its null block.

    >>> kv_room_tokens(1000, 16)
    976
    """
    return (capacity_tokens // block_size - 1) * block_size


def kv_overflow_error(task_id: object, step_index: int, need: int, room: int) -> ConfigError:
    """The error for a call whose context (``need`` tokens) exceeds what one instance
    holds (``room``, :func:`kv_room_tokens`); the simulator, isolated TCTs and
    :meth:`ClusterConfig.check_fits` raise it where they find such a call.

    >>> print(kv_overflow_error("t", 2, 5010, 976))
    task t step 2 needs 5010 tokens of KV; an instance holds 976 (one block of its capacity is vLLM's null block): choose instances with more KV memory (--cluster GPUS:TP:MODEL:GPU with a larger TP or GPU) or leave such tasks out (sagacore trace convert TRACE -o OUT.jsonl --fit-cluster CLUSTER)
    """
    return ConfigError(
        f"task {task_id} step {step_index} needs {need} tokens of KV; an instance holds "
        f"{room} (one block of its capacity is vLLM's null block): choose instances with "
        "more KV memory (--cluster GPUS:TP:MODEL:GPU with a larger TP or GPU) or leave "
        "such tasks out (sagacore trace convert TRACE -o OUT.jsonl --fit-cluster CLUSTER)"
    )


def get_cluster(
    name: str, engine: EngineConfig | None = None, profile: Profile | str | Path | None = None
) -> ClusterConfig:
    """The cluster a preset name or ``GPUS:TP:MODEL:GPU`` names (priced by ``profile``,
    as in :meth:`ClusterConfig.from_gpus`).

    Raises
    ------
    UnknownNameError
        For a name that is neither a preset nor of the form ``GPUS:TP:MODEL:GPU``.
    ConfigError
        For ``GPUS:TP:MODEL:GPU`` with a bad part (the message shows it).

    Examples
    --------
    >>> get_cluster("h100-8").instances
    2
    >>> get_cluster("16:4:llama-3-70b:a100-80gb").instances
    4
    >>> get_cluster("16:x:llama-3-70b:a100-80gb")
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: cluster '16:x:llama-3-70b:a100-80gb': GPUS and TP must be integers (GPUS:TP:MODEL:GPU, for example 16:4:llama-3-70b:a100-80gb)
    """
    if name in CLUSTERS:
        gpus, tp, model, gpu = CLUSTERS[name]
    elif name.count(":") == 3:
        gpus_s, tp_s, model, gpu = name.split(":")
        try:
            gpus, tp = int(gpus_s), int(tp_s)
        except ValueError:
            raise ConfigError(
                f"cluster {name!r}: GPUS and TP must be integers ({CLUSTER_SPEC_HINT})"
            ) from None
    else:
        raise UnknownNameError("cluster", name, [*CLUSTERS, "GPUS:TP:MODEL:GPU"])
    return ClusterConfig.from_gpus(gpus, tp=tp, model=model, gpu=gpu, engine=engine,
                                   profile=profile)


CLUSTER_SPEC_HINT = "GPUS:TP:MODEL:GPU, for example 16:4:llama-3-70b:a100-80gb"
"""How a cluster that is not a preset is written."""


@dataclass(frozen=True)
class SimConfig:
    """How the simulator runs (not what it simulates)."""

    mode: Literal["fast", "step"] = "fast"
    """``fast`` advances decode runs between events in closed form; ``step`` simulates
    every batch step as an event (the reference). Both give identical results."""
    checked: bool = False
    """Assert the mechanism's invariants while running (slow)."""
    max_sim_seconds: float | None = None
    """Stop the simulation at this simulated time (None: run until every task ends)."""
    release_pins_under_pressure: bool = False
    """Release TTL holds before a waiting call would be refused for lack of blocks, as
    sagacore's vLLM plug-in does by default (vLLM RFC #52113: a TTL should not block
    scheduling). At each scheduling point, before the running calls are scheduled, when
    the call at the head of an instance's queue (in key order) needs more blocks than are
    free or evictable, that instance's holds are released one by one, nearest expiry
    first, skipping the head's own task's hold and every hold whose time left is at most
    the time to recompute what it holds (its blocks x block size x the cost model's
    prefill seconds per token), until the head fits. False (the default): a hold lasts
    until its TTL ends or its task's next call is admitted."""
    released_pins_most_recent: bool = False
    """A hold that ends (its TTL, its task's next call, a release under pressure) makes
    the cache entries it leaves unreferenced the most recently used (``last_access_s``
    set to the release time), as vLLM returns a pin's blocks to the most recently used
    end of its free queue. False (the default): they keep the time their last call
    released them (before its tool)."""

    def __post_init__(self) -> None:
        if self.mode not in ("fast", "step"):
            raise ConfigError(f"SimConfig.mode must be 'fast' or 'step', got {self.mode!r}")
        for name in ("release_pins_under_pressure", "released_pins_most_recent"):
            v = getattr(self, name)
            if not isinstance(v, bool):
                raise ConfigError(f"SimConfig.{name} must be True or False, got {v!r}")
        if self.max_sim_seconds is not None:
            positive("SimConfig.max_sim_seconds", self.max_sim_seconds)
