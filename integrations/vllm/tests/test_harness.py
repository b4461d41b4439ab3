"""Tests of the harness: a sagacore workload and cluster through the twin.

They skip only when vLLM is not importable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest

pytest.importorskip("vllm")

from sagacore.cli.simulate import load_workload
from sagacore.policy import CallView, Router, WorkerView
from sagacore.route import make_router
from sagacore.sim import simulate
from sagacore.sim.config import ClusterConfig
from sagacore.stacks import Stack
from sagacore.workload.model import TaskId
from sagacore_vllm.harness import engine_config, run_twin

Decision = tuple[str, int, int, float, tuple[float, ...], tuple[int, ...], tuple[int, ...]]


class Recording(Router):
    """Wraps a router and records each decision with the worker views it saw."""

    name: ClassVar[str] = "recording"

    def __init__(self, inner: Router) -> None:
        self.inner = inner
        self.log: list[Decision] = []

    def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
        w = self.inner.route(call, workers, now)
        self.log.append(
            (
                str(call.task_id),
                call.step,
                w,
                now,
                tuple(x.load for x in workers),
                tuple(x.queued_calls for x in workers),
                tuple(x.running_calls for x in workers),
            )
        )
        return w

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        self.inner.observe_task_end(task_id, now)


def cluster(instances: int) -> ClusterConfig:
    return ClusterConfig.from_gpus(instances, tp=1, model="llama-3-8b", gpu="a100-80gb")


def test_engine_config_follows_the_cluster() -> None:
    c = cluster(2)
    e = engine_config(c, max_model_len=5000, policy="priority", prefix_caching=False)
    assert e.num_gpu_blocks == c.kv_capacity_tokens // c.engine.block_size
    assert (e.max_num_batched_tokens, e.max_num_seqs, e.block_size) == (
        c.engine.max_num_batched_tokens,
        c.engine.max_num_seqs,
        c.engine.block_size,
    )
    assert e.policy == "priority" and not e.enable_prefix_caching
    assert not e.track_block_reuse and e.scheduler_reserve_full_isl


@pytest.mark.parametrize("router", ["least-loaded", "session-affinity"])
def test_a_sagacore_router_sees_the_same_views_and_places_calls_alike(router: str) -> None:
    """The same router class, fed the twin's WorkerAdapter views, decides as in the simulator.

    With no memory pressure the simulator and vLLM schedule identically, so every
    decision, and the load, queue and batch of every worker it saw, must agree.
    """
    w = load_workload("webarena", tasks=8, rate=40, seed=2)
    c = cluster(3)
    in_sim = Recording(make_router(router))
    stack = Stack("rec", router=lambda ctx: in_sim, scheduler="fcfs", cache="lru")
    simulate(w, stack, c, mode="step")
    in_twin = Recording(make_router(router))
    run_twin(w, c, router=in_twin)
    assert len(in_sim.log) == len(in_twin.log) == w.llm_calls
    for a, b in zip(in_sim.log, in_twin.log, strict=True):
        assert a[:3] == b[:3]
        assert math.isclose(a[3], b[3], rel_tol=1e-9)
        assert all(
            math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) for x, y in zip(a[4], b[4], strict=True)
        )
        assert a[5:] == b[5:]


def test_metrics_have_the_simulators_names_and_values() -> None:
    w = load_workload("webarena", tasks=6, rate=30, seed=1)
    c = cluster(2)
    sim = simulate(w, "vllm-apc", c)
    twin = run_twin(w, c, router="session-affinity")
    s, t = sim.summary(), twin.summary()
    for key in (
        "tct",
        "tasks_completed",
        "llm_calls",
        "prefill_tokens_computed",
        "prefill_tokens_reused",
        "decode_tokens",
        "preemptions",
        "batch_steps",
        "kv_utilization",
        "slo_attainment",
        "throughput_tasks_per_min",
        "span_s",
        "sim_wall_seconds",
        "events",
    ):
        assert key in t
    # no memory pressure: vLLM and the simulator agree to rounding
    for key in (
        "tasks_completed",
        "llm_calls",
        "prefill_tokens_computed",
        "prefill_tokens_reused",
        "decode_tokens",
        "preemptions",
        "batch_steps",
    ):
        assert s[key] == t[key], key
    for key in ("kv_utilization", "slo_attainment", "throughput_tasks_per_min", "span_s"):
        assert math.isclose(s[key], t[key], rel_tol=1e-9), key
    for q in ("mean", "p50", "p99", "geomean"):
        assert math.isclose(s["tct"][q], t["tct"][q], rel_tol=1e-9)
    assert t["stack"] == "twin:fcfs+apc/session-affinity"
    assert 0 < twin.prefix_hit_rate < 1


def test_cli_twin_prints_and_writes_the_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sagacore_vllm.cli import main

    out = tmp_path / "twin.json"
    status = main(
        [
            "twin",
            "--workload",
            "webarena",
            "--tasks",
            "3",
            "--rate",
            "20",
            "--instances",
            "2",
            "--model",
            "llama-3-8b",
            "--tp",
            "1",
            "--gpu",
            "a100-80gb",
            "--prefix-caching",
            "off",
            "--json",
            str(out),
        ]
    )
    assert status == 0
    text = capsys.readouterr().out
    assert "twin:fcfs/round-robin" in text and "3 tasks" in text
    doc = json.loads(out.read_text())
    assert doc["twin"]["tasks_completed"] == 3 and doc["twin"]["prefill_tokens_reused"] == 0
    assert main(["twin", "--cluster", "h100-8", "--tp", "2"]) == 2


def test_module_examples() -> None:
    import doctest

    import sagacore_vllm.fidelity as fidelity
    import sagacore_vllm.harness as harness

    for module in (harness, fidelity):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_a_router_that_steals_work_is_refused() -> None:
    from sagacore.errors import ConfigError
    from sagacore.route.saga import SagaAffinity

    w = load_workload("webarena", tasks=2, rate=60, seed=0)
    c = ClusterConfig.from_gpus(1, tp=1, model="llama-3-8b")
    with pytest.raises(ConfigError, match="steals work"):
        run_twin(w, c, router=SagaAffinity())
    with pytest.raises(ConfigError, match="steals work"):
        run_twin(w, c, router="saga-affinity")
