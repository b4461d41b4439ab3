"""Measured operator profiles: the format, the measured cost model, the torch profiler."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sagacore.engine import CostModel, get_gpu, get_model
from sagacore.engine.profile import (
    OPERATORS,
    MeasuredCostModel,
    Profile,
    ProfileGrid,
    load_profile,
    profile_errors,
    roofline_operator_seconds,
    run_profile,
)
from sagacore.engine.specs import ModelSpec
from sagacore.errors import ConfigError

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(
    not HAS_TORCH, reason="torch is not installed (pip install -e '.[torch]'; .ci/run installs it)"
)

GRID = ProfileGrid(batch_sizes=(1, 8, 32), new_tokens=(16, 128), context_lengths=(0, 512, 2048))


def cost() -> CostModel:
    return CostModel.from_presets("llama-3-8b", "h100-80gb")


def scaled(profile: Profile, factor: dict[str, float]) -> Profile:
    """`profile` with each operator's times multiplied by its factor (norms set to 1 us)."""
    ops: dict[str, Any] = {}
    for op, vals in profile.operators.items():
        f = factor.get(op, 1.0)
        if op in ("attn_prefill", "attn_decode"):
            ops[op] = [[f * v for v in row] for row in vals]  # type: ignore[union-attr]
        elif op == "norms":
            ops[op] = [1e-6 * (1 + i) for i in range(len(vals))]
        else:
            ops[op] = [f * v for v in vals]  # type: ignore[operator]
    return dataclasses.replace(profile, operators=ops)


def measured_profile() -> Profile:
    return scaled(Profile.from_roofline(cost(), GRID), {op: 1.5 for op in OPERATORS})


# ------------------------------------------------------------------ format


def test_round_trip_through_json_and_file(tmp_path: Path) -> None:
    prof = measured_profile()
    obj = json.loads(json.dumps(prof.to_json()))
    assert obj["format"] == "sagacore-profile" and obj["version"] == 1
    assert Profile.from_json(obj) == prof
    prof.save(tmp_path / "p.json")
    assert load_profile(tmp_path / "p.json") == prof
    assert obj["grid"]["tokens"] == [1, 8, 16, 32, 128]
    assert len(obj["operators"]["attn_decode"]) == 3
    assert len(obj["operators"]["attn_decode"][0]) == 3


