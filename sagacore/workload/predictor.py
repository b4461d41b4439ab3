"""The predictor: the one place workflow knowledge lives, queried by every policy.

Policies ask a :class:`Predictor` read-only questions: will this task call the LLM again
after its current step, and when (:meth:`Predictor.next_step`); how likely is a cached
context to be reused (SAGA's P_reuse, :meth:`Predictor.p_reuse`); how long do tools of
a type run (:meth:`Predictor.tool_duration`, a log-normal fit, and its percentiles, which
SAGA's TTL rule in :mod:`sagacore.cache.saga_ttl` asks); how much work a task has left
(:meth:`Predictor.remaining_work`). It learns only through explicit ``observe_*`` calls
made by the *mechanism* (the simulator or a real engine's adapter), so it behaves the
same in both. It takes task ids, step indices, tool types, token counts and seconds,
never simulator objects.

**Learned and oracle answers are kept apart.** Every task-keyed query takes
``oracle=False`` by default and then uses only what was observed so far. A mechanism
that knows a task's true future may hand it over as the task's realised AEG
(``observe_task_start(..., oracle=task_graph(task))``); queries then answer from it
only when called with ``oracle=True`` (and raise when no oracle was given). Results
carry a ``source``: ``"oracle"``, ``"learned"`` or ``"prior"``.

What is learned, from what, and how it is kept is :mod:`sagacore.workload.fitting`'s part
(:class:`~sagacore.workload.fitting.WorkflowStats`, the ``observe_*`` updates, of which
:class:`Predictor` is the query side; definitions and defaults in
``docs/aeg-and-predictor.md``).

SAGA's formulas (module functions, also used by the methods):

- ``overlap = n_cur / (n_cur + E[observation tokens of phi(v)])`` (:func:`react_overlap`),
  ``n_cur`` the tokens of the cached context (the step's prompt and output);
- ``P_reuse(v) = min(1, sum over successors u != END of P(v -> u)) * overlap`` over the
  pruned AEG; the cap at 1 matters only for realised DAGs whose successors all run.

SAGA's TTL is a policy rule, not workflow knowledge: it lives with its policy
(:mod:`sagacore.cache.saga_ttl`), which asks this predictor for a tool's P95.

Examples
--------
>>> from sagacore.workload.aeg import AEGConfig
>>> p = Predictor(PredictorConfig(aeg=AEGConfig(min_tasks=0)))
>>> p.observe_task_start(TaskId("t"), "swe")
>>> p.observe_llm_call(TaskId("t"), 0, prompt_tokens=1000, output_tokens=100, tool="bash")
>>> p.observe_tool_call(TaskId("t"), 0, 2.0)
>>> p.observe_llm_call(TaskId("t"), 1, prompt_tokens=1400, output_tokens=50, tool=None)
>>> p.expected_observation_tokens("bash")  # 1400 - (1000 + 100)
300.0
>>> p.observe_task_end(TaskId("t"))
>>> round(p.tool_duration_percentile("bash", 0.95), 3)  # prior: P95 of LogNormal(ln .25, 1)
1.295
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np

from sagacore._values import quick_init
from sagacore.errors import ConfigError
from sagacore.validate import finite_number
from sagacore.workload.aeg import END, START, state_of, task_graph
from sagacore.workload.fitting import LogNormalFit, PredictorConfig, WorkflowStats
from sagacore.workload.model import Task, TaskId

__all__ = [
    "LogNormalFit",
    "NextStepForecast",
    "Predictor",
    "PredictorConfig",
    "RemainingStepsAccuracy",
    "RemainingWork",
    "Source",
    "evaluate_remaining_steps",
    "react_overlap",
]

Source: TypeAlias = Literal["oracle", "learned", "prior"]
"""Where an answer came from: the task's true future, observed history, or defaults."""


# -- SAGA's formulas --------------------------------------------------------------------------


