"""The steps-CSV reader: prompt growth as a chain, shared system prompt, timings, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagacore.errors import TraceFormatError
from sagacore.workload.model import shared_prefix_tokens
from sagacore.workload.readers.steps_csv import read_steps_csv

HEADER = (
    "run,instance_id,step,prompt_tokens,completion_tokens,cached_tokens,llm_start_ts,"
    "llm_latency_s,tool_duration_s,tool,tenant,model\n"
)


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    p = tmp_path / "s.csv"
    p.write_text(header + body)
    return p


def test_chain_growth_truncation_and_system_prompt(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "r,a,0,1000,10,640,100.0,1.5,0.5,,t1,m\n"
        "r,a,1,1200,20,960,102.0,1.0,-0.1,grep,t1,m\n"
        "r,a,2,700,5,,104.0,,,,t1,m\n"  # history truncated below the context
        "r,b,0,900,5,640,101.5,,,,,m\n"
        "r,c,0,900,5,0,103.0,,,,,m\n",
    )
    w = read_steps_csv(p)
    tasks = {t.id: t for t in w}
    assert [t.id for t in w] == ["r/a", "r/b", "r/c"]
    assert [t.arrival_s for t in w] == [0.0, 1.5, 3.0]
    a0, a1, a2 = tasks["r/a"].steps
    assert [s.tokens for s in a0.prompt] == [640, 360]  # the shared system prompt first
    assert tasks["r/b"].steps[0].prompt[0] == a0.prompt[0]
    assert shared_prefix_tokens(a0.context, a1.prompt) == 1010  # prompt + output reused
    assert [s.tokens for s in a2.prompt] == [640, 60]  # longest whole-segment prefix kept
    assert (a0.tool, a0.tool_seconds, a1.tool, a1.tool_seconds, a2.tool) == (
        "bash",
        0.5,
        "grep",
        0.0,  # -0.1 s of clock skew clamped
        None,
    )
    assert (a0.observed_llm_seconds, a0.observed_cached_tokens, a2.observed_cached_tokens) == (
        1.5,
        640,
        None,
    )
    assert tasks["r/a"].tenant == "t1" and tasks["r/b"].tenant == "default"


def test_minimal_columns(tmp_path: Path) -> None:
    p = write(
        tmp_path, "x,0,10,1\nx,1,12,1\n", "instance_id,step,prompt_tokens,completion_tokens\n"
    )
    (t,) = read_steps_csv(p).tasks
    assert t.id == "x" and t.arrival_s == 0.0 and t.is_chain()
    assert [s.prompt_tokens for s in t.steps] == [10, 12]


@pytest.mark.parametrize(
    ("body", "line", "field", "needle"),
    [
        ("r,a,0,10,1,,,,,,,\nr,a,0,10,1,,,,,,,\n", 3, "step", "duplicate step 0"),
        ("r,a,0,10,1,,,,,,,\nr,a,2,10,1,,,,,,,\n", 3, "step", "missing step before"),
        ("r,a,0,10,1,11,,,,,,\n", 2, "cached_tokens", "exceed"),
        ("r,a,0,10,1,,,-1,,,,\n", 2, "llm_latency_s", "negative"),
        ("r,a,0,10,1,,,,-3,,,\n", 2, "tool_duration_s", "negative"),
        ("r,a,0,-1,1,,,,,,,\n", 2, "prompt_tokens", "negative"),
        ("r, ,0,10,1,,,,,,,\n", 2, "instance_id", "empty"),
        ("r,a,0,10,1,,x,,,,,\n", 2, "llm_start_ts", "'x'"),
    ],
)
def test_row_errors(tmp_path: Path, body: str, line: int, field: str, needle: str) -> None:
    p = write(tmp_path, body)
    with pytest.raises(TraceFormatError) as info:
        read_steps_csv(p)
    assert (info.value.line, info.value.field) == (line, field)
    assert str(info.value).startswith(f"{p}:{line}: field {field}:") and needle in str(info.value)


def test_workload_level_errors_are_trace_errors(tmp_path: Path) -> None:
    # run "a" + instance "b/c" and run "a/b" + instance "c" name the same task
    p = write(tmp_path, "a,b/c,0,5,5,,,,,,,\na/b,c,0,5,5,,,,,,,\n")
    with pytest.raises(TraceFormatError, match="field instance_id: .*duplicate task id 'a/b/c'"):
        read_steps_csv(p)
    # start times so far apart that the arrival overflows
    p = write(tmp_path, "r,a,0,5,5,,-1e308,,,,,\nr,b,0,5,5,,1e308,,,,,\n")
    with pytest.raises(TraceFormatError, match="field llm_start_ts: .*finite"):
        read_steps_csv(p)


def test_no_rows(tmp_path: Path) -> None:
    with pytest.raises(TraceFormatError, match="no data rows"):
        read_steps_csv(write(tmp_path, "\n"))
