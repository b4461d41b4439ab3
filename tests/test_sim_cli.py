"""``sagacore simulate`` and ``sagacore.stacks``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagacore.cli import main
from sagacore.errors import UnknownNameError
from sagacore.stacks import BASELINES, STACKS, get_stack


def test_simulate_compares_stacks_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    rc = main(["simulate", "--tasks", "12", "--rate", "30", "--cluster", "h100-8",
               "--stack", "vllm", "--stack", "vllm-apc", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "vllm-apc" in text and "geometric-mean ratio to vllm" in text
    doc = json.loads(out.read_text())
    s = doc["stacks"]["vllm-apc"]
    for key in ("tasks_completed", "llm_calls", "prefill_tokens_computed",
                "prefill_tokens_reused", "kv_utilization", "slo_attainment",
                "throughput_tasks_per_min", "sim_wall_seconds", "events"):
        assert key in s
    assert set(s["tct"]) == {"mean", "p50", "p99", "geomean"}
    assert s["tasks_completed"] == 12 and s["prefill_tokens_reused"] > 0
    assert doc["stacks"]["vllm"]["prefill_tokens_reused"] == 0
    assert doc["comparisons"]["vllm-apc"]["ratio"] < 1


def test_simulate_generator_and_custom_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["simulate", "--workload", "webarena", "--tasks", "6", "--gpus", "2", "--tp", "1",
               "--model", "llama-3-8b", "--stack", "sglang", "--mode", "step", "--checked"])
    assert rc == 0
    assert "2 x llama-3-8b on 1 x a100-80gb" in capsys.readouterr().out


def test_simulate_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--stack", "nope"]) == 2
    assert "unknown stack 'nope'" in capsys.readouterr().err
    assert main(["simulate", "--cluster", "a100-64", "--gpus", "8"]) == 2
    assert "cannot be combined" in capsys.readouterr().err
    assert main(["simulate", "--workload", "/no/such.csv"]) == 2
    assert "neither" in capsys.readouterr().err


def test_stacks_registry() -> None:
    assert set(BASELINES) <= set(STACKS)
    with pytest.raises(UnknownNameError):
        get_stack("x")
