"""Measured operator profiles: the format, the measured cost model, the torch profiler."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    with_profile,
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

DEC = [(1e-5 * (1 + i), 2e-8 * (1 + i)) for i in range(len(GRID.batch_sizes))]
PRE = [(3e-5 * (1 + k), 1e-8 * (1 + k)) for k in range(len(GRID.new_tokens))]


def linear_profile() -> Profile:
    """measured_profile() with attention tables exactly linear in the context (DEC, PRE)."""
    ops: Any = dict(measured_profile().operators)
    cs = GRID.context_lengths
    ops["attn_decode"] = [[a + b * c for c in cs] for a, b in DEC]
    ops["attn_prefill"] = [[a + b * c for c in cs] for a, b in PRE]
    return dataclasses.replace(measured_profile(), operators=ops)


def measured(prof: Profile | None = None) -> MeasuredCostModel:
    return MeasuredCostModel.from_profile(cost(), prof or linear_profile())


def test_a_measured_model_is_a_cost_model_with_the_same_parameters() -> None:
    m = measured()
    assert isinstance(m, CostModel)
    assert m.roofline == cost() and type(m.roofline) is CostModel
    assert m.kv_capacity_tokens() == cost().kv_capacity_tokens()
    assert m.swap_seconds(1000) == cost().swap_seconds(1000)
    assert m.migration_seconds(1000) == cost().migration_seconds(1000)
    tuned = dataclasses.replace(cost(), step_overhead_s=5e-3)
    m2 = MeasuredCostModel.from_profile(tuned, linear_profile())
    assert m2.step_overhead_s == 5e-3
    assert m2.step_breakdown(decode_seqs=8).overhead_s == 5e-3


def test_measured_at_grid_points() -> None:
    m, prof = measured(), linear_profile()
    layers = cost().model.num_layers
    ops: Any = prof.operators
    # a decode step of 8 sequences of 512 cached tokens: a grid point of every table
    i_tok, i_b = GRID.tokens.index(8), GRID.batch_sizes.index(8)
    linear = sum(ops[op][i_tok] for op in ("qkv", "o_proj", "mlp", "norms"))
    got = m.step_breakdown(decode_seqs=8, decode_context_tokens=8 * 512)
    base = cost().step_breakdown(decode_seqs=8, decode_context_tokens=8 * 512)
    assert got.linear_s == pytest.approx(layers * linear + ops["lm_head"][i_b], rel=1e-12)
    assert got.attention_s == pytest.approx(layers * ops["attn_decode"][i_b][1], rel=1e-9)
    assert (got.overhead_s, got.communication_s) == (base.overhead_s, base.communication_s)
    assert got != base
    # prefill of one chunk of 128 after 2048 cached tokens
    got_p = m.step_breakdown(128, 2048)
    i_tok = GRID.tokens.index(128)
    lin_p = layers * sum(ops[op][i_tok] for op in ("qkv", "o_proj", "mlp", "norms"))
    assert got_p.linear_s == pytest.approx(lin_p, rel=1e-12)
    assert got_p.attention_s == pytest.approx(layers * ops["attn_prefill"][1][2], rel=1e-9)


def test_attention_lines_recover_linear_tables() -> None:
    m = measured()
    for op, rows, lines in (("attn_decode", GRID.batch_sizes, DEC),
                            ("attn_prefill", GRID.new_tokens, PRE)):
        for r, (a, b) in zip(rows, lines, strict=True):
            got = m.attention_line(op, r)
            assert got is not None
            assert got[0] == pytest.approx(a, rel=1e-9) and got[1] == pytest.approx(b, rel=1e-9)
    assert m.attention_line("attn_decode", 64) is None
    with pytest.raises(ConfigError, match="attention_line takes attn_decode or attn_prefill"):
        m.attention_line("mlp", 8)


@pytest.mark.parametrize(
    ("ys", "want"),
    [
        ((3.0, 2.0, 1.0), (None, 0.0)),  # falling: flat (slope 0)
        ((0.0, 5.0, 30.0), (0.0, None)),  # would cross below 0 at c = 0: through the origin
    ],
)
def test_attention_lines_stay_non_negative(ys: tuple[float, ...], want: tuple[Any, Any]) -> None:
    ops: Any = dict(linear_profile().operators)
    ops["attn_decode"] = [list(ys), *ops["attn_decode"][1:]]
    m = measured(dataclasses.replace(linear_profile(), operators=ops))
    line = m.attention_line("attn_decode", 1)
    assert line is not None and line[0] >= 0 and line[1] >= 0
    for got, w in zip(line, want, strict=True):
        if w is not None:
            assert got == w
    # non-decreasing in the context
    assert m.decode_step_seconds(1, 100) <= m.decode_step_seconds(1, 5000)


def test_one_context_length_prices_attention_by_the_keys_read() -> None:
    grid = ProfileGrid((1, 8), (16, 128), (512,))
    m = MeasuredCostModel.from_profile(cost(), Profile.from_roofline(cost(), grid))
    a, b = m.attention_line("attn_decode", 8) or (0.0, 0.0)
    assert a == pytest.approx(b)  # one key per cached token plus the new token's
    a, b = m.attention_line("attn_prefill", 128) or (0.0, 0.0)
    assert a == pytest.approx(128 * b)


def test_interpolates_between_rows_and_is_affine_in_the_context() -> None:
    c, m = cost(), measured()
    lo = m.decode_step_seconds(1, 1 * 512)
    hi = m.decode_step_seconds(8, 8 * 512)
    mid = m.decode_step_seconds(4.5, 4.5 * 512)
    assert m.covers(decode_seqs=20, decode_context_tokens=20 * 512)
    assert lo < mid < hi
    # linear in the batch between two grid points of every table (1 and 8): the mean
    assert mid == pytest.approx((lo + hi) / 2, rel=1e-9)
    assert mid != c.decode_step_seconds(4.5, 4.5 * 512)
    # affine in the context, beyond the largest context measured too
    for d in (1, 3, 8, 20, 32):
        icpt, slope = m.decode_cost_coefficients(d)
        for ctx in (0, 100 * d, 2048 * d, 50_000 * d):
            assert m.decode_step_seconds(d, ctx) == pytest.approx(icpt + slope * ctx, rel=1e-12)
        n = m.decode_steps_within(d, 300 * d, 0.5)
        assert m.decode_steps_seconds(d, 300 * d, n) <= 0.5 < m.decode_steps_seconds(
            d, 300 * d, n + 1)
    assert m.decode_cost_coefficients(0) == (0.0, 0.0)
    assert m.decode_cost_coefficients(64) == c.decode_cost_coefficients(64)  # beyond


def test_roofline_outside_the_grid_bit_for_bit() -> None:
    c, m = cost(), measured()
    cases: list[tuple[float, float, float, float]] = [
        (0, 0, 64, 64 * 512),  # batch beyond 32
        (512, 0, 0, 0),  # chunk beyond 128
        (8, 0, 0, 0),  # chunk below 16
        (128, 0, 8, 8 * 512),  # 136 tokens: beyond the GEMM grid
        (0, 0, 0, 0),  # empty
    ]
    for p, cp, d, cd in cases:
        assert not m.covers(p, cp, d, cd) or p + d == 0
        assert m.step_seconds(p, cp, d, cd) == c.step_seconds(p, cp, d, cd)
        if p + d:
            q = p * cp + p * (p + 1) / 2
            assert m.step_seconds_trusted(int(p), int(cp), int(d), int(cd), q) == (
                c.step_seconds_trusted(int(p), int(cp), int(d), int(cd), q))
    assert m.step_seconds() == 0.0
    assert m.covers(16, 0, 8, 8 * 100)
    # contexts are not limited: beyond the largest measured, the lines extend
    assert m.covers(0, 0, 8, 8 * 4096) and m.covers(128, 4096, 0, 0)


def test_trusted_pricing_equals_checked_pricing() -> None:
    m = measured()
    for p, cp, d, cd, chunks in [(16, 0, 8, 8 * 700, 1), (100, 3000, 0, 0, 1),
                                 (100, 3000, 0, 0, 2), (64, 512, 3, 90_000, 4)]:
        q = p * cp + p * (p + 1) / 2 if chunks == 1 else (p / chunks) * cp + p * (p / chunks + 1) / 2
        assert m.covers(p, cp, d, cd)
        assert m.step_seconds_trusted(p, cp, d, cd, q) == m.step_seconds(
            p, cp, d, cd, prefill_attention_pairs=q)


def test_several_chunks_scale_prefill_attention() -> None:
    m = measured()
    one = m.step_breakdown(128, 512)
    pairs = 128 * 512 + 128 * 129 / 2
    half = m.step_breakdown(128, 512, prefill_attention_pairs=pairs / 2)
    assert half.attention_s == pytest.approx(one.attention_s / 2, rel=1e-12)
    assert half.linear_s == one.linear_s


def _other(**fields: Any) -> Profile:
    return dataclasses.replace(linear_profile(), **fields)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _other(model="llama-3-70b"),
         "profile field 'model' is 'llama-3-70b', but the cost model serves llama-3-8b"),
        (lambda: _other(tp=2), "profile field 'tp' is 2, but the cost model has tp=1"),
        (lambda: _other(shapes=dataclasses.replace(linear_profile().shapes, vocab=7)),
         "profile field 'shapes' is {"),
        (lambda: _other(device="cuda: NVIDIA H200"),
         "profile field 'device' is 'cuda: NVIDIA H200', not a GPU of type h100-80gb"),
        (lambda: _other(device="cuda: NVIDIA A100-SXM4-80GB"), "not a GPU of type h100-80gb"),
    ],
)
def test_a_profile_of_another_instance_is_refused(make: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        MeasuredCostModel.from_profile(cost(), make())


def test_devices_that_fit() -> None:
    for device, gpu in [("cuda: NVIDIA H100 80GB HBM3", "h100-80gb"), ("cuda: NVIDIA H200", "h200"),
                        ("cuda: NVIDIA A100-SXM4-80GB", "a100-80gb"), ("cpu", "a100-40gb")]:
        c = CostModel(get_model("llama-3-8b"), get_gpu(gpu))
        assert MeasuredCostModel.from_profile(c, _other(device=device)).profile.device == device
    with pytest.raises(ConfigError, match="not a GPU of type a100-40gb"):
        MeasuredCostModel.from_profile(CostModel(get_model("llama-3-8b"), get_gpu("a100-40gb")),
                                       _other(device="cuda: NVIDIA A100-SXM4-80GB"))


def test_with_profile_names_the_file(tmp_path: Path) -> None:
    linear_profile().save(tmp_path / "p.json")
    m = with_profile(cost(), tmp_path / "p.json")
    assert m.profile == linear_profile() and with_profile(cost(), linear_profile()) == m
    other = CostModel.from_presets("llama-3-8b", "h100-80gb", tp=2)
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'p.json'}: profile field 'tp' is 1")):
        with_profile(other, tmp_path / "p.json")
    obj = linear_profile().to_json()
    obj["operators"]["qkv"] = [1.0]
    (tmp_path / "bad.json").write_text(json.dumps(obj), encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'bad.json'}: operators.qkv must")):
        with_profile(cost(), tmp_path / "bad.json")


def test_measured_model_checks_its_arguments() -> None:
    m = measured()
    with pytest.raises(ConfigError, match="decode_seqs must be a finite number >= 0, got -1"):
        m.step_seconds(decode_seqs=-1)
    with pytest.raises(ConfigError, match="batch_size must be a finite number >= 0"):
        m.decode_cost_coefficients(-2)
    with pytest.raises(ConfigError, match="MeasuredCostModel.profile must be a Profile"):
        MeasuredCostModel(get_model("llama-3-8b"), get_gpu("h100-80gb"), profile="p.json")  # type: ignore[arg-type]


def test_profile_errors_per_operator_and_step() -> None:
    c = cost()
    prof = scaled(Profile.from_roofline(c, GRID), {"mlp": 2.0, "attn_decode": 4.0})
    errs = profile_errors(c, prof)
    assert profile_errors(MeasuredCostModel.from_profile(c, prof), prof) == errs
    ops = errs["operators"]
    assert ops["mlp"]["median"] == pytest.approx(-0.5)
    assert ops["attn_decode"]["max"] == pytest.approx(-0.75)
    assert ops["qkv"]["median"] == pytest.approx(0.0, abs=1e-12)
    assert ops["norms"]["median"] == pytest.approx(-1.0)  # the roofline does not price them
    assert ops["attn_prefill"]["points"] == 6
    assert errs["steps"]["decode"]["points"] == 9
    # the roofline underestimates steps that measure slower
    assert errs["steps"]["decode"]["max"] < 0
    # the roofline's decode attention is linear in the context: the lines fit it exactly
    assert errs["fit"]["attn_decode"]["max"] == pytest.approx(0.0, abs=1e-9)
    assert errs["fit"]["attn_decode"]["min"] == pytest.approx(0.0, abs=1e-9)
    assert errs["fit"]["attn_prefill"]["points"] == 6
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
    assert "the measured model's attention lines against the profile" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--gpu", "h100-80gb", "--profile", "none.json"], "error: cannot read profile"),
        (["--gpu", "h100-80gb", "--tp", "2", "--profile", "p.json"],
         "error: p.json: profile field 'tp' is 1, but the cost model has tp=2"),
        (["--gpu", "h100-80gb", "--profile", "bad.json"],
         "error: bad.json: operators.attn_decode must be a list of 3 rows"),
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
    bad = measured_profile().to_json()
    bad["operators"]["attn_decode"].pop()
    (tmp_path / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
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
    m = MeasuredCostModel.from_profile(c, prof)
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


# ------------------------------------------------------------------ properties


@st.composite
def random_profiles(draw: st.DrawFn) -> Profile:
    """Profiles of GRID's shape with arbitrary positive times (noisy, non-monotone)."""
    times = st.floats(min_value=1e-7, max_value=1e-1, allow_nan=False, allow_infinity=False)
    ops: dict[str, Any] = {}
    for op in ("qkv", "o_proj", "mlp", "norms"):
        ops[op] = draw(st.lists(times, min_size=len(GRID.tokens), max_size=len(GRID.tokens)))
    nb, nn, nc = len(GRID.batch_sizes), len(GRID.new_tokens), len(GRID.context_lengths)
    ops["lm_head"] = draw(st.lists(times, min_size=nb, max_size=nb))
    row = st.lists(times, min_size=nc, max_size=nc)
    ops["attn_decode"] = draw(st.lists(row, min_size=nb, max_size=nb))
    ops["attn_prefill"] = draw(st.lists(row, min_size=nn, max_size=nn))
    return dataclasses.replace(measured_profile(), operators=ops)


