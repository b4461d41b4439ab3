"""Every reader on the real traces in ../shared/data: counts checked against the files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sagacore.cli import main
from sagacore.workload.model import Task, Workload
from sagacore.workload.readers import detect_format, read_workload
from sagacore.workload.readers.mooncake import HASH_ID_OFFSET
from sagacore.workload.readers.swe_agent import read_swe_agent
from sagacore.workload.readers.tracelab import read_tracelab
from sagacore.workload.stats import trace_stats

AZURE_CODE = "azure-llm-2023/AzureLLMInferenceTrace_code.csv"
AZURE_CONV = "azure-llm-2023/AzureLLMInferenceTrace_conv.csv"
MOONCAKE = "mooncake/conversation_trace.jsonl"
STEPS = "mini-swe-agent/steps.csv"
SWE_AGENT = "swe-agent"
TRACELAB = "tracelab/round_trace.sanitized.example.jsonl"

_cache: dict[str, Workload] = {}


def load(shared_data: Path, rel: str) -> Workload:
    """Each real trace is read once per test session (some take a second)."""
    if rel not in _cache:
        _cache[rel] = read_workload(shared_data / rel)
    return _cache[rel]


@pytest.mark.parametrize(
    ("rel", "fmt"),
    [
        (AZURE_CODE, "azure"),
        (AZURE_CONV, "azure"),
        (MOONCAKE, "mooncake"),
        (STEPS, "steps-csv"),
        (SWE_AGENT, "swe-agent"),
        (TRACELAB, "tracelab"),
    ],
)
def test_detect_format_on_real_files(shared_data: Path, rel: str, fmt: str) -> None:
    assert detect_format(shared_data / rel) == fmt


def test_every_traj_file_is_detected(shared_data: Path) -> None:
    files = sorted((shared_data / SWE_AGENT).glob("*.traj"))
    assert len(files) == 22
    assert {detect_format(f) for f in files} == {"swe-agent"}


def test_steps_csv(shared_data: Path) -> None:
    w = load(shared_data, STEPS)
    assert (len(w), w.llm_calls) == (198, 15881)
    assert all(t.is_chain() for t in w)


@pytest.mark.parametrize(
    ("rel", "rows", "context", "generated", "last_s"),
    [
        # The files end without a newline, so `wc -l` shows one line fewer than there are
        # rows; csv and this reader count 8,819 and 19,366.
        (AZURE_CODE, 8819, 18059974, 245896, 3435.948056),
        (AZURE_CONV, 19366, 22361870, 4088665, 3501.721937),
    ],
)
def test_azure(
    shared_data: Path, rel: str, rows: int, context: int, generated: int, last_s: float
) -> None:
    w = load(shared_data, rel)
    with open(shared_data / rel, newline="") as f:
        assert sum(1 for _ in csv.DictReader(f)) == rows
    assert len(w) == w.llm_calls == rows
    steps = [t.steps[0] for t in w]
    assert sum(s.prompt_tokens for s in steps) == context  # no zero counts to round up
    assert sum(s.output_tokens for s in steps) == generated
    assert w.tasks[0].arrival_s == 0.0
    assert w.tasks[-1].arrival_s == pytest.approx(last_s, abs=1e-6)
    assert [t.id for t in w] == sorted(t.id for t in w)  # file order
    assert len({seg.id for s in steps for seg in s.prompt}) == rows  # nothing shared


def test_mooncake(shared_data: Path) -> None:
    w = load(shared_data, MOONCAKE)
    assert len(w) == w.llm_calls == 12031
    assert {t.agent_type for t in w} == {"mooncake"}
    steps = [t.steps[0] for t in w]
    assert sum(s.prompt_tokens for s in steps) == 144793823
    assert sum(s.output_tokens for s in steps) == 4122048
    assert w.tasks[-1].arrival_s == pytest.approx(3536.999)
    hashes = {seg.id for s in steps for seg in s.prompt if seg.id >= HASH_ID_OFFSET}
    assert len(hashes) == 182790
    # the first request's blocks: 13 full blocks of 512 and a last one of 6758 - 13 * 512
    first = json.loads((shared_data / MOONCAKE).open().readline())
    assert [s.tokens for s in w.tasks[0].steps[0].prompt] == [512] * 13 + [102]
    assert [s.id - HASH_ID_OFFSET for s in w.tasks[0].steps[0].prompt] == first["hash_ids"]
    st = trace_stats(w)
    assert 0.37 < st.reusable_prefix_fraction < 0.38


def test_swe_agent_directory(shared_data: Path) -> None:
    w = load(shared_data, SWE_AGENT)
    assert (len(w), w.llm_calls, w.tool_calls) == (22, 232, 232)
    with open(shared_data / SWE_AGENT / "per_file_stats.csv", newline="") as f:
        stats = {r["file"].removesuffix(".traj"): r for r in csv.DictReader(f)}
    for task in w:
        row = stats[task.id]
        assert task.is_chain() and task.agent_type == "swe-agent"
        if int(row["steps"]):  # one demonstration has a history and no trajectory
            assert task.llm_calls == int(row["steps"])
        assert sum(s.tool_seconds for s in task.steps) == pytest.approx(
            float(row["exec_time_sum_s"]), abs=0.006
        )
        if row["tokens_sent"] not in ("", "None", "0"):  # calibrated to the provider's totals
            sent = sum(s.prompt_tokens for s in task.steps)
            assert sent == pytest.approx(int(row["tokens_sent"]), rel=1e-3)
            received = sum(s.output_tokens for s in task.steps)
            assert received == pytest.approx(int(row["tokens_received"]), rel=5e-3)
    history_only = next(t for t in w if t.id.endswith("function_calling_simple"))
    assert [s.tool for s in history_only.steps] == ["find_file", "open", "edit", "python", "submit"]
    # the replays of one instance share their system prompt and issue: cross-task reuse
    assert trace_stats(w).reusable_prefix_fraction > 0.85


def test_swe_agent_single_file_equals_directory_task(shared_data: Path) -> None:
    path = next((shared_data / SWE_AGENT).glob("tests_*pydicom*.traj"))
    single = read_swe_agent(path)
    (task,) = single.tasks
    from_dir = next(t for t in load(shared_data, SWE_AGENT) if t.id == task.id)
    tokens = [(s.prompt_tokens, s.output_tokens, s.tool) for s in task.steps]
    assert tokens == [(s.prompt_tokens, s.output_tokens, s.tool) for s in from_dir.steps]
    uncalibrated = read_swe_agent(path, calibrate=False, chars_per_token=4.0).tasks[0]
    assert uncalibrated.llm_calls == task.llm_calls == 12


def test_tracelab(shared_data: Path) -> None:
    w = load(shared_data, TRACELAB)
    assert (len(w), w.llm_calls, w.tool_calls) == (2, 19, 14)
    rows = [json.loads(x) for x in (shared_data / TRACELAB).read_text().splitlines()]
    by_session: dict[str, Task] = {t.id: t for t in w}
    for r in rows:
        step = by_session[r["session_id"]].steps[r["round_index"]]
        assert step.prompt_tokens == r["input_tokens_total"]
        assert step.output_tokens == r["output_tokens"]
        assert step.observed_cached_tokens == r["prefix_tokens"]
        assert step.tool_seconds == pytest.approx(
            sum(t["tool_wall_latency_ms"] or 0 for t in r["tools"]) / 1000
        )
        assert step.tool == (r["tools"][0]["tool_name"] if r["tools"] else None)
    claude = by_session["claude:92ee5b8a-429c-e80b-5db6-5381512f4697"]
    # reported cache hits become exact shared prefixes: 27217 + 2163 = round 1's hit
    assert [s.tokens for s in claude.steps[0].prompt] == [27217, 2163, 2892]
    assert claude.steps[1].prompt[:2] == claude.steps[0].prompt[:2]
    assert {t.agent_type for t in w} == {"claude", "codex"}
    history = read_tracelab(shared_data / TRACELAB, reuse="history")
    assert trace_stats(history).reusable_prefix_fraction > trace_stats(w).reusable_prefix_fraction


@pytest.mark.parametrize("rel", [AZURE_CODE, SWE_AGENT, TRACELAB])
def test_cli_stats_on_real_traces(
    shared_data: Path, rel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trace", "stats", str(shared_data / rel), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    w = load(shared_data, rel)
    assert (out["tasks"], out["llm_calls"]) == (len(w), w.llm_calls)
