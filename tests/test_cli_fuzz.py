"""Fuzz the command line through real subprocesses (issue 15's promise).

Every command that reads a trace gets a malformed file (a valid file of some format
with one mutation: a value swapped for a wrong type, a huge or negative number, a
broken or dropped line, stray bytes) and flags drawn from good and bad values. Whatever
happens, the process must either exit 0 with a valid result (``--json`` output parses)
or exit 2 with exactly one ``error:`` line on stderr (its last line); never a
traceback, never exit 1 (a bug), never a hang past the time limit.

Bounded for CI: a few examples (each one subprocess, about 30 s in all), derandomized
by the ``ci`` profile; ``SAGACORE_FUZZ_EXAMPLES=200`` (with
``HYPOTHESIS_PROFILE=nightly`` for fresh random draws) runs more.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TIME_LIMIT_S = 60.0
EXAMPLES = int(os.environ.get("SAGACORE_FUZZ_EXAMPLES", "14"))

NATIVE = (
    '{"format":"sagacore-workload","version":1,"name":"w","source":"","tenants":[]}\n'
    '{"id":"t","tenant":"default","arrival_s":0.0,"agent_type":"a","steps":[{"append":'
    '[[1,100]],"output_tokens":3,"output_id":2,"tool":"bash","tool_seconds":0.5},'
    '{"prefix":[0,2],"append":[[3,40]],"output_tokens":5,"output_id":4,"deps":[0]}]}\n'
    '{"id":"u","tenant":"default","arrival_s":1.5,"agent_type":"a","steps":[{"append":'
    '[[1,100],[5,20]],"output_tokens":7,"output_id":6}]}\n'
)
MOONCAKE = (
    '{"timestamp": 0, "input_length": 600, "output_length": 5, "hash_ids": [0, 1]}\n'
    '{"timestamp": 500, "input_length": 1100, "output_length": 9, "hash_ids": [0, 1, 2]}\n'
    '{"timestamp": 900, "input_length": 300, "output_length": 2, "hash_ids": [3]}\n'
)
STEPS = (
    "instance_id,step,prompt_tokens,completion_tokens,tool_duration_s\n"
    "a,0,100,10,0.5\na,1,150,5,1.0\na,2,230,7,\nb,0,90,3,0.2\nb,1,120,4,\n"
)
TRACELAB = (
    '{"provider": "claude", "session_id": "s", "round_index": 0, "input_tokens_total": 100,'
    ' "prefix_tokens": 60, "output_tokens": 5, "tools": [{"tool_name": "Bash",'
    ' "tool_wall_latency_ms": 800}]}\n'
    '{"provider": "claude", "session_id": "s", "round_index": 1, "input_tokens_total": 180,'
    ' "prefix_tokens": 100, "output_tokens": 9}\n'
)
AZURE = (
    "TIMESTAMP,ContextTokens,GeneratedTokens\n"
    "2023-11-16 18:17:03.9799600,4808,10\n2023-11-16 18:17:04.0319600,3180,8\n"
)
FILES = {
    "w.jsonl": NATIVE,
    "m.jsonl": MOONCAKE,
    "s.csv": STEPS,
    "t.jsonl": TRACELAB,
    "a.csv": AZURE,
}

WEIRD_JSON = [
    '"12"', "-1", "0", "1e30", "12.5", "null", "true", "[]", "{}", str(2**63), str(2**40 + 1),
    '"x"', "NaN", "-0.0",
]
WEIRD_TEXT = ["x", "-1", "0", "1e30", "12.5", "", str(2**63), "nan", "inf", " 7 ", '"']


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str]:
    """A file name and the text of a valid trace with one mutation."""
    name = draw(st.sampled_from(sorted(FILES)))
    lines = FILES[name].splitlines(keepends=True)
    kind = draw(st.sampled_from(["value", "value", "drop", "break", "bytes", "dup", "empty"]))
    k = draw(st.integers(0 if name.endswith("jsonl") and name != "w.jsonl" else 1,
                         len(lines) - 1))
    if kind == "drop":
        del lines[k]
    elif kind == "dup":
        lines.insert(k, lines[k])
    elif kind == "break":
        cut = draw(st.integers(1, max(1, len(lines[k]) - 2)))
        lines[k] = lines[k][:cut] + "\n"
    elif kind == "bytes":
        lines[k] = lines[k][:3] + draw(st.sampled_from(["\x00", "\ufffd", ",,,", "}", "\\"])) \
            + lines[k][3:]
    elif kind == "empty":
        lines = lines[:1] if draw(st.booleans()) else []
    else:  # replace one value
        line = lines[k]
        if name.endswith(".csv"):
            cells = line.rstrip("\n").split(",")
            j = draw(st.integers(0, len(cells) - 1))
            cells[j] = draw(st.sampled_from(WEIRD_TEXT))
            lines[k] = ",".join(cells) + "\n"
        else:
            spots = [m.span() for m in re.finditer(r"-?\d+(?:\.\d+)?|\"[a-z_]*\"", line)]
            a, b = draw(st.sampled_from(spots))
            lines[k] = line[:a] + draw(st.sampled_from(WEIRD_JSON)) + line[b:]
    return name, "".join(lines)


FLAGS = {
    "--capacity-tokens": ["4096", "1", "0", "-3", "x", "1e9", str(2**70)],
    "--head": ["1", "2", "0", "-1", "x"],
    "--block-tokens": ["16", "1", "0", "-4"],
    "--on-bad-lines": ["error", "warn", "skip", "ignore"],
    "--exact-time-limit": ["5", "0", "-1", "nan", "inf"],
    "--exact-max-variables": ["100", "0", "-1"],
    "--seed": ["0", "3", "-1", "x"],
    "--rate": ["8", "0", "-2", "nan"],
    "--tasks": ["1", "0", "-5"],
    "--faults": ["lose:0@1s", "slow:0x2@0s-1s", "migrate-fail:0.5,seed:2", "slow:0x0@1s",
                 "lose:1@1s", "lose:0@", "crash:0", "slow:0x2@5s-1s", ",", "migrate-fail:2"],
}

COMMANDS: list[tuple[list[str], list[str], bool]] = [
    # (argv before the path, flags that apply, prints JSON with --json)
    (["trace", "stats"], ["--on-bad-lines"], True),
    (["trace", "convert", "-o", "-"], ["--on-bad-lines"], False),
    (["cache", "replay"], ["--capacity-tokens", "--head", "--block-tokens", "--on-bad-lines"],
     True),
    (["cache", "table", "--policies", "lru,next-use"],
     ["--capacity-tokens", "--head", "--on-bad-lines"], True),
    (["bound", "--method", "belady"], ["--capacity-tokens", "--head", "--on-bad-lines"], True),
    (["bound", "--method", "exact"],
     ["--capacity-tokens", "--head", "--exact-time-limit", "--exact-max-variables"], True),
    (["simulate", "--stack", "vllm", "--gpus", "8", "--tp", "8", "--model", "llama-3-8b",
      "--workload"], ["--seed", "--rate", "--tasks", "--on-bad-lines", "--faults"], False),
    (["generate", "webarena", "--tasks", "3", "-o", "-", "--arrivals"], ["--seed", "--rate"],
     False),
]


@st.composite
def invocations(draw: st.DrawFn) -> tuple[list[str], list[str], bool, str, str]:
    head, allowed, has_json = draw(st.sampled_from(COMMANDS))
    chosen = draw(st.lists(st.sampled_from(allowed), unique=True, max_size=3))
    flags: list[str] = []
    for f in chosen:
        flags += [f, draw(st.sampled_from(FLAGS[f]))]
    if "--capacity-tokens" in allowed and "--capacity-tokens" not in chosen:
        flags += ["--capacity-tokens", "4096"]
    use_json = has_json and draw(st.booleans())
    if use_json:
        flags.append("--json")
    name, text = draw(mutated())
    return head, flags, use_json, name, text


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inv=invocations())
def test_cli_survives_malformed_input(inv: tuple[list[str], list[str], bool, str, str]) -> None:
    head, flags, use_json, name, text = inv
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        target = f"replay:{path}" if head[-1] == "--arrivals" else str(path)
        argv = [*head, target, *flags]
        r = subprocess.run(
            [sys.executable, "-m", "sagacore", *argv],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=TIME_LIMIT_S,
        )
    assert "Traceback" not in r.stderr, (argv, r.stderr)
    assert r.returncode in (0, 2), (argv, r.returncode, r.stderr)
    errors = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    if r.returncode == 2:
        assert len(errors) == 1, (argv, r.stderr)
        assert r.stderr.splitlines()[-1] == errors[0], (argv, r.stderr)
    else:
        assert errors == [], (argv, r.stderr)
        if use_json:
            json.loads(r.stdout)


FLAG_ONLY: list[tuple[list[str], dict[str, list[str]], bool]] = [
    # commands that read no trace: flags only
    (["cost", "--model", "llama-3-8b", "--gpu", "a100-80gb"],
     {"--tp": ["1", "2", "0", "3", "x", str(2**64)], "--batch": ["0", "32", "-1", "1e3"],
      "--context": ["0", "2048", "-2", str(2**41)],
      "--prompt-tokens": ["1", "nan", str(10**30)]}, True),
    (["cost"], {"--model": ["llama-3-8b", "nope", ""], "--gpu": ["h200", "x"]}, True),
    (["verify", "--list"], {"--proofs": ["/no/such", "."], "--jobs": ["0", "2", "x"]}, False),
    (["verify"], {"--jobs": ["0", "-1", "x"], "--proofs": ["/no/such"]}, False),
    (["cache", "policies"], {}, False),
    (["generate", "webarena", "-o", "-"],
     {"--tasks": ["1", "0", "x", str(10**9)], "--rate": ["8", "-1", "inf"],
      "--arrivals": ["poisson", "bursty", "replay:/no/such.csv", "replay:"]}, False),
]


@st.composite
def flag_invocations(draw: st.DrawFn) -> tuple[list[str], bool]:
    head, flags, has_json = draw(st.sampled_from(FLAG_ONLY))
    argv = list(head)
    for f in draw(st.lists(st.sampled_from(sorted(flags)), unique=True)) if flags else []:
        argv += [f, draw(st.sampled_from(flags[f]))]
    use_json = has_json and draw(st.booleans())
    return argv + (["--json"] if use_json else []), use_json


@settings(max_examples=max(4, EXAMPLES // 2), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(inv=flag_invocations())
def test_cli_survives_bad_flags(inv: tuple[list[str], bool]) -> None:
    argv, use_json = inv
    if argv[:1] == ["verify"] and "--proofs" not in argv:
        argv = [*argv, "--proofs", "/no/such"]  # never run the (slow) checkers here
    r = subprocess.run([sys.executable, "-m", "sagacore", *argv], capture_output=True,
                       text=True, errors="replace", timeout=TIME_LIMIT_S)
    assert "Traceback" not in r.stderr, (argv, r.stderr)
    assert r.returncode in (0, 2), (argv, r.returncode, r.stderr)
    errors = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    if r.returncode == 2:
        assert len(errors) == 1 and r.stderr.splitlines()[-1] == errors[0], (argv, r.stderr)
    elif use_json:
        json.loads(r.stdout)
