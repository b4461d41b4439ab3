"""The simulator priced by a measured profile (``simulate --profile``, ``with_profile``).

The profile is the CPU example shipped in ``sagacore/data/profiles`` (``sagacore cost
profile`` run on a CPU: Llama-3-8B's slice at tensor parallel 32, timed in float32), so
every step it covers is far slower than the H100 roofline prices it.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import sagacore
from sagacore.engine import CostModel
from sagacore.engine.profile import (
    MeasuredCostModel,
    Profile,
    ProfileGrid,
    load_profile,
    with_profile,
)
from sagacore.errors import ConfigError
from sagacore.sim import isolated_tcts, simulate
from sagacore.sim.config import ClusterConfig, get_cluster
from sagacore.workload.load import load_workload

CPU_EXAMPLE = Path(sagacore.__file__).parent / "data/profiles/cpu-example-llama-3-8b-tp32.json"
CLUSTER = ["--gpus", "64", "--tp", "32", "--model", "llama-3-8b", "--gpu", "h100-80gb"]


def roofline_cluster() -> ClusterConfig:
    return ClusterConfig.from_gpus(64, tp=32, model="llama-3-8b", gpu="h100-80gb")


def profiled_cluster(profile: Profile | Path = CPU_EXAMPLE) -> ClusterConfig:
    return ClusterConfig.from_gpus(64, tp=32, model="llama-3-8b", gpu="h100-80gb",
                                   profile=profile)


def workload(tasks: int = 6, rate: float = 2.0) -> Any:
    return load_workload("swe-bench-trace", tasks=tasks, rate=rate, seed=0)


def summary(r: Any) -> dict[str, Any]:
    s = dict(r.summary())
    s.pop("sim_wall_seconds", None)
    return s


def test_the_cpu_example_is_a_cpu_profile_of_the_cluster_slice() -> None:
    prof = load_profile(CPU_EXAMPLE)
    assert (prof.model, prof.tp, prof.device, prof.timing) == (
        "llama-3-8b", 32, "cpu", "perf-counter")
    assert prof.meta["command"].startswith("sagacore cost profile --model llama-3-8b --tp 32")
    cost = profiled_cluster().cost
    assert isinstance(cost, MeasuredCostModel)
    eng = roofline_cluster().engine
    # the grid covers the engine's steps: up to its token budget and its batch
    assert cost.covers(prefill_tokens=eng.max_num_batched_tokens)
    assert cost.covers(decode_seqs=eng.max_num_seqs, decode_context_tokens=eng.max_num_seqs * 10**5)


def test_every_step_the_cpu_example_covers_is_slower_than_the_roofline() -> None:
    cost = profiled_cluster().cost
    assert isinstance(cost, MeasuredCostModel)
    roof = cost.roofline
    g = cost.profile.grid
    for c in (0, 3000, 50_000):
        for n in g.new_tokens:
            assert cost.prefill_seconds(n, c) > roof.prefill_seconds(n, c)
        for b in g.batch_sizes:
            assert cost.decode_step_seconds(b, b * c) > roof.decode_step_seconds(b, b * c)


@pytest.mark.parametrize("stack", ["vllm", "vllm-apc", "sglang", "saga", "sagacore"])
def test_every_stack_runs_slower_on_the_cpu_profile(stack: str) -> None:
    w = workload()
    roof = simulate(w, stack, roofline_cluster())
    prof = simulate(w, stack, profiled_cluster())
    assert prof.tasks_completed == roof.tasks_completed == len(w)
    assert prof.tct.geomean > 10 * roof.tct.geomean
    assert prof.decode_tokens == roof.decode_tokens  # same work, priced differently


def test_isolated_tcts_are_slower_task_by_task() -> None:
    w = workload()
    roof = isolated_tcts(w, roofline_cluster())
    prof = isolated_tcts(w, profiled_cluster())
    assert roof.keys() == prof.keys()
    assert all(prof[t] > roof[t] for t in roof)


def test_deterministic_and_the_same_in_fast_and_step_mode() -> None:
    w = workload(tasks=4)
    fast = summary(simulate(w, "vllm-apc", profiled_cluster()))
    assert summary(simulate(w, "vllm-apc", profiled_cluster())) == fast
    step = simulate(w, "vllm-apc", profiled_cluster(), mode="step", checked=True)
    got = summary(step)
    for k in ("tasks_completed", "tct", "decode_tokens", "prefill_tokens_computed"):
        assert got[k] == fast[k], k


def test_a_profile_of_the_roofline_itself_reproduces_the_roofline() -> None:
    roof_cost = roofline_cluster().cost
    grid = ProfileGrid((1, 2, 4, 8, 16, 32, 64, 128, 256),
                       (1, 16, 64, 256, 512, 1024, 2048, 4096, 8192), (0, 1024, 8192, 65536))
    same = profiled_cluster(Profile.from_roofline(roof_cost, grid))
    w = workload()
    a = simulate(w, "vllm-apc", roofline_cluster()).tct
    b = simulate(w, "vllm-apc", same).tct
    assert b.geomean == pytest.approx(a.geomean, rel=0.05)  # 1.7% at this commit
    assert b.geomean != a.geomean  # measured pricing was used (norms, interpolation)
    slow = profiled_cluster(Profile.from_roofline(
        dataclasses.replace(roof_cost, compute_efficiency=0.35, bandwidth_efficiency=0.37), grid))
    # GPU time is only part of a task's time (its tools take the rest): slower, not 2x
    assert b.geomean < simulate(w, "vllm-apc", slow).tct.geomean < 2 * b.geomean


# ------------------------------------------------------------------ CLI


def sagacore_cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagacore", *argv], capture_output=True, text=True, cwd=cwd,
        timeout=300,
    )


def test_cli_simulate_with_the_cpu_example(tmp_path: Path) -> None:
    argv = ["simulate", *CLUSTER, "--tasks", "4", "--stack", "vllm-apc", "--quiet", "--json", "-"]
    plain = sagacore_cli(*argv, cwd=tmp_path)
    r = sagacore_cli(*argv, "--profile", str(CPU_EXAMPLE), cwd=tmp_path)
    assert r.returncode == 0 and plain.returncode == 0, r.stderr + plain.stderr
    doc, base = json.loads(r.stdout), json.loads(plain.stdout)
    assert doc["profile"] == str(CPU_EXAMPLE) and base["profile"] is None
    assert (doc["stacks"]["vllm-apc"]["tct"]["mean"]
            > 10 * base["stacks"]["vllm-apc"]["tct"]["mean"])
    cost_lines = [x for x in r.stderr.splitlines() if x.startswith("cost:")]
    assert len(cost_lines) == 1 and "measured on cpu" in cost_lines[0]
    assert "not h100-80gb figures" in cost_lines[0]
    assert not any(x.startswith("cost:") for x in plain.stderr.splitlines())


def _write(tmp_path: Path, name: str, obj: Any) -> str:
    (tmp_path / name).write_text(obj if isinstance(obj, str) else json.dumps(obj),
                                 encoding="utf-8")
    return name


@pytest.mark.parametrize(
    ("cluster", "make", "message"),
    [
        (["--cluster", "a100-16"], None,
         "{p}: profile field 'model' is 'llama-3-8b', but the cost model serves llama-3-70b"),
        (["--gpus", "64", "--tp", "16", "--model", "llama-3-8b", "--gpu", "h100-80gb"], None,
         "{p}: profile field 'tp' is 32, but the cost model has tp=16"),
        (CLUSTER, lambda o: o.update(device="cuda: NVIDIA H200"),
         "{p}: profile field 'device' is 'cuda: NVIDIA H200', not a GPU of type h100-80gb"),
        (CLUSTER, lambda o: o.pop("grid"), "{p}: profile is missing the field 'grid'"),
        (CLUSTER, lambda o: o["operators"]["mlp"].pop(), "{p}: operators.mlp must be a list of 8"),
        (CLUSTER, lambda o: o.update(version=9), "{p}: profile version 9 is not supported"),
        (CLUSTER, "{", "profile 'bad.json' is not JSON"),
        (CLUSTER, "missing", "cannot read profile 'none.json'"),
    ],
)
def test_cli_simulate_refuses_a_profile_that_does_not_fit(
    tmp_path: Path, cluster: list[str], make: Any, message: str
) -> None:
    if make is None:
        path = str(CPU_EXAMPLE)
    elif make == "missing":
        path = "none.json"
    elif isinstance(make, str):
        path = _write(tmp_path, "bad.json", make)
    else:
        obj = json.loads(CPU_EXAMPLE.read_text(encoding="utf-8"))
        make(obj)
        path = _write(tmp_path, "bad.json", obj)
    r = sagacore_cli("simulate", *cluster, "--tasks", "2", "--profile", path, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert message.format(p=path) in lines[0], r.stderr
    assert r.stdout == ""


def test_the_cluster_api_builds_the_measured_cost_model() -> None:
    c = profiled_cluster()
    assert isinstance(c.cost, MeasuredCostModel) and isinstance(c.cost, CostModel)
    assert c.cost.roofline == roofline_cluster().cost
    assert c.kv_capacity_tokens == roofline_cluster().kv_capacity_tokens
    plain = roofline_cluster()
    assert c.cost == with_profile(plain.cost, CPU_EXAMPLE)
    assert get_cluster("a100-8-llama8b").cost == get_cluster("a100-8-llama8b", profile=None).cost
    with pytest.raises(ConfigError, match="profile field 'tp' is 32, but the cost model has tp=1"):
        get_cluster("a100-8-llama8b", profile=CPU_EXAMPLE)
