"""``sagacore cache``: replay JSON keys, the ratio table, errors."""

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


def test_replay_json_follows_the_mooncake_rule(
    mooncake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["cache", "replay", str(mooncake), "--policy", "lru", "--json"]
    assert main([*args, "--capacity-tokens", "100000"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"miss_cost_tokens", "hit_tokens", "hits", "misses"} <= set(out)
    # request 3 reuses blocks 0 and 1 (1024 tokens), request 4 block 2 (512 tokens)
    assert out["hit_tokens"] == 1024 + 512
    assert (out["hits"], out["misses"]) == (2, 2)
    assert out["miss_cost_tokens"] == 1024 + 600 + 1500 + 1000 - 1536
    # with room for one request only, the second evicts the first
    assert main([*args, "--capacity-tokens", "1100"]) == 0
    assert json.loads(capsys.readouterr().out)["hit_tokens"] == 512


def test_replay_text_and_errors(mooncake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "replay", str(mooncake), "--capacity-tokens", "4096"]) == 0
    assert "miss cost" in capsys.readouterr().out
    assert (
        main(["cache", "replay", str(mooncake), "--capacity-tokens", "9", "--policy", "nope"]) == 2
    )
    assert "unknown cache policy" in capsys.readouterr().err
    assert main(["cache", "policies"]) == 0
    assert "next-use" in capsys.readouterr().out


def test_table(mooncake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "cache",
        "table",
        str(mooncake),
        "--capacity-tokens",
        "1024,4096",
        "--policies",
        "lru,next-use",
    ]
    assert main([*args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["capacity_tokens"] for r in rows] == [1024, 4096]
    for r in rows:
        assert r["foo_lower"] <= r["foo_upper"] + 1e-9
        for p in r["policies"].values():
            assert p["ratio"] >= 1 - 1e-9
    assert main(args) == 0
    text = capsys.readouterr().out
    assert text.startswith("| trace | capacity") and "next-use" in text
    assert main([*args[:-2], "--capacity-tokens", "x"]) == 2


def test_table_versus(mooncake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["cache", "table", str(mooncake), "--capacity-tokens", "1100,4096",
            "--policies", "lru,next-use,sagacore", "--versus", "lru"]
    assert main([*args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    for r in rows:
        p = r["policies"]
        assert "versus_ratio" not in p["lru"]
        for n in ("next-use", "sagacore"):
            assert p[n]["versus_ratio"] == pytest.approx(p[n]["cost_tokens"] / p["lru"]["cost_tokens"])
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("| next-use / lru | sagacore / lru |")
    assert len(lines[2].split("|")) == len(lines[0].split("|"))
    assert main([*args[:-1], "walru"]) == 2
    assert "--versus must be one of --policies" in capsys.readouterr().err
