"""The long-context and long-tools generators: calibration, structure, limits, simulation.

Determinism, task independence, segment identity and DAG validity are checked for every
registered generator by ``tests/test_generators.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sagacore.errors import ConfigError
from sagacore.sim import simulate
from sagacore.sim.config import get_cluster
from sagacore.workload.generators import (
    GENERATORS,
    LONG_TOOLS,
    LongContextConfig,
    PoissonArrivals,
    WebArenaConfig,
    long_context,
    long_tools,
    webarena,
)
from sagacore.workload.generators._common import SHARED_SEGMENT_IDS
from sagacore.workload.model import Task, Workload
from sagacore.workload.stats import reusable_prefix_tokens

REPO = Path(__file__).resolve().parent.parent
SYSTEM = SHARED_SEGMENT_IDS["long-context/system"]


def _kinds(task: Task) -> dict[str, list[int]]:
    """Step indices by role: sub-agent starts, compactions, joins (read off the prompts)."""
    steps = task.steps
    starts = [s.index for s in steps if s.index and len(s.prompt) == 2]
    restarts = [
        s.index for s in steps
        if len(s.prompt) == 3 and s.prompt[0].id == SYSTEM and s.deps
        and s.prompt[1] == steps[s.deps[0]].output_segment
    ]  # fmt: skip
    compactions = [steps[i].deps[0] for i in restarts]
    joins = [
        s.index for s in steps
        if s.deps and s.index not in starts and s.index not in restarts
        and s.prompt[: len(steps[s.deps[0]].context)] != steps[s.deps[0]].context
    ]  # fmt: skip
    return {"starts": starts, "restarts": restarts, "compactions": compactions, "joins": joins}


@pytest.fixture(scope="module")
def sessions() -> Workload:
    return long_context(tasks=200, seed=0)


# ---------------------------------------------------------------- calibration (AgentX)


def test_long_context_matches_published_statistics(sessions: Workload) -> None:
    calls = [t.llm_calls for t in sessions]
    prompts = [s.prompt_tokens for t in sessions for s in t.steps]
    outputs = [s.output_tokens for t in sessions for s in t.steps]
    assert abs(float(np.median(calls)) / 43 - 1) < 0.10  # median 43 turns
    assert abs(float(np.median(prompts)) / 142_000 - 1) < 0.10  # median input 142K
    assert abs(float(np.median(outputs)) / 444 - 1) < 0.10  # median output 444
    reusable, total = reusable_prefix_tokens(sessions)
    assert reusable / total > 0.96  # prefix-cache hit rate above 96%
    with_subagents = sum(1 for t in sessions if _kinds(t)["starts"]) / len(sessions)
    assert abs(with_subagents - 0.44) < 0.08  # sub-agents in 44% of sessions
    assert sum(1 for t in sessions if max(s.prompt_tokens for s in t.steps) > 100_000) > 190


def test_every_call_fits_the_window_and_the_clusters(sessions: Workload) -> None:
    cfg = LongContextConfig()
    peak = max(s.prompt_tokens + s.output_tokens for t in sessions for s in t.steps)
    assert peak <= cfg.context_limit_tokens
    assert peak > cfg.compact_at_tokens  # the window is used, not just the threshold
    for name in ("a100-64", "a100-16", "a100-8-llama8b"):  # Llama-3-70B TP4, Llama-3-8B
        assert get_cluster(name).kv_capacity_tokens >= cfg.context_limit_tokens


# ---------------------------------------------------------------- structure


def test_chains_subagents_and_compaction_reuse_exact_prefixes(sessions: Workload) -> None:
    compacted = 0
    for t in sessions:
        steps = t.steps
        assert t.agent_type == "long-context" and steps[0].prompt[0].id == SYSTEM
        k = _kinds(t)
        compacted += bool(k["compactions"])
        for i in k["starts"]:  # a sub-agent starts from the parent's system prompt
            s = steps[i]
            assert s.prompt[0] == steps[0].prompt[0] and s.deps == (s.deps[0],)
            assert steps[s.deps[0]].tool is None  # the parent delegated, ran no tool
        for i in k["joins"]:  # the parent goes on from its own context plus the reports
            s = steps[i]
            spawn = steps[steps[max(j for j in k["starts"] if j < i)].deps[0]]
            assert s.prompt[: len(spawn.context)] == spawn.context
            assert len(s.prompt) == len(spawn.context) + len(s.deps)
            assert all(steps[d].tool is None for d in s.deps)  # each sub-agent's report
        for i in k["compactions"]:
            c = steps[i]
            assert c.tool is None and c.prompt_tokens > LongContextConfig().compact_at_tokens
        for s in steps[1:]:  # everything else extends the previous call's context
            if s.index in k["starts"] or s.index in k["joins"] or s.index in k["restarts"]:
                continue
            prev = steps[s.deps[0]]
            assert s.deps == (s.index - 1,) and s.prompt[:-1] == prev.context
            assert prev.tool == "bash" and prev.tool_seconds >= 0
        assert steps[-1].tool is None and not t.successors()[-1]
    assert compacted > 50  # long sessions do compact


def test_small_window_truncates_and_compacts() -> None:
    cfg = LongContextConfig(
        system_prompt_tokens=2_000, initial_context_median_tokens=10_000,
        max_initial_context_tokens=20_000, observation_median_tokens=3_000,
        max_observation_tokens=20_000, max_output_tokens=2_000, context_limit_tokens=40_000,
        compact_at_tokens=30_000, restored_median_tokens=4_000, max_restored_tokens=8_000,
        subagent_session_fraction=1.0,
    )  # fmt: skip
    w = long_context(tasks=30, seed=2, config=cfg)
    assert max(s.prompt_tokens + s.output_tokens for t in w for s in t.steps) <= 40_000
    assert max(s.prompt_tokens for t in w for s in t.steps) > 30_000  # truncated, not dropped
    assert all(_kinds(t)["starts"] for t in w)
    assert sum(len(_kinds(t)["compactions"]) for t in w) > 30


def test_subagent_fraction_zero_gives_chains() -> None:
    w = long_context(tasks=20, seed=1, config=LongContextConfig(subagent_session_fraction=0.0))
    for t in w:
        assert t.is_chain() and not _kinds(t)["starts"]
        assert 10 <= t.llm_calls - len(_kinds(t)["compactions"]) <= 150


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("calls_median", 0.0),
        ("min_calls", 1),
        ("max_calls", 5),
        ("compact_at_tokens", 199_000),
        ("max_initial_context_tokens", 170_000),
        ("subagent_session_fraction", 1.5),
        ("observation_sigma", float("nan")),
        ("tool", ""),
    ],
)
def test_long_context_config_errors(field: str, bad: Any) -> None:
    with pytest.raises(ConfigError) as info:
        LongContextConfig(**{field: bad})
    assert field in str(info.value) and repr(bad) in str(info.value)


def test_long_context_simulates() -> None:
    w = long_context(tasks=4, seed=3, arrivals=PoissonArrivals(rate_per_min=2.0))
    r = simulate(w, "vllm-apc", "a100-8-llama8b")
    assert r.tasks_submitted == 4 and len(r.tasks) == 4 and r.llm_calls == w.llm_calls
    total = sum(s.prompt_tokens for t in w for s in t.steps)
    assert r.prefill_tokens_reused + r.prefill_tokens_computed >= total * 0.99
    assert r.prefill_tokens_reused > 0.9 * total  # long shared prefixes are reused


# ---------------------------------------------------------------- long tools


def test_long_tools_waits() -> None:
    w = long_tools(tasks=200, seed=0)
    assert w.name == "long-tools" and {t.agent_type for t in w} == {"long-tools"}
    tools = [(s.tool, s.tool_seconds) for t in w for s in t.steps if s.tool is not None]
    waits = [sec for tool, sec in tools if tool == "human"]
    assert abs(len(waits) / len(tools) - 0.5) < 0.05
    assert 5.0 <= min(waits) and max(waits) <= 120.0
    assert abs(float(np.median(np.log(waits))) - np.log(np.sqrt(5 * 120))) < 0.15  # log-uniform
    assert max(sec for tool, sec in tools if tool == "browser") <= 32.0
    plain = webarena(tasks=200, seed=0)  # same task shapes, only the waits differ
    assert [(t.arrival_s, len(t.steps)) for t in w] == [(t.arrival_s, len(t.steps)) for t in plain]


def test_long_wait_fields_leave_webarena_unchanged() -> None:
    plain = webarena(tasks=30, seed=5)
    same = webarena(tasks=30, seed=5, config=WebArenaConfig(long_wait_min_s=1.0,
                                                            long_wait_max_s=2.0))  # fmt: skip
    assert same == plain  # fraction 0: no extra random draw
    all_long = webarena(tasks=30, seed=5, config=WebArenaConfig(long_wait_fraction=1.0))
    assert {s.tool for t in all_long for s in t.steps if s.tool} == {"human"}
    assert LONG_TOOLS.long_wait_fraction == 0.5
    with pytest.raises(ConfigError, match="long_wait_max_s"):
        WebArenaConfig(long_wait_min_s=10.0, long_wait_max_s=5.0)
    with pytest.raises(ConfigError, match="long_wait_fraction"):
        WebArenaConfig(long_wait_fraction=-0.1)


def test_simulate_cli_accepts_the_new_generators() -> None:
    assert {"long-context", "long-tools"} <= set(GENERATORS)
    out = subprocess.run(
        [sys.executable, "-m", "sagacore", "simulate", "--workload", "long-tools", "--tasks",
         "5", "--stack", "vllm-apc", "--cluster", "h100-8"],
        check=True, capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert "workload: long-tools: 5 tasks" in out.stdout
    assert "vllm-apc" in out.stdout
