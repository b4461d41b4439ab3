"""Reader of the "steps CSV": one row per LLM call, the generic import format.

Columns (header names; order free, extra columns ignored):

==================  ========  ======================================================
column              required  meaning
==================  ========  ======================================================
instance_id         yes       the task (with ``run``: a task is a (run, instance_id))
step                yes       0-based index of the LLM call in its task
prompt_tokens       yes       prompt tokens of the call (>= 0; 0 is read as 1)
completion_tokens   yes       generated tokens (>= 0; 0 is read as 1)
run                 no        the run the task belongs to (default empty)
cached_tokens       no        prompt tokens the provider served from its cache
llm_start_ts        no        call start, seconds (step 0's gives the task's arrival)
llm_latency_s       no        observed latency of the call, seconds
tool_duration_s     no        tool time after the call, seconds; empty means no tool
tool                no        tool type (default ``bash`` when a tool ran)
tenant              no        tenant id (default ``default``)
model               no        model name: tasks of one model share a system prompt
==================  ========  ======================================================

How prompts become segments (so that prefix reuse is exact within this model): a ReAct
agent's prompt is its previous context (prompt and output) plus the new observation. So
step ``k``'s prompt is step ``k-1``'s context followed by one observation segment of
``prompt_tokens[k] - context_tokens[k-1]`` tokens. When a prompt is shorter than the
previous context (the agent truncated its history) the longest whole-segment prefix of
that context that fits is kept and the rest is a new segment. Step 0's prompt is a
system-prompt segment shared by every task of the same ``model`` followed by the task's
own tokens. The shared length is the most common non-zero ``cached_tokens`` of step 0
among that model's tasks: the provider's own measure of what tasks share (DeepSeek
reports hits in 64-token units, so this is a lower bound); 0 when unknown.

Tool durations below zero (clock skew between the timestamps the trace was derived
from) are clamped to 0 when they are within ``clock_skew_tolerance_s``; beyond that they
are an error.

Examples
--------
>>> import pathlib, tempfile
>>> p = pathlib.Path(tempfile.mkdtemp()) / "s.csv"
>>> _ = p.write_text("instance_id,step,prompt_tokens,completion_tokens,tool_duration_s\\n"
...                  "a,0,100,10,0.5\\na,1,150,5,\\n")
>>> w = read_steps_csv(p)
>>> [s.prompt_tokens for s in w.tasks[0].steps], w.tasks[0].steps[1].prompt[0].tokens
([100, 150], 100)
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from sagacore.errors import TraceFormatError, WorkloadError
from sagacore.workload.model import (
    DEFAULT_TENANT,
    Segment,
    Step,
    Task,
    TaskId,
    TenantId,
    Workload,
)
from sagacore.workload.readers._common import (
    BadLines,
    OnBadLines,
    as_bad_lines,
    iter_csv_rows,
    req_float,
    req_int,
    req_tokens,
)

__all__ = ["REQUIRED_COLUMNS", "read_steps_csv"]

REQUIRED_COLUMNS = ("instance_id", "step", "prompt_tokens", "completion_tokens")


class _Ids:
    """Deterministic segment ids: 1, 2, 3, ... in reading order."""

    def __init__(self) -> None:
        self.next = 1

    def new(self) -> int:
        self.next += 1
        return self.next - 1


def _opt_float(row: dict[str, str], key: str, path: Path, line: int) -> float | None:
    raw = row.get(key, "")
    if raw is None or not raw.strip():
        return None
    return req_float(row, key, path, line, minimum=-math.inf, text=True)


@dataclass(slots=True)
class _Row:
    line: int
    step: int
    prompt: int
    output: int
    cached: int | None
    latency: float | None
    tool_s: float | None
    tool: str | None
    tenant: str
    model: str
    start: float | None


def _parse_row(
    row: dict[str, str], p: Path, line: int, tolerance: float
) -> tuple[tuple[str, str], _Row]:
    key = (row.get("run", "").strip(), row["instance_id"].strip())
    if not key[1]:
        raise TraceFormatError(p, "empty instance id", line=line, field="instance_id")
    step = req_int(row, "step", p, line, text=True)
    prompt_tokens = max(1, req_tokens(row, "prompt_tokens", p, line, text=True))
    output_tokens = max(1, req_tokens(row, "completion_tokens", p, line, text=True))
    cached = (
        req_tokens(row, "cached_tokens", p, line, text=True)
        if row.get("cached_tokens", "").strip()
        else None
    )
    if cached is not None and cached > prompt_tokens:
        raise TraceFormatError(
            p,
            f"cached tokens {cached} exceed prompt tokens {prompt_tokens}",
            line=line,
            field="cached_tokens",
        )
    latency = _opt_float(row, "llm_latency_s", p, line)
    if latency is not None and latency < 0:
        raise TraceFormatError(p, f"negative value {latency}", line=line, field="llm_latency_s")
    tool_s = _opt_float(row, "tool_duration_s", p, line)
    if tool_s is not None and tool_s < 0:
        if tool_s < -tolerance:
            raise TraceFormatError(
                p, f"negative value {tool_s}", line=line, field="tool_duration_s"
            )
        tool_s = 0.0
    tool = (row.get("tool", "") or "").strip() or ("bash" if tool_s is not None else None)
    return key, _Row(
        line=line,
        step=step,
        prompt=prompt_tokens,
        output=output_tokens,
        cached=cached,
        latency=latency,
        tool_s=tool_s,
        tool=tool,
        tenant=(row.get("tenant", "") or "").strip(),
        model=(row.get("model", "") or "").strip(),
        start=_opt_float(row, "llm_start_ts", p, line),
    )


def read_steps_csv(
    path: str | Path,
    *,
    clock_skew_tolerance_s: float = 2.0,
    on_bad_lines: OnBadLines | BadLines = "error",
) -> Workload:
    """Read a steps CSV into a :class:`~sagacore.workload.model.Workload`.

    Parameters
    ----------
    path
        The CSV file.
    clock_skew_tolerance_s
        Negative tool durations down to minus this are clamped to zero.
    on_bad_lines
        ``error``, ``warn`` or ``skip`` an invalid row (one LLM call), or a
        :class:`~sagacore.workload.readers.BadLines` recording what was skipped. A
        skipped row's task keeps its other calls, chained in ``step`` order (the chain
        closes over the missing call); a repeated step number is an invalid row.

    Raises
    ------
    TraceFormatError
        Naming the file, line and field: missing column, non-numeric or negative token
        count, duplicate or (with ``error``) missing step, empty file, undecodable bytes.
    """
    p = Path(path)
    bad = as_bad_lines(on_bad_lines)
    rows: dict[tuple[str, str], list[_Row]] = defaultdict(list)
    for line, raw_row in iter_csv_rows(p, REQUIRED_COLUMNS, on_bad_lines=bad):
        try:
            key, r = _parse_row(raw_row, p, line, clock_skew_tolerance_s)
        except TraceFormatError as exc:
            bad.handle(exc)
            continue
        rows[key].append(r)

    chains: dict[tuple[str, str], list[_Row]] = {}
    for key in sorted(rows):
        calls = sorted(rows[key], key=lambda c: (c.step, c.line))
        kept: list[_Row] = []
        for r in calls:
            if kept and kept[-1].step == r.step:
                bad.handle(
                    TraceFormatError(
                        p,
                        f"duplicate step {r.step} of task {'/'.join(key)}",
                        line=r.line,
                        field="step",
                    )
                )
                continue
            if bad.strict and r.step != (kept[-1].step + 1 if kept else 0):
                bad.handle(
                    TraceFormatError(
                        p,
                        f"missing step before step {r.step} of task {'/'.join(key)}",
                        line=r.line,
                        field="step",
                    )
                )
            kept.append(r)
        chains[key] = kept
    if not chains:
        raise TraceFormatError(p, "no data rows")

    # Shared system prompt per model: the most common non-zero step-0 cache hit.
    step0: dict[str, Counter[int]] = defaultdict(Counter)
    for calls in chains.values():
        first = calls[0]
        if first.step == 0 and first.cached:
            step0[first.model][first.cached] += 1
    ids = _Ids()
    system: dict[str, Segment] = {}
    for model in sorted(step0):
        tokens = max(step0[model].items(), key=lambda kv: (kv[1], -kv[0]))[0]
        system[model] = Segment(ids.new(), tokens)

    starts: dict[tuple[str, str], float] = {}
    tasks: list[Task] = []
    for key, calls in chains.items():
        steps: list[Step] = []
        tenant = DEFAULT_TENANT
        for pos, r in enumerate(calls):
            if r.tenant:
                tenant = TenantId(r.tenant)
            if pos == 0:
                if r.start is not None:
                    starts[key] = r.start
                sys_seg = system.get(r.model)
                if sys_seg is not None and sys_seg.tokens < r.prompt:
                    prompt: tuple[Segment, ...] = (
                        sys_seg,
                        Segment(ids.new(), r.prompt - sys_seg.tokens),
                    )
                else:
                    prompt = (Segment(ids.new(), r.prompt),)
            else:
                prompt = _grow(steps[-1].context, r.prompt, ids)
            steps.append(
                Step(
                    index=pos,
                    prompt=prompt,
                    output_tokens=r.output,
                    output_id=ids.new(),
                    tool=r.tool,
                    tool_seconds=r.tool_s if r.tool_s is not None else 0.0,
                    deps=(pos - 1,) if pos else (),
                    observed_llm_seconds=r.latency,
                    observed_cached_tokens=r.cached,
                )
            )
        task_id = TaskId(f"{key[0]}/{key[1]}" if key[0] else key[1])
        tasks.append(Task(task_id, tuple(steps), tenant, 0.0, "swe-agent"))
    t0 = min(starts.values()) if starts else 0.0
    try:
        tasks = [t.with_arrival(starts.get(k, t0) - t0) for k, t in zip(chains, tasks, strict=True)]
        return Workload(tuple(tasks), name=p.stem, source=str(p))
    except WorkloadError as exc:  # start times too far apart; run/instance ids that collide
        field = "llm_start_ts" if "arrival" in str(exc) else "instance_id"
        raise TraceFormatError(p, str(exc), field=field) from None


def _grow(context: tuple[Segment, ...], tokens: int, ids: _Ids) -> tuple[Segment, ...]:
    total = sum(s.tokens for s in context)
    if tokens >= total:
        extra = tokens - total
        return context + ((Segment(ids.new(), extra),) if extra else ())
    kept: list[Segment] = []
    used = 0
    for s in context:
        if used + s.tokens > tokens:
            break
        kept.append(s)
        used += s.tokens
    if used < tokens:
        kept.append(Segment(ids.new(), tokens - used))
    return tuple(kept)
