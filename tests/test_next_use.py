"""``next-use``'s learned parts: the gap model of live sessions, final steps, and the
reuse model of entries whose owner has ended (the Mooncake case)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_cache_policies import Entry, Session, entry

from sagacore.cache.next_use import GapModel, NextUse, NextUseConfig
from sagacore.cache.replay import ReplayConfig, replay
from sagacore.errors import ConfigError
from sagacore.policy import CacheContext
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload
from sagacore.workload.predictor import Predictor


def bash_predictor(*tasks: str) -> Predictor:
    """A predictor tracking ``tasks``, each after one LLM call that runs bash."""
    p = Predictor()
    for t in tasks:
        p.observe_task_start(TaskId(t), "swe")
        p.observe_llm_call(TaskId(t), 0, prompt_tokens=100, output_tokens=10, tool="bash")
    return p


def test_gap_model_recovers_a_log_linear_law() -> None:
    rng = np.random.default_rng(0)
    m = GapModel(NextUseConfig(min_gap_samples=50, refresh_every=10))
    assert m.fit(GapModel.features(100, 1000, 1.0)) is None  # not enough samples yet
    for _ in range(400):
        growth = float(rng.uniform(10, 5000))
        context = float(rng.uniform(1000, 50_000))
        gap = float(rng.uniform(0.5, 20))
        mu = 0.5 * math.log1p(growth) + 0.2 * math.log(gap) - 1.0
        m.add(GapModel.features(growth, context, gap), math.exp(mu + rng.normal(0, 0.3)))
    assert m.theta is not None
    np.testing.assert_allclose(m.theta[1], 0.5, atol=0.05)
    np.testing.assert_allclose(m.theta[2], 0.0, atol=0.05)
    np.testing.assert_allclose(m.theta[3], 0.2, atol=0.05)
    assert 0.25 < m.sigma < 0.35
    m.add(GapModel.features(1, 1, 1), 0.0)  # a zero gap has no logarithm: ignored
    assert m.samples == 400


def test_a_session_that_grew_more_is_predicted_to_return_later() -> None:
    cfg = NextUseConfig(min_gap_samples=10, refresh_every=1)
    pol = NextUse(cfg)
    ctx = CacheContext(now=0.0, capacity_tokens=10**6, used_tokens=10**6)
    # history: gaps grow with what a step added (a long output is a long LLM call)
    for k in range(30):
        t = TaskId(f"old{k}")
        grew = 50 if k % 2 else 3000
        pol.retention(Session(t, "swe", 0, "bash", 1000, True), ctx)
        pol.retention(Session(t, "swe", 1, "bash", 1000 + grew, True), ctx)
        pol.observe_tool_end(t, "bash", grew / 100, 1.0)
    pred = bash_predictor("a", "b")
    live = CacheContext(now=10.0, capacity_tokens=10**6, used_tokens=10**6, predictor=pred)
    for t, grew in (("a", 3000), ("b", 50)):
        pol.retention(Session(TaskId(t), "swe", 0, "bash", 1000, True), live)
        pol.retention(Session(TaskId(t), "swe", 1, "bash", 1000 + grew, True), live)
    a = entry(1, task_id=TaskId("a"), step=1, tool="bash", tool_started_s=9.5, last_access_s=9.5)
    b = entry(2, task_id=TaskId("b"), step=1, tool="bash", tool_started_s=9.0, last_access_s=9.0)
    assert pol.predicted_wait(a, live) > 5 * pol.predicted_wait(b, live)
    assert pol.victim([b, a], live) == 1  # a, although used more recently
    # without the model the session EMA is unknown and both get the tool's residual
    plain = NextUse(NextUseConfig(gap_model=False))
    assert plain.victim([b, a], live) == 0  # then the least recently used goes


def test_the_gap_model_reads_the_ended_calls_output_from_the_predictor() -> None:
    pol = NextUse(NextUseConfig(min_gap_samples=10, refresh_every=1))
    pred = Predictor()
    ctx = CacheContext(now=0.0, capacity_tokens=10**6, used_tokens=10**6, predictor=pred)
    # history: the gap is the output's latency, while every context has the same size
    for k in range(30):
        t = TaskId(f"old{k}")
        out = 50 if k % 2 else 3000
        pred.observe_task_start(t, "swe")
        pred.observe_llm_call(t, 0, prompt_tokens=4000 - out, output_tokens=out, tool="bash")
        pol.retention(Session(t, "swe", 0, "bash", 4000, True), ctx)
        pol.observe_tool_end(t, "bash", out / 100, 1.0)
    assert pol.gaps.theta is not None and pol.gaps.theta[1] > 0.5  # the output's weight
    live = CacheContext(now=10.0, capacity_tokens=10**6, used_tokens=10**6, predictor=pred)
    for t, out in (("a", 3000), ("b", 50)):
        pred.observe_task_start(TaskId(t), "swe")
        pred.observe_llm_call(TaskId(t), 0, prompt_tokens=4000 - out, output_tokens=out,
                              tool="bash")
        pol.retention(Session(TaskId(t), "swe", 0, "bash", 4000, True), live)
    a = entry(1, task_id=TaskId("a"), step=0, tool="bash", tool_started_s=9.5, last_access_s=9.5)
    b = entry(2, task_id=TaskId("b"), step=0, tool="bash", tool_started_s=9.0, last_access_s=9.0)
    assert pol.predicted_wait(a, live) > 5 * pol.predicted_wait(b, live)
    assert pol.victim([b, a], live) == 1  # a, although used more recently


def test_a_session_after_its_final_answer_goes_before_one_in_a_tool() -> None:
    pred = bash_predictor("a", "b")
    pred.observe_tool_call(TaskId("b"), 0, 2.0)
    pred.observe_llm_call(
        TaskId("b"), 1, prompt_tokens=200, output_tokens=10, tool=None, deps=(0,)
    )  # b answered: P(continue) is the prior for a step without a tool (0.05)
    ctx = CacheContext(now=10.0, capacity_tokens=100, used_tokens=100, predictor=pred)
    pol = NextUse()
    pol.observe_tool_end(TaskId("a"), "bash", 2.0, 5.0)
    pol.observe_tool_end(TaskId("b"), "bash", 2.0, 5.0)
    in_tool = entry(1, task_id=TaskId("a"), step=0, tool="bash", tool_started_s=1.0)
    answered = entry(2, task_id=TaskId("b"), step=1, tool=None, last_access_s=9.0)
    assert pol.predicted_wait(answered, ctx) == pytest.approx(2.0 / 0.05)
    assert pol.victim([in_tool, answered], ctx) == 1


def test_reuse_of_an_ended_owner_entry_is_learned() -> None:
    pred = Predictor()
    ctx = CacheContext(now=0.0, capacity_tokens=100, used_tokens=100, predictor=pred)
    pol = NextUse(NextUseConfig(min_samples=5, refresh_every=1))
    pol.victim([entry(99)], ctx)  # the policy has now seen the predictor
    for k in range(10):  # requests whose prompts a later request reuses after 2 s
        e: Entry = entry(k, task_id=TaskId(f"r{k}"), hits=1, created_s=0.0)
        pol.observe_access(e, 2.0)
    fresh = entry(50, task_id=TaskId("r50"), hits=0, last_access_s=9.0)
    w = pol.predicted_wait(fresh, CacheContext(now=10.0, capacity_tokens=100, used_tokens=100))
    assert math.isfinite(w) and w < 5.0
    # a live owner's reuse is its own (predicted by the graph), not recorded
    pred.observe_task_start(TaskId("live"), "swe")
    before = sum(m.samples for m in pol._models.values())
    pol.observe_access(entry(60, task_id=TaskId("live"), hits=1), 3.0)
    assert sum(m.samples for m in pol._models.values()) == before


def test_gap_config_is_validated() -> None:
    for bad in (
        {"min_gap_samples": 0},
        {"gap_ridge": 0.0},
        {"default_gap_s": math.inf},
        {"gap_ridge": True},
    ):
        with pytest.raises(ConfigError):
            NextUseConfig(**bad)  # type: ignore[arg-type]


def _sessions(n_tasks: int, steps: int, seed: int) -> Workload:
    """ReAct sessions whose LLM latency is proportional to their output (long or short)."""
    rng = np.random.default_rng(seed)
    tasks = []
    seg = 10
    for k in range(n_tasks):
        ctx: tuple[Segment, ...] = (Segment(1, 200), Segment(seg, 2000))
        seg += 1
        out: list[Step] = []
        for i in range(steps):
            long = bool(rng.random() < 0.5)
            tokens = 1500 if long else 30
            last = i == steps - 1
            out.append(
                Step(
                    i,
                    ctx,
                    tokens,
                    seg,
                    tool=None if last else "bash",
                    tool_seconds=0.0 if last else 0.2,
                    deps=(i - 1,) if i else (),
                    observed_llm_seconds=tokens / 50,
                )
            )
            ctx = (*ctx, Segment(seg, tokens), Segment(seg + 1, 100))
            seg += 2
        tasks.append(Task(TaskId(f"t{k}"), tuple(out), arrival_s=float(k % 4)))
    return Workload(tuple(tasks), name="long-short")


def test_the_gap_model_pays_less_in_replay_when_outputs_set_the_latency() -> None:
    w = _sessions(16, 12, seed=1)
    cfg = ReplayConfig(capacity_tokens=40_000)
    learned = replay(w, NextUse(NextUseConfig(min_gap_samples=20)), cfg)
    ema = replay(w, NextUse(NextUseConfig(gap_model=False)), cfg)
    assert learned.miss_cost_tokens < ema.miss_cost_tokens


def test_size_classes_follow_the_log2_rule_of_the_array_scoring() -> None:
    # rank keys candidates in Python with _size_class; the NumPy scoring it replaced used
    # floor(log2(max(tokens, 1))) + 1 - 9 clipped to the classes: the same class for every
    # token count (both clip from 2^15 tokens on)
    from sagacore.cache.next_use import _SIZE_CLASSES, _size_class

    tokens = np.arange(0, 2**17, dtype=np.int64)
    bits = np.floor(np.log2(np.maximum(tokens.astype(np.float64), 1.0))).astype(np.int64) + 1
    expected = np.clip(bits - 9, 0, _SIZE_CLASSES - 1)
    assert [_size_class(int(t)) for t in tokens] == expected.tolist()
    assert _size_class(2**62) == _SIZE_CLASSES - 1


def test_gap_model_sums_equal_numpys_outer_products() -> None:
    # GapModel keeps X'X and X'y as Python floats: the same sums as NumPy's in order
    m = GapModel(NextUseConfig())
    xtx, xty = np.eye(4) * NextUseConfig().gap_ridge, np.zeros(4)
    rng = np.random.default_rng(0)
    for _ in range(50):
        x = GapModel.features(*rng.uniform(1.0, 5000.0, 2).tolist(), float(rng.uniform(0.1, 60)))
        s = float(rng.uniform(0.1, 100.0))
        m.add(x, s)
        xtx += np.outer(x, x)
        xty += x * math.log(s)
    assert m._gram() == xtx.ravel().tolist()
    assert m._xty == xty.tolist()
