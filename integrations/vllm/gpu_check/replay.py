"""Replay a slice of an agent workload against a running ``vllm serve`` (GPU check driver).

Each task of a sagacore workload (graphs of LLM calls and tool calls, most often chains,
with Poisson arrivals) becomes an agent that sends its calls to the server's
OpenAI-compatible ``/v1/completions`` endpoint as they become ready, sleeping through
each call's tool: a call is sent when every call it depends on (its step's ``deps``) has
returned and that call's tool has ended, so a planner's branches run in parallel and a
join waits for all of them and their tools (as sagacore's simulator and the twin run a
task, ``sagacore.workload.progress.TaskProgress``):

- prompts are token ids (the server runs with ``--skip-tokenizer-init``): the workload's
  content segments become tokens (``sagacore_vllm.bridge.SegmentTokens``), except that
  an earlier call's output, where a prompt repeats it, is the tokens the model
  *actually* returned (``return_token_ids``), as an agent's history holds them (call
  ``k + 1`` of a ReAct chain repeats call ``k``'s prompt and answer, then the new
  observation; a join repeats each branch's answer); so prefix-cache hits are the
  server's own;
- every call carries its program metadata (``sagacore_vllm.client.ProgramMetadata``):
  the ``X-Session-ID`` header and ``session_id`` / ``vllm_xargs`` in the body, with its
  parents (``sagacore_parents``), the time each parent's tool ran as the agent measured
  it (``sagacore_tool_s``), and ``sagacore_last`` on the task's last call to be sent (no
  call of the task follows it; of parallel last calls, the one sent last);
- outputs have exactly the trace's length (``ignore_eos``).

It prints and writes (``--out``) per-task completion times (TCT: arrival to the end of
the last tool of the task), and prefix-cache figures: the prompt tokens served from
the cache as the server reports them per request (``usage.prompt_tokens_details.
cached_tokens``, with ``--enable-prompt-tokens-details``) and the deltas of its
``vllm:prefix_cache_queries`` / ``vllm:prefix_cache_hits`` counters (``/metrics``).

``python replay.py summarize OUT.json ...`` prints a table of several runs.

Needs only the Python packages a vLLM install has (aiohttp, numpy) and the sagacore
checkout on ``PYTHONPATH`` (``gpu_check.sh`` sets it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def _metrics(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in ("vllm:prefix_cache_queries", "vllm:prefix_cache_hits"):
        total = 0.0
        for m in re.finditer(rf"^{re.escape(name)}(?:_total)?(?:{{[^}}]*}})? ([0-9.eE+-]+)$",
                             text, re.M):
            total += float(m.group(1))
        out[name] = total
    return out


async def _scrape(session: Any, url: str) -> dict[str, float]:
    async with session.get(f"{url}/metrics") as r:
        return _metrics(await r.text())


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    from sagacore.cli.simulate import load_workload
    from sagacore_vllm.bridge import SegmentTokens
    from sagacore_vllm.client import ProgramMetadata

    w = load_workload(args.workload, tasks=args.tasks, rate=args.rate, seed=args.seed)
    if args.max_steps is not None:
        from dataclasses import replace

        from sagacore.workload.model import Workload

        w = Workload(tuple(replace(t, steps=t.steps[: args.max_steps]) for t in w.tasks),
                     w.tenants, w.name, w.source)
    table = SegmentTokens.for_workload(w, vocab_size=args.vocab_size)
    tasks = [t for t in w.tasks
             if max(s.prompt_tokens + s.output_tokens for s in t.steps) < args.max_model_len]
    scale = args.time_scale
    url = args.url.rstrip("/")
    results: list[dict[str, Any]] = []
    timeout = aiohttp.ClientTimeout(total=None)

    async with aiohttp.ClientSession(timeout=timeout) as http:
        before = await _scrape(http, url)
        t0 = time.monotonic()

        async def agent(task: Any) -> None:
            await asyncio.sleep(max(task.arrival_s * scale - (time.monotonic() - t0), 0.0))
            start = time.monotonic()
            steps = task.steps
            calls: list[dict[str, Any]] = [{} for _ in steps]
            answers: dict[int, list[int]] = {}  # output segment id -> tokens returned
            tool_s = [0.0] * len(steps)  # each call's tool as measured
            ended = [asyncio.Event() for _ in steps]  # a call returned and its tool ended
            ends = [start] * len(steps)
            sent = 0

            async def call(k: int) -> None:
                nonlocal sent
                step = steps[k]
                for d in step.deps:
                    await ended[d].wait()
                prompt: list[int] = []
                for seg in step.prompt:
                    real = answers.get(seg.id)
                    prompt += real if real is not None else table.concat([seg])
                sent += 1
                meta = ProgramMetadata(str(task.id), step=k, tenant=str(task.tenant),
                                       agent_type=task.agent_type,
                                       tool=step.tool if step.tool is not None else "",
                                       last=sent == len(steps),
                                       parents=tuple(step.deps),
                                       parent_tool_s=tuple(tool_s[d] for d in step.deps))
                body = {
                    "model": args.model,
                    "prompt": prompt,
                    "max_tokens": step.output_tokens,
                    "min_tokens": step.output_tokens,
                    "ignore_eos": True,
                    "temperature": 0.0,
                    "return_token_ids": True,
                    **meta.extra_body(),
                }
                t_sent = time.monotonic()
                async with http.post(f"{url}/v1/completions", json=body,
                                     headers=meta.headers()) as r:
                    doc = await r.json()
                    if r.status != 200:
                        raise RuntimeError(f"task {task.id} call {k}: HTTP {r.status}: {doc}")
                done = time.monotonic()
                choice = doc["choices"][0]
                usage = doc.get("usage") or {}
                details = usage.get("prompt_tokens_details") or {}
                out = list(choice.get("token_ids") or [])
                calls[k] = {
                    "step": k,
                    "parents": list(step.deps),
                    "prompt_tokens": len(prompt),
                    "output_tokens": len(out),
                    "cached_tokens": details.get("cached_tokens"),
                    "latency_s": done - t_sent,
                }
                answers[step.output_id] = out
                await asyncio.sleep(step.tool_seconds * scale)
                ends[k] = time.monotonic()
                tool_s[k] = ends[k] - done
                ended[k].set()

            await asyncio.gather(*(call(k) for k in range(len(steps))))
            results.append({"task": str(task.id), "arrival_s": task.arrival_s * scale,
                            "tct_s": max(ends) - start, "calls": calls})

        await asyncio.gather(*(agent(t) for t in tasks))
        wall = time.monotonic() - t0
        after = await _scrape(http, url)

    tct = np.array([r["tct_s"] for r in results])
    prompt_tokens = sum(c["prompt_tokens"] for r in results for c in r["calls"])
    cached = [c["cached_tokens"] for r in results for c in r["calls"]]
    queries = after["vllm:prefix_cache_queries"] - before["vllm:prefix_cache_queries"]
    hits = after["vllm:prefix_cache_hits"] - before["vllm:prefix_cache_hits"]
    return {
        "label": args.label,
        "workload": args.workload,
        "max_steps": args.max_steps,
        "tasks": len(results),
        "calls": sum(len(r["calls"]) for r in results),
        "rate_per_min": args.rate,
        "time_scale": scale,
        "wall_s": wall,
        "tct_mean_s": float(tct.mean()),
        "tct_p50_s": float(np.percentile(tct, 50)),
        "tct_p99_s": float(np.percentile(tct, 99)),
        "prompt_tokens": prompt_tokens,
        "cached_tokens_reported": (sum(c for c in cached if c is not None)
                                   if any(c is not None for c in cached) else None),
        "prefix_cache_queries": queries,
        "prefix_cache_hits": hits,
        "prefix_hit_rate": hits / queries if queries else math.nan,
        "per_task": results,
    }


def _summarize(paths: list[str]) -> None:
    rows = [json.loads(Path(p).read_text()) for p in paths]
    print("| run | tasks | calls | TCT mean (s) | p50 | p99 | prefix hit rate (server) "
          "| cached / prompt tokens (per request) | wall (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cached = r["cached_tokens_reported"]
        share = f"{cached / r['prompt_tokens']:.2%}" if cached is not None else "n/a"
        print(f"| {r['label']} | {r['tasks']} | {r['calls']} | {r['tct_mean_s']:.2f} "
              f"| {r['tct_p50_s']:.2f} | {r['tct_p99_s']:.2f} | {r['prefix_hit_rate']:.2%} "
              f"| {share} | {r['wall_s']:.1f} |")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "summarize":
        _summarize(argv[1:])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--model", required=True, help="the served model name (its path)")
    p.add_argument("--label", required=True)
    p.add_argument("--workload", default="swe-bench",
                   help="a sagacore workload: generator name, trace file or bundled trace")
    p.add_argument("--max-steps", type=int, default=12,
                   help="keep each task's first N calls (contexts within the model's length)")
    p.add_argument("--tasks", type=int, default=16)
    p.add_argument("--rate", type=float, default=30.0, help="tasks per minute")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-scale", type=float, default=0.25,
                   help="multiply arrival times and tool durations (compress the run)")
    p.add_argument("--vocab-size", type=int, default=32000)
    p.add_argument("--max-model-len", type=int, default=16384)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    doc = asyncio.run(_run(args))
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    _summarize([args.out])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
