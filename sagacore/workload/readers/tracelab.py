"""Reader of TraceLab agent traces (JSON lines, one object per LLM round).

TraceLab (github.com/uw-syfi/TraceLab; data CC-BY-4.0) records Claude Code and Codex
sessions, one line per LLM round, with the provider's prompt-cache accounting::

    {"provider": "claude", "session_id": "claude:92ee...", "round_index": 0,
     "model": "...", "input_tokens_total": 32272, "prefix_tokens": 27217,
     "newly_append_tokens": 5055, "output_tokens": 931, "reasoning_output_tokens": null,
     "timing_events": [{"event_type": "user_message", "timestamp": "2026-06-01T05:40:20.151Z", ...}],
     "tools": [{"tool_name": "Bash", "tool_wall_latency_ms": 860, ...}], ...}

Mapping to the model
--------------------
One task per ``session_id`` (agent type = ``provider``), one step per round, rounds in
``(round_index, line)`` order (TraceLab keeps duplicated rounds; so does this reader),
each step depending on the one before it.

*Prompt.* ``input_tokens_total`` tokens (or ``prefix_tokens + newly_append_tokens`` when
the total is absent). ``prefix_tokens`` is what the provider served from its prompt
cache (Claude: cache reads; Codex: cached input). TraceLab's accounting note finds that
a round's cache hit is, to within a few tokens, the previous round's whole input:
``next.prefix_tokens ~= last.input_tokens_total``. So round ``k``'s prompt is modelled
as the first ``L`` tokens of round ``k-1``'s context (its prompt, then its output)
followed by one new segment for the rest, where

- ``reuse="reported"`` (default): ``L = prefix_tokens`` -- the provider's own evidence
  of identical leading tokens. It is a lower bound: an evicted provider cache shows up
  as a shorter shared prefix.
- ``reuse="history"``: the conversation is append-only, so ``L`` is the previous
  round's whole input (or ``prefix_tokens`` when larger) whenever the prompt did not
  shrink; when it shrank (context compaction) ``L = prefix_tokens``.

``L`` is then capped by the prompt length and by what the previous context can supply.
The previous output counts only as a whole (it is one segment) and only when it has no
reasoning tokens: reasoning is not replayed into the history, so a reasoning round's
output is never part of the next prompt. The cut at ``L`` may fall inside an earlier
round's newly appended tokens; the reader then splits those tokens into two segments
in every step that holds them, so prefix identity stays exact.

Round 0's ``prefix_tokens`` (cache hits from before the session: the agent's system
prompt and tool definitions) become, with ``shared_system_prompt=True``, one segment
shared by every session whose first round reports the same ``(provider, model,
prefix_tokens)``; otherwise the round-0 prompt is a single segment of the session.

*Output.* ``output_tokens`` (both providers already include reasoning tokens in it); an
LLM call produces at least one token, so 0 is read as 1. ``prefix_tokens`` is kept as
the step's ``observed_cached_tokens``.

*Tools.* The tool type is the first tool's ``tool_name``; ``tool_seconds`` is the sum
of the round's ``tool_wall_latency_ms`` (null counts 0) in seconds. Parallel tool calls
of one round overlap, so the sum can exceed the wall time spent in tools.

*Arrival.* The session's earliest ``timing_events[].timestamp`` (ISO 8601, naive means
UTC), relative to the earliest of the file; a session without timestamps arrives at 0.
With ``tenant_field`` (for example ``"user"`` or ``"project"``) the tenant is that
field of the session's first round.

What is lost: human think time between rounds that start with a user message, LLM
latencies (``timing_events`` are not turned into ``observed_llm_seconds``), tool
parallelism, and content identity across sessions beyond the shared round-0 prefix.

Examples
--------
>>> import json, pathlib, tempfile
>>> rows = [
...     {"provider": "codex", "session_id": "s1", "round_index": 0, "model": "m",
...      "input_tokens_total": 1000, "prefix_tokens": 0, "output_tokens": 50,
...      "timing_events": [{"timestamp": "2026-03-21T10:05:59.328Z"}],
...      "tools": [{"tool_name": "exec_command", "tool_wall_latency_ms": 1500}]},
...     {"provider": "codex", "session_id": "s1", "round_index": 1, "model": "m",
...      "input_tokens_total": 1300, "prefix_tokens": 896, "output_tokens": 20,
...      "timing_events": [], "tools": []},
... ]
>>> p = pathlib.Path(tempfile.mkdtemp()) / "trace.jsonl"
>>> _ = p.write_text("".join(json.dumps(r) + "\\n" for r in rows))
>>> s0, s1 = read_tracelab(p).tasks[0].steps
>>> [x.tokens for x in s0.prompt], s0.tool, s0.tool_seconds
([896, 104], 'exec_command', 1.5)
>>> [x.tokens for x in s1.prompt], s1.prompt[0] == s0.prompt[0], s1.observed_cached_tokens
([896, 404], True, 896)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sagacore.errors import ConfigError, TraceFormatError
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
    iter_json_lines,
    req_float,
    req_int,
    req_str,
    req_tokens,
)

__all__ = ["Reuse", "read_tracelab"]

Reuse = Literal["reported", "history"]
"""How much of the previous round's context a round's prompt is taken to share."""


@dataclass(slots=True)
class _Round:
    line: int
    round_index: int
    input: int
    prefix: int | None
    output: int
    reasoning: int
    tool: str | None
    tool_seconds: float
    first_ts: float | None
    system_key: tuple[str, str, int] | None
    tenant: str | None
    provider: str


def _opt_int(obj: Mapping[str, Any], key: str, path: Path, line: int) -> int | None:
    if obj.get(key) is None:
        return None
    return req_tokens(obj, key, path, line)


def _opt_str(obj: Mapping[str, Any], key: str, path: Path, line: int) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TraceFormatError(path, f"expected a string, found {value!r}", line=line, field=key)
    return value


def _timestamp(raw: Any, path: Path, line: int, where: str) -> float:
    if not isinstance(raw, str):
        raise TraceFormatError(
            path, f"expected an ISO 8601 string, found {raw!r}", line=line, field=where
        )
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise TraceFormatError(
            path, f"expected an ISO 8601 timestamp, found {raw!r}", line=line, field=where
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.timestamp()
    except (OverflowError, ValueError, OSError):
        raise TraceFormatError(
            path, f"timestamp out of range: {raw!r}", line=line, field=where
        ) from None


def _list(obj: Mapping[str, Any], key: str, path: Path, line: int) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise TraceFormatError(path, f"expected a list, found {value!r}", line=line, field=key)
    return value


def _parse_round(
    obj: Any, path: Path, line: int, *, shared_system_prompt: bool, tenant_field: str | None
) -> tuple[str, _Round]:
    if not isinstance(obj, dict):
        raise TraceFormatError(path, "expected a JSON object", line=line)
    session = req_str(obj, "session_id", path, line)
    round_index = req_int(obj, "round_index", path, line)
    prefix = _opt_int(obj, "prefix_tokens", path, line)
    appended = _opt_int(obj, "newly_append_tokens", path, line)
    total = _opt_int(obj, "input_tokens_total", path, line)
    if total is None:
        if prefix is None or appended is None:
            raise TraceFormatError(
                path,
                "missing (and prefix_tokens + newly_append_tokens cannot replace it)",
                line=line,
                field="input_tokens_total",
            )
        total = prefix + appended
    if prefix is not None and prefix > total:
        raise TraceFormatError(
            path,
            f"{prefix} cached tokens exceed the {total} input tokens",
            line=line,
            field="prefix_tokens",
        )
    output = req_tokens(obj, "output_tokens", path, line)
    reasoning = _opt_int(obj, "reasoning_output_tokens", path, line) or 0
    provider = _opt_str(obj, "provider", path, line) or "tracelab"
    model = _opt_str(obj, "model", path, line) or ""
    tenant = _opt_str(obj, tenant_field, path, line) if tenant_field else None

    first_ts: float | None = None
    for k, ev in enumerate(_list(obj, "timing_events", path, line)):
        if not isinstance(ev, dict):
            raise TraceFormatError(
                path, "expected an object", line=line, field=f"timing_events[{k}]"
            )
        if ev.get("timestamp") is None:
            continue
        ts = _timestamp(ev["timestamp"], path, line, f"timing_events[{k}].timestamp")
        first_ts = ts if first_ts is None else min(first_ts, ts)

    tool: str | None = None
    tool_ms = 0.0
    for k, t in enumerate(_list(obj, "tools", path, line)):
        if not isinstance(t, dict):
            raise TraceFormatError(path, "expected an object", line=line, field=f"tools[{k}]")
        try:
            if k == 0:
                tool = req_str(t, "tool_name", path, line)
            if t.get("tool_wall_latency_ms") is not None:
                tool_ms += req_float(t, "tool_wall_latency_ms", path, line)
        except TraceFormatError as exc:
            raise TraceFormatError(
                path, exc.message, line=line, field=f"tools[{k}].{exc.field}"
            ) from None
    tool_seconds = tool_ms / 1000.0
    if tool_seconds == float("inf"):
        raise TraceFormatError(
            path, "tool latencies overflow", line=line, field="tools.tool_wall_latency_ms"
        )
    system_key = (provider, model, prefix) if shared_system_prompt and prefix else None
    return session, _Round(
        line=line,
        round_index=round_index,
        input=max(1, total),
        prefix=prefix,
        output=max(1, output),
        reasoning=reasoning,
        tool=tool,
        tool_seconds=tool_seconds,
        first_ts=first_ts,
        system_key=system_key,
        tenant=tenant,
        provider=provider,
    )


class _Atoms:
    """Runs of tokens that later rounds may cut; turned into segments at the end."""

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.splittable: list[bool] = []
        self.cuts: list[set[int]] = []
        self.shared: dict[tuple[str, str, int], int] = {}

    def new(self, tokens: int, *, splittable: bool) -> int:
        self.tokens.append(tokens)
        self.splittable.append(splittable)
        self.cuts.append(set())
        return len(self.tokens) - 1

    def system(self, key: tuple[str, str, int]) -> int:
        if key not in self.shared:
            self.shared[key] = self.new(key[2], splittable=False)
        return self.shared[key]

    def truncate(self, seq: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
        """The longest prefix of ``seq`` within ``limit`` tokens, cutting splittable atoms."""
        out: list[tuple[int, int]] = []
        used = 0
        for atom, n in seq:
            if used + n <= limit:
                out.append((atom, n))
                used += n
                continue
            rest = limit - used
            if rest > 0 and self.splittable[atom]:
                out.append((atom, rest))
                self.cuts[atom].add(rest)
            break
        return out

    def segments(self) -> list[list[tuple[int, Segment]]]:
        """Per atom, its pieces as (end offset, segment), with ids 1, 2, ... in order."""
        out: list[list[tuple[int, Segment]]] = []
        next_id = 1
        for tokens, cuts in zip(self.tokens, self.cuts, strict=True):
            pieces: list[tuple[int, Segment]] = []
            start = 0
            for end in [*sorted(c for c in cuts if 0 < c < tokens), tokens]:
                pieces.append((end, Segment(next_id, end - start)))
                next_id += 1
                start = end
            out.append(pieces)
        return out


def read_tracelab(
    path: str | Path,
    *,
    reuse: Reuse = "reported",
    shared_system_prompt: bool = True,
    tenant_field: str | None = None,
    on_bad_lines: OnBadLines | BadLines = "error",
) -> Workload:
    """Read a TraceLab JSONL trace into a :class:`~sagacore.workload.model.Workload`.

    Parameters
    ----------
    path
        The ``.jsonl`` file (one LLM round per line).
    reuse
        ``"reported"``: a round's prompt shares ``prefix_tokens`` with the previous
        round's context; ``"history"``: it shares the previous round's whole input
        unless the prompt shrank (see the module notes).
    shared_system_prompt
        Share round 0's cached prefix among sessions with the same provider, model and
        ``prefix_tokens``.
    tenant_field
        Name of the field giving a session's tenant (``None``: every task is in tenant
        ``default``).
    on_bad_lines
        ``error``, ``warn`` or ``skip`` an invalid line (one round), or a
        :class:`~sagacore.workload.readers.BadLines` recording what was skipped. A
        session keeps its other rounds, chained in ``round_index`` order (the chain
        closes over a skipped round).

    Returns
    -------
    Workload
        One task per session, named after the file.

    Raises
    ------
    TraceFormatError
        Naming the file, the line and the field of the first problem.
    """
    if reuse not in ("reported", "history"):
        raise ConfigError(f"reuse must be 'reported' or 'history', got {reuse!r}")
    p = Path(path)
    sessions: dict[str, list[_Round]] = {}
    bad = as_bad_lines(on_bad_lines)
    for line, obj in iter_json_lines(p, on_bad_lines=bad):
        try:
            session, rnd = _parse_round(
                obj, p, line, shared_system_prompt=shared_system_prompt, tenant_field=tenant_field
            )
        except TraceFormatError as exc:
            bad.handle(exc)
            continue
        sessions.setdefault(session, []).append(rnd)
    if not sessions:
        raise TraceFormatError(p, "no rounds")

    atoms = _Atoms()
    plans: dict[str, list[tuple[list[tuple[int, int]], int]]] = {}
    for session, rounds in sessions.items():
        rounds.sort(key=lambda r: (r.round_index, r.line))
        plan: list[tuple[list[tuple[int, int]], int]] = []
        context: list[tuple[int, int]] = []
        prev: _Round | None = None
        for r in rounds:
            if prev is None:
                prompt: list[tuple[int, int]] = []
                if r.system_key is not None and r.system_key[2] <= r.input:
                    prompt.append((atoms.system(r.system_key), r.system_key[2]))
            else:
                reported = r.prefix or 0
                if reuse == "history" and r.input >= prev.input:
                    shared = max(reported, prev.input)
                else:
                    shared = reported
                supply = prev.input + (prev.output if prev.reasoning == 0 else 0)
                prompt = atoms.truncate(context, min(shared, supply, r.input))
            have = sum(n for _, n in prompt)
            if r.input > have:
                prompt.append((atoms.new(r.input - have, splittable=True), r.input - have))
            out_atom = atoms.new(r.output, splittable=False)
            plan.append((prompt, out_atom))
            context = [*prompt, (out_atom, r.output)]
            prev = r
        plans[session] = plan

    pieces = atoms.segments()
    firsts = {
        s: min((r.first_ts for r in rs if r.first_ts is not None), default=None)
        for s, rs in sessions.items()
    }
    t0 = min((t for t in firsts.values() if t is not None), default=0.0)
    tasks: list[Task] = []
    for session, rounds in sessions.items():
        steps: list[Step] = []
        for i, (r, (prompt, out_atom)) in enumerate(zip(rounds, plans[session], strict=True)):
            segs: list[Segment] = []
            for atom, n in prompt:
                segs.extend(seg for end, seg in pieces[atom] if end <= n)
            steps.append(
                Step(
                    index=i,
                    prompt=tuple(segs),
                    output_tokens=r.output,
                    output_id=pieces[out_atom][0][1].id,
                    tool=r.tool,
                    tool_seconds=r.tool_seconds,
                    deps=(i - 1,) if i else (),
                    observed_cached_tokens=r.prefix,
                )
            )
        first = firsts[session]
        tenant = rounds[0].tenant
        tasks.append(
            Task(
                id=TaskId(session),
                steps=tuple(steps),
                tenant=TenantId(tenant) if tenant else DEFAULT_TENANT,
                arrival_s=0.0 if first is None else first - t0,
                agent_type=rounds[0].provider,
            )
        )
    return Workload(tuple(tasks), name=p.stem, source=str(p))
