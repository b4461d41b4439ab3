"""The GPU check (gpu_check.sh, gpu_check/replay.py) on a CPU, against a stand-in server.

The GPU check itself needs a GPU; what it sends does not. gpu_check/standin.py stands in
for ``vllm serve`` (``DRY_RUN=1``): it parses the script's serve options with vLLM's own
parser and builds vLLM's engine configuration from them, and checks every request with
vLLM's request model. The driver must send token-id prompts whose history repeats the
tokens the server returned, the program metadata in the header and the body (parsed by
the plug-in's own parser), and report the figures the server gave; the whole script must
run through, once per server. The shipped model config must be one vLLM accepts.
They skip only when vLLM is not importable.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("vllm")

from sagacore_vllm.client import SESSION_HEADER, ProgramMetadata

web = pytest.importorskip("aiohttp.web")

HERE = Path(__file__).resolve().parent.parent
REPLAY = HERE / "gpu_check" / "replay.py"
STANDIN = HERE / "gpu_check" / "standin.py"


def _standin() -> Any:
    """gpu_check/standin.py, loaded from its file (gpu_check is not a package)."""
    spec = importlib.util.spec_from_file_location("gpu_check_standin", STANDIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _serve(server: Any) -> tuple[int, Any]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(server.app())
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    assert ready.wait(30)
    return port, loop


def test_the_driver_replays_agents_with_metadata_and_real_outputs(tmp_path: Path) -> None:
    """Against the dry run's stand-in, which checks every request with vLLM's own
    ``CompletionRequest`` (a key vLLM does not know is refused) and session lookup."""
    server = _standin().StandIn()
    port, loop = _serve(server)
    out = tmp_path / "run.json"
    try:
        proc = subprocess.run(
            [sys.executable, str(REPLAY), "--url", f"http://127.0.0.1:{port}", "--model", "m",
             "--label", "fake", "--workload", "swe-bench", "--max-steps", "4", "--tasks", "3",
             "--rate", "600",
             "--time-scale", "0.001", "--out", str(out)],
            capture_output=True, text=True, timeout=300, check=False,
        )
    finally:
        loop.call_soon_threadsafe(loop.stop)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["tasks"] == 3 and doc["calls"] == len(server.requests)
    by_program: dict[str, list[tuple[ProgramMetadata, list[int], list[int]]]] = {}
    for headers, body, answer in server.requests:
        meta = ProgramMetadata.parse("r", body["session_id"], body["vllm_xargs"])
        assert headers[SESSION_HEADER] == meta.program_id == body["session_id"]
        assert body["ignore_eos"] and body["min_tokens"] == body["max_tokens"] == len(answer)
        by_program.setdefault(meta.program_id, []).append((meta, body["prompt"], answer))
    assert len(by_program) == 3
    continued = 0
    for calls in by_program.values():
        calls.sort(key=lambda c: c[0].step or 0)
        assert [m.step for m, _, _ in calls] == list(range(len(calls)))
        assert [m.last for m, _, _ in calls] == [False] * (len(calls) - 1) + [True]
        for (_, p0, a0), (_, p1, _) in itertools.pairwise(calls):
            if p1[: len(p0) + len(a0)] == p0 + a0:
                continued += 1  # the history holds the tokens the server returned
    assert continued > 0
    assert doc["prefix_cache_queries"] == server.queries
    assert doc["prefix_cache_hits"] == server.hits > 0
    assert doc["cached_tokens_reported"] == server.hits
    table = subprocess.run([sys.executable, str(REPLAY), "summarize", str(out)],
                           capture_output=True, text=True, check=True).stdout
    assert table.splitlines()[2].startswith("| fake | 3 |")


def test_the_shipped_model_config_builds_in_vllm(tmp_path: Path) -> None:
    from vllm.config import ModelConfig

    config = json.loads((HERE / "gpu_check" / "tiny-llama" / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    model = ModelConfig(model=str(HERE / "gpu_check" / "tiny-llama"), skip_tokenizer_init=True,
                        max_model_len=16384)
    assert model.get_vocab_size() == 32000
    assert model.max_model_len == 16384


def test_the_check_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(HERE / "gpu_check.sh")], check=True)


def test_the_check_script_runs_through_in_a_dry_run(tmp_path: Path) -> None:
    """``DRY_RUN=1 gpu_check.sh`` as docs/vllm-plugin.md gives it: vLLM's own serve parser
    and engine configuration accept the script's options (the model config, the plug-in
    class resolved by vLLM, its settings and stack), then the driver replays through
    each stand-in server and the summary has a row per server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, DRY_RUN="1", STACKS="sagacore", TASKS="2", MAX_STEPS="3",
               RATE="600", TIME_SCALE="0.001", PORT=str(port), OUT=str(tmp_path),
               PYTHON=sys.executable, START_TIMEOUT="300")
    proc = subprocess.run(["bash", str(HERE / "gpu_check.sh")], env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "DRY RUN" in proc.stdout
    rows = (tmp_path / "summary.md").read_text().splitlines()[2:]
    assert sorted(r.split(" | ")[0] for r in rows) == ["| plugin-sagacore", "| vllm-apc"]
    plugin_log = (tmp_path / "plugin-sagacore.server.log").read_text()
    assert "scheduler sagacore_vllm.plugin.SagaAsyncScheduler" in plugin_log
    assert "stack sagacore: scheduler SagacoreScheduler" in plugin_log
    assert "refused" not in plugin_log
    assert "max_model_len 16384, vocabulary 32000" in plugin_log
    base_log = (tmp_path / "vllm-apc.server.log").read_text()
    assert "sagacore_vllm" not in base_log.split("scheduler ", 1)[1].split("\n", 1)[0]
    for label in ("vllm-apc", "plugin-sagacore"):
        doc = json.loads((tmp_path / f"{label}.json").read_text())
        assert doc["tasks"] == 2 and doc["calls"] == 6


def test_the_standin_refuses_what_vllm_would_not_read() -> None:
    """A misspelt key vLLM's ``CompletionRequest`` would accept and ignore (its models
    allow extra keys), and a program id the plug-in would not read back, are refused."""
    standin = _standin().StandIn()
    body = {"model": "m", "prompt": [5, 6, 7], "max_tokens": 2, "min_tokens": 2,
            "ignore_eos": True}
    standin.check(body, {})  # plain: accepted
    with pytest.raises(ValueError, match="sesion_id"):
        standin.check({**body, "sesion_id": "t"}, {})
    meta = ProgramMetadata("t-1", step=0)
    params, session = standin.check({**body, **meta.extra_body()}, meta.headers())
    assert session == "t-1" and params.extra_args["sagacore_step"] == 0


def test_the_driver_replays_task_parallel_graphs(tmp_path: Path) -> None:
    """DAG tasks (a planner, parallel branches with their tools, a join): each call is
    sent once every call it depends on has returned and that call's tool has ended, with
    its parents and each parent's measured tool time; a join's prompt repeats each
    branch's real answer; the task's last call sent, and only it, is flagged last."""
    from sagacore.workload.load import load_workload

    server = _standin().StandIn()
    port, loop = _serve(server)
    out = tmp_path / "run.json"
    scale = 0.001
    try:
        proc = subprocess.run(
            [sys.executable, str(REPLAY), "--url", f"http://127.0.0.1:{port}", "--model", "m",
             "--label", "dag", "--workload", "task-parallel", "--max-steps", "64",
             "--max-model-len", "65536",
             "--tasks", "3", "--rate", "600", "--time-scale", str(scale), "--out", str(out)],
            capture_output=True, text=True, timeout=300, check=False,
        )
    finally:
        loop.call_soon_threadsafe(loop.stop)
    assert proc.returncode == 0, proc.stderr
    w = load_workload("task-parallel", tasks=3, rate=600, seed=0)
    graphs = {str(t.id): t for t in w.tasks}
    assert any(not t.is_chain() for t in w.tasks)
    doc = json.loads(out.read_text())
    assert doc["tasks"] == 3 and doc["calls"] == len(server.requests) == sum(
        len(t.steps) for t in w.tasks)
    seen: dict[str, dict[int, tuple[int, list[int], list[int]]]] = {}
    lasts: dict[str, list[int]] = {}
    for order, (_, body, answer) in enumerate(server.requests):
        meta = ProgramMetadata.parse("r", body["session_id"], body["vllm_xargs"])
        task = graphs[meta.program_id]
        assert meta.step is not None
        step = task.steps[meta.step]
        assert meta.parents == step.deps
        assert meta.parent_tool_s is not None and len(meta.parent_tool_s) == len(step.deps)
        done = seen.setdefault(meta.program_id, {})
        for d, measured in zip(step.deps, meta.parent_tool_s, strict=True):
            assert d in done  # every parent returned before this call was sent
            assert measured >= task.steps[d].tool_seconds * scale * 0.99
            parent_answer = done[d][2]
            p = body["prompt"]
            assert any(p[i:i + len(parent_answer)] == parent_answer
                       for i in range(len(p) - len(parent_answer) + 1))
        done[meta.step] = (order, body["prompt"], answer)
        if meta.last:
            lasts.setdefault(meta.program_id, []).append(order)
    for pid, task in graphs.items():
        assert sorted(seen[pid]) == list(range(len(task.steps)))
        assert lasts[pid] == [max(o for o, _, _ in seen[pid].values())]
    joins = [t for t in w.tasks if len(t.steps[-1].deps) > 1]
    assert joins  # some task joins parallel branches
