"""WebArena browser agents: bounded steps, non-growing prompts, browser-action tools.

Follows SPEC.md's description of WebArena agents. A task has at most 30 steps. Every
prompt is the shared system prompt and in-context examples (one segment used by every
task) followed by the *current* page observation (a fresh segment each step, truncated at
1,920 tokens): the prompt does not inherit earlier steps beyond the shared part, so it
does not grow. Outputs are at most 384 tokens. Each step but the last is followed by a
``browser`` tool call lasting a 2 s pause plus the page load time; the last step issues
``stop`` and runs no tool.

Choices the description leaves open (each a :class:`WebArenaConfig` field):

- Steps per task: log-normal, median 17, log-sd 0.6, rounded, clipped to [2, 30]: mean
  about 18 steps (SAGA's WebArena workload), about 16% of tasks hit the 30-step limit.
- System prompt and examples: 1,400 tokens (an estimate of WebArena's two-shot
  chain-of-thought prompt; the objective, URL and previous action are counted in the
  observation budget, since in WebArena's template they follow the observation).
- Page observation before truncation: log-normal, median 2,000 tokens, log-sd 0.8, at
  least 50: about half of the observations are truncated at 1,920.
- Output: log-normal, median 110 tokens (chain-of-thought then the action), log-sd 0.5,
  clipped to [8, 384].
- Page load: log-normal, median 1.0 s, log-sd 0.7, capped at 30 s (Playwright's default
  navigation timeout); the tool time is 2 s + the load time.

**Long tools** (``long_wait_fraction > 0``; the ``long-tools`` generator,
:func:`long_tools`): each tool call is, with that probability, a long wait instead of a
page load: a human-in-the-loop confirmation or a slow browser operation (a download, a
form that runs a job), log-uniform on ``[long_wait_min_s, long_wait_max_s]`` (5-120 s,
median about 24.5 s), named ``long_wait_tool`` (``human``) so that tool-aware policies
see two tool types. With ``long_wait_fraction = 0`` (WebArena's default) no extra random
draw is made: ``webarena`` output is unchanged by these fields.

Examples
--------
>>> w = webarena(tasks=5, seed=0)
>>> all(len(t.steps) <= 30 for t in w)
True
>>> t = w.tasks[0]
>>> {len(s.prompt) for s in t.steps}, t.steps[0].prompt[0] == w.tasks[1].steps[0].prompt[0]
({2}, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sagacore._rng import Seed
from sagacore.validate import check, finite_number, nonempty_str, positive, positive_int
from sagacore.workload.generators._common import (
    SHARED_SEGMENT_IDS,
    SegmentIds,
    generate,
    lognormal,
    lognormal_int,
    make_task,
)
from sagacore.workload.generators.arrivals import Arrivals
from sagacore.workload.model import Segment, Step, Task, TenantId, Workload

__all__ = ["LONG_TOOLS", "WebArenaConfig", "long_tools", "webarena"]

_OWNER = "WebArenaConfig"


@dataclass(frozen=True, slots=True)
class WebArenaConfig:
    """Shape of generated WebArena tasks (defaults and their sources: module notes).

    Examples
    --------
    >>> WebArenaConfig().max_output_tokens
    384
    >>> WebArenaConfig(min_steps=40)
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: WebArenaConfig.min_steps must be an integer in [1, max_steps=30], got 40
    """

    max_steps: int = 30
    """Step limit of a task (WebArena's 30); >= 1."""
    min_steps: int = 2
    """Fewest steps of a task; in ``[1, max_steps]``."""
    steps_median: float = 17.0
    """Median of the log-normal number of steps before clipping; > 0."""
    steps_sigma: float = 0.6
    """Log-sd of the number of steps; >= 0."""
    system_prompt_tokens: int = 1400
    """Tokens of the system prompt and in-context examples all tasks share; >= 1."""
    observation_median_tokens: float = 2000.0
    """Median page observation before truncation, in tokens; > 0."""
    observation_sigma: float = 0.8
    """Log-sd of the page observation; >= 0."""
    observation_max_tokens: int = 1920
    """Truncation of the page observation (WebArena's 1,920); >= 1."""
    output_median_tokens: float = 110.0
    """Median output tokens; > 0."""
    output_sigma: float = 0.5
    """Log-sd of output tokens; >= 0."""
    min_output_tokens: int = 8
    """Fewest output tokens (an action needs a few); in ``[1, max_output_tokens]``."""
    max_output_tokens: int = 384
    """Output limit (WebArena's 384); >= 1."""
    action_pause_s: float = 2.0
    """Pause after each browser action, seconds (WebArena's 2 s); >= 0."""
    page_load_median_s: float = 1.0
    """Median page load time, seconds; > 0."""
    page_load_sigma: float = 0.7
    """Log-sd of the page load time; >= 0."""
    page_load_max_s: float = 30.0
    """Cap on the page load time (a navigation timeout), seconds; > 0."""
    long_wait_fraction: float = 0.0
    """Share of tool calls that are long waits (module notes); in [0, 1]."""
    long_wait_min_s: float = 5.0
    """Shortest long wait, seconds; > 0."""
    long_wait_max_s: float = 120.0
    """Longest long wait, seconds; >= ``long_wait_min_s``."""
    long_wait_tool: str = "human"
    """Tool type named on a long wait."""
    tool: str = "browser"
    """Tool type named on each tool call."""
    agent_type: str = "webarena"
    """Agent type of generated tasks (also the prefix of their ids)."""

    def __post_init__(self) -> None:
        o = _OWNER
        positive_int(f"{o}.max_steps", self.max_steps)
        check(
            positive_int(f"{o}.min_steps", self.min_steps) <= self.max_steps,
            f"{o}.min_steps",
            self.min_steps,
            f"an integer in [1, max_steps={self.max_steps}]",
        )
        positive_fields = (
            "steps_median",
            "observation_median_tokens",
            "output_median_tokens",
            "page_load_median_s",
            "page_load_max_s",
        )
        for name in positive_fields:
            positive(f"{o}.{name}", getattr(self, name))
        nonnegative = (
            "steps_sigma",
            "observation_sigma",
            "output_sigma",
            "page_load_sigma",
            "action_pause_s",
        )
        for name in nonnegative:
            positive(f"{o}.{name}", getattr(self, name), zero_ok=True)
        for name in ("system_prompt_tokens", "observation_max_tokens", "max_output_tokens"):
            positive_int(f"{o}.{name}", getattr(self, name))
        check(
            positive_int(f"{o}.min_output_tokens", self.min_output_tokens)
            <= self.max_output_tokens,
            f"{o}.min_output_tokens",
            self.min_output_tokens,
            f"an integer in [1, max_output_tokens={self.max_output_tokens}]",
        )
        f = self.long_wait_fraction
        finite_number(f"{o}.long_wait_fraction", f, lo=0.0, hi=1.0)
        positive(f"{o}.long_wait_min_s", self.long_wait_min_s)
        check(
            positive(f"{o}.long_wait_max_s", self.long_wait_max_s) >= self.long_wait_min_s,
            f"{o}.long_wait_max_s",
            self.long_wait_max_s,
            f"a finite number >= long_wait_min_s={self.long_wait_min_s}",
        )
        for name in ("tool", "agent_type", "long_wait_tool"):
            nonempty_str(f"{o}.{name}", getattr(self, name))


LONG_TOOLS = WebArenaConfig(long_wait_fraction=0.5, agent_type="long-tools")
"""The ``long-tools`` shape: WebArena agents half of whose tool calls wait 5-120 s."""


def webarena_task(
    config: WebArenaConfig,
    rng: np.random.Generator,
    *,
    task_no: int,
    arrival_s: float = 0.0,
    tenant: TenantId | None = None,
) -> Task:
    """One WebArena task (the building block of :func:`webarena` and multi-tenant mixes)."""
    c = config
    n = lognormal_int(rng, c.steps_median, c.steps_sigma, c.min_steps, c.max_steps)
    ids = SegmentIds(task_no)
    shared = Segment(SHARED_SEGMENT_IDS["webarena/system"], c.system_prompt_tokens)
    steps: list[Step] = []
    for k in range(n):
        last = k == n - 1
        obs = lognormal_int(
            rng, c.observation_median_tokens, c.observation_sigma, 1, c.observation_max_tokens
        )
        out = lognormal_int(
            rng, c.output_median_tokens, c.output_sigma, c.min_output_tokens, c.max_output_tokens
        )
        load = lognormal(rng, c.page_load_median_s, c.page_load_sigma, 0.0, c.page_load_max_s)
        tool, seconds = c.tool, c.action_pause_s + load
        if c.long_wait_fraction > 0 and float(rng.random()) < c.long_wait_fraction:
            lo, hi = math.log(c.long_wait_min_s), math.log(c.long_wait_max_s)
            tool, seconds = c.long_wait_tool, math.exp(float(rng.uniform(lo, hi)))
        steps.append(
            Step(
                index=k,
                prompt=(shared, Segment(ids.new(), obs)),
                output_tokens=out,
                output_id=ids.new(),
                tool=None if last else tool,
                tool_seconds=0.0 if last else round(seconds, 3),
                deps=(k - 1,) if k else (),
            )
        )
    return make_task(c.agent_type, task_no, steps, arrival_s=arrival_s, tenant=tenant)


def webarena(
    *,
    tasks: int = 100,
    seed: Seed = None,
    arrivals: Arrivals | None = None,
    config: WebArenaConfig | None = None,
) -> Workload:
    """Generate WebArena browser-agent tasks.

    Parameters
    ----------
    tasks
        Number of tasks (>= 1).
    seed
        Seed (int >= 0, Generator or None meaning 0). Task ``i`` depends only on the seed
        and ``i``.
    arrivals
        Arrival process; default Poisson at 8 tasks per minute.
    config
        Task shape; default :class:`WebArenaConfig` ().

    Examples
    --------
    >>> w = webarena(tasks=50, seed=3)
    >>> max(s.output_tokens for t in w for s in t.steps) <= 384
    True
    >>> max(s.prompt_tokens for t in w for s in t.steps) <= 1400 + 1920
    True
    """
    cfg = WebArenaConfig() if config is None else config
    return generate(
        "webarena",
        tasks,
        seed,
        arrivals,
        lambda i, rng, arrival_s: webarena_task(cfg, rng, task_no=i, arrival_s=arrival_s),
    )


def long_tools(
    *,
    tasks: int = 100,
    seed: Seed = None,
    arrivals: Arrivals | None = None,
    config: WebArenaConfig | None = None,
) -> Workload:
    """Generate WebArena-like agents with long tool calls (human or slow browser waits).

    :func:`webarena` with :data:`LONG_TOOLS` by default: half of the tool calls are long
    waits, log-uniform on 5-120 s, of tool type ``human`` (module notes).

    Parameters
    ----------
    tasks
        Number of tasks (>= 1).
    seed
        Seed (int >= 0, Generator or None meaning 0). Task ``i`` depends only on the seed
        and ``i``.
    arrivals
        Arrival process; default Poisson at 8 tasks per minute.
    config
        Task shape; default :data:`LONG_TOOLS`.

    Examples
    --------
    >>> w = long_tools(tasks=30, seed=0)
    >>> w.name, sorted({s.tool for t in w for s in t.steps if s.tool})
    ('long-tools', ['browser', 'human'])
    >>> waits = [s.tool_seconds for t in w for s in t.steps if s.tool == "human"]
    >>> 5.0 <= min(waits) and max(waits) <= 120.0
    True
    """
    cfg = LONG_TOOLS if config is None else config
    return generate(
        "long-tools",
        tasks,
        seed,
        arrivals,
        lambda i, rng, arrival_s: webarena_task(cfg, rng, task_no=i, arrival_s=arrival_s),
    )
