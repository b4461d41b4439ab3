"""Every kind of bad trace gives a TraceFormatError naming the file, the line and the field,
and the CLI turns it into one ``error:`` line on stderr with exit status 2."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from sagacore.cli import main
from sagacore.errors import TraceFormatError
from sagacore.workload.readers import detect_format, read_workload

STEPS_HEADER = "instance_id,step,prompt_tokens,completion_tokens\n"
AZURE_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
AZURE_ROW = "2023-11-16 18:17:03.9799600,4808,10\n"


def mooncake_line(**kw: object) -> str:
    row: dict[str, object] = {
        "timestamp": 0,
        "input_length": 600,
        "output_length": 5,
        "hash_ids": [0, 1],
    }
    row.update(kw)
    return json.dumps({k: v for k, v in row.items() if v is not None}) + "\n"


def tracelab_line(**kw: object) -> str:
    row: dict[str, object] = {
        "provider": "claude",
        "session_id": "s",
        "round_index": 0,
        "input_tokens_total": 100,
        "prefix_tokens": 60,
        "newly_append_tokens": 40,
        "output_tokens": 7,
        "timing_events": [{"timestamp": "2026-06-01T05:40:20.151Z"}],
        "tools": [{"tool_name": "Bash", "tool_wall_latency_ms": 10}],
    }
    row.update(kw)
    return json.dumps({k: v for k, v in row.items() if v != "DROP"}) + "\n"


NATIVE_HEADER = '{"format":"sagacore-workload","version":1,"name":"w","source":"","tenants":[]}\n'


def native_task(**kw: object) -> str:
    step: dict[str, object] = {"append": [[1, 10]], "output_tokens": 3, "output_id": 2}
    step.update(kw)
    task = {"id": "t", "tenant": "default", "arrival_s": 0.0, "agent_type": "a"}
    return json.dumps({**task, "steps": [{k: v for k, v in step.items() if v != "DROP"}]}) + "\n"


def traj(execution_time: object = 0.5, history: object = None) -> str:
    doc = {
        "environment": "swe_main",
        "trajectory": [
            {"action": "ls", "observation": "a.py", "response": "ls", "execution_time": 0.1},
            {
                "action": "submit",
                "observation": "",
                "response": "submit",
                "execution_time": execution_time,
            },
        ],
        "history": history
        if history is not None
        else [{"role": "system", "content": "sys"}, {"role": "user", "content": "issue"}],
    }
    return json.dumps(doc, indent=2)


@dataclass(frozen=True)
class Case:
    fmt: str
    kind: str
    filename: str
    data: bytes
    line: int | None
    field: str | None
    needle: str

    @property
    def id(self) -> str:
        return f"{self.fmt}-{self.kind}"


LATIN1 = "café".encode("latin-1")

CASES = [
    # steps CSV
    Case("steps-csv", "missing-column", "s.csv", b"instance_id,step,prompt_tokens\na,0,5\n", 1,
         None, "completion_tokens"),
    Case("steps-csv", "non-numeric", "s.csv", (STEPS_HEADER + "a,0,100,10\na,1,lots,3\n").encode(),
         3, "prompt_tokens", "'lots'"),
    Case("steps-csv", "negative", "s.csv", (STEPS_HEADER + "a,0,100,-10\n").encode(), 2,
         "completion_tokens", "-10"),
    Case("steps-csv", "empty", "s.csv", b"", None, None, "empty file"),
    Case("steps-csv", "latin-1", "s.csv", STEPS_HEADER.encode() + b"a,0,100,10\n" + LATIN1
         + b",0,5,5\n", 3, None, "not UTF-8"),
    # Azure CSV
    Case("azure", "missing-column", "a.csv", b"TIMESTAMP,ContextTokens\n2023-11-16 18:17:03,5\n",
         1, None, "GeneratedTokens"),
    Case("azure", "non-numeric", "a.csv", (AZURE_HEADER + AZURE_ROW
         + "2023-11-16 18:17:04.0,ten,3\n").encode(), 3, "ContextTokens", "'ten'"),
    Case("azure", "negative", "a.csv", (AZURE_HEADER + "2023-11-16 18:17:04.0,10,-3\n").encode(),
         2, "GeneratedTokens", "-3"),
    Case("azure", "bad-timestamp", "a.csv", (AZURE_HEADER + AZURE_ROW
         + "2023-11-16 25:17:04.0,10,3\n").encode(), 3, "TIMESTAMP", "hour"),
    Case("azure", "empty", "a.csv", b"\n\n", None, None, "empty file"),
    Case("azure", "latin-1", "a.csv", AZURE_HEADER.encode() + LATIN1 + b",1,1\n", 2, None,
         "not UTF-8"),
    # Mooncake JSONL
    Case("mooncake", "missing-key", "m.jsonl", (mooncake_line()
         + mooncake_line(output_length=None)).encode(), 2, "output_length", "missing"),
    Case("mooncake", "non-numeric", "m.jsonl", mooncake_line(input_length="many").encode(), 1,
         "input_length", "'many'"),
    Case("mooncake", "negative", "m.jsonl", mooncake_line(output_length=-1).encode(), 1,
         "output_length", "negative"),
    Case("mooncake", "broken-json", "m.jsonl", (mooncake_line() + mooncake_line()
         + '{"timestamp": 1,\n').encode(), 3, None, "broken JSON"),
    Case("mooncake", "bad-hash", "m.jsonl", mooncake_line(hash_ids=[0, "x"]).encode(), 1,
         "hash_ids[1]", "'x'"),
    Case("mooncake", "short-input", "m.jsonl", mooncake_line(input_length=512).encode(), 1,
         "input_length", "cannot fill 2 blocks"),
    Case("mooncake", "block-conflict", "m.jsonl", (mooncake_line()
         + mooncake_line(input_length=1100, hash_ids=[0, 1, 2])).encode(), 2, "hash_ids[1]",
         "on line 1"),
    Case("mooncake", "empty", "m.jsonl", b"", None, None, "empty file"),
    Case("mooncake", "latin-1", "m.jsonl", mooncake_line().encode() + b'{"x": "' + LATIN1
         + b'"}\n', 2, None, "not UTF-8"),
    # TraceLab JSONL
    Case("tracelab", "missing-key", "t.jsonl", tracelab_line(session_id="DROP").encode(), 1,
         "session_id", "missing"),
    Case("tracelab", "non-numeric", "t.jsonl", (tracelab_line()
         + tracelab_line(round_index=1, output_tokens="x")).encode(), 2, "output_tokens", "'x'"),
    Case("tracelab", "negative", "t.jsonl", tracelab_line(prefix_tokens=-1).encode(), 1,
         "prefix_tokens", "negative"),
    Case("tracelab", "negative-latency", "t.jsonl", tracelab_line(
         tools=[{"tool_name": "Bash", "tool_wall_latency_ms": -5}]).encode(), 1,
         "tools[0].tool_wall_latency_ms", "negative"),
    Case("tracelab", "bad-timestamp", "t.jsonl", tracelab_line(
         timing_events=[{"timestamp": "yesterday"}]).encode(), 1, "timing_events[0].timestamp",
         "'yesterday'"),
    Case("tracelab", "prefix-exceeds-input", "t.jsonl", tracelab_line(prefix_tokens=101).encode(),
         1, "prefix_tokens", "exceed"),
    Case("tracelab", "broken-json", "t.jsonl", (tracelab_line() + "{]\n").encode(), 2, None,
         "broken JSON"),
    Case("tracelab", "empty", "t.jsonl", b"  \n", None, None, "empty file"),
    Case("tracelab", "latin-1", "t.jsonl", b"\n\n" + LATIN1, 3, None, "not UTF-8"),
    # native JSONL
    Case("native", "missing-key", "w.jsonl", (NATIVE_HEADER
         + native_task(output_tokens="DROP")).encode(), 2, "output_tokens", "missing"),
    Case("native", "non-numeric", "w.jsonl", (NATIVE_HEADER
         + native_task(output_id="two")).encode(), 2, "output_id", "'two'"),
    Case("native", "negative", "w.jsonl", (NATIVE_HEADER
         + native_task(append=[[1, -10]])).encode(), 2, "steps[0].append[0]", "positive"),
    Case("native", "not-native", "w.jsonl", b'{"format": "other"}\n', 1, "format",
         "not a native workload"),
    Case("native", "broken-json", "w.jsonl", (NATIVE_HEADER + "{\n").encode(), 2, None,
         "broken JSON"),
    Case("native", "empty", "w.jsonl", b"", None, None, "empty file"),
    Case("native", "latin-1", "w.jsonl", NATIVE_HEADER.encode() + LATIN1, 2, None, "not UTF-8"),
    # SWE-agent .traj
    Case("swe-agent", "non-numeric", "r.traj", traj(execution_time="fast").encode(),
         traj(execution_time="fast").splitlines().index('      "execution_time": "fast"') + 1,
         "trajectory[1].execution_time", "'fast'"),
    Case("swe-agent", "negative", "r.traj", traj(execution_time=-1).encode(),
         traj(execution_time=-1).splitlines().index('      "execution_time": -1') + 1,
         "trajectory[1].execution_time", "-1"),
    Case("swe-agent", "missing-prompt", "r.traj", traj(history=[]).encode(),
         traj(history=[]).splitlines().index('  "history": []') + 1, "history",
         "no prompt messages"),
    Case("swe-agent", "bad-message", "r.traj", traj(history=[{"role": 3}]).encode(),
         traj(history=[{"role": 3}]).splitlines().index('      "role": 3') + 1,
         "history[0].role", "expected a string"),
    Case("swe-agent", "broken-json", "r.traj", traj()[:-30].encode(), traj()[:-30].count("\n") + 1,
         None, "broken JSON"),
    Case("swe-agent", "empty", "r.traj", b"", None, None, "empty file"),
    Case("swe-agent", "latin-1", "r.traj", b'{\n"history": "' + LATIN1 + b'"}', 2, None,
         "not UTF-8"),
    # no format matches
    Case("auto", "unknown-format", "notes.txt", b"hello, world\n", 1, None,
         "cannot detect the trace format"),
]  # fmt: skip


def _write(tmp_path: Path, case: Case) -> Path:
    path = tmp_path / case.filename
    path.write_bytes(case.data)
    return path


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_error_names_file_line_and_field(tmp_path: Path, case: Case) -> None:
    path = _write(tmp_path, case)
    with pytest.raises(TraceFormatError) as info:
        read_workload(path, case.fmt)
    exc = info.value
    text = str(exc)
    assert exc.path == str(path)
    assert text.startswith(f"{path}:" if case.line is None else f"{path}:{case.line}: ")
    assert exc.line == case.line
    assert exc.field == case.field
    if case.field is not None:
        assert f"field {case.field}:" in text
    assert case.needle in text


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli_prints_one_error_line(
    tmp_path: Path, case: Case, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, case)
    assert main(["trace", "stats", str(path), "--format", case.fmt]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"error: {path}") and err.endswith("\n") and err.count("\n") == 1
    assert "Traceback" not in err and case.needle in err


def test_detection_failure_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    assert main(["trace", "convert", str(path), "-o", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {path}: empty file\n"
    assert not (tmp_path / "o.jsonl").exists()


def test_directory_without_trajectories(tmp_path: Path) -> None:
    with pytest.raises(TraceFormatError, match="expected a trace file"):
        detect_format(tmp_path)
    with pytest.raises(TraceFormatError, match=r"no \.traj files"):
        read_workload(tmp_path, "swe-agent")


def test_unknown_format_name() -> None:
    from sagacore.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="known: auto, azure"):
        read_workload("x.csv", "nope")