def _broken(edit: Any) -> dict[str, Any]:
    obj = measured_profile().to_json()
    edit(obj)
    return obj


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda o: o.update(format="csv"), "not a profile: format must be 'sagacore-profile'"),
        (lambda o: o.update(version=2), "profile version 2 is not supported"),
        (lambda o: o.pop("shapes"), "missing the field 'shapes'"),
        (lambda o: o["operators"].pop("mlp"), r"missing \['mlp'\]"),
        (lambda o: o["operators"].update(gelu=[1.0]), r"unknown \['gelu'\]"),
        (lambda o: o["operators"].update(qkv=[1.0, 2.0]), "qkv must be a list of 5 times"),
        (lambda o: o["operators"]["lm_head"].__setitem__(0, -1.0), "finite times >= 0, got -1.0"),
        (lambda o: o["operators"]["attn_prefill"].pop(), "attn_prefill must be a list of 2 rows"),
        (lambda o: o["grid"].update(batch_sizes=[8, 1, 32]), "strictly increasing, got \\[8, 1, 32\\]"),
        (lambda o: o["grid"].update(tokens=[1, 2]), "grid.tokens must be"),
        (lambda o: o["shapes"].update(heads=0), "shapes.heads must be a positive integer, got 0"),
        (lambda o: o["timing"].update(repeats=0), "repeats must be"),
    ],
)
def test_malformed_profiles_are_refused(edit: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Profile.from_json(_broken(edit))


def test_load_profile_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read profile"):
        load_profile(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not JSON"):
        load_profile(tmp_path / "bad.json")


# ------------------------------------------------------------------ measured model


def test_measured_where_covered_exact_at_grid_points() -> None:
    c, prof = cost(), measured_profile()
    m = MeasuredCostModel(c, prof)
    layers = c.model.num_layers
    # a decode step of 8 sequences of 512 cached tokens: a grid point of every table
    i_tok, i_b, i_c = GRID.tokens.index(8), GRID.batch_sizes.index(8), 1
    ops: Any = prof.operators
    linear = sum(ops[op][i_tok] for op in ("qkv", "o_proj", "mlp", "norms"))
    want_lin = layers * linear + ops["lm_head"][i_b]
    want_att = layers * ops["attn_decode"][i_b][i_c]
    got = m.step_breakdown(decode_seqs=8, decode_context_tokens=8 * 512)
    base = c.step_breakdown(decode_seqs=8, decode_context_tokens=8 * 512)
    assert got.linear_s == pytest.approx(want_lin, rel=1e-12)
    assert got.attention_s == pytest.approx(want_att, rel=1e-12)
    assert (got.overhead_s, got.communication_s) == (base.overhead_s, base.communication_s)
    assert got != base
    # prefill of one chunk of 128 after 2048 cached tokens
    got_p = m.step_breakdown(128, 2048)
    i_tok = GRID.tokens.index(128)
    lin_p = layers * sum(ops[op][i_tok] for op in ("qkv", "o_proj", "mlp", "norms"))
    assert got_p.linear_s == pytest.approx(lin_p, rel=1e-12)
    assert got_p.attention_s == pytest.approx(layers * ops["attn_prefill"][1][2], rel=1e-12)


def test_interpolates_within_the_grid() -> None:
    c, m = cost(), MeasuredCostModel(cost(), measured_profile())
    lo = m.decode_step_seconds(1, 1 * 512)
    hi = m.decode_step_seconds(8, 8 * 512)
    mid = m.decode_step_seconds(4.5, 4.5 * 512)
    assert m.covers(decode_seqs=20, decode_context_tokens=20 * 512)
    assert lo < mid < hi
    # linear in the batch between two grid points of every table (1 and 8): the mean
    assert mid == pytest.approx((lo + hi) / 2, rel=1e-9)
    # context midway between 512 and 2048
    a = m.decode_step_seconds(8, 8 * 512)
    b = m.decode_step_seconds(8, 8 * 2048)
    assert m.decode_step_seconds(8, 8 * 1280) == pytest.approx((a + b) / 2, rel=1e-9)
    assert mid != c.decode_step_seconds(4.5, 4.5 * 512)


def test_roofline_outside_the_grid_bit_for_bit() -> None:
    c, m = cost(), MeasuredCostModel(cost(), measured_profile())
    cases: list[tuple[float, float, float, float]] = [
        (0, 0, 64, 64 * 512),  # batch beyond 32
        (0, 0, 8, 8 * 4096),  # context beyond 2048
        (512, 0, 0, 0),  # chunk beyond 128
        (128, 4096, 0, 0),  # prefix beyond 2048
        (8, 0, 0, 0),  # chunk below 16
        (128, 0, 8, 8 * 512),  # 136 tokens: beyond the GEMM grid
        (0, 0, 0, 0),  # empty
    ]
    for p, cp, d, cd in cases:
        assert not m.covers(p, cp, d, cd) or p + d == 0
        assert m.step_seconds(p, cp, d, cd) == c.step_seconds(p, cp, d, cd)
    assert m.step_seconds() == 0.0
    assert m.covers(16, 0, 8, 8 * 100)


def test_several_chunks_scale_prefill_attention() -> None:
    m = MeasuredCostModel(cost(), measured_profile())
    one = m.step_breakdown(128, 512)
    pairs = 128 * 512 + 128 * 129 / 2
    half = m.step_breakdown(128, 512, prefill_attention_pairs=pairs / 2)
    assert half.attention_s == pytest.approx(one.attention_s / 2, rel=1e-12)
    assert half.linear_s == one.linear_s


def test_measured_model_checks_its_arguments_and_slice() -> None:
    m = MeasuredCostModel(cost(), measured_profile())
    with pytest.raises(ConfigError, match="decode_seqs must be a finite number >= 0, got -1"):
        m.step_seconds(decode_seqs=-1)
    other = CostModel.from_presets("llama-3-8b", "h100-80gb", tp=2)
    with pytest.raises(ConfigError, match="does not match the cost model's llama-3-8b at tp=2"):
        MeasuredCostModel(other, measured_profile())


def test_profile_errors_per_operator_and_step() -> None:
    c = cost()
    prof = scaled(Profile.from_roofline(c, GRID), {"mlp": 2.0, "attn_decode": 4.0})
    errs = profile_errors(c, prof)
    ops = errs["operators"]
    assert ops["mlp"]["median"] == pytest.approx(-0.5)
    assert ops["attn_decode"]["max"] == pytest.approx(-0.75)
    assert ops["qkv"]["median"] == pytest.approx(0.0, abs=1e-12)
    assert ops["norms"]["median"] == pytest.approx(-1.0)  # the roofline does not price them
    assert ops["attn_prefill"]["points"] == 6
    assert errs["steps"]["decode"]["points"] == 9
    # the roofline underestimates steps that measure slower
    assert errs["steps"]["decode"]["max"] < 0
    with pytest.raises(ConfigError, match="unknown operator 'gelu'"):
        roofline_operator_seconds(c, "gelu", 1)


def test_run_profile_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ConfigError, match=r"profiling needs torch: pip install 'sagacore\[torch\]'"):
        run_profile(get_model("llama-3-8b"), 32, GRID)


# ------------------------------------------------------------------ CLI (no torch needed)


def sagacore(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagacore", *argv], capture_output=True, text=True, cwd=cwd,
        timeout=120,
    )


def test_cli_cost_with_a_profile(tmp_path: Path) -> None:
    measured_profile().save(tmp_path / "p.json")
    base = ["cost", "--model", "llama-3-8b", "--gpu", "h100-80gb", "--json"]
    plain = json.loads(sagacore(*base, "--batch", "8", "--context", "512", cwd=tmp_path).stdout)
    assert "profile" not in plain
    r = sagacore(*base, "--batch", "8", "--context", "512", "--prompt-tokens", "4096",
                 "--profile", "p.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["decode_source"] == "profile" and out["prefill_source"] == "roofline"
    assert out["roofline_decode_step_seconds"] == plain["decode_step_seconds"]
    assert out["prefill_seconds"] == out["roofline_prefill_seconds"]
    assert out["decode_step_seconds"] > plain["decode_step_seconds"]  # measured 1.5x slower
    assert set(out["roofline_error"]["operators"]) == set(OPERATORS)
    text = sagacore(*base[:-1], "--profile", "p.json", cwd=tmp_path).stdout
    assert "roofline error against the profile" in text and "attn_decode" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--gpu", "h100-80gb", "--profile", "none.json"], "error: cannot read profile"),
        (["--gpu", "h100-80gb", "--tp", "2", "--profile", "p.json"], "does not match"),
        ([], "error: cost needs --gpu G"),
        (["--gpu", "h200", "--repeats", "3"], "--repeats is for 'cost profile'"),
        (["--gpu", "h200", "--out", "x.json"], "did you mean --profile FILE?"),
        (["profile"], "error: cost profile needs --out FILE"),
        (["profile", "--out", "x.json", "--gpu", "h200"], "takes no --gpu"),
        (["profile", "--out", "x.json", "--tp", "3"], "tp=3 does not split"),
        (["profile", "--out", "x.json", "--new-tokens", "8,4"], "expected increasing integers"),
        (["profile", "--out", "nodir/x.json"], "folder nodir does not exist"),
    ],
)
def test_cli_input_errors(tmp_path: Path, argv: list[str], message: str) -> None:
    measured_profile().save(tmp_path / "p.json")
    r = sagacore("cost", "--model", "llama-3-8b", *argv, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], r.stderr


