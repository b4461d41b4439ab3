"""The command line with sagacore stacks inside vLLM: ``--stack NAME`` on ``twin`` and
``fidelity``, through a real subprocess (what a user sees), and the module examples of the
plug-in and the metadata helper. They skip only when vLLM is not importable.
"""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("vllm")

_SMALL = ["--workload", "webarena", "--tasks", "4", "--rate", "60", "--instances", "1",
          "--model", "llama-3-8b", "--tp", "1", "--kv-tokens", "6000"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagacore_vllm.cli", *args],
        capture_output=True, text=True, timeout=600, env=dict(os.environ), check=False,
    )


def test_fidelity_of_a_stack_inside_vllm_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "fid.json"
    proc = _cli("fidelity", *_SMALL, "--stack", "saga", "--stack", "vllm-apc",
                "--pins", "hold", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "| saga (plug-in) | 4 |" in proc.stdout
    assert "| vllm-apc | 4 |" in proc.stdout
    assert "saga: router saga-affinity: work stealing off on both sides" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["stacks"]["saga"]["plugin"] is True
    assert doc["stacks"]["vllm-apc"]["plugin"] is False
    assert doc["stacks"]["saga"]["twin"]["tasks_completed"] == 4
    # pins held: nothing released; vLLM's LRU eviction (not WA-LRU) is modelled
    assert doc["stacks"]["saga"]["modelled"] == [
        "cache saga-ttl: vLLM evicts LRU, the simulator too (the policy decides retention)"]


def test_twin_runs_a_named_stack_and_refuses_an_unknown_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sagacore_vllm.cli import main

    assert main(["twin", *_SMALL, "--stack", "continuum"]) == 0
    out = capsys.readouterr().out
    assert "stack continuum inside vLLM through sagacore_vllm.plugin" in out
    assert "twin:plugin:continuum/session-affinity" in out
    with pytest.raises(SystemExit) as exc:
        main(["twin", *_SMALL, "--stack", "nope"])
    assert exc.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err


def test_module_examples() -> None:
    import sagacore_vllm.client as client
    import sagacore_vllm.plugin as plugin

    for module in (client, plugin):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_a_bug_is_reported_as_a_bug_not_an_input_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sagacore.errors import InvariantError
    from sagacore_vllm import cli

    def broken(args: object) -> int:
        raise InvariantError("KV blocks used 9 exceed capacity 8")

    monkeypatch.setattr(cli, "_check", broken)
    assert cli.main(["check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("internal error: InvariantError: KV blocks used 9")
    assert "Traceback" not in err and "file an issue" in err