def react_overlap(context_tokens: float, expected_observation_tokens: float) -> float:
    """SAGA's ReAct overlap ``n_cur / (n_cur + expected observation length)``.

    The share of the next prompt that the cached context covers. 1 when the
    observation is empty; 0 for an empty context (by convention, also for ``0 / 0``).

    Examples
    --------
    >>> react_overlap(900, 100), react_overlap(0, 0)
    (0.9, 0.0)
    """
    n = finite_number("context_tokens", context_tokens, lo=0.0)
    obs = finite_number("expected_observation_tokens", expected_observation_tokens, lo=0.0)
    return n / (n + obs) if n > 0 else 0.0


# -- answers --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NextStepForecast:
    """Whether and when a task calls the LLM again after a step."""

    probability: float
    """P(at least one LLM call follows the step), in [0, 1]."""
    expected_seconds: float
    """Expected seconds until it can start: the remaining tool time (0 without a tool)."""
    source: Source
    """Source of ``probability`` (the duration's is ``tool_duration(tool).source``)."""


@quick_init
@dataclass(frozen=True, slots=True)
class RemainingWork:
    """Expected work of a task after the LLM calls observed so far.

    The tool running now is not included (see :meth:`Predictor.next_step`).
    """

    steps: float
    """LLM calls still to come."""
    prompt_tokens: float
    """Sum of their prompt tokens (before any prefix caching)."""
    output_tokens: float
    """Sum of their output tokens."""
    tool_seconds: float
    """Sum of the tool seconds that follow them."""
    source: Source
    """``"oracle"`` (the task's realised graph), ``"learned"`` or ``"prior"``."""