# ------------------------------------------------------------------ the profiler (torch)

TINY = ModelSpec("tiny", num_layers=2, hidden_size=64, num_heads=4, num_kv_heads=2,
                 head_dim=16, intermediate_size=128, vocab_size=1000, num_params=200_000)


@needs_torch
def test_run_profile_on_cpu_tiny_shapes() -> None:
    grid = ProfileGrid((1, 4), (4, 8), (0, 32))
    seen: list[tuple[int, int]] = []
    prof = run_profile(TINY, 2, grid, warmup=1, repeats=3,
                       progress=lambda d, t: seen.append((d, t)))
    assert prof.device == "cpu" and prof.timing == "perf-counter" and prof.dtype == "float32"
    assert (prof.shapes.heads, prof.shapes.kv_heads, prof.shapes.intermediate) == (2, 1, 64)
    assert seen[-1] == (4 * 3 + 2 + 4 + 4,) * 2
    for op in OPERATORS:
        vals = prof.operators[op]
        flat = [x for row in vals for x in row] if isinstance(vals[0], tuple) else vals
        assert all(0 < float(v) < 1.0 for v in flat), (op, vals)
    assert Profile.from_json(json.loads(json.dumps(prof.to_json()))) == prof
    c = CostModel(TINY, get_gpu("h100-80gb"), tp=2)
    m = MeasuredCostModel(c, prof)
    assert m.covers(decode_seqs=2, decode_context_tokens=2 * 16)
    assert m.decode_step_seconds(2, 2 * 16) > c.step_overhead_s


@needs_torch
def test_cli_cost_profile_writes_a_profile(tmp_path: Path) -> None:
    r = sagacore("cost", "profile", "--model", "llama-3-8b", "--tp", "32", "--out", "p.json",
                 "--batch-sizes", "1,2", "--new-tokens", "4,8", "--context-lengths", "0,16",
                 "--warmup", "0", "--repeats", "1", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["out"] == "p.json" and summary["device"] == "cpu"
    prof = load_profile(tmp_path / "p.json")
    assert prof.model == "llama-3-8b" and prof.tp == 32
    assert prof.meta["command"].startswith("sagacore cost profile --model llama-3-8b --tp 32")
    r = sagacore("cost", "--model", "llama-3-8b", "--gpu", "h200", "--tp", "32", "--batch", "2",
                 "--context", "8", "--prompt-tokens", "6", "--profile", "p.json", "--json",
                 cwd=tmp_path)
    out = json.loads(r.stdout)
    assert (out["prefill_source"], out["decode_source"]) == ("profile", "profile")
