"""Regression tests of issue 15: every input a clean error, every ``--json`` pure JSON.

Each test runs the real ``sagacore`` in a subprocess where what the user sees matters
(stdout must parse as JSON even though HiGHS writes to file descriptor 1; stderr must
hold exactly one ``error:`` line).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sagacore.errors import InternalError, InvariantError, SagacoreError

REPO = Path(__file__).resolve().parent.parent
STEPS = "instance_id,step,prompt_tokens,completion_tokens\n"
NATIVE_HEADER = '{"format":"sagacore-workload","version":1,"name":"w","source":"","tenants":[]}\n'


def sagacore(*args: str, timeout: float = 120, cwd: Path | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagacore", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def assert_input_error(r: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, exactly one stderr line, starting with ``error:``, holding ``needles``."""
    lines = r.stderr.splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def mooncake(tmp_path: Path, *rows: str, name: str = "m.jsonl") -> Path:
    p = tmp_path / name
    p.write_text("".join(r + "\n" for r in rows))
    return p


GOOD_MOONCAKE = '{"timestamp": 0, "input_length": 600, "output_length": 5, "hash_ids": [0, 1]}'


def steps_csv(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "s.csv"
    p.write_text(STEPS + body)
    return p


# ---------------------------------------------------------------- --json is JSON


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve calls of the bundled trace: the solver runs, quickly."""
    src = (REPO / "sagacore/data/mini-swe-agent/steps.csv").read_text().splitlines()
    p = tmp_path_factory.mktemp("trace") / "small.csv"
    p.write_text("\n".join(src[:13]) + "\n")
    return p


@pytest.mark.parametrize(
    "args",
    [
        ["bound", "{t}", "--capacity-tokens", "20000", "--json"],  # --method all
        ["bound", "{t}", "--capacity-tokens", "20000", "--json", "--method", "foo"],
        ["cache", "table", "{t}", "--capacity-tokens", "5000,20000", "--json",
         "--policies", "lru"],
        ["cache", "replay", "{t}", "--capacity-tokens", "20000", "--json"],
        ["trace", "stats", "{t}", "--json"],
        ["cost", "--model", "llama-3-8b", "--gpu", "a100-80gb", "--json"],
    ],
    ids=["bound-all", "bound-foo", "cache-table", "cache-replay", "trace-stats", "cost"],
)
def test_json_stdout_is_pure_json(small_trace: Path, args: list[str]) -> None:
    r = sagacore(*[a.format(t=small_trace) for a in args])
    assert r.returncode == 0, r.stderr
    assert "HiGHS" not in r.stdout
    json.loads(r.stdout)  # the whole of stdout, nothing before or after


def test_verify_json_is_pure_json() -> None:
    r = sagacore("verify", "kv-closed-unit", "--json", "--no-smt", "--jobs", "1", cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["name"] == "kv-closed-unit"


def test_simulate_json_to_stdout(tmp_path: Path) -> None:
    r = sagacore("simulate", "--workload", "webarena", "--tasks", "3", "--stack", "vllm",
                 "--gpus", "8", "--tp", "8", "--model", "llama-3-8b", "--json", "-")
    assert r.returncode == 0, r.stderr
    assert set(json.loads(r.stdout)["stacks"]) == {"vllm"}
    assert "stack" in r.stderr  # the table went to stderr


# ---------------------------------------------------------------- hangs


def test_huge_prompt_is_refused_at_read(tmp_path: Path) -> None:
    p = mooncake(tmp_path, '{"timestamp": 0, "input_length": 1' + "0" * 30
                 + ', "output_length": 5, "hash_ids": [1]}')
    assert_input_error(sagacore("simulate", "--workload", str(p), "--stack", "vllm", timeout=60),
                       "input_length", "above the limit")


def test_call_beyond_kv_is_refused_before_work(tmp_path: Path) -> None:
    # 10**12 tokens: a valid count, but no instance holds it; refused before the
    # isolated-TCT pass (which would loop over 10**8 prefill chunks)
    p = mooncake(tmp_path, '{"timestamp": 0, "input_length": 1000000000000, '
                 '"output_length": 5, "hash_ids": [1]}')
    r = sagacore("simulate", "--workload", str(p), "--stack", "vllm", timeout=60)
    line = assert_input_error(r, "needs 1000000000005 tokens of KV")
    assert r.stdout == ""  # nothing started
    assert "--fit-cluster" in line  # the way out


def test_fit_cluster_leaves_out_what_cannot_run(tmp_path: Path) -> None:
    # the way out the error above names: the converted trace holds the rest, and runs
    p = mooncake(tmp_path, GOOD_MOONCAKE,
                 '{"timestamp": 1000, "input_length": 900000, "output_length": 5, '
                 '"hash_ids": [7]}',
                 '{"timestamp": 2000, "input_length": 600, "output_length": 9, '
                 '"hash_ids": [0, 1]}')
    out = tmp_path / "fit.jsonl"
    r = sagacore("trace", "convert", str(p), "-o", str(out), "--fit-cluster", "1:1:llama-3-8b:a100-80gb")
    assert r.returncode == 0, r.stderr
    left, wrote = r.stderr.splitlines()
    assert left.startswith("left out 1 of 3 tasks with a call larger than an instance's KV on "
                           "1:1:llama-3-8b:a100-80gb (")
    assert "900005 tokens" in left and wrote.startswith(f"wrote {out}: 2 tasks")
    r = sagacore("simulate", "--workload", str(out), "--stack", "vllm", "--cluster",
                 "1:1:llama-3-8b:a100-80gb", "--json", "-")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["stacks"]["vllm"]["tasks_completed"] == 2
    # nothing would be left: an error, and no file
    only = mooncake(tmp_path, '{"timestamp": 0, "input_length": 900000, "output_length": 5, '
                    '"hash_ids": [7]}', name="only.jsonl")
    r = sagacore("trace", "convert", str(only), "-o", str(tmp_path / "none.jsonl"),
                 "--fit-cluster", "1:1:llama-3-8b:a100-80gb")
    assert_input_error(r, "--fit-cluster: every task has a call larger", "nothing would be left")
    assert not (tmp_path / "none.jsonl").exists()
    # a bad cluster is refused before the trace is read
    r = sagacore("trace", "convert", str(tmp_path / "missing.jsonl"), "-o", str(out),
                 "--fit-cluster", "8:x:llama-3-8b:a100-80gb")
    assert_input_error(r, "GPUS and TP must be integers")


def test_huge_cluster_is_refused() -> None:
    assert_input_error(sagacore("simulate", "--gpus", "1000000000", timeout=60),
                       "250000000 instances", "at most")


# ---------------------------------------------------------------- tracebacks


@pytest.mark.parametrize("where", ["missing", "folder"])
def test_output_paths_checked_before_work(tmp_path: Path, small_trace: Path, where: str) -> None:
    out = str(tmp_path / "no" / "x.json") if where == "missing" else str(tmp_path)
    r = sagacore("simulate", "--json", out, "--tasks", "2", "--stack", "vllm")
    assert_input_error(r, "--json")
    assert r.stdout == ""  # refused before the simulation
    assert_input_error(sagacore("generate", "webarena", "--tasks", "2", "-o", out), "--output")
    assert_input_error(sagacore("trace", "convert", str(small_trace), "-o", out), "--output")


@pytest.mark.parametrize(
    "args, needle",
    [
        (["simulate", "--seed", "-1"], "--seed"),
        (["generate", "webarena", "--tasks", "2", "--seed", "-1", "-o", "-"], "--seed"),
        (["bound", "{t}", "--capacity-tokens", "9", "--exact-time-limit", "-1"],
         "--exact-time-limit"),
        (["bound", "{t}", "--capacity-tokens", "9", "--exact-time-limit", "nan"],
         "--exact-time-limit"),
        (["bound", "{t}", "--capacity-tokens", "9", "--exact-time-limit", "0"],
         "--exact-time-limit"),
        (["bound", "{t}", "--capacity-tokens", "9", "--exact-max-variables", "-1"],
         "--exact-max-variables"),
        (["bound", "{t}", "--capacity-tokens", "0"], "--capacity-tokens"),
        (["bound", "{t}", "--capacity-tokens", "9", "--head", "0"], "--head"),
        (["bound", "{t}", "--capacity-tokens", "9", "--head", "-1"], "--head"),
        (["cache", "replay", "{t}", "--capacity-tokens", "0"], "--capacity-tokens"),
        (["cache", "replay", "{t}", "--capacity-tokens", "9", "--block-tokens", "0"],
         "--block-tokens"),
        (["cache", "replay", "{t}", "--capacity-tokens", "9", "--head", "-1"], "--head"),
        (["cache", "table", "{t}", "--capacity-tokens", "0,5"], "--capacity-tokens"),
        (["cache", "replay", "{t}", "--capacity-tokens", "x"], "--capacity-tokens"),
        (["simulate", "--rate", "nan"], "--rate"),
        (["simulate", "--tasks", "0"], "--tasks"),
        (["simulate", "--peak", "2"], "--peak"),
        (["verify", "--jobs", "0"], "--jobs"),
        (["simulate", "--workload", "webarena", "--tasks", "1000000000"], "--tasks"),
        (["generate", "webarena", "--tasks", "1000000000", "-o", "-"], "--tasks"),
        (["cost", "--model", "llama-3-8b", "--gpu", "a100-80gb", "--batch", str(10**21)],
         "--batch"),
    ],
)
def test_bad_flags_are_one_line_naming_the_flag(
    small_trace: Path, args: list[str], needle: str
) -> None:
    line = assert_input_error(sagacore(*[a.format(t=small_trace) for a in args], timeout=60),
                              needle)
    assert "ReplayConfig" not in line and "usage:" not in line


def test_argparse_errors_have_no_usage_block() -> None:
    r = sagacore("bound")
    assert_input_error(r, "--capacity-tokens")
    r = sagacore("nosuchcommand")
    assert_input_error(r, "nosuchcommand")


def test_token_counts_beyond_int64_are_refused(tmp_path: Path) -> None:
    big = str(2**63)
    p = tmp_path / "w.jsonl"
    p.write_text(NATIVE_HEADER + '{"id":"t","tenant":"d","arrival_s":0,"steps":[{"append":[[1,'
                 + big + ']],"output_tokens":3,"output_id":2}]}\n')
    assert_input_error(sagacore("bound", str(p), "--capacity-tokens", "9"), "append[0]")
    csv = steps_csv(tmp_path, f"a,0,{big},1\n")
    assert_input_error(sagacore("bound", str(csv), "--capacity-tokens", "9"), "prompt_tokens")


def test_cache_trace_refuses_sizes_that_overflow() -> None:
    from sagacore.bounds.trace import CacheTrace
    from sagacore.errors import WorkloadError
    from sagacore.workload.model import Segment

    seg = Segment(1, 2**63)
    with pytest.raises(WorkloadError, match="exceed"):
        CacheTrace.from_segments([((seg,), (seg,), 0.0)])


# ---------------------------------------------------------------- silent accepts


@pytest.mark.parametrize(
    "name, text, field",
    [
        ("m.jsonl", '{"timestamp": 0, "input_length": "600", "output_length": 5, '
         '"hash_ids": [0, 1]}\n', "input_length"),
        ("m.jsonl", '{"timestamp": "0", "input_length": 600, "output_length": 5, '
         '"hash_ids": [0, 1]}\n', "timestamp"),
        ("m.jsonl", '{"timestamp": 0, "input_length": 1e30, "output_length": 5, '
         '"hash_ids": [0, 1]}\n', "input_length"),
        ("t.jsonl", '{"provider": "claude", "session_id": "s", "round_index": 0, '
         '"input_tokens_total": "100", "output_tokens": 5}\n', "input_tokens_total"),
        ("w.jsonl", NATIVE_HEADER + '{"id":"t","tenant":"d","arrival_s":"0","steps":'
         '[{"append":[[1,10]],"output_tokens":3,"output_id":2}]}\n', "arrival_s"),
        ("w.jsonl", NATIVE_HEADER + '{"id":"t","tenant":"d","arrival_s":0,"steps":'
         '[{"append":[[1,10]],"output_tokens":"3","output_id":2}]}\n', "output_tokens"),
        # one segment id with two token counts (docs: equal ids mean equal tokens)
        ("w.jsonl", NATIVE_HEADER + '{"id":"t","tenant":"d","arrival_s":0,"steps":'
         '[{"append":[[1,10]],"output_tokens":3,"output_id":2}]}\n'
         '{"id":"u","tenant":"d","arrival_s":0,"steps":'
         '[{"append":[[1,11]],"output_tokens":3,"output_id":4}]}\n', "steps[0].append[0]"),
    ],
    ids=["mooncake-string", "mooncake-string-time", "mooncake-1e30", "tracelab-string",
         "native-string-time", "native-string-tokens", "native-segment-reuse"],
)
def test_silent_accepts_are_refused(tmp_path: Path, name: str, text: str, field: str) -> None:
    p = tmp_path / name
    p.write_text(text)
    assert_input_error(sagacore("trace", "stats", str(p)), f"field {field}")


def test_simulate_on_a_file_without_tasks(tmp_path: Path) -> None:
    p = tmp_path / "w.jsonl"
    p.write_text(NATIVE_HEADER)
    assert_input_error(sagacore("simulate", "--workload", str(p)), "no tasks")


# ---------------------------------------------------------------- bugs are not input errors


def test_invariant_errors_are_bugs_not_input_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert issubclass(InvariantError, InternalError)
    assert not issubclass(InvariantError, SagacoreError)
    from sagacore import cli
    from sagacore.cli import cost

    def broken(args: object) -> int:
        raise InvariantError("worker 3 holds -5 blocks")

    monkeypatch.setattr(cost, "_run", broken)
    assert cli.main(["cost", "--model", "llama-3-8b", "--gpu", "a100-80gb"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("internal error: InvariantError: worker 3 holds -5 blocks\n")
    assert "not a problem with your input" in err and "file an issue" in err
    assert "error: " not in err.splitlines()[0][:7]  # not reported as an input error

    def crash(args: object) -> int:
        raise TypeError("oops")

    monkeypatch.setattr(cost, "_run", crash)
    assert cli.main(["cost", "--model", "llama-3-8b", "--gpu", "a100-80gb"]) == 1
    assert capsys.readouterr().err.startswith("unexpected error: TypeError: oops\n")


# ---------------------------------------------------------------- messy traces


def test_on_bad_lines_steps_csv(tmp_path: Path) -> None:
    # task a: step 1 has a bad count, so it is dropped and a's chain closes over it
    p = steps_csv(tmp_path, "a,0,100,5\na,1,x,5\na,2,300,5\nb,0,50,0\n")
    assert_input_error(sagacore("trace", "convert", str(p), "-o", "-", "--on-bad-lines", "error"),
                       f"{p}:3: field prompt_tokens")
    r = sagacore("trace", "convert", str(p), "-o", "-", "--on-bad-lines", "warn")
    assert r.returncode == 0, r.stderr
    warn, count = r.stderr.splitlines()
    assert warn == f"warning: skipped {p}:3: field prompt_tokens: expected an integer, found 'x'"
    assert count.startswith(f"{p}: skipped 1 invalid line")
    lines = [json.loads(x) for x in r.stdout.splitlines()[1:]]
    a, b = lines
    assert len(a["steps"]) == 2 and a["steps"][1]["deps"] == [0]
    assert sum(n for _, n in a["steps"][1]["append"]) == 300 - 105  # grows from step 0
    assert b["steps"][0]["output_tokens"] == 1  # a zero count is read as 1
    r = sagacore("trace", "convert", str(p), "-o", "-", "--on-bad-lines", "skip")
    assert r.returncode == 0 and r.stderr.splitlines() == [count]


@pytest.mark.parametrize("cmd", [
    ["trace", "stats"], ["simulate", "--stack", "vllm", "--workload"],
    ["cache", "replay", "--capacity-tokens", "2048"], ["bound", "--capacity-tokens", "2048"],
])
def test_on_bad_lines_on_every_trace_command(tmp_path: Path, cmd: list[str]) -> None:
    p = mooncake(tmp_path, GOOD_MOONCAKE, "{broken", GOOD_MOONCAKE.replace("600", "-1"),
                 GOOD_MOONCAKE.replace("[0, 1]", "[0, 2]"))
    if cmd[0] == "simulate":
        args = [*cmd, str(p), "--gpus", "8", "--tp", "8", "--model", "llama-3-8b"]
    elif cmd[0] == "bound":
        args = ["bound", str(p), *cmd[1:]]
    else:
        args = [*cmd[:2], str(p), *cmd[2:]]
    # error (the default): the first bad line; trace stats lists them all
    assert_input_error(sagacore(*args), "2 invalid lines" if cmd[0] == "trace" else f"{p}:2")
    r = sagacore(*args, "--on-bad-lines", "warn")
    assert r.returncode == 0, r.stderr
    warnings = [x for x in r.stderr.splitlines() if x.startswith("warning:")]
    assert [w.split(": ")[1].rsplit(":", 1)[1] for w in warnings] == ["2", "3"]
    assert f"{p}: skipped 2 invalid lines" in r.stderr
    r = sagacore(*args, "--on-bad-lines", "skip")
    assert r.returncode == 0 and "warning:" not in r.stderr
    assert f"{p}: skipped 2 invalid lines" in r.stderr


def test_trace_stats_reports_every_problem_class(tmp_path: Path) -> None:
    p = steps_csv(tmp_path, "a,0,100,5\na,1,-1,5\na,2,x,5\nb,0,y,5\nc,0,10,5\nc,2,20,5\n")
    line = assert_input_error(sagacore("trace", "stats", str(p)))
    assert "4 invalid lines in 3 classes" in line
    assert "2 x field prompt_tokens: expected an integer, found _ (first on line 4)" in line
    assert "negative value -1" in line and "missing step before step 2" in line
    r = sagacore("trace", "stats", str(p), "--json", "--on-bad-lines", "skip")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert sorted(x["count"] for x in doc["problems"]) == [1, 2]
    assert doc["tasks"] == 2  # every row of task b was invalid


# ---------------------------------------------------------------- usability


def test_help_texts_have_no_sphinx_markup() -> None:
    from sagacore.cli import build_parser

    parser = build_parser()
    stack = [parser]
    texts = []
    while stack:
        p = stack.pop()
        texts.append(p.format_help())
        for action in p._actions:
            if hasattr(action, "choices") and isinstance(action.choices, dict):
                stack.extend(action.choices.values())
    assert len(texts) > 10
    for text in texts:
        assert ":data:`" not in text and ":class:`" not in text and "``" not in text, text


def test_cli_does_not_import_cvxpy_for_light_commands() -> None:
    code = (
        "import sys, sagacore.cli as c; p = c.build_parser(); "
        "p.parse_args(['simulate']); p.parse_args(['trace', 'stats']); "
        "from sagacore.cli import simulate, trace, generate; "
        "assert 'cvxpy' not in sys.modules, 'cvxpy imported'"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_verify_without_hypothesis_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['hypothesis'] = None; from sagacore.cli import main; "
        "raise SystemExit(main(['verify', '--list']))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, cwd=REPO)
    assert_input_error(r, "pip install 'sagacore[test]'")


def test_progress_bar_only_on_a_terminal() -> None:
    import io

    from sagacore.cli._progress import Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    bar = Progress("run", tty)
    bar.t0 -= 10  # as if it had run for 10 s
    bar(3, 4)
    assert "3/4 tasks" in tty.getvalue()
    bar.close()
    assert tty.getvalue().endswith("\r")
    quiet = Tty()
    bar = Progress("run", quiet, quiet=True)
    bar.t0 -= 10
    bar(3, 4)
    assert quiet.getvalue() == ""
    pipe = io.StringIO()
    bar = Progress("run", pipe)
    bar.t0 -= 10
    bar(3, 4)
    assert pipe.getvalue() == ""


def test_quiet_flag_on_long_commands() -> None:
    env = dict(os.environ)
    for args in (["simulate", "--quiet", "--help"], ["cache", "table", "--help"],
                 ["verify", "--help"]):
        r = sagacore(*args, env=env)
        assert r.returncode == 0 and "--quiet" in r.stdout


def test_isolated_time_refuses_a_call_beyond_kv_before_pricing_it() -> None:
    # 2**40 prompt tokens would take 10**8 prefill chunks to price; refused at once
    from sagacore.errors import ConfigError
    from sagacore.sim import simulate
    from sagacore.sim.config import ClusterConfig
    from sagacore.workload.model import Segment, Step, Task, TaskId, Workload

    w = Workload((Task(TaskId("t"), (Step(0, (Segment(1, 2**40),), 5, 2),)),))
    cluster = ClusterConfig.from_gpus(8, tp=8, model="llama-3-8b", gpu="a100-80gb")
    with pytest.raises(ConfigError, match="needs 1099511627781 tokens of KV"):
        simulate(w, "vllm", cluster)
    with pytest.raises(ConfigError, match="needs 1099511627781 tokens of KV"):
        cluster.check_fits(w)


def test_solvers_write_nothing_to_stdout() -> None:
    # HiGHS prints its banner to file descriptor 1 at the first Highs() of a process
    # (verify's checker processes included); the bounds swallow it and log nothing
    code = (
        "from sagacore.bounds import CacheTrace, exact_ip, foo_bounds\n"
        "tr = CacheTrace.from_paths([[(1, 2), (2, 2)], [(3, 2)], [(1, 2), (2, 2)]])\n"
        "foo_bounds(tr, 3); exact_ip(tr, 3, time_limit_s=10.0); print('{}')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "{}\n"


@pytest.mark.parametrize(
    "name, good, bad, unit_tasks",
    [
        ("a.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9,4808,10\n"
         "2023-11-16 18:17:04.0,3180,8\n", "2023-11-16 18:17:05.0,-3,8\n", 2),
        ("t.jsonl", '{"provider": "c", "session_id": "s", "round_index": 0, '
         '"input_tokens_total": 100, "output_tokens": 5}\n{"provider": "c", "session_id": "s", '
         '"round_index": 2, "input_tokens_total": 180, "output_tokens": 5}\n',
         '{"provider": "c", "session_id": "s", "round_index": 1, '
         '"input_tokens_total": "140", "output_tokens": 5}\n', 1),
        ("w.jsonl", NATIVE_HEADER + '{"id":"t","tenant":"d","arrival_s":0,"steps":'
         '[{"append":[[1,10]],"output_tokens":3,"output_id":2}]}\n',
         '{"id":"u","tenant":"d","arrival_s":0,"steps":[{"append":[[1,10]],'
         '"output_tokens":-3,"output_id":4}]}\n', 1),
    ],
    ids=["azure", "tracelab", "native"],
)
def test_on_bad_lines_per_format(
    tmp_path: Path, name: str, good: str, bad: str, unit_tasks: int
) -> None:
    p = tmp_path / name
    p.write_text(good + bad)
    assert_input_error(sagacore("trace", "convert", str(p), "-o", "-"), f"{p}:")
    r = sagacore("trace", "convert", str(p), "-o", "-", "--on-bad-lines", "warn")
    assert r.returncode == 0, r.stderr
    warn, count = r.stderr.splitlines()
    assert warn.startswith(f"warning: skipped {p}:") and "field " in warn
    assert count.startswith(f"{p}: skipped 1 invalid line")
    tasks = [json.loads(x) for x in r.stdout.splitlines()[1:]]
    assert len(tasks) == unit_tasks
    if name == "t.jsonl":  # round 1 dropped: round 2 follows round 0 directly
        assert [s.get("deps", []) for s in tasks[0]["steps"]] == [[], [0]]
