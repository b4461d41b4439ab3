"""The native workload format: versioned JSON lines that round-trip exactly.

Line 1 is a header object; every following line is one task. The JSON Schema is in
``docs/native-format.schema.json`` and the prose description in ``docs/native-format.md``.

Header::

    {"format": "sagacore-workload", "version": 1, "name": ..., "source": ...,
     "tenants": [{"id": ..., "weight": ..., "slo_factor": ...}, ...]}

Task::

    {"id": ..., "tenant": ..., "arrival_s": ..., "agent_type": ...,
     "steps": [{"prefix": [j, n], "append": [[seg_id, tokens], ...],
                "output_tokens": ..., "output_id": ..., "deps": [...],
                "tool": ..., "tool_seconds": ...}, ...]}

A step's prompt is the first ``n`` segments of step ``j``'s context (its prompt and then
its output segment; ``j`` earlier in the same task) followed by the ``append`` segments.
``prefix`` is omitted when nothing is inherited. The writer picks ``j`` among the step's
dependencies and the step just before it, the one sharing the most leading segments (the
latest on ties), so that output is canonical: ``write(read(f))`` reproduces ``f`` byte
for byte, and ``read(write(w)) == w``.

Examples
--------
>>> import io
>>> from sagacore.workload.model import Segment, Step, Task, TaskId, Workload
>>> s0 = Step(0, (Segment(1, 100),), 10, 2, tool="bash", tool_seconds=0.5)
>>> s1 = Step(1, (*s0.context, Segment(3, 40)), 12, 4, deps=(0,))
>>> w = Workload((Task(TaskId("a"), (s0, s1)),), name="demo")
>>> text = dumps(w)
>>> loads(text) == w
True
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sagacore.errors import TraceFormatError
from sagacore.workload.model import Segment, Step, Task, TaskId, Tenant, TenantId, Workload
from sagacore.workload.readers._common import (
    MAX_TOKENS,
    BadLines,
    OnBadLines,
    as_bad_lines,
    iter_json_lines,
    req_float,
    req_int,
    req_str,
)

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "dumps", "loads", "read_native", "write_native"]

FORMAT_NAME = "sagacore-workload"
FORMAT_VERSION = 1


def _common_segments(a: Sequence[Segment], b: Sequence[Segment]) -> int:
    k = min(len(a), len(b))
    if tuple(a[:k]) == tuple(b[:k]):  # the common ReAct case, compared at C speed
        return k
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _step_json(task: Task, step: Step) -> dict[str, Any]:
    out: dict[str, Any] = {}
    candidates = sorted(set(step.deps) | ({step.index - 1} if step.index else set()))
    best_j, best_n = -1, 0
    for j in candidates:
        n = _common_segments(task.steps[j].context, step.prompt)
        if n >= best_n and n > 0:
            best_j, best_n = j, n
    if best_n:
        out["prefix"] = [best_j, best_n]
    out["append"] = [[s.id, s.tokens] for s in step.prompt[best_n:]]
    out["output_tokens"] = step.output_tokens
    out["output_id"] = step.output_id
    if step.deps:
        out["deps"] = list(step.deps)
    if step.tool is not None:
        out["tool"] = step.tool
        out["tool_seconds"] = step.tool_seconds
    if step.observed_llm_seconds is not None:
        out["observed_llm_seconds"] = step.observed_llm_seconds
    if step.observed_cached_tokens is not None:
        out["observed_cached_tokens"] = step.observed_cached_tokens
    return out


def _dump_line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def iter_lines(workload: Workload) -> Iterable[str]:
    """Yield the lines (without newline) of the native encoding of ``workload``."""
    yield _dump_line(
        {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "name": workload.name,
            "source": workload.source,
            "tenants": [
                {"id": t.id, "weight": t.weight, "slo_factor": t.slo_factor}
                for t in workload.tenants
            ],
        }
    )
    for task in workload.tasks:
        yield _dump_line(
            {
                "id": task.id,
                "tenant": task.tenant,
                "arrival_s": task.arrival_s,
                "agent_type": task.agent_type,
                "steps": [_step_json(task, s) for s in task.steps],
            }
        )


def dumps(workload: Workload) -> str:
    """The native encoding of ``workload`` as one string."""
    return "".join(line + "\n" for line in iter_lines(workload))


def write_native(workload: Workload, path: str | Path) -> None:
    """Write ``workload`` to ``path`` in the native format."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in iter_lines(workload):
            f.write(line)
            f.write("\n")


