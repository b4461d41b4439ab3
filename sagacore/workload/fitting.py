"""Fitting: what the predictor learns from observations, and the models it fits.

The shared :class:`~sagacore.workload.predictor.Predictor` has two sides. This module is
the side that *learns*: :class:`WorkflowStats` takes every ``observe_*`` update (made by
a mechanism: the simulator, cache replay, a real engine's adapter) and keeps the state
and the estimators they feed; :mod:`sagacore.workload.predictor` is the side that is
*asked* (:class:`~sagacore.workload.predictor.Predictor`, a :class:`WorkflowStats` with
the queries, which never change what was learned).

What is learned, and from what (definitions and defaults in ``docs/aeg-and-predictor.md``):

- **Per agent type** (used only once :attr:`~sagacore.workload.aeg.AEGConfig.min_tasks`
  tasks of the type ended; before that, priors: SAGA serves a new type as plain
  requests): the tool-state Markov chain (:class:`~sagacore.workload.aeg.AEGInference`),
  the distribution of task lengths (LLM calls per task), the mean output tokens per
  call, the mean prompt growth between consecutive calls and the mean tool seconds per
  step.
- **Per tool type** (from the first sample on): the expected observation length, an
  exponential moving average (EMA) of the tokens a tool's observation adds to the next
  prompt, ``x_bar <- x_bar + alpha (x - x_bar)`` with ``alpha =
  observation_ema_alpha`` (0.1), initialised with the first sample; and the tool
  duration distribution, a log-normal fitted by maximum likelihood on the log
  durations (``mu`` = mean, ``sigma`` = population standard deviation of ``ln d``),
  used from ``min_tool_samples`` (10) samples on.
- **Zero durations** (``d <= zero_duration_s``, 1 ms: timestamps have millisecond
  resolution and the trace reader clamps small negative skews to 0) have no logarithm;
  they are kept as a point mass ``p_zero`` at 0 and the log-normal is fitted to the
  positive rest, so the model is ``D = 0`` with probability ``p_zero``, else
  ``LogNormal(mu, sigma)`` (:class:`LogNormalFit`).

**Kept views.** What the queries derive from the counts is kept until an observation
changes what it derives from: an agent type's chain rows and the pruned chain's reuse
mass (computed from the rows as :meth:`~sagacore.workload.aeg.AEGInference.graph` prunes
them, the same floats, without building the graph) until its next transition, its
task-length tails until one of its tasks ends, a tool's fit until its next sample. A
query then costs dictionary lookups and a few floating-point operations, the same ones
as before it was kept (``tests/test_predictor.py`` checks the answers against the graph
between every two observations).

Examples
--------
>>> s = WorkflowStats(PredictorConfig(aeg=AEGConfig(min_tasks=0)))
>>> s.observe_task_start(TaskId("t"), "swe")
>>> s.observe_llm_call(TaskId("t"), 0, prompt_tokens=1000, output_tokens=100, tool="bash")
>>> s.observe_tool_call(TaskId("t"), 0, 2.0)
>>> s.observe_llm_call(TaskId("t"), 1, prompt_tokens=1400, output_tokens=50, tool=None)
>>> s.expected_observation_tokens("bash")  # 1400 - (1000 + 100)
300.0
>>> s.observe_task_end(TaskId("t"))
>>> s.tasks_seen("swe"), s.tool_duration("bash").source  # 1 sample: still the prior
(1, 'prior')
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import log_ndtr, ndtr, ndtri

from sagacore._values import quick_init
from sagacore.errors import ConfigError, WorkloadError
from sagacore.validate import finite_number, positive, positive_int
from sagacore.workload.aeg import (
    END,
    START,
    AEGConfig,
    AEGInference,
    AgentExecutionGraph,
    state_of,
)
from sagacore.workload.model import Task, TaskId

__all__ = ["LogNormalFit", "PredictorConfig", "WorkflowStats", "finite_number"]


# -- tool durations -----------------------------------------------------------------------------


_NDTRI: dict[float, float] = {}
"""``ndtri`` of the quantiles asked for (SAGA's TTL asks for the 0.95 quantile of every
tool's fit, one scalar ufunc call each otherwise)."""


@quick_init
@dataclass(frozen=True, slots=True)
class LogNormalFit:
    """Tool-duration model: 0 with probability ``p_zero``, else ``LogNormal(mu, sigma)``.

    ``LogNormal(mu, sigma)`` is scipy's ``lognorm(s=sigma, scale=exp(mu))``. With
    ``sigma == 0`` the positive part is the point ``exp(mu)``.

    Examples
    --------
    >>> f = LogNormalFit.from_samples([1.0, math.e, math.e ** 2])
    >>> round(f.mu, 6), round(f.sigma, 6), f.n
    (1.0, 0.816497, 3)
    >>> round(f.ppf(0.5), 6) == round(math.e, 6)
    True
    >>> LogNormalFit.from_samples([0.0, 0.0, 2.0, 2.0]).ppf(0.25)  # in the zero mass
    0.0
    """

    mu: float
    """Mean of the log durations of the positive part (log-seconds)."""
    sigma: float
    """Standard deviation of the log durations of the positive part (>= 0)."""
    p_zero: float = 0.0
    """Probability of a zero duration."""
    n: int = 0
    """Samples the fit used (0 for a prior)."""
    source: Literal["learned", "prior"] = "learned"
    """Fitted from samples, or a prior default."""

    def __post_init__(self) -> None:
        finite_number("mu", self.mu)
        finite_number("sigma", self.sigma, lo=0.0)
        finite_number("p_zero", self.p_zero, lo=0.0, hi=1.0)

    @classmethod
    def from_samples(cls, durations: ArrayLike, *, zero_duration_s: float = 1e-3) -> LogNormalFit:
        """Maximum-likelihood fit; durations ``<= zero_duration_s`` form ``p_zero``.

        Raises :class:`~sagacore.errors.ConfigError` for no samples or a negative or
        non-finite one. With only zeros, ``mu = 0, sigma = 0, p_zero = 1``.
        """
        x = np.asarray(durations, dtype=float).ravel()
        if x.size == 0:
            raise ConfigError("LogNormalFit.from_samples needs at least one duration, got none")
        bad = ~np.isfinite(x) | (x < 0)
        if bad.any():
            raise ConfigError(f"durations must be finite and >= 0, got {x[bad][0]!r}")
        pos = x[x > zero_duration_s]
        p_zero = 1.0 - pos.size / x.size
        if pos.size == 0:
            return cls(0.0, 0.0, 1.0, int(x.size))
        logs = np.log(pos)
        return cls(float(logs.mean()), float(logs.std()), p_zero, int(x.size))

    @classmethod
    def prior(cls, median_s: float, sigma: float) -> LogNormalFit:
        """A prior with this median and log standard deviation (``n = 0``)."""
        return cls(math.log(positive("median_s", median_s)), sigma, 0.0, 0, "prior")

    def mean(self) -> float:
        """Expected duration ``(1 - p_zero) exp(mu + sigma^2 / 2)``."""
        return (1.0 - self.p_zero) * math.exp(self.mu + self.sigma**2 / 2)

    def cdf(self, x: float) -> float:
        """``P(D <= x)``."""
        p0, sigma = self.p_zero, self.sigma
        if x > 0 and sigma != 0:  # the common case first: the same operations as below
            return p0 + (1.0 - p0) * float(ndtr((math.log(x) - self.mu) / sigma))
        if x < 0:
            return 0.0
        if x == 0:
            return self.p_zero
        if self.sigma == 0:
            pos = 1.0 if x >= math.exp(self.mu) else 0.0
        else:
            pos = float(ndtr((math.log(x) - self.mu) / self.sigma))
        return self.p_zero + (1.0 - self.p_zero) * pos

    def ppf(self, q: float) -> float:
        """The ``q``-quantile (0 inside the zero mass; ``inf`` at ``q = 1`` when sigma > 0).

        Raises :class:`~sagacore.errors.ConfigError` unless ``0 <= q <= 1``.
        """
        q = finite_number("quantile", q, lo=0.0, hi=1.0)
        if q <= self.p_zero:
            return 0.0
        r = (q - self.p_zero) / (1.0 - self.p_zero)
        if self.sigma == 0:
            return math.exp(self.mu)
        if r >= 1.0:
            return math.inf
        z = _NDTRI.get(r)
        if z is None:
            if len(_NDTRI) >= 1024:
                _NDTRI.clear()
            z = _NDTRI[r] = float(ndtri(r))
        return math.exp(self.mu + self.sigma * z)

    def expected_residual(self, elapsed_s: float) -> float:
        """Expected remaining duration of a tool that has run ``elapsed_s`` seconds.

        ``E[D]`` at ``elapsed_s = 0``; for ``elapsed_s > 0`` it is
        ``E[D - e | D > e]`` of the log-normal part, computed in log space as
        ``exp(mu + sigma^2/2) Phi(a + sigma) / Phi(a) - e`` with
        ``a = (mu - ln e) / sigma``; 0 once a ``sigma == 0`` tool is overdue.

        Examples
        --------
        >>> f = LogNormalFit(0.0, 1.0)
        >>> round(f.expected_residual(0.0), 4), round(f.expected_residual(1.0), 4)
        (1.6487, 1.7743)
        """
        e = finite_number("elapsed_s", elapsed_s, lo=0.0)
        if e == 0:
            return self.mean()
        if self.p_zero >= 1.0:
            return 0.0
        if self.sigma == 0:
            return max(0.0, math.exp(self.mu) - e)
        a = (self.mu - math.log(e)) / self.sigma
        log_ratio = float(log_ndtr(a + self.sigma)) - float(log_ndtr(a))
        return max(0.0, math.exp(self.mu + self.sigma**2 / 2 + log_ratio) - e)


class _Durations:
    """Online MLE of :class:`LogNormalFit` (Welford on log durations)."""

    __slots__ = ("_fit", "m2", "mean", "n_pos", "n_zero")

    def __init__(self) -> None:
        self.n_pos = 0
        self.n_zero = 0
        self.mean = 0.0
        self.m2 = 0.0
        self._fit: LogNormalFit | None = None

    def add(self, seconds: float, zero_s: float) -> None:
        self._fit = None
        if seconds <= zero_s:
            self.n_zero += 1
            return
        self.n_pos += 1
        x = math.log(seconds)
        d = x - self.mean
        self.mean += d / self.n_pos
        self.m2 += d * (x - self.mean)

    @property
    def n(self) -> int:
        return self.n_pos + self.n_zero

    def fit(self) -> LogNormalFit:
        """The fit of the samples so far (one frozen object until the next sample)."""
        f = self._fit
        if f is None:
            if self.n_pos == 0:
                f = LogNormalFit(0.0, 0.0, 1.0, self.n)
            else:
                sigma = math.sqrt(max(0.0, self.m2) / self.n_pos)
                f = LogNormalFit(self.mean, sigma, self.n_zero / self.n, self.n)
            self._fit = f
        return f


class _Ema:
    __slots__ = ("n", "value")

    def __init__(self) -> None:
        self.n = 0
        self.value = 0.0

    def add(self, x: float, alpha: float) -> None:
        self.value = x if self.n == 0 else self.value + alpha * (x - self.value)
        self.n += 1


class _Mean:
    __slots__ = ("n", "value")

    def __init__(self) -> None:
        self.n = 0
        self.value = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        self.value += (x - self.value) / self.n



# -- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PredictorConfig:
    """Parameters of :class:`~sagacore.workload.predictor.Predictor` (what it learns and how
    it answers); priors are used until there is data.

    Raises :class:`~sagacore.errors.ConfigError` showing the bad value.
    """

    aeg: AEGConfig = field(default_factory=AEGConfig)
    """AEG inference: edge threshold (0.7) and warm-up (30 tasks) per agent type."""
    observation_ema_alpha: float = 0.1
    """Weight of the newest sample in the observation-length EMA, in (0, 1]."""
    prior_observation_tokens: float = 340.0
    """Observation tokens before a tool's first sample (published SWE-agent prompt growth
    of about 430 tokens per step minus about 90 output tokens)."""
    prior_tool_median_s: float = 0.25
    """Median tool duration before ``min_tool_samples`` samples (published SWE agents)."""
    prior_tool_sigma: float = 1.0
    """Log standard deviation of the prior tool duration (P95 = 1.29 s with the median)."""
    min_tool_samples: int = 10
    """Samples of a tool type before its fitted distribution replaces the prior."""
    zero_duration_s: float = 1e-3
    """Durations at or below this are zero (the point mass ``p_zero``)."""
    prior_task_steps: float = 75.0
    """Expected LLM calls per task of a cold agent type (published SWE-agent median)."""
    prior_output_tokens: float = 90.0
    """Expected output tokens per call of a cold agent type (published median)."""
    prior_prompt_growth_tokens: float = 430.0
    """Expected prompt growth per call of a cold agent type (published SWE agents)."""
    prior_continue_after_tool: float = 0.95
    """P(another LLM call follows) after a step that called a tool, for a cold type."""
    prior_continue_without_tool: float = 0.05
    """P(another LLM call follows) after a step that called no tool (ReAct: the answer)."""
    remaining_estimator: Literal["survival", "markov"] = "survival"
    """Learned remaining steps: ``"survival"`` = ``P(continue | state) * E[L - k | L > k]``
    from the type's task lengths; ``"markov"`` = expected steps to absorption in the
    tool-state chain."""

    def __post_init__(self) -> None:
        if not isinstance(self.aeg, AEGConfig):
            raise ConfigError(f"aeg must be an AEGConfig, got {self.aeg!r}")
        a = finite_number("observation_ema_alpha", self.observation_ema_alpha, lo=0.0, hi=1.0)
        if a == 0:
            raise ConfigError(f"observation_ema_alpha must be in (0, 1], got {a!r}")
        for name in (
            "prior_observation_tokens",
            "prior_tool_sigma",
            "zero_duration_s",
            "prior_output_tokens",
            "prior_prompt_growth_tokens",
        ):
            positive(name, getattr(self, name), zero_ok=True)
        for name in ("prior_tool_median_s", "prior_task_steps"):
            positive(name, getattr(self, name))
        for name in ("prior_continue_after_tool", "prior_continue_without_tool"):
            finite_number(name, getattr(self, name), lo=0.0, hi=1.0)
        positive_int("min_tool_samples", self.min_tool_samples)
        if self.remaining_estimator not in ("survival", "markov"):
            raise ConfigError(
                f"remaining_estimator must be 'survival' or 'markov', got {self.remaining_estimator!r}"
            )



# -- per-task and per-agent-type state ------------------------------------------------------------


@dataclass(slots=True)
class _StepObs:
    tool: str | None
    prompt_tokens: int
    output_tokens: int


@dataclass(slots=True)
class _TaskState:
    agent_type: str
    oracle: AgentExecutionGraph | None
    steps: dict[int, _StepObs] = field(default_factory=dict)
    has_succ: set[int] = field(default_factory=set)
    last: int | None = None


@dataclass(slots=True)
class _AgentStats:
    lengths: Counter[int] = field(default_factory=Counter)
    output_tokens: _Mean = field(default_factory=_Mean)
    prompt_growth: _Mean = field(default_factory=_Mean)
    tool_seconds: _Mean = field(default_factory=_Mean)


@dataclass(slots=True)
class _Lengths:
    """Tail counts and sums of one agent type's finished task lengths (sorted)."""

    lengths: list[int]
    tail_count: list[int]
    tail_sum: list[int]

    @classmethod
    def of(cls, counts: Counter[int]) -> _Lengths:
        lengths = sorted(counts.items())
        ls = [n for n, _ in lengths]
        tail_count = [0] * (len(ls) + 1)
        tail_sum = [0] * (len(ls) + 1)
        for i in range(len(ls) - 1, -1, -1):
            n, c = lengths[i]
            tail_count[i] = tail_count[i + 1] + c
            tail_sum[i] = tail_sum[i + 1] + c * n
        return cls(ls, tail_count, tail_sum)


@dataclass(slots=True)
class _Chain:
    """Derived, cached view of one warm agent type's knowledge."""

    full: dict[str, dict[str, float]]
    reuse_mass: dict[str, float]
    tails: _Lengths
    markov: dict[str, float] | None = None
    stale: set[str] = field(default_factory=set)
    """States whose outgoing transitions were observed since ``full`` was computed (an
    inferred chain's rows are recomputed for those alone, at the next query)."""



class WorkflowStats:
    """What the predictor has learned: the ``observe_*`` updates and the state they feed.

    Parameters
    ----------
    config
        Parameters and priors (:class:`PredictorConfig`).

    Notes
    -----
    Agent-type knowledge is used once :meth:`is_warm`; tool-type knowledge from its
    first sample (observation lengths) or ``min_tool_samples`` samples (durations).
    Transitions are recorded as steps are observed (``observe_llm_call``); a task
    counts towards warm-up and the length distribution only at ``observe_task_end``.
    The queries are :class:`~sagacore.workload.predictor.Predictor`'s.
    """

    def __init__(self, config: PredictorConfig | None = None) -> None:
        self.config = config if config is not None else PredictorConfig()
        self._inference = AEGInference(self.config.aeg)
        self._tasks: dict[TaskId, _TaskState] = {}
        self._agents: dict[str, _AgentStats] = {}
        self._obs: dict[str, _Ema] = {}
        self._durations: dict[str, _Durations] = {}
        self._chains: dict[str, _Chain | None] = {}
        self._tails: dict[str, _Lengths] = {}
        self._active: tuple[TaskId, ...] | None = None
        self._active_set: frozenset[TaskId] | None = None
        self._prior_tool = LogNormalFit.prior(
            self.config.prior_tool_median_s, self.config.prior_tool_sigma
        )

    def observe_task_start(
        self, task_id: TaskId, agent_type: str, *, oracle: AgentExecutionGraph | None = None
    ) -> None:
        """A task arrived. ``oracle``: its realised AEG, answered from only on request."""
        if task_id in self._tasks:
            raise WorkloadError(f"predictor: task {task_id!r} already started")
        if oracle is not None and oracle.kind != "realised":
            raise WorkloadError(
                f"predictor: the oracle of task {task_id!r} must be a realised graph, "
                f"got kind {oracle.kind!r}"
            )
        self._tasks[task_id] = _TaskState(agent_type, oracle)
        self._active = self._active_set = None

    def observe_llm_call(
        self,
        task_id: TaskId,
        step: int,
        *,
        prompt_tokens: int,
        output_tokens: int,
        tool: str | None,
        deps: Sequence[int] | None = None,
    ) -> None:
        """The LLM call of ``step`` finished, producing a call of ``tool`` (None: no tool).

        ``deps`` defaults to ``(step - 1,)`` (a ReAct chain; none for step 0). Records a
        tool-state transition from each observed dependency (``START`` without any), and,
        for a single observed dependency ``d``, the observation length
        ``prompt_tokens - (prompt(d) + output(d))`` of ``phi(d)`` when it is not negative
        (a negative one means the agent truncated its history), and the prompt growth.
        Dependencies never observed are ignored.
        """
        ts = self._task(task_id)
        if step in ts.steps:
            raise WorkloadError(f"predictor: step {step} of task {task_id!r} observed twice")
        if prompt_tokens < 0 or output_tokens < 0:
            raise WorkloadError(
                f"predictor: task {task_id!r} step {step}: negative tokens "
                f"({prompt_tokens}, {output_tokens})"
            )
        state = state_of(tool)
        ds = tuple(deps) if deps is not None else ((step - 1,) if step > 0 else ())
        known = [d for d in ds if d in ts.steps]
        inf = self._inference
        a = ts.agent_type
        ch = self._chains.get(a)
        if ch is None or inf.is_provided(a):
            self._chains.pop(a, None)
            stale: set[str] = set()  # (a cold type stays cold; a given graph is as given)
        else:
            stale = ch.stale  # the rows these transitions leave from change, no other
        if not ds:
            inf.observe_transition(a, START, state)
            stale.add(START)
        for d in known:
            prev_state = state_of(ts.steps[d].tool)
            inf.observe_transition(a, prev_state, state)
            stale.add(prev_state)
            ts.has_succ.add(d)
        stats = self._agent(a)
        if len(known) == 1:
            prev = ts.steps[known[0]]
            obs = prompt_tokens - prev.prompt_tokens - prev.output_tokens
            if obs >= 0:
                self.observe_observation(prev.tool, obs)
            stats.prompt_growth.add(prompt_tokens - prev.prompt_tokens)
        stats.output_tokens.add(output_tokens)
        if tool is None:
            stats.tool_seconds.add(0.0)
        ts.steps[step] = _StepObs(tool, prompt_tokens, output_tokens)
        ts.last = step

    def observe_tool_call(self, task_id: TaskId, step: int, seconds: float) -> None:
        """The tool called after ``step`` finished after ``seconds``."""
        ts = self._task(task_id)
        obs = ts.steps.get(step)
        if obs is None or obs.tool is None:
            raise WorkloadError(
                f"predictor: task {task_id!r} step {step} has no observed tool call"
            )
        self.observe_tool_duration(obs.tool, seconds)
        self._agent(ts.agent_type).tool_seconds.add(seconds)

    def observe_task_end(self, task_id: TaskId) -> None:
        """The task finished: record ``-> END`` transitions, its length, and forget it."""
        ts = self._task(task_id)
        for s, obs in ts.steps.items():
            if s not in ts.has_succ:
                self._inference.observe_transition(ts.agent_type, state_of(obs.tool), END)
        self._inference.observe_task_end(ts.agent_type)
        self._agent(ts.agent_type).lengths[len(ts.steps)] += 1
        self._chains.pop(ts.agent_type, None)
        self._tails.pop(ts.agent_type, None)
        del self._tasks[task_id]
        self._active = self._active_set = None

    def forget_task(self, task_id: TaskId) -> None:
        """Drop a task's per-task state without learning its end (for example, cancelled)."""
        self._task(task_id)
        del self._tasks[task_id]
        self._active = self._active_set = None

    def observe_observation(self, tool: str | None, tokens: float) -> None:
        """One observation of ``tokens`` tokens returned by ``tool`` (EMA update)."""
        x = finite_number("observation tokens", tokens, lo=0.0)
        state = state_of(tool)
        e = self._obs.get(state)
        if e is None:
            e = self._obs[state] = _Ema()
        e.add(x, self.config.observation_ema_alpha)

    def observe_tool_duration(self, tool: str, seconds: float) -> None:
        """One duration sample of ``tool``."""
        s = finite_number("tool seconds", seconds, lo=0.0)
        state = state_of(tool)
        d = self._durations.get(state)
        if d is None:
            d = self._durations[state] = _Durations()
        d.add(s, self.config.zero_duration_s)

    def provide_graph(self, graph: AgentExecutionGraph) -> None:
        """Use a framework-given AEG for ``graph.agent_type`` (kind ``"inferred"``: states)."""
        self._inference.provide(graph)
        self._chains.pop(graph.agent_type, None)

    def observe_task(self, task: Task) -> None:
        """Replay a finished task (history): start, every call and tool, end."""
        self.observe_task_start(task.id, task.agent_type)
        self.replay_steps(task, len(task.steps))
        self.observe_task_end(task.id)

    def replay_steps(self, task: Task, upto: int) -> None:
        """Replay the LLM and tool calls of ``task.steps[:upto]`` (the task was started)."""
        for s in task.steps[:upto]:
            self.observe_llm_call(
                task.id,
                s.index,
                prompt_tokens=s.prompt_tokens,
                output_tokens=s.output_tokens,
                tool=s.tool,
                deps=s.deps,
            )
            if s.tool is not None:
                self.observe_tool_call(task.id, s.index, s.tool_seconds)

    @property
    def inference(self) -> AEGInference:
        """The AEG inference this predictor owns (read it; update through the predictor)."""
        return self._inference

    def graph(self, agent_type: str) -> AgentExecutionGraph | None:
        """The pruned AEG of ``agent_type`` (None while cold: plain requests)."""
        return self._inference.graph(agent_type)

    def tasks_seen(self, agent_type: str) -> int:
        """Finished tasks of ``agent_type`` observed."""
        return self._inference.tasks_seen(agent_type)

    def is_warm(self, agent_type: str) -> bool:
        """Whether agent-type knowledge is used (else priors)."""
        return self._inference.is_warm(agent_type)

    def tool_duration(self, tool: str) -> LogNormalFit:
        """Duration model of ``tool``: fitted after ``min_tool_samples`` samples, else prior.

        Examples
        --------
        >>> p = WorkflowStats()
        >>> p.tool_duration("bash").source
        'prior'
        >>> for s in [0.1, 0.2, 0.4, 0.8] * 3:
        ...     p.observe_tool_duration("bash", s)
        >>> fit = p.tool_duration("bash")
        >>> fit.source, fit.n, round(fit.ppf(0.5), 3)  # median = exp(mean of ln d)
        ('learned', 12, 0.283)
        """
        d = self._durations.get(state_of(tool))
        if d is None or d.n < self.config.min_tool_samples:
            return self._prior_tool
        return d.fit()

    def expected_observation_tokens(self, tool: str | None) -> float:
        """EMA of the tokens ``tool``'s observation adds to the next prompt (else prior)."""
        e = self._obs.get(state_of(tool))
        return self.config.prior_observation_tokens if e is None else e.value

    def step_tokens(self, task_id: TaskId, step: int) -> tuple[int, int] | None:
        """``(prompt_tokens, output_tokens)`` of an observed LLM call of a live task.

        None when the task is not tracked (never started, or ended) or the step was
        not observed (:meth:`observe_llm_call`).

        Examples
        --------
        >>> p = WorkflowStats()
        >>> p.observe_task_start(TaskId("t"), "agent")
        >>> p.observe_llm_call(TaskId("t"), 0, prompt_tokens=900, output_tokens=40, tool="bash")
        >>> p.step_tokens(TaskId("t"), 0), p.step_tokens(TaskId("t"), 1)
        ((900, 40), None)
        """
        ts = self._tasks.get(task_id)
        ob = ts.steps.get(step) if ts is not None else None
        return None if ob is None else (ob.prompt_tokens, ob.output_tokens)

    @property
    def active_tasks(self) -> tuple[TaskId, ...]:
        """Tasks started and not yet ended, in start order."""
        if self._active is None:
            self._active = tuple(self._tasks)
        return self._active

    @property
    def active_task_set(self) -> frozenset[TaskId]:
        """:attr:`active_tasks` as a set (kept until a task starts or ends)."""
        if self._active_set is None:
            self._active_set = frozenset(self._tasks)
        return self._active_set

    def is_active(self, task_id: TaskId) -> bool:
        """Whether ``task_id`` is in :attr:`active_tasks` (started, not yet ended)."""
        return task_id in self._tasks

    def _task(self, task_id: TaskId) -> _TaskState:
        ts = self._tasks.get(task_id)
        if ts is None:
            raise WorkloadError(
                f"predictor: unknown task {task_id!r} (not started with observe_task_start, "
                "or already ended)"
            )
        return ts

    @staticmethod
    def _step(ts: _TaskState, task_id: TaskId, step: int | None) -> int:
        v = ts.last if step is None else step
        if v is None or v not in ts.steps:
            what = "no step" if v is None else f"step {v} not"
            raise WorkloadError(f"predictor: task {task_id!r}: {what} observed yet")
        return v

    @staticmethod
    def _oracle(ts: _TaskState, task_id: TaskId) -> AgentExecutionGraph:
        if ts.oracle is None:
            raise WorkloadError(
                f"predictor: oracle query for task {task_id!r}, which was started without one"
            )
        return ts.oracle

    def _agent(self, agent_type: str) -> _AgentStats:
        st = self._agents.get(agent_type)
        if st is None:
            st = self._agents[agent_type] = _AgentStats()
        return st

    def _chain(self, agent_type: str) -> _Chain | None:
        """The derived view of ``agent_type`` (None while cold), rebuilt after observations.

        Transitions change ``full`` and ``reuse_mass``, in the rows of the states they
        leave from: an observed call marks those (``_Chain.stale``) and they alone are
        recomputed here, as a rebuild would compute them; task lengths change only when a
        task ends (kept in ``_tails``; the view is dropped). The pruned chain's reuse mass
        is computed from the rows as :meth:`AEGInference.graph` would prune them (the same
        floats: ``count / total`` kept when ``>= threshold``), without building the graph.
        """
        chains = self._chains
        inf = self._inference
        if agent_type in chains:
            ch0 = chains[agent_type]
            if ch0 is None or not ch0.stale:
                return ch0
            if ch0.stale <= ch0.full.keys():  # no new state: the rows keep their order
                thr = inf.config.min_edge_probability
                for a in ch0.stale:
                    row = ch0.full[a] = inf.transition_row(agent_type, a)
                    ch0.reuse_mass[a] = math.fsum(
                        p for b, p in row.items() if b != END and p >= thr and p > 0
                    )
                ch0.stale.clear()
                ch0.markov = None
                return ch0
        ch: _Chain | None = None
        if inf.is_warm(agent_type):
            g = inf.graph(agent_type) if inf.is_provided(agent_type) else None
            if g is not None:  # given by the framework: as given
                full = {
                    str(v): {str(u): p for u, p in g.successors(v)}
                    for v in g.nodes
                    if g.successors(v)
                }
                reuse = {
                    str(v): math.fsum(p for u, p in g.successors(v) if u != END) for v in g.nodes
                }
            else:
                full = inf.transition_rows(agent_type)
                thr = inf.config.min_edge_probability
                reuse = {
                    a: math.fsum(p for b, p in row.items() if b != END and p >= thr and p > 0)
                    for a, row in full.items()
                }
            tails = self._tails.get(agent_type)
            if tails is None:
                tails = self._tails[agent_type] = _Lengths.of(self._agent(agent_type).lengths)
            ch = _Chain(full, reuse, tails)
        chains[agent_type] = ch
        return ch

    @staticmethod
    def _survival(ch: _Chain, k: int) -> float | None:
        """``E[L - k | L > k]`` from the finished lengths, None when no ``L > k``."""
        t = ch.tails
        i = bisect.bisect_right(t.lengths, k)
        cnt = t.tail_count[i]
        if cnt == 0:
            return None
        return t.tail_sum[i] / cnt - k

    @staticmethod
    def _markov(ch: _Chain, state: str) -> float | None:
        if ch.markov is None:
            states = sorted({s for s in ch.full if s not in (START, END)})
            idx = {s: i for i, s in enumerate(states)}
            q = np.zeros((len(states), len(states)))
            for a, row in ch.full.items():
                if a in idx:
                    for b, p in row.items():
                        if b in idx:
                            q[idx[a], idx[b]] = p
            result: dict[str, float] = {}
            if states:
                try:
                    visits = np.linalg.solve(np.eye(len(states)) - q, np.ones(len(states)))
                except np.linalg.LinAlgError:
                    visits = np.full(len(states), np.nan)
                for s, i in idx.items():
                    x = float(visits[i]) - 1.0
                    if math.isfinite(x) and -1e-9 <= x < 1e9:
                        result[s] = max(0.0, x)
                start_row = ch.full.get(START, {})
                if start_row and all(s in result or s == END for s in start_row):
                    result[START] = math.fsum(
                        p * (1.0 + result[s]) for s, p in start_row.items() if s != END
                    )
            ch.markov = result
        return ch.markov.get(state)
