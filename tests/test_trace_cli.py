"""``sagacore trace convert`` then ``trace stats``: the native file says what the original says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagacore.cli import main
from sagacore.workload.native import read_native
from sagacore.workload.readers import read_workload
from sagacore.workload.stats import trace_stats

REAL = [
    "mini-swe-agent/steps.csv",
    "swe-agent",
    "tracelab/round_trace.sanitized.example.jsonl",
    "azure-llm-2023/AzureLLMInferenceTrace_code.csv",
]


def stats_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["trace", "stats", *args, "--json"]) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


@pytest.mark.parametrize("rel", REAL)
def test_convert_then_stats_agree(
    shared_data: Path, tmp_path: Path, rel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = shared_data / rel
    out, again = tmp_path / "w.jsonl", tmp_path / "again.jsonl"
    original = read_workload(src)
    assert main(["trace", "convert", str(src), "-o", str(out)]) == 0
    message = capsys.readouterr().err
    assert message == f"wrote {out}: {len(original)} tasks, {original.llm_calls} LLM calls\n"
    converted = stats_json(capsys, str(out))
    assert converted == json.loads(json.dumps(trace_stats(original).to_json()))
    assert converted["tasks"] == len(original) and converted["llm_calls"] == original.llm_calls
    if rel != REAL[0]:  # exactness and idempotency (the large trace: by the property tests)
        assert read_native(out) == original
        assert main(["trace", "convert", str(out), "-o", str(again), "--format", "native"]) == 0
        assert again.read_bytes() == out.read_bytes()


def test_format_option_overrides_detection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "trace.log"  # a name that says nothing
    path.write_text('{"timestamp": 0, "input_length": 10, "output_length": 2, "hash_ids": []}\n')
    assert stats_json(capsys, str(path))["tasks"] == 1  # detected from the content
    assert main(["trace", "stats", str(path), "--format", "azure"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {path}:1: missing column(s) TIMESTAMP")
