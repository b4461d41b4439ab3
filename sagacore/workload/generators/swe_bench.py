"""SWE-bench coding agents: ReAct chains calibrated to the real mini-swe-agent trace.

A task is a chain of ``n`` LLM calls. Call 0's prompt is the shared system prompt (one
segment used by every task) followed by the task's own instance prompt; call ``k > 0``'s
prompt is call ``k - 1``'s context (prompt and output) followed by one fresh observation
segment, the output of the tool that ran after call ``k - 1``. Every call but the last is
followed by a ``bash`` tool call; the last call submits the patch and runs no tool (as 193
of the trace's 198 tasks end).

Each task samples, from the fitted quantile tables of :class:`SweBenchConfig.fit`: the
number of calls, the first prompt, and per call the output tokens, the next observation
tokens and the tool seconds. Output and next observation are drawn through a Gaussian
copula: their fitted correlation (about -0.32: a long reply, such as a file edit, tends
to get a short observation back) and a per-task effect on both (4% of the variance of
output scores and 2% of observation scores, the two effects correlated 0.87). Without
the task effect the spread of per-task prompt growth is too narrow (p10-p90 of the mean
growth per call 389-506 tokens against the trace's 327-582; with it 330-576) and the
p99 of prompt tokens per call falls 13% short instead of 8% (2,000 tasks, seed 0).
Calls per task, first prompt and tool seconds are independent. Left out: position
effects (the first observation is larger, median 306 tokens against 118 overall) and the
trace's negative rank correlation of a task's length with its per-call growth (-0.24).

Examples
--------
>>> w = swe_bench(tasks=3, seed=1)
>>> [t.id for t in sorted(w, key=lambda t: t.id)]
['swe-bench-00000', 'swe-bench-00001', 'swe-bench-00002']
>>> t = w.tasks[0]
>>> t.is_chain(), t.steps[0].prompt[0] == w.tasks[1].steps[0].prompt[0]
(True, True)
>>> t.steps[1].prompt[: len(t.steps[0].context)] == t.steps[0].context
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from sagacore._rng import Seed
from sagacore.validate import check, nonempty_str, positive, positive_int
from sagacore.workload.generators._common import (
    SHARED_SEGMENT_IDS,
    SegmentIds,
    generate,
    make_task,
)
from sagacore.workload.generators._swe_bench_fit import SWE_BENCH_FIT
from sagacore.workload.generators.arrivals import Arrivals
from sagacore.workload.generators.quantiles import SweBenchFit
from sagacore.workload.model import Segment, Step, Task, TenantId, Workload

__all__ = ["SweBenchConfig", "swe_bench"]

_OWNER = "SweBenchConfig"


@dataclass(frozen=True, slots=True)
class SweBenchConfig:
    """Shape of generated SWE-bench tasks.

    Examples
    --------
    >>> SweBenchConfig(calls_scale=0.5).calls_scale
    0.5
    >>> SweBenchConfig(max_steps=0)
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: SweBenchConfig.max_steps must be a positive integer, got 0
    """

    fit: SweBenchFit = SWE_BENCH_FIT
    """Distributions to sample; default: fitted to the bundled real trace
    (:func:`~sagacore.workload.generators.calibration.fit_swe_bench` fits another)."""
    calls_scale: float = 1.0
    """Multiplies the sampled number of calls per task (0.5 gives about 37 calls per task,
    the SWE-bench Verified workload of SAGA's evaluation); > 0."""
    max_steps: int = 250
    """Upper bound on calls per task (mini-swe-agent's step limit); >= 1."""
    system_prompt_tokens: int | None = None
    """Tokens of the system prompt all tasks share; None takes the fit's (320 for the
    bundled trace: the provider's prefix-cache hit on first calls). Must be smaller than
    every first prompt, which is raised to ``system_prompt_tokens + 1`` if needed."""
    tool: str = "bash"
    """Tool type named on each tool call."""
    agent_type: str = "swe-bench"
    """Agent type of generated tasks (also the prefix of their ids)."""

    def __post_init__(self) -> None:
        o = _OWNER
        check(isinstance(self.fit, SweBenchFit), f"{o}.fit", self.fit, "a SweBenchFit")
        positive(f"{o}.calls_scale", self.calls_scale)
        positive_int(f"{o}.max_steps", self.max_steps)
        if self.system_prompt_tokens is not None:
            positive_int(f"{o}.system_prompt_tokens", self.system_prompt_tokens, zero_ok=True)
        nonempty_str(f"{o}.tool", self.tool)
        nonempty_str(f"{o}.agent_type", self.agent_type)

    @property
    def system_tokens(self) -> int:
        """The shared system-prompt length in effect."""
        return (
            self.fit.system_prompt_tokens
            if self.system_prompt_tokens is None
            else self.system_prompt_tokens
        )


def _normal_scores(
    fit: SweBenchFit, rng: np.random.Generator, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal scores of the outputs and next observations of one task's calls.

    ``z_out = a e_out + sqrt(1 - a^2) x`` and ``z_obs = b e_obs + sqrt(1 - b^2)
    (r x + sqrt(1 - r^2) y)`` with task effects ``(e_out, e_obs)`` of correlation ``c``,
    ``a^2, b^2`` the fitted task variance shares and ``r`` the within-task correlation
    that makes the pooled correlation equal the fitted one. Each score is N(0, 1), so the
    marginals are exactly the fitted tables.
    """
    a = math.sqrt(fit.task_output_variance)
    b = math.sqrt(fit.task_observation_variance)
    c = fit.task_effect_correlation
    r = (fit.output_observation_correlation - a * b * c) / math.sqrt((1 - a * a) * (1 - b * b))
    r = min(0.999, max(-0.999, r))
    e = rng.standard_normal(2)
    e_obs = c * e[0] + math.sqrt(1.0 - c * c) * e[1]
    x, y = rng.standard_normal((2, n))
    z_out = a * e[0] + math.sqrt(1.0 - a * a) * x
    z_obs = b * e_obs + math.sqrt(1.0 - b * b) * (r * x + math.sqrt(1.0 - r * r) * y)
    return z_out, z_obs


def swe_bench_task(
    config: SweBenchConfig,
    rng: np.random.Generator,
    *,
    task_no: int,
    arrival_s: float = 0.0,
    tenant: TenantId | None = None,
) -> Task:
    """One SWE-bench task (the building block of :func:`swe_bench` and multi-tenant mixes)."""
    fit = config.fit
    n = round(fit.calls_per_task.quantile(float(rng.random())) * config.calls_scale)
    n = min(config.max_steps, max(1, n))
    sys_tokens = config.system_tokens
    first = max(sys_tokens + 1, round(fit.first_prompt_tokens.quantile(float(rng.random()))))
    z_out, z_obs = _normal_scores(fit, rng, n)
    outputs = np.maximum(1, np.rint(fit.output_tokens.sample(ndtr(z_out)))).astype(int)
    observations = np.maximum(1, np.rint(fit.observation_tokens.sample(ndtr(z_obs)))).astype(int)
    tools = np.round(fit.tool_seconds.sample(rng.random(n)), 3)

    ids = SegmentIds(task_no)
    if sys_tokens > 0:
        prompt: tuple[Segment, ...] = (
            Segment(SHARED_SEGMENT_IDS["swe-bench/system"], sys_tokens),
            Segment(ids.new(), first - sys_tokens),
        )
    else:
        prompt = (Segment(ids.new(), first),)
    steps: list[Step] = []
    for k in range(n):
        last = k == n - 1
        step = Step(
            index=k,
            prompt=prompt,
            output_tokens=int(outputs[k]),
            output_id=ids.new(),
            tool=None if last else config.tool,
            tool_seconds=0.0 if last else float(tools[k]),
            deps=(k - 1,) if k else (),
        )
        steps.append(step)
        if not last:
            prompt = (*step.context, Segment(ids.new(), int(observations[k])))
    return make_task(config.agent_type, task_no, steps, arrival_s=arrival_s, tenant=tenant)


def swe_bench(
    *,
    tasks: int = 100,
    seed: Seed = None,
    arrivals: Arrivals | None = None,
    config: SweBenchConfig | None = None,
) -> Workload:
    """Generate SWE-bench agent tasks calibrated to the bundled real trace.

    Parameters
    ----------
    tasks
        Number of tasks (>= 1).
    seed
        Seed (int >= 0, Generator or None meaning 0). Task ``i`` depends only on the seed
        and ``i``, not on ``tasks`` or ``arrivals``.
    arrivals
        Arrival process; default Poisson at 8 tasks per minute.
    config
        Task shape; default :class:`SweBenchConfig` ().

    Returns
    -------
    Workload
        Named ``swe-bench``; ``source`` records the generator, the seed and the arrivals.

    Examples
    --------
    >>> w = swe_bench(tasks=20, seed=0)
    >>> len(w), w.name, w.source
    (20, 'swe-bench', 'generate swe-bench tasks=20 seed=0 arrivals=poisson(rate_per_min=8)')
    >>> swe_bench(tasks=20, seed=0) == w
    True
    """
    cfg = SweBenchConfig() if config is None else config
    return generate(
        "swe-bench",
        tasks,
        seed,
        arrivals,
        lambda i, rng, arrival_s: swe_bench_task(cfg, rng, task_no=i, arrival_s=arrival_s),
    )
