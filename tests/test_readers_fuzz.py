"""Fuzzing every trace reader: whatever the bytes, the only exception is TraceFormatError.

Three kinds of input per format: arbitrary bytes, byte-level mutations of a small valid
file (flips, deletions, insertions of troublesome tokens, duplicated or cut lines), and
structural mutations (a JSON value or CSV cell replaced by an arbitrary one, or a key
dropped). Each input is also read with format detection.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sagacore.errors import TraceFormatError
from sagacore.workload.model import Segment, Step, Task, TaskId, Tenant, TenantId, Workload
from sagacore.workload.native import dumps
from sagacore.workload.readers import READERS, read_workload


def _native_sample() -> str:
    s0 = Step(0, (Segment(1, 100), Segment(2, 20)), 10, 3, tool="bash", tool_seconds=0.5)
    s1 = Step(1, (*s0.context, Segment(4, 40)), 12, 5, deps=(0,), observed_cached_tokens=64)
    s2 = Step(2, (Segment(1, 100), Segment(6, 7)), 2, 7, deps=(0,), observed_llm_seconds=1.5)
    t = Task(TaskId("a"), (s0, s1, s2), TenantId("heavy"), 1.25, "swe")
    u = Task(TaskId("b"), (Step(0, (Segment(1, 100),), 1, 8),), arrival_s=0.0)
    return dumps(Workload((t, u), (Tenant(TenantId("heavy"), 2.0, 1.2),), name="n", source="s"))


_TRACELAB_ROWS: list[dict[str, Any]] = [
    {
        "provider": "codex",
        "session_id": "codex:s1",
        "round_index": 0,
        "model": "gpt",
        "input_tokens_total": 9324,
        "prefix_tokens": 6912,
        "newly_append_tokens": 2412,
        "output_tokens": 444,
        "reasoning_output_tokens": 199,
        "timing_events": [
            {"event_type": "user_message", "timestamp": "2026-03-21T10:05:59.328Z"},
            {"event_type": "tool_call", "timestamp": "2026-03-21T10:06:01.000Z"},
        ],
        "tools": [
            {"tool_name": "exec_command", "tool_wall_latency_ms": 67},
            {"tool_name": "exec_command", "tool_wall_latency_ms": None},
        ],
    },
    {
        "provider": "codex",
        "session_id": "codex:s1",
        "round_index": 1,
        "model": "gpt",
        "input_tokens_total": 9917,
        "prefix_tokens": 9216,
        "newly_append_tokens": 701,
        "output_tokens": 94,
        "reasoning_output_tokens": 0,
        "timing_events": [{"timestamp": "2026-03-21T10:06:05.547Z"}],
        "tools": [],
    },
    {
        "provider": "claude",
        "session_id": "claude:s2",
        "round_index": 0,
        "model": "opus",
        "input_tokens_total": 32272,
        "prefix_tokens": 27217,
        "newly_append_tokens": 5055,
        "output_tokens": 931,
        "reasoning_output_tokens": None,
        "timing_events": [{"timestamp": "2026-06-01T05:40:20.151Z"}],
        "tools": [{"tool_name": "Bash", "tool_wall_latency_ms": 860}],
    },
]

_TRAJ: dict[str, Any] = {
    "environment": "swe_main",
    "trajectory": [
        {
            "action": "ls -F\n",
            "observation": "a.py\nb.py",
            "response": "Look around.\nls -F",
            "thought": "Look around.",
            "state": {"open_file": "n/a"},
            "execution_time": 0.25,
        },
        {
            "action": "submit",
            "observation": "diff",
            "response": "Done.",
            "thought": "Done.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
        },
    ],
    "history": [
        {"role": "system", "content": "You are a programmer." * 10},
        {"role": "user", "content": "demo", "is_demo": True},
        {"role": "user", "content": "Fix the issue."},
        {"role": "assistant", "content": "Look around.", "action": "ls -F"},
        {"role": "tool", "content": "a.py\nb.py"},
    ],
    "info": {"model_stats": {"tokens_sent": 200, "tokens_received": 20, "api_calls": 2}},
}

SAMPLES: dict[str, tuple[str, str]] = {
    "native": ("w.jsonl", _native_sample()),
    "steps-csv": (
        "steps.csv",
        "run,instance_id,step,prompt_tokens,completion_tokens,cached_tokens,llm_start_ts,"
        "llm_latency_s,tool_duration_s,tool,tenant,model\n"
        "r,a,0,1000,10,896,100.0,1.5,0.5,bash,t1,m\n"
        "r,a,1,1200,20,1024,102.0,1.0,-0.1,,t1,m\n"
        "r,b,0,900,5,896,101.0,,,,,m\n",
    ),
    "mooncake": (
        "trace.jsonl",
        '{"timestamp": 0, "input_length": 1100, "output_length": 5, "hash_ids": [0, 1, 2]}\n'
        '{"timestamp": 10, "input_length": 2000, "output_length": 0, "hash_ids": [0, 1, 3, 4]}\n'
        '{"timestamp": 20.5, "input_length": 600, "output_length": 9, "hash_ids": [5]}\n',
    ),
    "azure": (
        "azure.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\r\n"
        "2023-11-16 18:17:03.9799600,4808,10\r\n"
        "2023-11-16 18:17:04.0319600,3180,8\r\n"
        "2023-11-16 18:17:04.5,0,0",
    ),
    "tracelab": ("rounds.jsonl", "".join(json.dumps(r) + "\n" for r in _TRACELAB_ROWS)),
    "swe-agent": ("run.traj", json.dumps(_TRAJ, indent=2)),
}

FORMATS = sorted(SAMPLES)
assert set(FORMATS) == set(READERS), "every registered reader needs a fuzz sample"

TOKENS = [
    b"",
    b"-1",
    b"0",
    b"1e999",
    b"NaN",
    b"null",
    b"true",
    b'"x"',
    b"[]",
    b"{}",
    b"{",
    b"]",
    b",",
    b'"',
    b"\n",
    b"\r\n",
    b"\x00",
    b"\xff\xfe",
    b"\xe9",
    b"\xe2\x80\xa8",
    b"9" * 40,
    b"[" * 3000,
    b"9999-12-31T23:59:59",
    b"0001-01-01 00:00:00.0",
]


def _mutate(data: bytes, ops: list[tuple[int, int, int, int]]) -> bytes:
    buf = bytearray(data)
    for kind, a, b, c in ops:
        n = len(buf)
        pos = a % (n + 1)
        if kind == 0 and n:  # flip a byte
            buf[pos % n] ^= 1 + b % 255
        elif kind == 1:  # delete a run
            del buf[pos : pos + 1 + b % 16]
        elif kind == 2:  # insert a troublesome token
            buf[pos:pos] = TOKENS[c % len(TOKENS)]
        elif kind == 3:  # duplicate a line
            lines = bytes(buf).split(b"\n")
            i = b % len(lines)
            lines.insert(i, lines[i])
            buf = bytearray(b"\n".join(lines))
        else:  # cut the file
            del buf[pos:]
    return bytes(buf)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _replace(doc: Any, path: tuple[Any, ...], new: Any, drop: bool) -> Any:
    if not path:
        return new
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    if drop and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return doc


@st.composite
def structural(draw: st.DrawFn, fmt: str) -> bytes:
    """The sample with one JSON value (or CSV cell) replaced by an arbitrary one."""
    _, text = SAMPLES[fmt]
    if fmt in ("steps-csv", "azure"):
        rows = [line.split(",") for line in text.splitlines()]
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(0, len(rows[r]) - 1))
        rows[r][c] = draw(
            st.sampled_from(
                ["", "0", "7", "-5", "1.5", "x", "1e400", "nan", '"', "2023-13-01 00:00:00"]
            )
            | st.text(max_size=8)
        )
        return "\n".join(",".join(row) for row in rows).encode()
    if fmt == "swe-agent":
        docs: list[Any] = [json.loads(text)]
    else:
        docs = [json.loads(line) for line in text.splitlines()]
    i = draw(st.integers(0, len(docs) - 1))
    paths = list(_paths(docs[i]))
    path = draw(st.sampled_from(paths))
    docs[i] = _replace(docs[i], path, draw(json_values), draw(st.booleans()))
    if fmt == "swe-agent":
        return json.dumps(docs[0]).encode()
    return "".join(json.dumps(d) + "\n" for d in docs).encode()


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def _read_only_trace_errors(path: Path, fmt: str) -> None:
    for how in (fmt, "auto"):
        try:
            read_workload(path, how)
        except TraceFormatError as exc:
            assert str(exc).startswith(str(path))


def _write(workdir: Path, fmt: str, data: bytes) -> Path:
    path = workdir / SAMPLES[fmt][0]
    path.write_bytes(data)
    return path


def test_samples_are_valid(workdir: Path) -> None:
    for fmt in FORMATS:
        w = read_workload(_write(workdir, fmt, SAMPLES[fmt][1].encode()), fmt)
        assert len(w) >= 1
        assert read_workload(workdir / SAMPLES[fmt][0]) == w  # detected


@pytest.mark.parametrize("fmt", FORMATS)
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes(workdir: Path, fmt: str, data: bytes) -> None:
    _read_only_trace_errors(_write(workdir, fmt, data), fmt)


@pytest.mark.parametrize("fmt", FORMATS)
@given(
    ops=st.lists(
        st.tuples(
            st.integers(0, 4), st.integers(0, 10**6), st.integers(0, 255), st.integers(0, 99)
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_valid_file(workdir: Path, fmt: str, ops: list[tuple[int, int, int, int]]) -> None:
    data = _mutate(SAMPLES[fmt][1].encode(), ops)
    _read_only_trace_errors(_write(workdir, fmt, data), fmt)


@pytest.mark.parametrize("fmt", FORMATS)
@given(data=st.data())
def test_structurally_mutated_file(workdir: Path, fmt: str, data: st.DataObject) -> None:
    _read_only_trace_errors(_write(workdir, fmt, data.draw(structural(fmt))), fmt)
