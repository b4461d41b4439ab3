"""Sweeps: the grid, the tidy tables, resuming a killed sweep, ideals, analysis, CLI."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sagacore.errors import ConfigError, UnknownNameError
from sagacore.metrics import compare
from sagacore.sweep import RelRate, RunSpec, parse_rates, read_rows, run_sweep
from sagacore.sweep.analysis import choose, load_points
from sagacore.sweep.run import ROW_FIELDS, ideal_cluster
from sagacore.sweep.spec import REGIMES, ideal_kind, parse_cluster
from sagacore.sweep.table import ResultTable, row_key

SMALL = {"workloads": ["swe-bench"], "clusters": ["a100-8-llama8b"], "tasks": 4}


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sagacore", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def _strip_timing(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return sorted(({k: v for k, v in r.items() if k != "sim_wall_seconds"} for r in rows),
                  key=lambda r: json.dumps(r, sort_keys=True))


def test_parse_rates_and_clusters() -> None:
    assert parse_rates("1.5x, 4") == (RelRate(1.5), 4.0)
    for bad in ("", "1,,2", "fast", "-1", "0x", "nan", "infx"):
        with pytest.raises(ConfigError):
            parse_rates(bad)
    assert parse_cluster("a100-16").instances == 4
    assert parse_cluster("8:1:llama-3-8b:a100-80gb").instances == 8
    for bad in ("nope", "8:x:llama-3-8b:a100-80gb", "8:3:llama-3-8b:a100-80gb"):
        with pytest.raises((ConfigError, UnknownNameError)):
            parse_cluster(bad)
    with pytest.raises(UnknownNameError):
        ideal_kind("ideal:warp-drive")
    assert ideal_kind("vllm-apc") is None
    with pytest.raises(ConfigError):
        RunSpec("w", "c", "s", 0.0)


def test_regimes_name_real_settings() -> None:
    from sagacore.workload.generators import GENERATORS

    for r in REGIMES.values():
        parse_cluster(r.cluster)
        assert r.workload == "swe-bench-trace" or r.workload in GENERATORS, r.workload
        assert min(r.rel_rates) <= 0.25 and max(r.rel_rates) >= 3
    big = REGIMES["swe-gen-64"]
    assert big.cluster == "a100-64" and (big.tasks or 0) >= 500


def test_sweep_writes_tidy_tables(tmp_path: Path) -> None:
    res = run_sweep(**SMALL, stacks=["vllm-apc", "vllm"], rates=[2.0, 8.0], seeds=[0, 1],
                    out=tmp_path, jobs=2)
    assert res.failed == [] and res.ran == 8 and len(res.rows) == 8
    keys = {row_key(r) for r in res.rows}
    assert len(keys) == 8
    with (tmp_path / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == list(ROW_FIELDS)
    assert len(table) == 8
    for r in res.rows:
        assert r["tasks_completed"] == 4 and len(r["tct_by_task"]) == 4
        assert r["floor_geomean"] <= r["tct_geomean"] * (1 + 1e-9)
        assert 0 <= r["goodput_tasks_per_min"] <= r["throughput_tasks_per_min"] + 1e-9
    # running it again does nothing: every key is there
    again = run_sweep(**SMALL, stacks=["vllm-apc", "vllm"], rates=[2.0, 8.0], seeds=[0, 1],
                      out=tmp_path, jobs=2)
    assert again.ran == 0 and again.skipped == 8 and len(again.rows) == 8


def test_sweep_is_deterministic_across_processes(tmp_path: Path) -> None:
    a = run_sweep(**SMALL, stacks=["vllm-apc"], rates=[4.0], out=tmp_path / "a", jobs=1)
    b = run_sweep(**SMALL, stacks=["vllm-apc"], rates=[4.0], out=tmp_path / "b", jobs=2)
    assert _strip_timing(a.rows) == _strip_timing(b.rows)


def test_relative_rates_multiply_the_searched_peak(tmp_path: Path) -> None:
    res = run_sweep(**SMALL, stacks=["vllm-apc"], rates=[RelRate(0.5), RelRate(2.0)],
                    out=tmp_path, jobs=2)
    assert res.failed == []
    (peak,) = res.peaks
    assert peak["stack"] == "vllm-apc" and peak["tried"] and peak["met"]
    # 4 tasks never contend: every rate tried meets the SLO, so the peak is a lower bound
    assert peak["bracketed"] is False
    rates = sorted(r["rate_per_min"] for r in res.rows)
    assert rates == pytest.approx([0.5 * peak["rate_per_min"], 2.0 * peak["rate_per_min"]])
    assert {r["rel_rate"] for r in res.rows} == {0.5, 2.0}
    assert {r["rel_to"] for r in res.rows} == {"vllm-apc"}


def test_ideals_remove_what_they_say(tmp_path: Path) -> None:
    res = run_sweep(workloads=["swe-bench"], clusters=["a100-8-llama8b"], tasks=12,
                    stacks=["vllm-apc", "ideal:infinite-kv", "ideal:zero-prefill", "ideal:both"],
                    rates=[30.0], out=tmp_path, jobs=2)
    by = {r["stack"]: r for r in res.rows}
    assert by["ideal:infinite-kv"]["evicted_blocks"] == 0
    assert by["ideal:infinite-kv"]["preemptions"] == 0
    for ideal in ("ideal:zero-prefill", "ideal:both"):
        assert by[ideal]["tct_geomean"] < by["vllm-apc"]["tct_geomean"]
    # the SLO reference stays the real cluster's isolated TCT
    assert by["ideal:both"]["floor_geomean"] == by["vllm-apc"]["floor_geomean"]
    c = ideal_cluster(parse_cluster("a100-16"), "both")
    assert c.cost.step_seconds(4096) == c.cost.step_overhead_s
    assert c.cost.decode_step_seconds(8, 8000) == parse_cluster("a100-16").cost.decode_step_seconds(
        8, 8000)


def test_bad_input_fails_before_any_run(tmp_path: Path) -> None:
    for kwargs in ({"stacks": ["nope"]}, {"stacks": ["ideal:nope"]},
                   {"stacks": ["vllm-apc"], "seeds": [-1]}):
        args = {"stacks": ["vllm-apc"], "seeds": [0], **kwargs}
        with pytest.raises((ConfigError, UnknownNameError)):
            run_sweep(**SMALL, rates=[1.0], out=tmp_path / "x", **args)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        run_sweep(workloads=["/no/such/trace"], clusters=["a100-16"], stacks=["vllm-apc"],
                  rates=[1.0], out=tmp_path / "x")
    assert not (tmp_path / "x").exists()
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(ConfigError, match="not a folder"):
        ResultTable(f)


def test_a_cut_short_last_line_is_redone(tmp_path: Path) -> None:
    run_sweep(**SMALL, stacks=["vllm-apc"], rates=[2.0, 4.0], out=tmp_path, jobs=1)
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    (tmp_path / "results.jsonl").write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])
    res = run_sweep(**SMALL, stacks=["vllm-apc"], rates=[2.0, 4.0], out=tmp_path, jobs=1)
    assert res.ran == 1 and len(res.rows) == 2
    assert len(list(csv.DictReader((tmp_path / "results.csv").open()))) == 2


def test_killed_sweep_resumes_and_loses_nothing(tmp_path: Path) -> None:
    args = ["sweep", "--workload", "swe-bench", "--cluster", "a100-8-llama8b", "--tasks", "6",
            "--stack", "vllm-apc", "--stack", "vllm", "--rates", "1,2,4,8,16",
            "--jobs", "1", "--quiet"]
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "sagacore", *args, "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    jsonl = out / "results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if jsonl.exists() and len(jsonl.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = read_rows(out)
    assert 2 <= len(before) < 10, "the sweep was not killed midway"
    r = _cli(*args, "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "\nWhich stack to run: " in r.stdout and "  overall " in r.stdout
    after = read_rows(out)
    assert len(after) == 10 and len({row_key(x) for x in after}) == 10
    assert after[: len(before)] == before
    whole = _cli(*args, "-o", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    assert _strip_timing(after) == _strip_timing(read_rows(tmp_path / "whole"))


def test_analysis_ratio_and_headroom(tmp_path: Path) -> None:
    res = run_sweep(**SMALL, stacks=["vllm-apc", "vllm", "ideal:both"], rates=[8.0],
                    out=tmp_path, jobs=2)
    pts = {p.stack: p for p in load_points(res.rows)}
    by = {r["stack"]: r for r in res.rows}
    c = compare(by["vllm"]["tct_by_task"], by["vllm-apc"]["tct_by_task"], seed=0)
    assert pts["vllm"].ratio == pytest.approx(c.ratio)
    assert pts["vllm-apc"].ratio == 1.0 and pts["vllm-apc"].headroom == 0.0
    assert pts["ideal:both"].headroom == pytest.approx(1.0)
    g_ref, g, g_i = (pts[s].geomean for s in ("vllm-apc", "vllm", "ideal:both"))
    assert pts["vllm"].headroom == pytest.approx((g_ref - g) / (g_ref - g_i))
    assert pts["vllm"].headroom_ref == "ideal:both"
    for p in pts.values():
        assert p.geomean_lo <= p.geomean <= p.geomean_hi


def _row(stack: str, rate: float, tct: dict[str, float]) -> dict[str, object]:
    return {"workload": "w", "cluster": "c", "stack": stack, "rate_per_min": rate,
            "rel_rate": None, "seed": 0, "tasks": None, "tct_by_task": tct}


def test_choose_ranks_by_ratio_and_says_tied_or_faster() -> None:
    noise = {f"t{i}": 1.0 + 0.1 * (i % 3) for i in range(30)}
    ref = {k: 10.0 * v for k, v in noise.items()}
    rows = [
        _row("vllm-apc", 1.0, ref),
        # a: 0.5x everywhere; b: 0.5x on average, task by task either side of a
        _row("a", 1.0, {k: v / 2 for k, v in ref.items()}),
        _row("b", 1.0, {k: v / 2 * (1.2 if i % 2 else 1 / 1.2) for i, (k, v) in enumerate(ref.items())}),
        _row("ideal:both", 1.0, {k: 1.0 for k in ref}),  # never chosen
        _row("vllm-apc", 2.0, ref),
        _row("a", 2.0, {k: v * 0.9 for k, v in ref.items()}),
        _row("b", 2.0, {k: v * 0.6 for k, v in ref.items()}),
        _row("c", 2.0, {k: v * 0.1 for k, v in ref.items()}),  # only at one load
    ]
    one, two, overall = choose(rows)
    assert (one.load, one.verdict, {one.stack, one.runner_up}) == (1.0, "tied", {"a", "b"})
    assert one.vs_lo < 1 < one.vs_hi
    assert (two.stack, two.runner_up, two.verdict) == ("c", "b", "faster")
    assert two.vs_runner_up == pytest.approx(0.1 / 0.6) and two.ratio == pytest.approx(0.1)
    # over both loads: c was not swept at 1.0; b's ratios 0.5 and 0.6 beat a's 0.5 and 0.9
    assert (overall.load, overall.stack, overall.runner_up) == (None, "b", "a")
    assert overall.ratio == pytest.approx((0.5 * 0.6) ** 0.5, rel=1e-3)
    assert (overall.fastest_at, overall.loads) == (0 + (one.stack == "b"), 2)
    assert "fastest at" in overall.describe() and "tied" in one.describe()
    assert choose([_row("vllm-apc", 1.0, ref)])[0].verdict == "alone"
    assert choose([_row("a", 1.0, ref)]) == []  # no reference, no ratio


def test_cli_json_is_json_alone_and_quiet_off_a_terminal(tmp_path: Path) -> None:
    r = _cli("sweep", "--workload", "swe-bench", "--cluster", "a100-8-llama8b", "--tasks", "3",
             "--stack", "vllm-apc", "--rates", "4", "-o", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [p["stack"] for p in doc["points"]] == ["vllm-apc"]
    assert [(c["stack"], c["verdict"]) for c in doc["choices"]] == [
        ("vllm-apc", "alone"), ("vllm-apc", "overall")]
    assert r.stderr == ""


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    for args in (["--rates", "fast"], ["--rates", "1", "--stack", "nope"],
                 ["--regime", "nope"], ["--rates", "1", "--seeds", "a"],
                 ["--regime", "swe-trace-16", "--workload", "swe-bench"]):
        r = _cli("sweep", "-o", str(tmp_path / "o"), *args)
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert lines[-1].startswith("error:") and "Traceback" not in r.stderr, r.stderr


def test_plot_cli_writes_pngs(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    run_sweep(**SMALL, stacks=["vllm-apc", "ideal:infinite-kv"], rates=[2.0, 8.0],
              out=tmp_path / "s", jobs=2)
    r = _cli("plot", str(tmp_path / "s"), "-o", str(tmp_path / "png"))
    assert r.returncode == 0, r.stderr
    files = [Path(x) for x in r.stdout.split()]
    assert len(files) == 4
    for f in files:
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = _cli("plot", str(tmp_path / "missing"), "-o", str(tmp_path / "png"))
    assert bad.returncode == 2 and bad.stderr.startswith("error:")


def test_ray_backend_without_ray_is_one_clear_error(tmp_path: Path) -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"sagacore\[ray\]"):
            run_sweep(**SMALL, stacks=["vllm-apc"], rates=[2.0], out=tmp_path, backend="ray")
        return
    res = run_sweep(**SMALL, stacks=["vllm-apc", "vllm"], rates=[2.0], out=tmp_path,
                    backend="ray", jobs=2)
    ref = run_sweep(**SMALL, stacks=["vllm-apc", "vllm"], rates=[2.0], out=tmp_path / "l",
                    jobs=2)
    assert res.failed == [] and _strip_timing(res.rows) == _strip_timing(ref.rows)
    assert math.isfinite(res.rows[0]["tct_geomean"])