class Predictor(WorkflowStats):
    """Workflow knowledge shared by all policies: next steps, reuse, durations, work left.

    Parameters
    ----------
    config
        Parameters and priors (:class:`PredictorConfig`).

    Notes
    -----
    Queries never change what the predictor has learned; only ``observe_*`` calls do
    (:class:`~sagacore.workload.fitting.WorkflowStats`, which this class extends with
    the queries: what is learned and when it is used is documented there).

    Examples
    --------
    >>> from sagacore.workload.aeg import AEGConfig
    >>> from sagacore.workload.model import Segment, Step, Task
    >>> p = Predictor(PredictorConfig(aeg=AEGConfig(min_tasks=1)))
    >>> steps = tuple(Step(i, (Segment(i, 100 * (i + 1)),), 10, 50 + i,
    ...                    tool="bash" if i < 3 else None, tool_seconds=1.0 if i < 3 else 0.0,
    ...                    deps=(i - 1,) if i else ()) for i in range(4))
    >>> p.observe_task(Task(TaskId("hist"), steps))
    >>> p.observe_task_start(TaskId("live"), "agent", oracle=task_graph(Task(TaskId("live"), steps)))
    >>> p.observe_llm_call(TaskId("live"), 0, prompt_tokens=100, output_tokens=10, tool="bash")
    >>> p.remaining_work(TaskId("live")).steps, p.remaining_work(TaskId("live"), oracle=True).steps
    (3.0, 3.0)
    >>> p.next_step(TaskId("live")).probability
    1.0
    """

    def tool_duration_percentile(self, tool: str, q: float) -> float:
        """The ``q``-quantile (``0 <= q <= 1``) of ``tool``'s duration, seconds."""
        return self.tool_duration(tool).ppf(q)

    def saga_ttl(self, tool: str, memory_used_fraction: float) -> float:
        """Deprecated: SAGA's TTL rule is :class:`sagacore.cache.saga_ttl.SagaTTLConfig`'s
        (its default settings here)."""
        warnings.warn("Predictor.saga_ttl is deprecated: SAGA's TTL rule lives in "
                      "sagacore.cache.saga_ttl (SagaTTLConfig().ttl of the tool's "
                      "tool_duration_percentile)", DeprecationWarning, stacklevel=2)
        from sagacore.cache.saga_ttl import SagaTTLConfig

        c = SagaTTLConfig()
        return c.ttl(self.tool_duration_percentile(tool, c.ttl_percentile),
                     memory_used_fraction)

    def overlap(self, context_tokens: float, tool: str | None) -> float:
        """:func:`react_overlap` of a context of ``context_tokens`` before ``tool`` runs."""
        return react_overlap(context_tokens, self.expected_observation_tokens(tool))

    def continue_probability(self, agent_type: str, tool: str | None) -> tuple[float, Source]:
        """P(another LLM call follows a step of ``tool``) = ``1 - P(state -> END)``.

        From the full (unpruned) chain of a warm type whose state was seen; else the
        prior for a step with or without a tool.
        """
        ch = self._chain(agent_type)
        row = ch.full.get(state_of(tool)) if ch is not None else None
        if row:
            return min(1.0, max(0.0, 1.0 - row.get(END, 0.0))), "learned"
        c = self.config
        prior = c.prior_continue_without_tool if tool is None else c.prior_continue_after_tool
        return prior, "prior"

    def reuse_probability(self, agent_type: str, tool: str | None, context_tokens: float) -> float:
        """SAGA's P_reuse of a context of ``context_tokens`` whose step calls ``tool``.

        ``min(1, sum of P(v -> u) over the pruned AEG's successors u != END) * overlap``;
        0 while the agent type is cold (plain requests: no workflow knowledge).
        """
        ch = self._chain(agent_type)
        if ch is None:
            return 0.0
        mass = ch.reuse_mass.get(state_of(tool), 0.0)
        return min(1.0, mass) * self.overlap(context_tokens, tool) if mass > 0 else 0.0

    def next_step(
        self,
        task_id: TaskId,
        step: int | None = None,
        *,
        elapsed_s: float = 0.0,
        oracle: bool = False,
    ) -> NextStepForecast:
        """Will an LLM call follow ``step`` (default: the latest observed), and when?

        ``elapsed_s`` is how long the step's tool has run. The expected time is
        :meth:`LogNormalFit.expected_residual` of the tool's model (learned) or the
        true tool time left (oracle); 0 when the step calls no tool.
        """
        ts = self._task(task_id)
        v = self._step(ts, task_id, step)
        e = finite_number("elapsed_s", elapsed_s, lo=0.0)
        if oracle:
            g = self._oracle(ts, task_id)
            left = max(0.0, float(g.graph.nodes[v]["tool_seconds"]) - e)
            return NextStepForecast(1.0 if g.successors(v) else 0.0, left, "oracle")
        tool = ts.steps[v].tool
        p, src = self.continue_probability(ts.agent_type, tool)
        secs = 0.0 if tool is None else self.tool_duration(tool).expected_residual(e)
        return NextStepForecast(p, secs, src)

    def p_reuse(self, task_id: TaskId, step: int | None = None, *, oracle: bool = False) -> float:
        """SAGA's P_reuse of the context left by ``step`` of ``task_id`` (default: latest).

        Learned: :meth:`reuse_probability`. Oracle: each successor ``u`` in the realised
        graph contributes ``min(1, n_cur / prompt(u))`` (the ReAct overlap with the true
        observation), capped at 1 in total. A task not (or no longer) tracked reuses
        nothing: 0.
        """
        ts = self._tasks.get(task_id)
        if ts is None:
            return 0.0
        v = self._step(ts, task_id, step)
        obs = ts.steps[v]
        n_cur = obs.prompt_tokens + obs.output_tokens
        if oracle:
            g = self._oracle(ts, task_id)
            total = 0.0
            for u, p in g.successors(v):
                prompt_u = float(g.graph.nodes[u].get("prompt_tokens", 0))
                total += p * (min(1.0, n_cur / prompt_u) if prompt_u > 0 else 1.0)
            return min(1.0, total)
        return self.reuse_probability(ts.agent_type, obs.tool, n_cur)

    def remaining_work(self, task_id: TaskId, *, oracle: bool = False) -> RemainingWork:
        """Expected work of ``task_id`` after its observed LLM calls.

        Oracle: the sums over the realised graph's steps not yet observed. Learned
        (warm type), with ``k`` observed calls, the latest step's state ``s``:

        - steps ``R``: ``"survival"``: ``P(continue | s) * E[L - k | L > k]`` over the
          type's finished task lengths ``L`` (the Markov estimate when no finished task
          was longer than ``k``); ``"markov"``: expected further visits to non-END
          states from ``s`` in the full chain, ``(N 1)_s - 1`` with ``N = (I - Q)^-1``;
        - output tokens ``R * mean output``; tool seconds ``R * mean tool seconds per
          step``; prompt tokens ``R * prompt(s) + g R (R + 1) / 2`` with ``g`` the mean
          prompt growth per call (a ReAct approximation evaluated at the mean ``R``).

        Cold type (prior): ``R = P_prior(continue) * max(prior_task_steps - k, 1)`` and
        the prior token and time means.
        """
        ts = self._task(task_id)
        if oracle:
            g = self._oracle(ts, task_id)
            pending = [v for v in g.nodes if v not in ts.steps]
            nodes = g.graph.nodes
            return RemainingWork(
                float(len(pending)),
                float(sum(nodes[v].get("prompt_tokens", 0) for v in pending)),
                float(sum(nodes[v].get("output_tokens", 0) for v in pending)),
                float(sum(nodes[v].get("tool_seconds", 0.0) for v in pending)),
                "oracle",
            )
        c = self.config
        k = len(ts.steps)
        if ts.last is None:
            state, tool, prompt_now = START, None, 0.0
            p_cont = 1.0
        else:
            obs = ts.steps[ts.last]
            tool, prompt_now = obs.tool, float(obs.prompt_tokens)
            state = state_of(tool)
            p_cont = self.continue_probability(ts.agent_type, tool)[0]
        ch = self._chain(ts.agent_type)
        if ch is None:
            steps = p_cont * max(c.prior_task_steps - k, 1.0)
            return self._work(
                steps,
                prompt_now,
                c.prior_output_tokens,
                c.prior_prompt_growth_tokens,
                self._prior_tool.mean(),
                "prior",
            )
        steps_opt: float | None = None
        if c.remaining_estimator == "survival":
            tail = self._survival(ch, k)
            if tail is not None:
                steps_opt = p_cont * tail
        if steps_opt is None:
            steps_opt = self._markov(ch, state)
        if steps_opt is None:  # state never seen or chain singular
            steps_opt = p_cont * max(c.prior_task_steps - k, 1.0)
        st = self._agent(ts.agent_type)
        return self._work(
            steps_opt,
            prompt_now,
            st.output_tokens.value if st.output_tokens.n else c.prior_output_tokens,
            st.prompt_growth.value if st.prompt_growth.n else c.prior_prompt_growth_tokens,
            st.tool_seconds.value if st.tool_seconds.n else self._prior_tool.mean(),
            "learned",
        )

    def expected_remaining_steps(self, task_id: TaskId, *, oracle: bool = False) -> float:
        """``remaining_work(task_id, oracle=oracle).steps``."""
        return self.remaining_work(task_id, oracle=oracle).steps

    @staticmethod
    def _work(
        steps: float, prompt_now: float, out: float, growth: float, tool_s: float, src: Source
    ) -> RemainingWork:
        r = max(0.0, steps)
        prompt = max(0.0, r * prompt_now + growth * r * (r + 1) / 2)
        return RemainingWork(r, prompt, r * out, r * max(0.0, tool_s), src)


