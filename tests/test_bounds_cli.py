"""``sagacore bound``: JSON keys, values against the library, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagacore.cli import main

TRACE = (
    '{"timestamp": 0, "input_length": 1024, "output_length": 5, "hash_ids": [0, 1]}\n'
    '{"timestamp": 10, "input_length": 600, "output_length": 5, "hash_ids": [2, 3]}\n'
    '{"timestamp": 20, "input_length": 1500, "output_length": 5, "hash_ids": [0, 1, 4]}\n'
    '{"timestamp": 30, "input_length": 1000, "output_length": 5, "hash_ids": [2, 5]}\n'
)


@pytest.fixture
def mooncake(tmp_path: Path) -> Path:
    p = tmp_path / "trace.jsonl"
    p.write_text(TRACE)
    return p


def test_bound_json_keys_and_chain(mooncake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bound", str(mooncake), "--capacity-tokens", "1024", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"foo_lower", "foo_upper", "belady", "exact", "solve_seconds"} <= set(out)
    # the Mooncake rule: 512-token blocks, the last capped at the input length
    assert out["lookup_tokens"] == 1024 + 600 + 1500 + 1000
    assert out["foo_lower"] <= out["exact"] + 1e-6 <= out["foo_upper"] + 1e-6
    assert out["exact"] <= out["belady"]
    # a cache smaller than a block reuses nothing; a large one everything but first uses
    assert main(["bound", str(mooncake), "--capacity-tokens", "1", "--json"]) == 0
    zero = json.loads(capsys.readouterr().out)
    assert zero["exact"] == zero["foo_upper"] == zero["lookup_tokens"]


def test_bound_methods_and_text(mooncake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["bound", str(mooncake), "--capacity-tokens", "4096", "--method", "belady", "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert (
        out["foo_lower"] is None
        and out["exact"] is None
        and out["belady"] == 1024 + 600 + 476 + 488
    )
    assert main(["bound", str(mooncake), "--capacity-tokens", "4096"]) == 0
    assert "FOO-L" in capsys.readouterr().out


def test_bound_exact_null_when_too_large(
    mooncake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["bound", str(mooncake), "--capacity-tokens", "1024", "--method", "exact", "--json"]
    assert main([*args, "--exact-max-variables", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["exact"] is None


def test_bound_errors(mooncake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:  # refused by the argument parser
        main(["bound", str(mooncake), "--capacity-tokens", "-5"])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("error: argument --capacity-tokens:")
    assert main(["bound", str(mooncake.parent / "missing.jsonl"), "--capacity-tokens", "5"]) == 2
