"""Workload generators: determinism, structure, arrivals, configuration, CLI."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sagacore.cli import main
from sagacore.errors import ConfigError, UnknownNameError
from sagacore.workload.generators import (
    GENERATORS,
    MultiTenantConfig,
    PoissonArrivals,
    ReplayArrivals,
    SweBenchConfig,
    TaskParallelConfig,
    TenantClass,
    WebArenaConfig,
    arrival_times,
    generator,
    multi_tenant,
    parse_arrivals,
    swe_bench,
    task_parallel,
    webarena,
)
from sagacore.workload.generators._common import SEGMENT_BLOCK, SHARED_SEGMENT_IDS
from sagacore.workload.model import Segment, Workload
from sagacore.workload.native import dumps, loads, read_native, write_native

REPO = Path(__file__).resolve().parent.parent

# Small sizes keep this file fast; SWE-bench tasks average 80 calls.
SIZES = {"swe-bench": 8, "webarena": 30, "task-parallel": 30, "multi-tenant": 20,
         "long-context": 4, "long-tools": 30}  # fmt: skip


@pytest.fixture(scope="module", params=sorted(GENERATORS))
def generated(request: pytest.FixtureRequest) -> tuple[str, Workload]:
    name: str = request.param
    return name, GENERATORS[name](tasks=SIZES[name], seed=11)


# ---------------------------------------------------------------- determinism


def test_same_seed_same_bytes_different_seed_differs(generated: tuple[str, Workload]) -> None:
    name, w = generated
    func = GENERATORS[name]
    assert dumps(func(tasks=SIZES[name], seed=11)) == dumps(w)
    assert dumps(func(tasks=SIZES[name], seed=12)) != dumps(w)


def test_native_round_trip(generated: tuple[str, Workload]) -> None:
    _, w = generated
    text = dumps(w)
    assert loads(text) == w
    assert dumps(loads(text)) == text


def test_generator_seed_is_recorded_and_regenerates() -> None:
    w = webarena(tasks=5, seed=np.random.default_rng(123))
    root = int(w.source.split("seed=")[1].split()[0])
    assert dumps(webarena(tasks=5, seed=root)) == dumps(w)
    assert dumps(webarena(tasks=5, seed=None)) == dumps(webarena(tasks=5, seed=0))


def test_task_i_depends_only_on_seed_and_i(generated: tuple[str, Workload]) -> None:
    name, w = generated
    more = GENERATORS[name](tasks=SIZES[name] + 5, seed=11)
    by_id = {t.id: t for t in more}
    for t in w:
        assert by_id[t.id] == t  # same content and same arrival (Poisson stream prefix)
    other = GENERATORS[name](tasks=SIZES[name], seed=11, arrivals=PoissonArrivals(1.0))
    assert {t.id: t.steps for t in other} == {t.id: t.steps for t in w}


def test_cli_same_bytes_across_processes(tmp_path: Path) -> None:
    outs = []
    for k in range(2):
        out = tmp_path / f"p{k}.jsonl"
        subprocess.run(
            [sys.executable, "-m", "sagacore", "generate", "multi-tenant", "--tasks", "12",
             "--seed", "5", "--rate", "3", "-o", str(out)],
            check=True, capture_output=True, cwd=REPO,
        )  # fmt: skip
        outs.append(out.read_bytes())
    here = tmp_path / "here.jsonl"
    assert main(["generate", "multi-tenant", "--tasks", "12", "--seed", "5", "--rate", "3",
                 "-o", str(here)]) == 0  # fmt: skip
    assert outs[0] == outs[1] == here.read_bytes()
    assert read_native(here) == multi_tenant(tasks=12, seed=5, arrivals=PoissonArrivals(3.0))


# ---------------------------------------------------------------- segment identity


def test_segment_ids_unique_except_deliberately_shared(generated: tuple[str, Workload]) -> None:
    _, w = generated
    tokens: dict[int, int] = {}
    owner: dict[int, str] = {}
    outputs: set[int] = set()
    shared = set(SHARED_SEGMENT_IDS.values())
    for t in w:
        for s in t.steps:
            for seg in (*s.prompt, s.output_segment):
                assert tokens.setdefault(seg.id, seg.tokens) == seg.tokens
                if seg.id < SEGMENT_BLOCK:
                    assert seg.id in shared
                else:
                    assert owner.setdefault(seg.id, t.id) == t.id  # never crosses tasks
            assert s.output_id not in outputs
            assert s.output_id >= SEGMENT_BLOCK
            outputs.add(s.output_id)
    used_shared = {seg.id for t in w for s in t.steps for seg in s.prompt if seg.id < SEGMENT_BLOCK}
    assert used_shared  # every generator shares a system prompt
    for sid in used_shared:  # ... and it is shared by many tasks
        assert sum(1 for t in w if any(seg.id == sid for seg in t.steps[0].prompt)) > 1


def test_all_steps_have_valid_dags(generated: tuple[str, Workload]) -> None:
    _, w = generated
    for t in w:
        for s in t.steps:
            assert all(0 <= d < s.index for d in s.deps)
        assert not t.successors()[-1]  # the last step is the sink
        assert t.steps[-1].tool is None


# ---------------------------------------------------------------- structure


def test_swe_bench_chains_extend_the_previous_context() -> None:
    w = swe_bench(tasks=6, seed=2)
    system = w.tasks[0].steps[0].prompt[0]
    assert system == Segment(SHARED_SEGMENT_IDS["swe-bench/system"], 320)
    for t in w:
        assert t.is_chain() and t.agent_type == "swe-bench"
        assert t.steps[0].prompt[0] == system and len(t.steps[0].prompt) == 2
        for prev, cur in zip(t.steps, t.steps[1:], strict=False):
            assert cur.prompt[:-1] == prev.context and len(cur.prompt) == len(prev.context) + 1
            assert prev.tool == "bash"


def test_swe_bench_config_knobs() -> None:
    base = swe_bench(tasks=40, seed=1)
    half = swe_bench(tasks=40, seed=1, config=SweBenchConfig(calls_scale=0.5))
    assert 0.4 < half.llm_calls / base.llm_calls < 0.6
    capped = swe_bench(tasks=10, seed=1, config=SweBenchConfig(max_steps=5, system_prompt_tokens=0))
    assert max(t.llm_calls for t in capped) <= 5
    assert all(t.steps[0].prompt[0].id >= SEGMENT_BLOCK for t in capped)


def test_webarena_bounded_and_flat() -> None:
    w = webarena(tasks=300, seed=4)
    system = Segment(SHARED_SEGMENT_IDS["webarena/system"], 1400)
    lengths = [len(t.steps) for t in w]
    assert max(lengths) <= 30 and min(lengths) >= 2
    assert 16.5 < float(np.mean(lengths)) < 19.5  # about 18 steps (SAGA)
    for t in w:
        for k, s in enumerate(t.steps):
            assert len(s.prompt) == 2 and s.prompt[0] == system
            assert 1 <= s.prompt[1].tokens <= 1920
            assert s.output_tokens <= 384
            if k:  # nothing inherited beyond the shared part
                prev = t.steps[k - 1]
                assert s.prompt[1] not in prev.context and prev.output_segment not in s.prompt
                assert s.prompt_tokens <= 1400 + 1920
            if k < len(t.steps) - 1:
                assert s.tool == "browser" and 2.0 <= s.tool_seconds <= 32.0
    obs = [s.prompt[1].tokens for t in w for s in t.steps]
    assert 0.3 < obs.count(1920) / len(obs) < 0.7


@pytest.mark.parametrize("pattern", ["map-reduce", "parallel-search", "self-consistency"])
def test_task_parallel_shapes(pattern: Any) -> None:
    w = task_parallel(tasks=20, seed=3, config=TaskParallelConfig(pattern=pattern))
    for t in w:
        assert t.agent_type == f"task-parallel/{pattern}"
        steps = t.steps
        sink = steps[-1]
        if pattern == "self-consistency":
            branches = steps[:-1]
            assert all(b.deps == () and b.prompt == branches[0].prompt for b in branches)
            root_ctx = branches[0].prompt
        else:
            planner, branches = steps[0], steps[1:-1]
            assert planner.deps == ()
            root_ctx = planner.context
            for b in branches:
                assert b.deps == (0,) and b.prompt[: len(root_ctx)] == root_ctx
                assert len(b.prompt) == len(root_ctx) + 1
                assert (b.tool == "search") == (pattern == "parallel-search")
        assert 4 <= len(branches) <= 16
        assert sink.deps == tuple(b.index for b in branches)
        assert sink.prompt[: len(root_ctx)] == root_ctx
        outs = [seg for seg in sink.prompt if seg in {b.output_segment for b in branches}]
        assert outs == [b.output_segment for b in branches]


def test_task_parallel_mixed_uses_all_patterns() -> None:
    kinds = Counter(t.agent_type for t in task_parallel(tasks=60, seed=0))
    assert len(kinds) == 3 and min(kinds.values()) >= 10


def test_multi_tenant_mix() -> None:
    w = multi_tenant(tasks=400, seed=1)
    assert [t.id for t in w.tenants] == sorted(
        [f"heavy-{j}" for j in range(3)] + [f"medium-{j}" for j in range(4)]
        + [f"light-{j}" for j in range(3)]
    )  # fmt: skip
    assert all(t.slo_factor == 1.5 and t.weight == 1.0 for t in w.tenants)
    by_class = Counter(t.tenant.split("-")[0] for t in w)
    share = {c: by_class[c] / len(w) for c in by_class}
    assert abs(share["heavy"] - 0.50) < 0.08
    assert abs(share["medium"] - 0.35) < 0.08
    assert abs(share["light"] - 0.15) < 0.06
    swe = {c: sum(1 for t in w if t.tenant.startswith(c) and t.agent_type == "swe-bench")
           / by_class[c] for c in by_class}  # fmt: skip
    assert swe["heavy"] > swe["medium"] > swe["light"]
    calls = {c: sum(t.llm_calls for t in w if t.tenant.startswith(c)) for c in by_class}
    assert calls["heavy"] / 3 > 4 * calls["light"] / 3  # heavy tenants offer far more work


def test_multi_tenant_custom_classes() -> None:
    cfg = MultiTenantConfig(
        classes=(TenantClass("a", 1, 1.0, swe_bench_fraction=0.0, weight=2.0, slo_factor=2.0),)
    )
    w = multi_tenant(tasks=5, seed=0, config=cfg)
    assert [(t.id, t.weight, t.slo_factor) for t in w.tenants] == [("a-0", 2.0, 2.0)]
    assert {t.agent_type for t in w} == {"webarena"}


# ---------------------------------------------------------------- arrivals


def test_poisson_inter_arrival_mean_and_cv() -> None:
    t = arrival_times(PoissonArrivals(rate_per_min=12.0), 20_000, root=3)
    gaps = np.diff(np.concatenate([[0.0], t]))
    assert abs(gaps.mean() - 5.0) / 5.0 < 0.03  # 4 standard errors
    assert abs(gaps.std() / gaps.mean() - 1.0) < 0.05  # exponential: CV 1
    w = webarena(tasks=200, seed=9, arrivals=PoissonArrivals(rate_per_min=30.0))
    arr = [t.arrival_s for t in w]
    assert arr == sorted(arr) and abs(arr[-1] / 200 - 2.0) < 0.5


def test_replay_cycles_and_scales(tmp_path: Path) -> None:
    times = arrival_times(ReplayArrivals((5.0, 7.0, 6.0)), 7, root=0)
    assert times.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    times = arrival_times(ReplayArrivals((0.0, 1.0, 4.0), rate_per_min=30.0), 4, root=0)
    assert times.tolist() == [0.0, 1.0, 4.0, 6.0]  # mean gap 2 s = 30 per minute
    src = swe_bench(tasks=3, seed=0, arrivals=PoissonArrivals(2.0))
    path = tmp_path / "src.jsonl"
    write_native(src, path)
    arr = parse_arrivals(f"replay:{path}")
    assert isinstance(arr, ReplayArrivals) and arr.times_s == tuple(t.arrival_s for t in src)
    w = webarena(tasks=6, seed=0, arrivals=arr)
    got = [t.arrival_s for t in w]
    base = [a - src.tasks[0].arrival_s for a in arr.times_s]
    assert got[:3] == pytest.approx(base, abs=1e-6)
    assert got[3] == pytest.approx(3 * arr.mean_gap_s(), abs=1e-6)


def test_replay_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="all equal"):
        ReplayArrivals((3.0, 3.0), rate_per_min=5.0)
    assert arrival_times(ReplayArrivals((3.0,)), 3, root=0).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ConfigError, match="times_s"):
        ReplayArrivals(())
    with pytest.raises(ConfigError, match="'uniform'"):
        parse_arrivals("uniform")


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("factory", "field", "bad"),
    [
        (SweBenchConfig, "calls_scale", 0.0),
        (SweBenchConfig, "max_steps", -1),
        (SweBenchConfig, "system_prompt_tokens", -5),
        (WebArenaConfig, "max_steps", 0),
        (WebArenaConfig, "observation_max_tokens", 0),
        (WebArenaConfig, "max_output_tokens", 2.5),
        (WebArenaConfig, "page_load_sigma", float("nan")),
        (TaskParallelConfig, "pattern", "tree"),
        (TaskParallelConfig, "max_fanout", 2),
        (TaskParallelConfig, "chunk_median", -1.0),
        (PoissonArrivals, "rate_per_min", float("inf")),
        (MultiTenantConfig, "classes", ()),
    ],
)
def test_config_errors_show_the_bad_value(factory: Any, field: str, bad: Any) -> None:
    with pytest.raises(ConfigError) as info:
        factory(**{field: bad})
    assert field in str(info.value) and repr(bad) in str(info.value)


def test_config_is_frozen() -> None:
    cfg = WebArenaConfig()
    with pytest.raises(AttributeError):
        cfg.max_steps = 3  # type: ignore[misc]


@pytest.mark.parametrize("tasks", [0, -2])
def test_bad_tasks_and_seed(tasks: int) -> None:
    for func in GENERATORS.values():
        with pytest.raises(ConfigError, match=f"got {tasks}"):
            func(tasks=tasks)
    with pytest.raises(ConfigError, match="seed"):
        swe_bench(tasks=1, seed=-1)


def test_registry_lookup() -> None:
    assert generator("webarena") is webarena
    with pytest.raises(UnknownNameError, match="known: long-context, long-tools, multi-tenant"):
        generator("web-arena")


# ---------------------------------------------------------------- CLI


def _cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse usage errors
        return int(exc.code or 0)


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "swe-bench", "--tasks", "0"], "argument --tasks: expected an integer"),
        (["generate", "swe-bench", "--tasks", "-4"], "--tasks: expected an integer in [1,"),
        (["generate", "swe-bench", "--tasks", "many"], "got 'many'"),
        (["generate", "swe-bench"], "required: --tasks"),
        (["generate", "nope", "--tasks", "3"], "unknown generator 'nope'"),
        (["generate", "webarena", "--tasks", "3", "--rate", "0"], "--rate: expected a finite"),
        (["generate", "webarena", "--tasks", "3", "--seed", "-1"], "--seed: expected an integer >= 0"),
        (["generate", "webarena", "--tasks", "3", "--arrivals", "bursty"], "'bursty'"),
        (["generate", "webarena", "--tasks", "3", "--arrivals", "replay:/no/such.csv"], "no such"),
    ],
)
def test_cli_errors(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.jsonl"
    argv = [*argv, "-o", str(out)] if "-o" not in argv else argv
    assert _cli(argv) == 2
    errors = _error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and message in errors[0]
    assert not out.exists()


def test_cli_writes_file_and_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w.jsonl"
    assert main(["generate", "task-parallel", "--tasks", "4", "--seed", "3", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().err
    assert main(["generate", "task-parallel", "--tasks", "4", "--seed", "3", "-o", "-"]) == 0
    assert capsys.readouterr().out == out.read_text() == dumps(task_parallel(tasks=4, seed=3))


def test_cli_replay_with_rate(tmp_path: Path) -> None:
    src = tmp_path / "src.jsonl"
    write_native(webarena(tasks=4, seed=1), src)
    out = tmp_path / "w.jsonl"
    argv = ["generate", "webarena", "--tasks", "9", "--arrivals", f"replay:{src}", "--rate",
            "60", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    arr = [t.arrival_s for t in read_native(out)]
    assert arr[0] == 0.0 and arr[4] == pytest.approx(4.0) and arr[8] == pytest.approx(8.0)
