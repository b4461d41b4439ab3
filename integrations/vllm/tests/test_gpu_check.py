"""The GPU check's driver (gpu_check/replay.py) against a stand-in server, on a CPU.

The GPU check itself needs a GPU; what it sends does not. A small aiohttp server stands in
for ``vllm serve``'s ``/v1/completions`` and ``/metrics`` and records every request: the
driver must send token-id prompts whose history repeats the tokens the server returned,
the program metadata in the header and the body (parsed by the plug-in's own parser), and
report the figures the server gave. The shipped model config must be one vLLM accepts.
They skip only when vLLM is not importable.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
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


class _Server:
    """``/v1/completions`` with random output tokens, cached-prefix accounting, ``/metrics``."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any], list[int]]] = []
        self.seen: list[list[int]] = []
        self.queries = 0
        self.hits = 0
        self.rng = random.Random(0)

    async def completions(self, request: Any) -> Any:
        body = await request.json()
        prompt = list(body["prompt"])
        best = 0
        for old in self.seen:
            n = 0
            for a, b in zip(old, prompt, strict=False):
                if a != b:
                    break
                n += 1
            best = max(best, n)
        cached = min(best, len(prompt) - 1) // 16 * 16
        out = [self.rng.randrange(3, 32000) for _ in range(body["max_tokens"])]
        self.seen.append(prompt + out)
        self.queries += len(prompt)
        self.hits += cached
        self.requests.append((dict(request.headers), body, out))
        return web.json_response({
            "choices": [{"index": 0, "text": "", "token_ids": out}],
            "usage": {"prompt_tokens": len(prompt), "completion_tokens": len(out),
                      "prompt_tokens_details": {"cached_tokens": cached}},
        })

    async def metrics(self, request: Any) -> Any:
        text = (f'vllm:prefix_cache_queries_total{{engine="0"}} {self.queries}.0\n'
                f'vllm:prefix_cache_hits_total{{engine="0"}} {self.hits}.0\n')
        return web.Response(text=text)


def _serve(server: _Server) -> tuple[int, Any]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/v1/completions", server.completions)
    app.router.add_get("/metrics", server.metrics)
    runner = web.AppRunner(app)
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
    server = _Server()
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
