"""Tests of the bridge: sagacore segments as token ids, tasks as twin tasks (chains, DAGs).

Pure Python except the last test, which needs vLLM (and skips without it).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sagacore.errors import ConfigError, WorkloadError
from sagacore.workload.generators import GENERATORS
from sagacore.workload.model import Segment, Workload, shared_prefix_tokens
from sagacore_vllm.bridge import PromptTokens, SegmentTokens, max_sequence_tokens, twin_tasks


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def small_webarena() -> Workload:
    return GENERATORS["webarena"](tasks=6, seed=3)


def test_token_prefixes_are_exactly_the_segment_prefixes() -> None:
    w = small_webarena()
    table = SegmentTokens.for_workload(w)
    steps = [s for t in w.tasks for s in t.steps][:40]
    for a, b in itertools.combinations(steps, 2):
        ta, tb = table.concat(a.prompt), table.concat(b.prompt)
        assert len(ta) == a.prompt_tokens
        assert common_prefix(ta, tb) == shared_prefix_tokens(a.prompt, b.prompt)
    # a later prompt that repeats an earlier context repeats its tokens, output included
    sw = GENERATORS["swe-bench"](tasks=1, seed=0)
    sw_table = SegmentTokens.for_workload(sw)
    s0, s1 = sw.tasks[0].steps[0], sw.tasks[0].steps[1]
    assert s1.prompt[: len(s0.context)] == s0.context
    head = sw_table.concat(s1.prompt)[: s0.prompt_tokens + s0.output_tokens]
    assert head == sw_table.concat(s0.context)


def test_segments_differ_in_their_first_token_and_repeat_exactly() -> None:
    table = SegmentTokens([5, -3, 10**12, 5], vocab_size=1000, seed=1)
    assert len(table) == 3
    firsts = {int(table.tokens(Segment(i, 4))[0]) for i in (5, -3, 10**12)}
    assert len(firsts) == 3
    long = table.tokens(Segment(5, 200_000))
    assert long.shape == (200_000,) and int(long.max()) < 1000
    assert np.array_equal(table.tokens(Segment(5, 50)), long[:50])
    with pytest.raises(WorkloadError, match="not in the token table"):
        table.tokens(Segment(6, 3))
    with pytest.raises(ConfigError, match="distinct first tokens"):
        SegmentTokens(list(range(10)), vocab_size=10)


def test_prompt_tokens_is_a_lazy_sequence() -> None:
    table = SegmentTokens([1, 2])
    p = PromptTokens(table, (Segment(1, 3), Segment(2, 2)))
    assert len(p) == 5
    assert list(p) == table.concat((Segment(1, 3), Segment(2, 2)))
    assert p[0] == 1 and p[3] == 2 and p[-1] == list(p)[-1]
    assert p[1:3] == list(p)[1:3]
    assert "5 tokens" in repr(p)


def test_twin_tasks_map_tools_arrivals_and_priorities() -> None:
    w = small_webarena()
    tasks = twin_tasks(w)
    assert [t.task_id for t in tasks] == [str(t.id) for t in w.tasks]
    assert [t.priority for t in tasks] == list(range(len(w)))
    for src, tt in zip(w.tasks, tasks, strict=True):
        assert tt.arrival_s == src.arrival_s
        assert [c.output_tokens for c in tt.calls] == [s.output_tokens for s in src.steps]
        # each step's tool on its own call, no delay before a call nor after the task
        assert [c.tool_seconds for c in tt.calls] == [s.tool_seconds for s in src.steps]
        assert [c.tool for c in tt.calls] == [s.tool for s in src.steps]
        assert all(c.tool_delay_s == 0.0 for c in tt.calls) and tt.final_tool_s == 0.0
        assert tt.graph() == tuple((k - 1,) if k else () for k in range(len(src.steps)))
        for c, s in zip(tt.calls, src.steps, strict=True):
            assert len(c.prompt_token_ids) == s.prompt_tokens
            assert c.output_token_ids is not None
            assert len(c.output_token_ids) == s.output_tokens
    longest = max_sequence_tokens(w)
    assert longest == max(s.prompt_tokens + s.output_tokens for t in w for s in t.steps)


def test_dags_convert_with_their_graph_and_each_steps_tool() -> None:
    w = GENERATORS["task-parallel"](tasks=4, seed=0)
    assert not all(t.is_chain() for t in w.tasks)
    table = SegmentTokens.for_workload(w)
    for src, tt in zip(w.tasks, twin_tasks(w, table), strict=True):
        assert tt.graph() == tuple(s.deps for s in src.steps)
        assert [c.deps for c in tt.calls] == [s.deps for s in src.steps]
        assert [c.tool_seconds for c in tt.calls] == [s.tool_seconds for s in src.steps]
        joins = [k for k, s in enumerate(src.steps) if len(s.deps) > 1]
        assert joins  # a join waits for several branches
        for k, s in enumerate(src.steps):
            assert list(tt.calls[k].prompt_token_ids) == table.concat(s.prompt)


def test_module_examples() -> None:
    import doctest

    import sagacore_vllm.bridge as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_vllm_hits_exactly_the_shared_segments() -> None:
    """A prompt's vLLM hit is its shared segment prefix, whole blocks, below its length."""
    pytest.importorskip("vllm")
    from sagacore_vllm.engine import VllmEngine, VllmEngineConfig

    s_sys, s_a, s_b, out = Segment(1, 40), Segment(2, 30), Segment(3, 30), Segment(4, 9)
    table = SegmentTokens([1, 2, 3, 4, 5], vocab_size=1000)
    engine = VllmEngine(VllmEngineConfig(num_gpu_blocks=64, vocab_size=1000))
    engine.add_request(
        "a", PromptTokens(table, (s_sys, s_a)), 9, output_token_ids=PromptTokens(table, (out,))
    )
    engine.run_until_idle()
    # same system prompt, different task segment: 40 shared tokens -> 2 whole blocks
    assert engine.cached_prefix_tokens(PromptTokens(table, (s_sys, s_b))) == 32
    # the whole context of "a" (prompt + output but its last token): 78 tokens -> 64
    again = PromptTokens(table, (s_sys, s_a, out, Segment(5, 20)))
    assert engine.cached_prefix_tokens(again) == 64
