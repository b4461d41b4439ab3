"""Long-context coding agents (Claude Code, OpenHands): contexts past 100K tokens, sub-agents.

Calibrated to the published agent traffic of vLLM's AgentX post (September 2026, as
quoted in vLLM RFC #57103): median 43 turns per session, median input 142K tokens and
output 444 tokens per call, prefix-cache hit rate above 96%, sub-agents in 44% of
sessions. A *turn* is read as one LLM call (one request the serving engine sees), and
the input and output medians as medians over calls. Tool times follow the SWE-agent
statistics of SPEC.md (median 0.25 s, tail to 60 s): the quantile table fitted to the
bundled mini-swe-agent trace.

A session (task) is a chain of main calls. Call 0's prompt is the shared system prompt
(one segment used by every session: the agent's instructions and tool schemas) followed
by the session's initial context (a fresh segment: the user's request, project notes,
attached files and, for a resumed session, the earlier conversation). Each later main
call's prompt is the previous call's context (prompt and output) plus one fresh tool
result. Every main call but the last is followed by a ``bash`` tool call, except:

- **Sub-agents** (``subagent_session_fraction`` of sessions): at 1 to ``max_spawns``
  main calls the agent delegates instead of calling a tool: 1 to ``max_fanout`` sub-agents
  run in parallel, each a chain of its own calls whose first prompt is the *parent's*
  system prompt (the same shared segment) plus a fresh task description, growing with its
  own tool results. The parent's next call depends on every sub-agent's last call and its
  prompt is the parent's context plus each sub-agent's report (a fresh segment as long as
  the sub-agent's final output: the parent receives it as a tool result).
- **Compaction**, as real agents do near the end of the window: when a main or
  sub-agent prompt would pass ``compact_at_tokens``, an extra call summarises the whole
  context (prompt = that prompt, output = a summary) and the conversation restarts from
  the system prompt, the summary (the compaction call's output segment) and a fresh
  segment of restored context (files re-read). Only the system prompt of the restarted
  context is a prefix hit. Compaction calls are LLM calls without a tool and are counted
  in the session's calls (they add to the drawn number); none is made before the final
  call of a chain.
- **Truncation**: a tool result (or sub-agent report) is truncated so that every prompt
  stays within ``context_limit_tokens - max_output_tokens``; hence every call, prompt plus
  output, fits in ``context_limit_tokens`` (200,000 by default: Claude's context window,
  which holds in one Llama-3-70B TP4 A100-80GB instance's 439,616 KV tokens or one
  Llama-3-8B A100-80GB instance's 436,032 with room for another session).

Calls per session (main and sub-agent calls together, compaction excluded) are
log-normal with median ``calls_median`` (the published 43), clipped to
``[min_calls, max_calls]``; sub-agent calls are taken from that number (the main chain
keeps at least two calls per delegation plus two, which may add calls). The initial
context, tool results and outputs are log-normal with the medians and log-sds of
:class:`LongContextConfig`; ``initial_context_median_tokens`` and
``observation_median_tokens`` were set so that the pooled median input is the published
142K and the prefix hit share above 96% (measured in ``docs/generators.md``). The other
lengths are choices, not fits: no public per-call trace of these agents was available.

Examples
--------
>>> w = long_context(tasks=2, seed=0)
>>> t = w.tasks[0]
>>> t.steps[0].prompt[0] == w.tasks[1].steps[0].prompt[0]   # the shared system prompt
True
>>> cap = LongContextConfig().context_limit_tokens
>>> all(s.prompt_tokens + s.output_tokens <= cap for t in w for s in t.steps)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sagacore._rng import Seed
from sagacore.validate import (
    check,
    finite_number,
    int_at_least,
    nonempty_str,
    positive,
    positive_int,
)
from sagacore.workload.generators._common import (
    SHARED_SEGMENT_IDS,
    SegmentIds,
    generate,
    lognormal_int,
    make_task,
)
from sagacore.workload.generators._swe_bench_fit import SWE_BENCH_FIT
from sagacore.workload.generators.arrivals import Arrivals
from sagacore.workload.model import Segment, Step, Task, TenantId, Workload

__all__ = ["LongContextConfig", "long_context"]

_OWNER = "LongContextConfig"


@dataclass(frozen=True, slots=True)
class LongContextConfig:
    """Shape of generated long-context coding-agent sessions (module notes).

    Token fields named ``*_median_tokens`` are medians of log-normal lengths, with the
    matching ``*_sigma`` as log-sd, rounded and clipped to the field's bounds.

    Examples
    --------
    >>> LongContextConfig().context_limit_tokens
    200000
    >>> LongContextConfig(compact_at_tokens=195_000)
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: LongContextConfig.compact_at_tokens must be an integer in [system_prompt_tokens + 2 * max_output_tokens + max_restored_tokens = 156384, context_limit_tokens - 2 * max_output_tokens - 1 = 183615], got 195000
    """

    calls_median: float = 43.0
    """Median LLM calls per session (AgentX: 43 turns); > 0."""
    calls_sigma: float = 0.5
    """Log-sd of calls per session; >= 0."""
    min_calls: int = 10
    """Fewest calls per session; >= 2."""
    max_calls: int = 150
    """Most calls per session (before compaction calls); >= ``min_calls``."""
    system_prompt_tokens: int = 20_000
    """Shared system prompt and tool schemas (one segment for all sessions; an estimate
    for Claude Code and OpenHands, whose instructions and tool definitions take 10-25K
    tokens); >= 1."""
    initial_context_median_tokens: float = 130_000.0
    """Median of the session's initial context (request, project notes, attached files,
    resumed conversation); calibrated to the published median input; > 0."""
    initial_context_sigma: float = 0.25
    """Log-sd of the initial context; >= 0."""
    max_initial_context_tokens: int = 155_000
    """Cap of the initial context; >= 1."""
    observation_median_tokens: float = 400.0
    """Median tool result (file reads, command output, search hits); > 0."""
    observation_sigma: float = 1.0
    """Log-sd of tool results; >= 0."""
    max_observation_tokens: int = 25_000
    """Tool results are cut at this length (Claude Code's default tool output limit); >= 1."""
    output_median_tokens: float = 444.0
    """Median output tokens per call (AgentX: 444); > 0."""
    output_sigma: float = 1.0
    """Log-sd of outputs; >= 0."""
    max_output_tokens: int = 8_192
    """Output limit of every call, compaction summaries included; >= 1."""
    context_limit_tokens: int = 200_000
    """Context window: every call's prompt plus output fits (module notes); >= 1."""
    compact_at_tokens: int = 183_000
    """A prompt longer than this is compacted first (90% of the window); in
    ``[system_prompt_tokens + 2 * max_output_tokens + max_restored_tokens,
    context_limit_tokens - 2 * max_output_tokens - 1]``."""
    summary_median_tokens: float = 4_000.0
    """Median compaction summary (the compaction call's output), at most
    ``max_output_tokens``; > 0."""
    restored_median_tokens: float = 80_000.0
    """Median context restored after a compaction (files re-read); > 0."""
    max_restored_tokens: int = 120_000
    """Cap of the restored context; >= 1."""
    subagent_session_fraction: float = 0.44
    """Share of sessions that spawn sub-agents (AgentX: 44%); in [0, 1]."""
    max_spawns: int = 2
    """Delegations per sub-agent session, uniform on ``[1, max_spawns]``; >= 1."""
    max_fanout: int = 2
    """Parallel sub-agents per delegation, uniform on ``[1, max_fanout]``; >= 1."""
    subagent_calls_median: float = 4.0
    """Median calls of one sub-agent (log-sd 0.5, clipped to [2, 30]); > 0."""
    task_description_median_tokens: float = 600.0
    """Median task description a sub-agent starts from (log-sd 0.5); > 0."""
    tool: str = "bash"
    """Tool type named on each tool call."""
    agent_type: str = "long-context"
    """Agent type of generated sessions (also the prefix of their ids)."""

    def __post_init__(self) -> None:
        o = _OWNER
        positive_fields = (
            "calls_median",
            "initial_context_median_tokens",
            "observation_median_tokens",
            "output_median_tokens",
            "summary_median_tokens",
            "restored_median_tokens",
            "subagent_calls_median",
            "task_description_median_tokens",
        )
        for name in positive_fields:
            positive(f"{o}.{name}", getattr(self, name))
        for name in ("calls_sigma", "initial_context_sigma", "observation_sigma", "output_sigma"):
            positive(f"{o}.{name}", getattr(self, name), zero_ok=True)
        int_at_least(f"{o}.min_calls", self.min_calls, 2)
        int_at_least(f"{o}.max_calls", self.max_calls, self.min_calls)
        counts = (
            "system_prompt_tokens",
            "max_initial_context_tokens",
            "max_observation_tokens",
            "max_output_tokens",
            "context_limit_tokens",
            "max_restored_tokens",
            "max_spawns",
            "max_fanout",
        )
        for name in counts:
            positive_int(f"{o}.{name}", getattr(self, name))
        lo = self.system_prompt_tokens + 2 * self.max_output_tokens + self.max_restored_tokens
        hi = self.context_limit_tokens - 2 * self.max_output_tokens - 1
        check(
            positive_int(f"{o}.compact_at_tokens", self.compact_at_tokens) >= lo
            and self.compact_at_tokens <= hi,
            f"{o}.compact_at_tokens",
            self.compact_at_tokens,
            "an integer in [system_prompt_tokens + 2 * max_output_tokens + "
            f"max_restored_tokens = {lo}, context_limit_tokens - 2 * max_output_tokens - 1 = {hi}]",
        )
        check(
            self.system_prompt_tokens + self.max_initial_context_tokens <= self.compact_at_tokens,
            f"{o}.max_initial_context_tokens",
            self.max_initial_context_tokens,
            f"at most compact_at_tokens - system_prompt_tokens = "
            f"{self.compact_at_tokens - self.system_prompt_tokens}",
        )
        f = self.subagent_session_fraction
        finite_number(f"{o}.subagent_session_fraction", f, lo=0.0, hi=1.0)
        nonempty_str(f"{o}.tool", self.tool)
        nonempty_str(f"{o}.agent_type", self.agent_type)


def _tokens(prompt: tuple[Segment, ...]) -> int:
    return sum(s.tokens for s in prompt)


class _Session:
    """Builds the steps of one session: chains, truncation, compaction."""

    def __init__(self, config: LongContextConfig, rng: np.random.Generator, task_no: int) -> None:
        self.c = config
        self.rng = rng
        self.ids = SegmentIds(task_no)
        self.system = Segment(
            SHARED_SEGMENT_IDS["long-context/system"], config.system_prompt_tokens
        )
        self.steps: list[Step] = []
        self.room = config.context_limit_tokens - config.max_output_tokens
        """Longest prompt: the call's output always fits in the window."""

    def output(self) -> int:
        c = self.c
        return lognormal_int(self.rng, c.output_median_tokens, c.output_sigma, 1,
                             c.max_output_tokens)  # fmt: skip

    def observation(self) -> int:
        c = self.c
        return lognormal_int(self.rng, c.observation_median_tokens, c.observation_sigma, 1,
                             c.max_observation_tokens)  # fmt: skip

    def tool_seconds(self) -> float:
        return round(float(SWE_BENCH_FIT.tool_seconds.quantile(float(self.rng.random()))), 3)

    def call(
        self, prompt: tuple[Segment, ...], deps: tuple[int, ...], *, tool: bool,
        output: int | None = None,
    ) -> Step:  # fmt: skip
        """Append one call; its tool (if any) is drawn here."""
        step = Step(
            index=len(self.steps),
            prompt=prompt,
            output_tokens=self.output() if output is None else output,
            output_id=self.ids.new(),
            tool=self.c.tool if tool else None,
            tool_seconds=self.tool_seconds() if tool else 0.0,
            deps=deps,
        )
        self.steps.append(step)
        return step

    def extend(self, context: tuple[Segment, ...], lengths: list[int]) -> tuple[Segment, ...]:
        """``context`` plus fresh segments of these lengths, truncated to the room left."""
        out = list(context)
        used = _tokens(context)
        for n in lengths:
            n = min(n, self.room - used)
            if n < 1:  # pragma: no cover - compact_at's upper bound leaves room
                break
            out.append(Segment(self.ids.new(), n))
            used += n
        return tuple(out)

    def compact(
        self, prompt: tuple[Segment, ...], deps: tuple[int, ...]
    ) -> tuple[tuple[Segment, ...], tuple[int, ...]]:
        """A compaction call when ``prompt`` is past the threshold; the prompt to go on with."""
        c = self.c
        if _tokens(prompt) <= c.compact_at_tokens:
            return prompt, deps
        summary = lognormal_int(self.rng, c.summary_median_tokens, 0.4, 1, c.max_output_tokens)
        step = self.call(prompt, deps, tool=False, output=summary)
        restored = lognormal_int(self.rng, c.restored_median_tokens, 0.5, 1, c.max_restored_tokens)
        return (self.system, step.output_segment, Segment(self.ids.new(), restored)), (step.index,)

    def chain(
        self, prompt: tuple[Segment, ...], deps: tuple[int, ...], calls: int,
        spawns: dict[int, list[int]] | None = None,
    ) -> Step:  # fmt: skip
        """Run a chain of ``calls`` calls (compaction calls extra); its last step.

        ``spawns`` maps a call's ordinal to the call counts of the sub-agents it starts.
        """
        for k in range(calls):
            if k == calls - 1:
                return self.call(prompt, deps, tool=False)
            subagents = (spawns or {}).get(k)
            if subagents is None:
                step = self.call(prompt, deps, tool=True)
                prompt = self.extend(step.context, [self.observation()])
                deps = (step.index,)
            else:
                step = self.call(prompt, deps, tool=False)
                ends = [self.subagent(step.index, m) for m in subagents]
                prompt = self.extend(step.context, [e.output_tokens for e in ends])
                deps = tuple(e.index for e in ends)
            if k < calls - 2:
                prompt, deps = self.compact(prompt, deps)
        raise AssertionError("unreachable")  # pragma: no cover

    def subagent(self, parent: int, calls: int) -> Step:
        """A sub-agent started by step ``parent``: its last step (its report)."""
        c = self.c
        desc = lognormal_int(self.rng, c.task_description_median_tokens, 0.5, 1,
                             c.max_observation_tokens)  # fmt: skip
        return self.chain(self.extend((self.system,), [desc]), (parent,), calls)


def long_context_task(
    config: LongContextConfig,
    rng: np.random.Generator,
    *,
    task_no: int,
    arrival_s: float = 0.0,
    tenant: TenantId | None = None,
) -> Task:
    """One long-context session (the building block of :func:`long_context`)."""
    c = config
    n = lognormal_int(rng, c.calls_median, c.calls_sigma, c.min_calls, c.max_calls)
    initial = lognormal_int(rng, c.initial_context_median_tokens, c.initial_context_sigma, 1,
                            c.max_initial_context_tokens)  # fmt: skip
    spawns: dict[int, list[int]] = {}
    main = n
    if float(rng.random()) < c.subagent_session_fraction:
        k = int(rng.integers(1, c.max_spawns + 1))
        groups = [
            [lognormal_int(rng, c.subagent_calls_median, 0.5, 2, 30)
             for _ in range(int(rng.integers(1, c.max_fanout + 1)))]
            for _ in range(k)
        ]  # fmt: skip
        main = max(n - sum(sum(g) for g in groups), 2 * k + 2)
        at = sorted(int(x) for x in rng.choice(np.arange(main - 1), size=k, replace=False))
        spawns = dict(zip(at, groups, strict=True))
    s = _Session(c, rng, task_no)
    s.chain((s.system, Segment(s.ids.new(), initial)), (), main, spawns)
    return make_task(c.agent_type, task_no, s.steps, arrival_s=arrival_s, tenant=tenant)


def long_context(
    *,
    tasks: int = 100,
    seed: Seed = None,
    arrivals: Arrivals | None = None,
    config: LongContextConfig | None = None,
) -> Workload:
    """Generate long-context coding-agent sessions (Claude Code, OpenHands).

    Parameters
    ----------
    tasks
        Number of sessions (>= 1).
    seed
        Seed (int >= 0, Generator or None meaning 0). Session ``i`` depends only on the
        seed and ``i``.
    arrivals
        Arrival process; default Poisson at 8 tasks per minute.
    config
        Session shape; default :class:`LongContextConfig` ().

    Examples
    --------
    >>> w = long_context(tasks=20, seed=0)
    >>> len(w), w.name, w.source
    (20, 'long-context', 'generate long-context tasks=20 seed=0 arrivals=poisson(rate_per_min=8)')
    >>> max(s.prompt_tokens for t in w for s in t.steps) > 100_000
    True
    """
    cfg = LongContextConfig() if config is None else config
    return generate(
        "long-context",
        tasks,
        seed,
        arrivals,
        lambda i, rng, arrival_s: long_context_task(cfg, rng, task_no=i, arrival_s=arrival_s),
    )