_INT64 = (-(2**63), 2**63 - 1)


def _segments(
    raw: Any, path: str | Path, line: int, where: str, seen: _Seen
) -> list[Segment]:
    if not isinstance(raw, list):
        raise TraceFormatError(path, "expected a list of [id, tokens]", line=line, field=where)
    out: list[Segment] = []
    for k, item in enumerate(raw):
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in item)
        ):
            raise TraceFormatError(
                path,
                f"expected [id, tokens] integers, found {item!r}",
                line=line,
                field=f"{where}[{k}]",
            )
        if not 0 < item[1] <= MAX_TOKENS:
            raise TraceFormatError(
                path,
                f"segment tokens must be positive, found {item[1]}"
                if item[1] <= 0
                else f"segment tokens {item[1]} above the limit {MAX_TOKENS}",
                line=line,
                field=f"{where}[{k}]",
            )
        out.append(seen.segment(item[0], item[1], path, line, f"{where}[{k}]"))
    return out


class _Seen:
    """Segment ids read so far and their token counts: equal ids mean equal tokens."""

    def __init__(self) -> None:
        self.tokens: dict[int, tuple[int, int]] = {}  # id -> (tokens, first line)
        self.fresh: dict[int, tuple[int, int]] = {}  # first seen on the current line

    def segment(self, sid: int, tokens: int, path: str | Path, line: int, where: str) -> Segment:
        if not _INT64[0] <= sid <= _INT64[1]:
            raise TraceFormatError(
                path, f"segment id {sid} is not a 64-bit integer", line=line, field=where
            )
        known = self.tokens.get(sid) or self.fresh.get(sid)
        if known is None:
            self.fresh[sid] = (tokens, line)
        elif known[0] != tokens:
            at = "this line" if known[1] == line else f"line {known[1]}"
            raise TraceFormatError(
                path,
                f"segment id {sid} has {tokens} tokens here but {known[0]} on {at} "
                "(equal ids mean equal tokens)",
                line=line,
                field=where,
            )
        return Segment(sid, tokens)

    def commit(self) -> None:
        self.tokens.update(self.fresh)
        self.fresh.clear()


def _parse_step(
    raw: Any,
    index: int,
    done: list[Step],
    path: str | Path,
    line: int,
    task_id: str,
    seen: _Seen,
) -> Step:
    where = f"steps[{index}]"
    if not isinstance(raw, dict):
        raise TraceFormatError(path, "expected an object", line=line, field=where)
    prompt: list[Segment] = []
    if "prefix" in raw:
        pref = raw["prefix"]
        if (
            not isinstance(pref, list)
            or len(pref) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in pref)
        ):
            raise TraceFormatError(
                path,
                f"expected [step, segments], found {pref!r}",
                line=line,
                field=f"{where}.prefix",
            )
        j, n = pref
        if not 0 <= j < index:
            raise TraceFormatError(
                path, f"prefix step {j} is not an earlier step", line=line, field=f"{where}.prefix"
            )
        ctx = done[j].context
        if not 1 <= n <= len(ctx):
            raise TraceFormatError(
                path,
                f"prefix takes {n} segments but step {j}'s context has {len(ctx)}",
                line=line,
                field=f"{where}.prefix",
            )
        prompt.extend(ctx[:n])
    prompt.extend(_segments(raw.get("append", []), path, line, f"{where}.append", seen))
    if not prompt:
        raise TraceFormatError(path, "empty prompt", line=line, field=f"{where}.append")
    deps_raw = raw.get("deps", [])
    if not isinstance(deps_raw, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in deps_raw
    ):
        raise TraceFormatError(
            path,
            f"expected a list of step indices, found {deps_raw!r}",
            line=line,
            field=f"{where}.deps",
        )
    tool = raw.get("tool")
    if tool is not None and not isinstance(tool, str):
        raise TraceFormatError(
            path, f"expected a string, found {tool!r}", line=line, field=f"{where}.tool"
        )
    tool_seconds = req_float(raw, "tool_seconds", path, line) if tool is not None else 0.0
    obs_llm = raw.get("observed_llm_seconds")
    obs_cached = raw.get("observed_cached_tokens")
    output_tokens = req_int(raw, "output_tokens", path, line, minimum=1, maximum=MAX_TOKENS)
    output_id = req_int(raw, "output_id", path, line, minimum=-(2**63))
    seen.segment(output_id, output_tokens, path, line, f"{where}.output_id")
    try:
        return Step(
            index=index,
            prompt=tuple(prompt),
            output_tokens=output_tokens,
            output_id=output_id,
            tool=tool,
            tool_seconds=tool_seconds,
            deps=tuple(deps_raw),
            observed_llm_seconds=None
            if obs_llm is None
            else req_float(raw, "observed_llm_seconds", path, line),
            observed_cached_tokens=None
            if obs_cached is None
            else req_int(raw, "observed_cached_tokens", path, line, maximum=MAX_TOKENS),
        )
    except TraceFormatError:
        raise
    except Exception as exc:  # WorkloadError from validation
        raise TraceFormatError(path, f"task {task_id}: {exc}", line=line, field=where) from None


