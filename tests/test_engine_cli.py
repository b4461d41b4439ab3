"""``sagacore cost``, run through :func:`sagacore.cli.main`."""

from __future__ import annotations

import json

import pytest

from sagacore import cli
from sagacore.engine import CostModel


def test_cost_is_registered() -> None:
    assert "sagacore.cli.cost" in cli.COMMAND_MODULES


def test_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cost", "--model", "llama-3-8b", "--gpu", "a100-80gb"]) == 0
    out = capsys.readouterr().out
    for key in ("kv_bytes_per_token", "kv_capacity_tokens", "prefill_seconds"):
        assert key in out
    assert "decode_step_seconds" in out
    assert "131072" in out


def test_json_output_matches_the_api(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["cost", "--model", "llama-3-70b", "--gpu", "h100-80gb", "--tp", "4", "--json"]
    argv += ["--prompt-tokens", "1000", "--batch", "16", "--context", "3000"]
    assert cli.main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {
        "model",
        "gpu",
        "tp",
        "prompt_tokens",
        "batch",
        "context",
        "kv_bytes_per_token",
        "kv_capacity_tokens",
        "prefill_seconds",
        "decode_step_seconds",
    }
    cost = CostModel.from_presets("llama-3-70b", "h100-80gb", 4)
    assert data["model"] == "llama-3-70b" and data["gpu"] == "h100-80gb" and data["tp"] == 4
    assert (data["prompt_tokens"], data["batch"], data["context"]) == (1000, 16, 3000)
    assert data["kv_bytes_per_token"] == cost.kv_bytes_per_token() == 327680
    assert data["kv_capacity_tokens"] == cost.kv_capacity_tokens()
    assert data["prefill_seconds"] == cost.prefill_seconds(1000)
    assert data["decode_step_seconds"] == cost.decode_step_seconds(16, 16 * 3000)


def test_json_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cost", "--model", "qwen2.5-7b", "--gpu", "h200", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["tp"], data["prompt_tokens"], data["batch"], data["context"]) == (
        1,
        2048,
        32,
        2048,
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "gpt-9", "--gpu", "h200"], "error: unknown model 'gpt-9'; known: "),
        (["--model", "llama-3-8b", "--gpu", "tpu"], "error: unknown GPU 'tpu'; known: "),
        (
            ["--model", "llama-3-8b", "--gpu", "h200", "--tp", "3"],
            "error: tp=3 does not divide the 32 attention heads of llama-3-8b",
        ),
        (
            ["--model", "llama-3-8b", "--gpu", "h200", "--tp", "0"],
            "error: argument --tp: expected an integer in [1, 64], got '0'",
        ),
        (
            ["--model", "llama-3-8b", "--gpu", "h200", "--prompt-tokens", "-5"],
            "error: argument --prompt-tokens: expected an integer in [0, 1099511627776], "
            "got '-5'",
        ),
        (
            ["--model", "llama-3-8b", "--gpu", "h200", "--batch", "-1"],
            "error: argument --batch: expected an integer in [0, 1000000], got '-1'",
        ),
        (
            ["--model", "llama-3-8b", "--gpu", "h200", "--context", "-2"],
            "error: argument --context: expected an integer in [0, 1099511627776], got '-2'",
        ),
        (
            ["--model", "llama-3-70b", "--gpu", "a100-80gb"],
            "error: llama-3-70b does not fit on 1 x a100-80gb",
        ),
    ],
)
def test_bad_input_is_one_error_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = cli.main(["cost", *argv])
    except SystemExit as exc:  # refused by the argument parser
        code = exc.code
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(message)


def test_non_integer_tp_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["cost", "--model", "llama-3-8b", "--gpu", "h200", "--tp", "two"])
    assert exc.value.code == 2
    assert "error: argument --tp: expected an integer in [1, 64], got 'two'" in (
        capsys.readouterr().err
    )
