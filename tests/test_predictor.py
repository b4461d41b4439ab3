"""Tests of the shared predictor: EMA, log-normal fits, TTL, P_reuse, remaining work."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

import sagacore.data
from sagacore.errors import ConfigError, WorkloadError
from sagacore.workload import read_workload
from sagacore.workload.aeg import END, NO_TOOL, START, AEGConfig, AgentExecutionGraph, task_graph
from sagacore.workload.model import Segment, Step, Task, TaskId
from sagacore.workload.predictor import (
    LogNormalFit,
    Predictor,
    PredictorConfig,
    evaluate_remaining_steps,
    react_overlap,
)

T = TaskId


def make_task(
    name: str,
    tools: Sequence[str | None],
    *,
    prompts: Sequence[int] | None = None,
    outputs: Sequence[int] | None = None,
    seconds: Sequence[float] | None = None,
    deps: Sequence[tuple[int, ...]] | None = None,
    agent: str = "web",
) -> Task:
    n = len(tools)
    prompts = prompts if prompts is not None else [100 * (k + 1) for k in range(n)]
    outputs = outputs if outputs is not None else [10] * n
    steps = []
    for k, tool in enumerate(tools):
        steps.append(
            Step(
                index=k,
                prompt=(Segment(k + 1, prompts[k]),),
                output_tokens=outputs[k],
                output_id=1000 + k,
                tool=tool,
                tool_seconds=(seconds[k] if seconds is not None else 1.0) if tool else 0.0,
                deps=deps[k] if deps is not None else ((k - 1,) if k else ()),
            )
        )
    return Task(TaskId(name), tuple(steps), agent_type=agent)


def warm(min_tasks: int = 1, **kw: object) -> Predictor:
    return Predictor(PredictorConfig(aeg=AEGConfig(min_tasks=min_tasks), **kw))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trace_tasks() -> tuple[Task, ...]:
    return read_workload(sagacore.data.bundled_trace()).tasks


# -- observation-length EMA ----------------------------------------------------------------------


def test_ema_math() -> None:
    p = Predictor(PredictorConfig(observation_ema_alpha=0.25))
    assert p.expected_observation_tokens("grep") == 340.0  # prior
    p.observe_observation("grep", 100)
    assert p.expected_observation_tokens("grep") == 100.0  # first sample initialises
    p.observe_observation("grep", 200)
    assert p.expected_observation_tokens("grep") == pytest.approx(125.0)
    p.observe_observation("grep", 0)
    assert p.expected_observation_tokens("grep") == pytest.approx(93.75)
    assert p.expected_observation_tokens("other") == 340.0
    # The same through observe_llm_call: obs = prompt(k) - prompt(k-1) - output(k-1).
    q = Predictor(PredictorConfig(observation_ema_alpha=0.5))
    q.observe_task(make_task("a", ["s", "s", None], prompts=[100, 150, 400], outputs=[10, 20, 5]))
    # s -> obs 40 then 230: 40 + 0.5 (230 - 40) = 135
    assert q.expected_observation_tokens("s") == pytest.approx(135.0)
    # Truncated history (negative observation) is not a sample.
    q.observe_task(make_task("b", ["t", None], prompts=[500, 100]))
    assert q.expected_observation_tokens("t") == 340.0


# -- log-normal fits -----------------------------------------------------------------------------


def test_lognormal_fit_recovers_parameters() -> None:
    rng = np.random.default_rng(12345)
    x = rng.lognormal(mean=0.3, sigma=1.2, size=20_000)
    f = LogNormalFit.from_samples(x)
    assert f.mu == pytest.approx(0.3, abs=0.03) and f.sigma == pytest.approx(1.2, abs=0.03)
    assert f.p_zero == 0.0 and f.n == 20_000 and f.source == "learned"
    s, _loc, scale = scipy.stats.lognorm.fit(x, floc=0)  # scipy's MLE agrees
    assert s == pytest.approx(f.sigma, rel=1e-6) and math.log(scale) == pytest.approx(
        f.mu, abs=1e-6
    )
    # Online (Welford) equals batch.
    p = Predictor()
    for v in x[:500]:
        p.observe_tool_duration("bash", float(v))
    g = p.tool_duration("bash")
    b = LogNormalFit.from_samples(x[:500])
    assert g.mu == pytest.approx(b.mu, abs=1e-12) and g.sigma == pytest.approx(b.sigma, rel=1e-10)


@pytest.mark.parametrize("q", [0.01, 0.25, 0.5, 0.9, 0.95, 0.999])
def test_percentiles_match_scipy(q: float) -> None:
    f = LogNormalFit(mu=-1.1, sigma=0.7)
    ref = scipy.stats.lognorm(s=0.7, scale=math.exp(-1.1))
    assert f.ppf(q) == pytest.approx(ref.ppf(q), rel=1e-9)
    x = ref.ppf(q)
    assert f.cdf(x) == pytest.approx(q, rel=1e-9)
    assert f.mean() == pytest.approx(ref.mean(), rel=1e-12)


def test_zero_durations_are_a_point_mass() -> None:
    f = LogNormalFit.from_samples([0.0, 0.0005, 1.0, math.e, math.e**2])
    assert f.p_zero == pytest.approx(0.4) and f.n == 5
    assert f.mu == pytest.approx(1.0) and f.sigma == pytest.approx(math.sqrt(2 / 3))
    assert f.ppf(0.4) == 0.0 and f.ppf(0.2) == 0.0
    ref = scipy.stats.lognorm(s=f.sigma, scale=math.e)
    assert f.ppf(0.4 + 0.6 * 0.95) == pytest.approx(ref.ppf(0.95))
    assert f.cdf(0.0) == pytest.approx(0.4) and f.cdf(-1) == 0.0
    assert f.mean() == pytest.approx(0.6 * ref.mean())
    z = LogNormalFit.from_samples([0, 0, 0])
    assert z.p_zero == 1.0 and z.ppf(0.99) == 0.0 and z.mean() == 0.0
    assert z.expected_residual(1.0) == 0.0
    one = LogNormalFit.from_samples([2.0, 2.0])
    assert one.sigma == 0.0 and one.ppf(0.99) == pytest.approx(2.0) and one.cdf(2.0) == 1.0
    assert one.expected_residual(0.5) == pytest.approx(1.5) and one.expected_residual(3) == 0.0
    with pytest.raises(ConfigError, match="none"):
        LogNormalFit.from_samples([])
    with pytest.raises(ConfigError, match="-1"):
        LogNormalFit.from_samples([1.0, -1.0])
    with pytest.raises(ConfigError, match="1.5"):
        f.ppf(1.5)
    assert LogNormalFit(0.0, 1.0).ppf(1.0) == math.inf


@pytest.mark.parametrize("elapsed", [0.05, 0.5, 2.0, 20.0])
def test_expected_residual_matches_scipy(elapsed: float) -> None:
    f = LogNormalFit(mu=-0.5, sigma=1.1)
    ref = scipy.stats.lognorm(s=1.1, scale=math.exp(-0.5))
    want = ref.expect(lambda x: x - elapsed, lb=elapsed, conditional=True)
    assert f.expected_residual(elapsed) == pytest.approx(want, rel=1e-6)
    assert math.isfinite(f.expected_residual(1e6)) and f.expected_residual(1e6) >= 0


def test_tool_duration_prior_and_min_samples() -> None:
    p = Predictor(PredictorConfig(min_tool_samples=3))
    prior = p.tool_duration("bash")
    assert prior.source == "prior" and prior.ppf(0.5) == pytest.approx(0.25)
    assert p.tool_duration_percentile("bash", 0.95) == pytest.approx(
        scipy.stats.lognorm(s=1.0, scale=0.25).ppf(0.95)
    )
    p.observe_tool_duration("bash", 1.0)
    p.observe_tool_duration("bash", 4.0)
    assert p.tool_duration("bash").source == "prior"
    p.observe_tool_duration("bash", 2.0)
    fit = p.tool_duration("bash")
    assert fit.source == "learned" and fit.ppf(0.5) == pytest.approx(2.0)


# -- SAGA's TTL ------------------------------------------------------------------------------------


# -- overlap and P_reuse ---------------------------------------------------------------------------


def reuse_history() -> list[Task]:
    # search -> read (4 of 5 times), search -> none (1 of 5): P(search -> read) = 0.8 kept,
    # 0.2 pruned. Each search observation is exactly 100 tokens: prompt(k+1) =
    # prompt(k) + output(k) + 100.
    tasks = [
        make_task(f"h{i}", ["search", "read", None], prompts=[800, 1000, 1500], outputs=[100] * 3)
        for i in range(4)
    ]
    tasks.append(make_task("h4", ["search", None], prompts=[800, 1000], outputs=[100, 100]))
    return tasks


def test_overlap_and_p_reuse_hand_computed() -> None:
    assert react_overlap(900, 100) == pytest.approx(0.9)
    p = warm(min_tasks=5, observation_ema_alpha=0.1)
    for t in reuse_history():
        p.observe_task(t)
    g = p.graph("web")
    assert g is not None
    assert g.transition_probability("search", "read") == pytest.approx(0.8)
    assert g.pruned_mass("search") == pytest.approx(0.2)
    assert p.expected_observation_tokens("search") == pytest.approx(100.0)
    assert p.expected_observation_tokens("read") == pytest.approx(400.0)  # 1500 - 1100
    assert p.overlap(900, "search") == pytest.approx(0.9)
    assert p.reuse_probability("web", "search", 900) == pytest.approx(0.8 * 0.9)
    assert p.reuse_probability("web", "read", 1600) == pytest.approx(1.0 * 1600 / 2000)
    assert p.reuse_probability("web", None, 1600) == 0.0  # only END follows
    assert p.reuse_probability("cold-agent", "search", 900) == 0.0
    # Task-keyed: a live task whose step 0 (search) left 800 + 100 tokens.
    live = make_task("live", ["search", "read", None], prompts=[800, 1000, 1500], outputs=[100] * 3)
    p.observe_task_start(live.id, "web", oracle=task_graph(live))
    p.observe_llm_call(live.id, 0, prompt_tokens=800, output_tokens=100, tool="search")
    assert p.p_reuse(live.id, 0) == pytest.approx(0.72)
    assert p.p_reuse(live.id, 0, oracle=True) == pytest.approx(900 / 1000)  # true successor
    assert p.p_reuse(T("finished-or-unknown"), 0) == 0.0


def test_oracle_p_reuse_of_parallel_successors_is_capped() -> None:
    dag = make_task("d", ["fan", None, None], prompts=[100, 100, 100], deps=[(), (0,), (0,)])
    p = Predictor()
    p.observe_task_start(dag.id, "web", oracle=task_graph(dag))
    p.observe_llm_call(dag.id, 0, prompt_tokens=100, output_tokens=10, tool="fan")
    assert p.p_reuse(dag.id, oracle=True) == 1.0
    assert p.p_reuse(dag.id) == 0.0  # cold type: plain requests


# -- next step -------------------------------------------------------------------------------------


def test_next_step_learned_prior_and_oracle() -> None:
    p = warm(min_tasks=5, min_tool_samples=1)
    live = make_task("live", ["search", "read", None], seconds=[2.0, 3.0, 0.0])
    p.observe_task_start(live.id, "web", oracle=task_graph(live))
    p.observe_llm_call(live.id, 0, prompt_tokens=100, output_tokens=10, tool="search")
    cold = p.next_step(live.id)
    assert cold.source == "prior" and cold.probability == 0.95
    for t in reuse_history():
        p.observe_task(t)
    f = p.next_step(live.id, elapsed_s=0.5)
    assert f.source == "learned" and f.probability == 1.0  # search never ended a task
    assert f.expected_seconds == pytest.approx(p.tool_duration("search").expected_residual(0.5))
    o = p.next_step(live.id, elapsed_s=0.5, oracle=True)
    assert o.source == "oracle" and o.probability == 1.0 and o.expected_seconds == 1.5
    p.observe_llm_call(live.id, 1, prompt_tokens=200, output_tokens=10, tool="read")
    p.observe_tool_call(live.id, 1, 3.0)
    p.observe_llm_call(live.id, 2, prompt_tokens=300, output_tokens=10, tool=None)
    last = p.next_step(live.id)
    assert last.probability == 0.0 and last.expected_seconds == 0.0
    assert p.next_step(live.id, oracle=True).probability == 0.0
    assert p.continue_probability("web", None) == (0.0, "learned")
    assert p.continue_probability("nobody", None) == (0.05, "prior")


# -- remaining work --------------------------------------------------------------------------------


def test_survival_estimate_hand_computed() -> None:
    p = warm(min_tasks=4)
    for i, n in enumerate([2, 4, 6, 6]):
        p.observe_task(make_task(f"h{i}", ["a"] * n))
    live = make_task("live", ["a"] * 6)
    p.observe_task_start(live.id, "web")
    for k in range(3):
        p.observe_llm_call(live.id, k, prompt_tokens=100, output_tokens=10, tool="a")
    # History: 14 a -> a, 4 a -> END; the live task adds 2 a -> a as it is observed.
    # P(continue) = 16 / 20; E[L - 3 | L > 3] = (1 + 3 + 3) / 3.
    w = p.remaining_work(live.id)
    assert w.source == "learned"
    assert w.steps == pytest.approx(16 / 20 * 7 / 3)
    # Longer than every finished task: falls back to the Markov estimate.
    for k in range(3, 6):
        p.observe_llm_call(live.id, k, prompt_tokens=100, output_tokens=10, tool="a")
    markov = p.expected_remaining_steps(live.id)
    # Chain a -> a w.p. q = 19 / 23: expected further steps = q / (1 - q) = 19 / 4.
    assert markov == pytest.approx(19 / 4)


def test_markov_estimate_and_token_formulas() -> None:
    p = warm(min_tasks=2, remaining_estimator="markov")
    # a -> a and a -> END each once per task: expected further steps from a = 1.
    for i in range(2):
        p.observe_task(
            make_task(f"h{i}", ["a", "a"], prompts=[100, 150], outputs=[20, 40], seconds=[1, 3])
        )
    live = make_task("live", ["a", "a"], prompts=[100, 150])
    p.observe_task_start(live.id, "web")
    assert p.remaining_work(live.id).steps == pytest.approx(2.0)  # from START: 1 + 1
    p.observe_llm_call(live.id, 0, prompt_tokens=100, output_tokens=20, tool="a")
    w = p.remaining_work(live.id)
    assert w.steps == pytest.approx(1.0)
    # Means: output (2 * (20 + 40) + the live call's 20) / 5 = 28,
    # growth 50, tool seconds per step 2.
    assert w.output_tokens == pytest.approx(28.0)
    assert w.prompt_tokens == pytest.approx(1 * 100 + 50 * 1 * 2 / 2)
    assert w.tool_seconds == pytest.approx(2.0)


def test_prior_remaining_work_for_cold_type() -> None:
    p = Predictor()
    t = make_task("x", ["a", "a"])
    p.observe_task_start(t.id, "new")
    w0 = p.remaining_work(t.id)
    assert w0.source == "prior" and w0.steps == 75.0
    p.observe_llm_call(t.id, 0, prompt_tokens=1000, output_tokens=10, tool="a")
    w = p.remaining_work(t.id)
    assert w.steps == pytest.approx(0.95 * 74)
    assert w.output_tokens == pytest.approx(w.steps * 90)
    r = w.steps
    assert w.prompt_tokens == pytest.approx(r * 1000 + 430 * r * (r + 1) / 2)


def test_oracle_remaining_work_equals_truth(trace_tasks: tuple[Task, ...]) -> None:
    p = Predictor()
    for t in trace_tasks[:20]:
        p.observe_task_start(t.id, t.agent_type, oracle=task_graph(t))
        k = len(t.steps) // 2
        p.replay_steps(t, k)
        o = p.remaining_work(t.id, oracle=True)
        rest = t.steps[k:]
        assert o.source == "oracle"
        assert o.steps == len(rest)
        assert o.prompt_tokens == sum(s.prompt_tokens for s in rest)
        assert o.output_tokens == sum(s.output_tokens for s in rest)
        assert o.tool_seconds == pytest.approx(sum(s.tool_seconds for s in rest))
        p.forget_task(t.id)


def test_learned_remaining_steps_on_real_trace(trace_tasks: tuple[Task, ...]) -> None:
    acc = evaluate_remaining_steps(trace_tasks)
    assert acc.n == 198 and acc.oracle_max_abs_error == 0.0
    assert acc.sources == {"learned": 198}
    # Measured 0.396 (docs/aeg-and-predictor.md); guard against regressions.
    assert acc.median_abs_rel_error == pytest.approx(0.396, abs=0.01)
    markov = evaluate_remaining_steps(
        trace_tasks, config=PredictorConfig(remaining_estimator="markov")
    )
    assert markov.median_abs_rel_error > acc.median_abs_rel_error
    with pytest.raises(ConfigError, match="1"):
        evaluate_remaining_steps(trace_tasks, folds=1)


def test_real_trace_predictor_facts(trace_tasks: tuple[Task, ...]) -> None:
    p = Predictor()
    for t in trace_tasks:
        p.observe_task(t)
    fit = p.tool_duration("bash")
    durations = [s.tool_seconds for t in trace_tasks for s in t.steps if s.tool]
    assert fit.n == len(durations) and fit.p_zero == pytest.approx(5 / len(durations))
    assert 0.1 < fit.ppf(0.5) < 0.5
    assert p.continue_probability("swe-agent", None) == (0.0, "learned")
    assert p.is_warm("swe-agent") and p.tasks_seen("swe-agent") == 198
    assert p.active_tasks == ()


# -- errors, config, provided graphs -------------------------------------------------------------


def test_error_paths() -> None:
    p = Predictor()
    with pytest.raises(WorkloadError, match="unknown task 'x'"):
        p.remaining_work(T("x"))
    p.observe_task_start(T("x"), "web")
    with pytest.raises(WorkloadError, match="already started"):
        p.observe_task_start(T("x"), "web")
    with pytest.raises(WorkloadError, match="no step observed"):
        p.next_step(T("x"))
    p.observe_llm_call(T("x"), 0, prompt_tokens=10, output_tokens=1, tool=None)
    with pytest.raises(WorkloadError, match="observed twice"):
        p.observe_llm_call(T("x"), 0, prompt_tokens=10, output_tokens=1, tool=None)
    with pytest.raises(WorkloadError, match="no observed tool call"):
        p.observe_tool_call(T("x"), 0, 1.0)
    with pytest.raises(WorkloadError, match="started without one"):
        p.remaining_work(T("x"), oracle=True)
    with pytest.raises(WorkloadError, match="step 5 not observed"):
        p.p_reuse(T("x"), 5)
    with pytest.raises(WorkloadError, match="negative"):
        p.observe_llm_call(T("x"), 1, prompt_tokens=-1, output_tokens=1, tool=None)
    with pytest.raises(WorkloadError, match="reserved"):
        p.observe_llm_call(T("x"), 1, prompt_tokens=1, output_tokens=1, tool=END)
    with pytest.raises(ConfigError, match="-2"):
        p.observe_tool_duration("bash", -2.0)
    with pytest.raises(WorkloadError, match="realised"):
        p.observe_task_start(
            T("y"), "web", oracle=AgentExecutionGraph.from_edges([], {"a": "a"}, kind="inferred")
        )


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [
        ({"observation_ema_alpha": 0.0}, "0.0"),
        ({"observation_ema_alpha": 1.5}, "1.5"),
        ({"prior_tool_median_s": 0.0}, "0.0"),
        ({"prior_tool_sigma": -1.0}, "-1.0"),
        ({"min_tool_samples": 0}, "0"),
        ({"prior_continue_after_tool": 1.1}, "1.1"),
        ({"remaining_estimator": "oracle"}, "oracle"),
        ({"aeg": {"min_tasks": 3}}, "min_tasks"),
        ({"prior_task_steps": "75"}, "'75'"),
    ],
)
def test_config_validation_shows_value(kwargs: dict[str, object], shown: str) -> None:
    with pytest.raises(ConfigError, match=shown):
        PredictorConfig(**kwargs)  # type: ignore[arg-type]


def test_provided_graph_and_dag_transitions() -> None:
    p = Predictor()
    given_graph = AgentExecutionGraph.from_edges(
        [(START, "plan", 1.0), ("plan", "act", 0.9), ("act", END, 1.0)],
        {START: None, "plan": "plan", "act": "act", END: None},
        kind="inferred",
        agent_type="fw",
    )
    p.provide_graph(given_graph)
    assert p.is_warm("fw") and p.graph("fw") is given_graph
    assert p.reuse_probability("fw", "plan", 900) == pytest.approx(0.9 * 900 / 1240)
    assert p.continue_probability("fw", "act") == (0.0, "learned")
    # DAG: fan-out, join; END only from the join.
    q = warm(min_tasks=1)
    q.observe_task(make_task("d", ["a", "b", "c", None], deps=[(), (0,), (0,), (1, 2)]))
    g = q.graph("web")
    assert g is not None
    assert q.inference.count("web", "a", "b") == 1 and q.inference.count("web", "b", END) == 0
    assert q.inference.count("web", NO_TOOL, END) == 1


# -- properties ------------------------------------------------------------------------------------

tools_st = st.sampled_from([None, "a", "b"])


@st.composite
def histories(draw: st.DrawFn) -> list[Task]:
    out = []
    for i in range(draw(st.integers(1, 6))):
        n = draw(st.integers(1, 8))
        tools = draw(st.lists(tools_st, min_size=n, max_size=n))
        prompts = draw(st.lists(st.integers(1, 5000), min_size=n, max_size=n))
        secs = draw(st.lists(st.floats(0, 100), min_size=n, max_size=n))
        out.append(make_task(f"h{i}", tools, prompts=prompts, seconds=secs))
    return out


@given(histories(), tools_st, st.integers(0, 10_000), st.floats(0, 1e4), st.booleans())
def test_probabilities_in_unit_interval(
    tasks: list[Task], tool: str | None, n_cur: int, elapsed: float, markov: bool
) -> None:
    p = warm(
        min_tasks=1, min_tool_samples=1, remaining_estimator="markov" if markov else "survival"
    )
    for t in tasks[:-1]:
        p.observe_task(t)
    live = tasks[-1]
    p.observe_task_start(live.id, live.agent_type, oracle=task_graph(live))
    p.replay_steps(live, max(1, len(live.steps) // 2))
    for prob in (
        p.continue_probability("web", tool)[0],
        p.reuse_probability("web", tool, n_cur),
        p.p_reuse(live.id),
        p.p_reuse(live.id, oracle=True),
        p.next_step(live.id, elapsed_s=elapsed).probability,
        p.overlap(n_cur, tool),
    ):
        assert 0.0 <= prob <= 1.0
    f = p.next_step(live.id, elapsed_s=elapsed)
    assert f.expected_seconds >= 0 and math.isfinite(f.expected_seconds)
    for oracle in (False, True):
        w = p.remaining_work(live.id, oracle=oracle)
        assert min(w.steps, w.prompt_tokens, w.output_tokens, w.tool_seconds) >= 0
        assert math.isfinite(w.steps) and math.isfinite(w.prompt_tokens)


@given(
    st.lists(st.floats(0, 1e3), min_size=1, max_size=40),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 1e3),
)
def test_lognormal_properties(xs: list[float], q1: float, q2: float, elapsed: float) -> None:
    f = LogNormalFit.from_samples(xs)
    lo, hi = sorted((q1, q2))
    assert 0.0 <= f.ppf(lo) <= f.ppf(hi)
    assert 0.0 <= f.p_zero <= 1.0 and f.sigma >= 0
    r = f.expected_residual(elapsed)
    assert r >= 0 and math.isfinite(r)
    assert 0.0 <= f.cdf(elapsed) <= 1.0
    p = Predictor(PredictorConfig(min_tool_samples=1))
    for x in xs:
        p.observe_tool_duration("t", x)
    assert p.tool_duration_percentile("t", lo) <= p.tool_duration_percentile("t", hi)


# -- a known multi-tool chain: learned answers against closed forms --------------------------------

CHAIN: dict[str, dict[str, float]] = {
    START: {"search": 0.8, "read": 0.2},
    "search": {"search": 0.1, "read": 0.75, "write": 0.15},
    "read": {"read": 0.2, "write": 0.7, END: 0.1},
    "write": {"search": 0.5, NO_TOOL: 0.5},
    NO_TOOL: {END: 1.0},
}


def sample_chain_task(i: int, rng: np.random.Generator) -> Task:
    tools: list[str | None] = []
    state = START
    while True:
        nxt = list(CHAIN[state])
        state = nxt[int(rng.choice(len(nxt), p=[CHAIN[state][s] for s in nxt]))]
        if state == END:
            return make_task(f"c{i}", tools, agent="multi")
        tools.append(None if state == NO_TOOL else state)


def test_multi_tool_chain_matches_closed_forms() -> None:
    rng = np.random.default_rng(2024)
    p = warm(min_tasks=30, remaining_estimator="markov")
    for i in range(3000):
        p.observe_task(sample_chain_task(i, rng))
    states = ["search", "read", "write", NO_TOOL]
    q = np.array([[CHAIN[a].get(b, 0.0) for b in states] for a in states])
    further = np.linalg.solve(np.eye(4) - q, np.ones(4)) - 1.0
    for j, s in enumerate(states):
        tool = None if s == NO_TOOL else s
        want_cont = 1.0 - CHAIN[s].get(END, 0.0)
        assert p.continue_probability("multi", tool)[0] == pytest.approx(want_cont, abs=0.02)
        live = make_task(f"live-{j}", [tool], agent="multi")
        p.observe_task_start(live.id, "multi")
        p.observe_llm_call(live.id, 0, prompt_tokens=100, output_tokens=10, tool=tool)
        assert p.expected_remaining_steps(live.id) == pytest.approx(further[j], rel=0.05, abs=0.02)
        p.forget_task(live.id)
    # P_reuse over the pruned graph: search -> read (0.75) is the only kept successor.
    obs = p.expected_observation_tokens("search")
    assert p.reuse_probability("multi", "search", 1000) == pytest.approx(
        p.inference.probability("multi", "search", "read") * 1000 / (1000 + obs)
    )
    assert p.reuse_probability("multi", "write", 1000) == 0.0  # 0.5 / 0.5: both pruned



def _reference_answers(
    p: Predictor, lengths: list[int], tool: str | None, n_cur: int, k: int
) -> tuple[tuple[float, str], float, float | None]:
    """P(continue) with its source, P_reuse and ``E[L - k | L > k]`` of agent type "web",
    from the transition rows, the pruned graph and the finished lengths."""
    g = p.inference.graph("web")
    assert g is not None
    s = NO_TOOL if tool is None else tool
    row = p.inference.transition_rows("web").get(s)
    c = p.config
    prior = c.prior_continue_without_tool if tool is None else c.prior_continue_after_tool
    cont = (min(1.0, max(0.0, 1.0 - row.get(END, 0.0))), "learned") if row else (prior, "prior")
    mass = math.fsum(q for u, q in g.successors(s) if u != END) if s in g else 0.0
    reuse = min(1.0, mass) * p.overlap(n_cur, tool) if mass > 0 else 0.0
    longer = [n for n in lengths if n > k]
    tail = sum(longer) / len(longer) - k if longer else None
    return cont, reuse, tail


@given(histories(), st.lists(st.tuples(tools_st, st.integers(0, 10_000)), min_size=1,
                             max_size=12), st.sampled_from([0.0, 0.3, 0.7, 1.0]))
def test_cached_answers_equal_the_graph_between_every_observation(
    tasks: list[Task], queries: list[tuple[str | None, int]], threshold: float
) -> None:
    """The predictor keeps derived views between observations (the chain's rows and
    pruned reuse mass, task-length tails): asked between every two observations, it
    answers exactly what the pruned AEG (:meth:`AEGInference.graph`) and the finished
    lengths give."""
    p = Predictor(PredictorConfig(aeg=AEGConfig(min_tasks=1, min_edge_probability=threshold)))
    lengths: list[int] = []
    for t in tasks:
        p.observe_task_start(t.id, t.agent_type)
        for k, s in enumerate(t.steps, start=1):
            p.observe_llm_call(t.id, s.index, prompt_tokens=s.prompt_tokens,
                               output_tokens=s.output_tokens, tool=s.tool, deps=s.deps)
            if not p.is_warm("web"):
                continue
            for tool, n_cur in queries:
                cont, reuse, _ = _reference_answers(p, lengths, tool, n_cur, k)
                assert p.continue_probability("web", tool) == cont
                assert p.reuse_probability("web", tool, n_cur) == reuse
            (p_cont, _), _, tail = _reference_answers(p, lengths, s.tool, 0, k)
            if tail is not None:  # the survival estimate
                assert p.remaining_work(t.id).steps == max(0.0, p_cont * tail)
        p.observe_task_end(t.id)
        lengths.append(len(t.steps))
