"""How each reader maps its format onto the workload model, case by case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sagacore.errors import ConfigError, TraceFormatError
from sagacore.workload.model import Step, Task, shared_prefix_tokens
from sagacore.workload.readers import detect_format, read_workload
from sagacore.workload.readers.azure import parse_timestamp, read_azure
from sagacore.workload.readers.mooncake import HASH_ID_OFFSET, read_mooncake
from sagacore.workload.readers.swe_agent import estimate_tokens, read_swe_agent
from sagacore.workload.readers.tracelab import read_tracelab

# -- Mooncake ------------------------------------------------------------------------------


def write_lines(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_mooncake_blocks_cap_and_tail(tmp_path: Path) -> None:
    p = write_lines(
        tmp_path / "m.jsonl",
        [
            {"timestamp": 2000, "input_length": 1024, "output_length": 3, "hash_ids": [7, 8]},
            {"timestamp": 500, "input_length": 1030, "output_length": 0, "hash_ids": [7, 8]},
            {"timestamp": 500, "input_length": 0, "output_length": 1, "hash_ids": []},
            {"timestamp": 900, "input_length": 700, "output_length": 4, "hash_ids": [7, 9]},
        ],
    )
    w = read_mooncake(p)
    by_id: dict[str, Step] = {t.id: t.steps[0] for t in w}
    assert [t.id for t in w] == ["1", "2", "3", "0"]  # arrival order, file order on ties
    assert [t.arrival_s for t in w] == [0.5, 0.5, 0.9, 2.0]
    assert [s.tokens for s in by_id["0"].prompt] == [512, 512]
    # more tokens than blocks: one extra segment unique to the request
    assert [s.tokens for s in by_id["1"].prompt] == [512, 512, 6]
    assert by_id["1"].prompt[2].id < HASH_ID_OFFSET and by_id["1"].output_tokens == 1
    assert by_id["2"].prompt_tokens == 1  # zero counts read as one token
    # a partial last block is its own hash
    assert [s.tokens for s in by_id["3"].prompt] == [512, 188]
    assert shared_prefix_tokens(by_id["0"].prompt, by_id["1"].prompt) == 1024
    assert shared_prefix_tokens(by_id["0"].prompt, by_id["3"].prompt) == 512
    ids = [s.id for t in w for s in t.steps[0].context]
    assert len(ids) == len(set(ids)) + 3  # only hash blocks repeat


def test_mooncake_block_size_parameter(tmp_path: Path) -> None:
    p = write_lines(
        tmp_path / "m.jsonl",
        [{"timestamp": 0, "input_length": 40, "output_length": 1, "hash_ids": [1, 2, 3]}],
    )
    assert [s.tokens for s in read_mooncake(p, block_size=16).tasks[0].steps[0].prompt] == [
        16,
        16,
        8,
    ]
    with pytest.raises(ConfigError, match="block_size"):
        read_mooncake(p, block_size=0)


@pytest.mark.parametrize("bad", [-1, 2**48, True, 1.0, None])
def test_mooncake_rejects_bad_hash_ids(tmp_path: Path, bad: object) -> None:
    p = write_lines(
        tmp_path / "m.jsonl",
        [{"timestamp": 0, "input_length": 600, "output_length": 1, "hash_ids": [0, bad]}],
    )
    with pytest.raises(TraceFormatError, match=r"m\.jsonl:1: field hash_ids\[1\]"):
        read_mooncake(p)


# -- Azure ---------------------------------------------------------------------------------


def test_parse_timestamp_keeps_seven_digits() -> None:
    a = parse_timestamp("2023-11-16 18:17:03.9799600")
    b = parse_timestamp("2023-11-16 18:17:04.0319601")
    assert b - a == pytest.approx(0.0520001, abs=1e-6)
    assert parse_timestamp("2023-11-16T18:17:04") - parse_timestamp("2023-11-16 18:17:03") == 1
    # the 2024 traces as pandas writes them: microseconds and a UTC offset
    utc = parse_timestamp("2024-05-10 00:00:00.009930+00:00")
    assert utc == parse_timestamp("2024-05-10 00:00:00.009930") == parse_timestamp(
        "2024-05-10T00:00:00.00993Z")
    assert parse_timestamp("2024-05-10 02:30:00.009930+0230") == utc
    assert parse_timestamp("2024-05-09 23:00:00.009930-01:00") == utc
    for bad in ("2023-11-16", "18:17:03", "2023-02-30 00:00:00", "2023-11-16 18:17:03.", "",
                "2024-05-10 00:00:00+24:00", "2024-05-10 00:00:00+1", "2024-05-10 00:00:00 UTC"):
        with pytest.raises(ValueError):
            parse_timestamp(bad)


def test_azure_arrivals_relative_to_earliest(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens,Extra\n"
        "2023-11-16 18:00:01.5,10,0,x\n"
        "2023-11-16 18:00:00.0,0,3,y\n"
        "2023-11-16 18:01:00.0,5,5,z\n"
    )
    w = read_azure(p)
    assert [(t.id, t.arrival_s) for t in w] == [("1", 0.0), ("0", 1.5), ("2", 60.0)]
    steps: dict[str, Step] = {t.id: t.steps[0] for t in w}
    assert (steps["0"].prompt_tokens, steps["0"].output_tokens) == (10, 1)
    assert (steps["1"].prompt_tokens, steps["1"].output_tokens) == (1, 3)
    assert detect_format(p) == "azure"


# -- TraceLab ------------------------------------------------------------------------------


def rnd(
    session: str, i: int, total: int, prefix: int | None, out: int, **kw: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "provider": "claude",
        "model": "m",
        "session_id": session,
        "round_index": i,
        "input_tokens_total": total,
        "prefix_tokens": prefix,
        "newly_append_tokens": None if prefix is None else total - prefix,
        "output_tokens": out,
        "reasoning_output_tokens": None,
        "timing_events": [],
        "tools": [],
    }
    row.update(kw)
    return row


def test_tracelab_prefix_reuse_and_splitting(tmp_path: Path) -> None:
    p = write_lines(
        tmp_path / "t.jsonl",
        [
            rnd("s", 0, 1000, 0, 50),
            rnd("s", 1, 1200, 998, 30),  # reuses all but 2 tokens of round 0's prompt
            rnd("s", 2, 1500, 1230, 10),  # round 1's whole context (1200 + 30)
            rnd("s", 3, 400, 300, 10),  # context compaction: cut deep inside round 0
        ],
    )
    s0, s1, s2, s3 = read_tracelab(p).tasks[0].steps
    assert [x.tokens for x in s0.prompt] == [300, 698, 2]  # split where later rounds cut
    assert shared_prefix_tokens(s0.context, s1.prompt) == 998
    assert s2.prompt[: len(s1.context)] == s1.context  # the output is reused whole
    assert shared_prefix_tokens(s1.context, s2.prompt) == 1230
    assert shared_prefix_tokens(s2.context, s3.prompt) == 300
    assert [s.prompt_tokens for s in (s0, s1, s2, s3)] == [1000, 1200, 1500, 400]
    assert [s.observed_cached_tokens for s in (s0, s1, s2, s3)] == [0, 998, 1230, 300]


def test_tracelab_cut_inside_an_output_keeps_no_part_of_it(tmp_path: Path) -> None:
    p = write_lines(tmp_path / "t.jsonl", [rnd("s", 0, 100, 0, 50), rnd("s", 1, 200, 120, 1)])
    s0, s1 = read_tracelab(p).tasks[0].steps
    assert s1.prompt[0] == s0.prompt[0] and len(s0.prompt) == 1
    assert shared_prefix_tokens(s0.context, s1.prompt) == 100


def test_tracelab_reasoning_output_is_not_replayed(tmp_path: Path) -> None:
    rows = [
        rnd("s", 0, 100, 0, 50, reasoning_output_tokens=20),
        rnd("s", 1, 200, 150, 1),
    ]
    s0, s1 = read_tracelab(write_lines(tmp_path / "t.jsonl", rows)).tasks[0].steps
    assert s0.output_tokens == 50  # reasoning is part of output_tokens already
    assert shared_prefix_tokens(s0.context, s1.prompt) == 100


def test_tracelab_history_mode(tmp_path: Path) -> None:
    rows = [rnd("s", 0, 1000, 0, 50), rnd("s", 1, 1100, 200, 5), rnd("s", 2, 300, 100, 5)]
    p = write_lines(tmp_path / "t.jsonl", rows)
    reported = read_tracelab(p).tasks[0].steps
    history = read_tracelab(p, reuse="history").tasks[0].steps
    assert shared_prefix_tokens(reported[0].context, reported[1].prompt) == 200
    assert shared_prefix_tokens(history[0].context, history[1].prompt) == 1000  # evicted cache
    assert shared_prefix_tokens(history[1].context, history[2].prompt) == 100  # shrank
    with pytest.raises(ConfigError, match="reuse"):
        read_tracelab(p, reuse="always")  # type: ignore[arg-type]


def test_tracelab_sessions_tools_arrivals_and_tenants(tmp_path: Path) -> None:
    rows = [
        rnd("b", 1, 600, 500, 5, user="u2", timing_events=[{"timestamp": "2026-01-01T00:00:09Z"}]),
        rnd(
            "b",
            0,
            500,
            400,
            5,
            user="u2",
            timing_events=[{"timestamp": "2026-01-01T00:00:05+00:00"}],
            tools=[
                {"tool_name": "Read", "tool_wall_latency_ms": 250},
                {"tool_name": "Bash", "tool_wall_latency_ms": None},
                {"tool_name": "Bash", "tool_wall_latency_ms": 1750.5},
            ],
        ),
        rnd("a", 0, 500, 400, 5, user="u1", timing_events=[{"timestamp": "2026-01-01T00:00:02"}]),
        rnd("a", 0, 520, 500, 5, user="u1"),  # duplicated round: kept, after the first
        rnd("c", 0, 10, None, 0, provider=None),  # no timestamps, no cache accounting
    ]
    w = read_tracelab(write_lines(tmp_path / "t.jsonl", rows), tenant_field="user")
    tasks: dict[str, Task] = {t.id: t for t in w}
    assert [t.id for t in w] == ["a", "c", "b"]
    assert (tasks["a"].arrival_s, tasks["b"].arrival_s, tasks["c"].arrival_s) == (0.0, 3.0, 0.0)
    assert (tasks["a"].tenant, tasks["b"].tenant, tasks["c"].tenant) == ("u1", "u2", "default")
    assert tasks["c"].agent_type == "tracelab" and tasks["a"].agent_type == "claude"
    b0 = tasks["b"].steps[0]
    assert (b0.tool, b0.tool_seconds, b0.prompt_tokens) == ("Read", 2.0005, 500)
    assert [s.prompt_tokens for s in tasks["a"].steps] == [500, 520]
    c0 = tasks["c"].steps[0]
    assert (c0.output_tokens, c0.observed_cached_tokens, c0.tool) == (1, None, None)
    # round 0 cache hits: one system-prompt segment shared by sessions with the same key
    assert tasks["a"].steps[0].prompt[0] == b0.prompt[0] and b0.prompt[0].tokens == 400
    apart = read_tracelab(tmp_path / "t.jsonl", shared_system_prompt=False)
    a0, b0 = (next(t for t in apart if t.id == k).steps[0] for k in "ab")
    assert shared_prefix_tokens(a0.prompt, b0.prompt) == 0


def test_tracelab_total_from_parts(tmp_path: Path) -> None:
    row = rnd("s", 0, 0, 30, 5)
    del row["input_tokens_total"]
    row["newly_append_tokens"] = 70
    (s,) = read_tracelab(write_lines(tmp_path / "t.jsonl", [row])).tasks[0].steps
    assert s.prompt_tokens == 100
    row["newly_append_tokens"] = None
    with pytest.raises(TraceFormatError, match="field input_tokens_total: missing"):
        read_tracelab(write_lines(tmp_path / "t.jsonl", [row]))


# -- SWE-agent -----------------------------------------------------------------------------


def traj(**kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "history": [
            {"role": "system", "content": "S" * 400},
            {"role": "user", "content": [{"type": "text", "text": "I" * 40}], "is_demo": True},
            {"role": "assistant", "content": "demo reply", "is_demo": True},
            {"role": "user", "content": "issue " * 10},
        ],
        "trajectory": [
            {"action": "open a.py", "observation": "O" * 80, "response": "R" * 20 + "open a.py"},
            {"action": "edit 1:2\nx\nend_of_edit", "observation": "ok", "thought": "T" * 8},
            {"action": "", "observation": "", "response": "", "execution_time": 3.0},
        ],
    }
    doc.update(kw)
    return doc


def test_swe_agent_chain_and_estimates(tmp_path: Path) -> None:
    p = tmp_path / "x.traj"
    p.write_text(json.dumps(traj()))
    s0, s1, s2 = read_swe_agent(p).tasks[0].steps
    # system, demonstration (user and assistant), issue: one segment each
    assert [x.tokens for x in s0.prompt] == [100, 10, 3, 15]
    assert s0.output_tokens == estimate_tokens("R" * 20 + "open a.py") == 8
    assert s1.prompt == (*s0.context, s1.prompt[-1]) and s1.prompt[-1].tokens == 20
    # no response: the thought, with the action appended
    assert s1.output_tokens == estimate_tokens("T" * 8 + "\nedit 1:2\nx\nend_of_edit")
    assert (s0.tool, s1.tool, s2.tool, s2.tool_seconds) == ("open", "edit", None, 0.0)
    assert s2.output_tokens == 1
    coarse = read_swe_agent(p, chars_per_token=40.0).tasks[0].steps[0]
    assert [x.tokens for x in coarse.prompt] == [10, 1, 1, 2]
    with pytest.raises(ConfigError, match="chars_per_token"):
        read_swe_agent(p, chars_per_token=0.0)


def test_swe_agent_calibration(tmp_path: Path) -> None:
    stats = {"tokens_sent": 1000, "tokens_received": 40, "api_calls": 3}
    p = tmp_path / "x.traj"
    p.write_text(json.dumps(traj(info={"model_stats": stats})))
    steps = read_swe_agent(p).tasks[0].steps
    assert sum(s.prompt_tokens for s in steps) == pytest.approx(1000, abs=6)
    assert sum(s.output_tokens for s in steps) == pytest.approx(40, abs=2)
    raw = read_swe_agent(p, calibrate=False).tasks[0].steps
    assert sum(s.prompt_tokens for s in raw) == 128 + 156 + 165
    for bad in (
        {**stats, "api_calls": 2},
        {**stats, "tokens_sent": 10**9},
        {**stats, "tokens_sent": "x"},
    ):
        p.write_text(json.dumps(traj(info={"model_stats": bad})))
        assert [s.prompt_tokens for s in read_swe_agent(p).tasks[0].steps] == [
            s.prompt_tokens for s in raw
        ]


def test_swe_agent_directory_shares_identical_content(tmp_path: Path) -> None:
    (tmp_path / "b.traj").write_text(json.dumps(traj()))
    other = traj()
    other["trajectory"][1]["observation"] = "different"
    (tmp_path / "a.traj").write_text(json.dumps(other))
    (tmp_path / "notes.txt").write_text("ignored")
    assert detect_format(tmp_path) == "swe-agent"
    w = read_workload(tmp_path)
    assert [t.id for t in w] == ["a", "b"] and w.name == tmp_path.name
    a, b = w.tasks
    assert a.steps[1].prompt == b.steps[1].prompt  # same text, same segments
    # the outputs agree too; the observations after step 1 differ
    shared = b.steps[1].prompt_tokens + b.steps[1].output_tokens
    assert shared_prefix_tokens(a.steps[2].prompt, b.steps[2].prompt) == shared


def test_swe_agent_history_only_and_messages_fallback(tmp_path: Path) -> None:
    doc = traj()
    history = [
        *doc["history"],
        {"role": "assistant", "content": "look", "action": "ls -la"},
        {"role": "tool", "content": "a"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "done", "action": "submit"},
    ]
    p = tmp_path / "h.traj"
    p.write_text(json.dumps({"history": history}))
    s0, s1 = read_swe_agent(p).tasks[0].steps
    assert (s0.tool, s1.tool) == ("ls", "submit")
    assert s1.prompt[-1].tokens == estimate_tokens("a\nb")
    # no history: the first entry's messages give the initial prompt
    msgs = [{"role": "system", "content": "S" * 40}, {"role": "assistant", "content": "x"}]
    doc = {"trajectory": [{"action": "ls", "observation": "", "messages": msgs}]}
    p.write_text(json.dumps(doc))
    assert [x.tokens for x in read_swe_agent(p).tasks[0].steps[0].prompt] == [10]


def test_swe_agent_error_lines_point_at_the_value(tmp_path: Path) -> None:
    doc = traj()
    doc["trajectory"][2]["execution_time"] = True
    p = tmp_path / "x.traj"
    text = json.dumps(doc, indent=1)
    p.write_text(text)
    line = next(i for i, x in enumerate(text.splitlines(), 1) if '"execution_time": true' in x)
    with pytest.raises(TraceFormatError) as info:
        read_swe_agent(p)
    assert (info.value.line, info.value.field) == (line, "trajectory[2].execution_time")
    p.write_text(json.dumps([1, 2]))
    with pytest.raises(TraceFormatError, match=r"x\.traj:1: expected a JSON object"):
        read_swe_agent(p)


def test_tracelab_standin_reads_as_its_sessions(tmp_path: Path) -> None:
    """benchmarks/tracelab_standin.py writes TraceLab's format: the reader sees one task per
    session, one step per round with the round's input, and each round shares with the one
    before it the provider's cached prefix, less what falls inside a segment that cannot
    be cut (the shared system prompt, an output): exactly, but for a few cache misses."""
    import subprocess
    import sys

    out = tmp_path / "tl.jsonl"
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, str(root / "benchmarks" / "tracelab_standin.py"), str(out),
                    "--sessions", "12", "--seed", "3"], check=True, capture_output=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    w = read_tracelab(out)
    assert len(w.tasks) == len({r["session_id"] for r in rows}) == 12
    assert sum(len(t.steps) for t in w.tasks) == len(rows)
    assert {t.agent_type for t in w.tasks} <= {"claude", "codex"}
    by_round = {(r["session_id"], r["round_index"]): r for r in rows}
    exact = later = 0
    for t in w.tasks:
        for s in t.steps[1:]:
            r = by_round[(t.id, s.index)]
            assert s.prompt_tokens == r["input_tokens_total"]
            shared = shared_prefix_tokens(t.steps[s.index - 1].prompt, s.prompt)
            assert shared <= r["prefix_tokens"]
            exact += shared == r["prefix_tokens"]
            later += 1
    assert exact >= 0.9 * later
