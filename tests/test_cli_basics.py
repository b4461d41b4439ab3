"""The CLI's contract: subcommands, one-line errors with exit status 2, the default trace."""

from __future__ import annotations

import json

import pytest

from sagacore.cli import main


def test_default_trace_stats_reports_real_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "stats", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tasks"] == 198
    assert out["llm_calls"] == 15881
    assert 0.9 < out["reusable_prefix_fraction"] <= 1.0
    # the provider's own cache hits can never exceed what an unbounded cache could reuse
    # by more than the 64-token rounding of its accounting
    assert out["observed_cached_fraction"] <= out["reusable_prefix_fraction"] + 0.01


def test_missing_file_is_one_line_error(
    capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    assert main(["trace", "stats", "/nonexistent/trace.csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: /nonexistent/trace.csv") and err.count("\n") == 1


def test_unknown_subcommand_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err