# -- accuracy on a trace -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemainingStepsAccuracy:
    """Accuracy of predicted remaining LLM calls at one point of each test task."""

    n: int
    """Test points (one per task with at least 2 steps)."""
    median_abs_rel_error: float
    """Median of ``|predicted - true| / true``."""
    mean_abs_rel_error: float
    """Mean of the same."""
    p90_abs_rel_error: float
    """90th percentile of the same."""
    median_abs_error_steps: float
    """Median of ``|predicted - true|`` in steps."""
    oracle_max_abs_error: float
    """Largest error of the oracle answer (0 unless the oracle path is broken)."""
    sources: Mapping[str, int]
    """How many learned answers came from each source."""


def evaluate_remaining_steps(
    tasks: Iterable[Task],
    *,
    at_fraction: float = 0.5,
    folds: int = 2,
    config: PredictorConfig | None = None,
) -> RemainingStepsAccuracy:
    """Cross-validated error of :meth:`Predictor.expected_remaining_steps` on ``tasks``.

    Task ``i`` (in the given order) is in fold ``i % folds``. For each fold a fresh
    predictor learns every other fold's tasks (:meth:`Predictor.observe_task`); each
    test task of ``L >= 2`` steps then replays its first ``k = min(L - 1, max(1,
    floor(at_fraction * L)))`` steps and is asked for its remaining steps (true:
    ``L - k``) learned and with its oracle, then forgotten. Replayed prefixes stay in
    the tool and transition statistics, as they would online.

    Examples
    --------
    On the bundled trace (``evaluate_remaining_steps(read_workload(bundled_trace()))``)
    the median error is 0.396 (``docs/aeg-and-predictor.md``). A small synthetic example:

    >>> from sagacore.workload.aeg import AEGConfig
    >>> from sagacore.workload.model import Segment, Step
    >>> def chain(i: int, n: int) -> Task:
    ...     return Task(TaskId(f"t{i}"), tuple(
    ...         Step(k, (Segment(k, 10),), 5, 100 + k, tool="a", tool_seconds=1.0,
    ...              deps=(k - 1,) if k else ()) for k in range(n)))
    >>> tasks = [chain(i, 4 + 2 * (i % 4)) for i in range(8)]
    >>> acc = evaluate_remaining_steps(tasks, config=PredictorConfig(aeg=AEGConfig(min_tasks=2)))
    >>> acc.n, round(acc.median_abs_rel_error, 3), acc.oracle_max_abs_error, acc.sources
    (8, 0.31, 0.0, {'learned': 8})
    """
    ts = list(tasks)
    frac = finite_number("at_fraction", at_fraction, lo=0.0, hi=1.0)
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ConfigError(f"folds must be an int >= 2, got {folds!r}")
    rel: list[float] = []
    absd: list[float] = []
    oracle_err = 0.0
    sources: Counter[str] = Counter()
    for f in range(folds):
        p = Predictor(config)
        for i, t in enumerate(ts):
            if i % folds != f:
                p.observe_task(t)
        for i, t in enumerate(ts):
            if i % folds != f or len(t.steps) < 2:
                continue
            n = len(t.steps)
            k = min(n - 1, max(1, math.floor(frac * n)))
            p.observe_task_start(t.id, t.agent_type, oracle=task_graph(t))
            p.replay_steps(t, k)
            w = p.remaining_work(t.id)
            o = p.remaining_work(t.id, oracle=True)
            p.forget_task(t.id)
            true = n - k
            rel.append(abs(w.steps - true) / true)
            absd.append(abs(w.steps - true))
            oracle_err = max(oracle_err, abs(o.steps - true))
            sources[w.source] += 1
    if not rel:
        raise ConfigError("evaluate_remaining_steps: no task with at least 2 steps")
    r = np.asarray(rel)
    return RemainingStepsAccuracy(
        n=len(rel),
        median_abs_rel_error=float(np.median(r)),
        mean_abs_rel_error=float(r.mean()),
        p90_abs_rel_error=float(np.percentile(r, 90)),
        median_abs_error_steps=float(np.median(absd)),
        oracle_max_abs_error=oracle_err,
        sources=dict(sources),
    )


_MOVED = {"memory_pressure", "saga_ttl_seconds"}


def __getattr__(name: str) -> object:
    """SAGA's TTL formulas, moved to :mod:`sagacore.cache.saga_ttl` (deprecated here)."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"sagacore.workload.predictor.{name} is deprecated: use "
                  f"sagacore.cache.saga_ttl.{name}", DeprecationWarning, stacklevel=2)
    from sagacore.cache import saga_ttl

    found: object = getattr(saga_ttl, name)
    return found