def _parse_task(obj: Any, path: str | Path, line: int, seen: _Seen) -> Task:
    if not isinstance(obj, dict):
        raise TraceFormatError(path, "expected a task object", line=line)
    task_id = req_str(obj, "id", path, line)
    steps_raw = obj.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise TraceFormatError(path, "expected a non-empty list", line=line, field="steps")
    done: list[Step] = []
    for i, sr in enumerate(steps_raw):
        done.append(_parse_step(sr, i, done, path, line, task_id, seen))
    agent_type = obj.get("agent_type", "agent")
    if not isinstance(agent_type, str):
        raise TraceFormatError(
            path, f"expected a string, found {agent_type!r}", line=line, field="agent_type"
        )
    return Task(
        id=TaskId(task_id),
        steps=tuple(done),
        tenant=TenantId(req_str(obj, "tenant", path, line)),
        arrival_s=req_float(obj, "arrival_s", path, line),
        agent_type=agent_type,
    )


def _parse(path: str | Path, text: str | None, bad: BadLines | None = None) -> Workload:
    bad = bad if bad is not None else BadLines()
    header: dict[str, Any] | None = None
    tasks: list[Task] = []
    seen = _Seen()
    for line, obj in iter_json_lines(path, text, on_bad_lines=bad):
        if header is None:
            if not isinstance(obj, dict) or obj.get("format") != FORMAT_NAME:
                raise TraceFormatError(
                    path,
                    f"not a native workload: first line must have format {FORMAT_NAME!r}",
                    line=line,
                    field="format",
                )
            version = obj.get("version")
            if version != FORMAT_VERSION:
                raise TraceFormatError(
                    path,
                    f"unsupported version {version!r} (this sagacore reads {FORMAT_VERSION})",
                    line=line,
                    field="version",
                )
            header = obj
            continue
        try:
            tasks.append(_parse_task(obj, path, line, seen))
        except TraceFormatError as exc:
            seen.fresh.clear()
            bad.handle(exc)
            continue
        seen.commit()
    if header is None:
        raise TraceFormatError(path, "empty file")
    tenants: list[Tenant] = []
    raw_tenants = header.get("tenants", [])
    if not isinstance(raw_tenants, list):
        raise TraceFormatError(path, "expected a list", line=1, field="tenants")
    for k, t in enumerate(raw_tenants):
        try:
            tenants.append(
                Tenant(
                    TenantId(req_str(t, "id", path, 1)),
                    req_float(t, "weight", path, 1),
                    req_float(t, "slo_factor", path, 1),
                )
            )
        except TraceFormatError:
            raise
        except Exception as exc:
            raise TraceFormatError(path, str(exc), line=1, field=f"tenants[{k}]") from None
    name = header.get("name", "workload")
    source = header.get("source", "")
    try:
        return Workload(tuple(tasks), tuple(tenants), str(name), str(source))
    except Exception as exc:
        raise TraceFormatError(path, str(exc)) from None


def read_native(path: str | Path, *, on_bad_lines: OnBadLines | BadLines = "error") -> Workload:
    """Read a native workload file.

    ``on_bad_lines``: ``error``, ``warn`` or ``skip`` an invalid task line (the task is
    dropped whole), or a :class:`~sagacore.workload.readers.BadLines` recording what was
    skipped. The header line is never skipped.

    Raises
    ------
    TraceFormatError
        Naming the file, the line and the field of the first problem.
    """
    return _parse(path, None, as_bad_lines(on_bad_lines))


def loads(text: str, name: str = "<string>") -> Workload:
    """Parse the native encoding from a string (``name`` is used in error messages)."""
    if not text.strip():
        raise TraceFormatError(name, "empty file")
    return _parse(name, text)