@given(random_profiles(), st.floats(min_value=1, max_value=32), st.integers(0, 200_000),
       st.integers(0, 200_000))
def test_any_profile_prices_decode_affinely_and_monotonically_in_the_context(
    prof: Profile, d: float, c1: int, c2: int
) -> None:
    m = MeasuredCostModel.from_profile(cost(), prof)
    icpt, slope = m.decode_cost_coefficients(d)
    assert icpt > 0 and slope >= 0
    lo, hi = sorted((c1, c2))
    t_lo, t_hi = m.decode_step_seconds(d, lo), m.decode_step_seconds(d, hi)
    assert t_lo == pytest.approx(icpt + slope * lo, rel=1e-12)
    assert t_hi == pytest.approx(icpt + slope * hi, rel=1e-12)
    assert t_lo <= t_hi * (1 + 1e-12)
    for op, rows in (("attn_decode", GRID.batch_sizes), ("attn_prefill", GRID.new_tokens)):
        for r in rows:
            a, b = m.attention_line(op, r) or (-1.0, -1.0)
            assert a >= 0 and b >= 0


@given(random_profiles(), st.integers(16, 120), st.integers(0, 50_000), st.integers(0, 8),
       st.integers(0, 50_000), st.integers(1, 4))
def test_any_profile_prices_trusted_steps_as_checked_ones(
    prof: Profile, p: int, cp: int, d: int, cd_each: int, chunks: int
) -> None:
    m = MeasuredCostModel.from_profile(cost(), prof)
    n = p / chunks
    q = chunks * (n * cp / chunks + n * (n + 1) / 2)  # equal chunks sharing the context
    cd = d * cd_each
    assert m.step_seconds_trusted(p, cp, d, cd, q) == m.step_seconds(
        p, cp, d, cd, prefill_attention_pairs=q)
    assert m.step_seconds(p, cp, d, cd, prefill_attention_pairs=q) >= m.step_overhead_s
