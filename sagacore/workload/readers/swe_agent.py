"""Reader of SWE-agent trajectories (``.traj`` JSON files).

SWE-agent (github.com/SWE-agent/SWE-agent, MIT) writes one JSON document per run::

    {"environment": "...",
     "trajectory": [{"action": "...", "observation": "...", "response": "...",
                     "thought": "...", "state": {...}, "execution_time": 0.28,
                     "messages": [...]}, ...],
     "history": [{"role": "system" | "user" | "assistant" | "tool", "content": "...",
                  "is_demo": true?, "action": "...", ...}, ...],
     "info": {"model_stats": {"tokens_sent": ..., "tokens_received": ...,
                              "api_calls": ...}, "exit_status": "...", ...}}

Mapping to the model
--------------------
One file is one task (id: the file name without ``.traj``; agent type ``swe-agent``);
a directory is every ``.traj`` file in it, in sorted order, all arriving at 0. Each
``trajectory`` entry is one LLM call (when a file has no trajectory, each non-demo
``assistant`` message of ``history`` is one). The steps form a chain.

*Prompts, as a chain.* The first call's prompt is the messages of ``history`` before
the first non-demonstration assistant message (system prompt, demonstrations, the
issue), one segment per message. Call ``k``'s prompt is call ``k-1``'s context (its
prompt and its output) followed by one segment for call ``k-1``'s observation.

*Token counts are estimated*: the files record no per-call counts, so a text of ``c``
characters counts ``max(1, ceil(c / chars_per_token))`` tokens (``chars_per_token=4``
by default, the usual rule of thumb for English and code with GPT-style tokenisers).
With ``calibrate=True``, when ``info.model_stats`` records ``tokens_sent`` and
``tokens_received`` for exactly as many API calls as there are steps, every prompt
segment is rescaled by ``tokens_sent / estimated prompt tokens`` and every output by
``tokens_received / estimated output tokens`` (rounded, at least 1), so the totals
match the provider's. Factors outside ``[0.1, 10]`` mean the totals describe something
else (retries, another run) and are ignored. On the three real GPT-4 runs of the
SWE-agent repository the factors are 0.93-1.04 for prompts and 0.74-0.93 for outputs.

*Content identity is exact.* A segment's id is given by its text and token count, so
files that share a system prompt, demonstrations and issue text (as replays of one
instance do) share those segments, and with them their prefix.

*Output* is the call's ``response`` (the raw model output; the ``action`` is appended
when the response does not contain it, as with function calling). *Tool*: the first
word of the ``action`` (SWE-agent's command name: ``open``, ``edit``, ``python``,
``submit``...), none when the action is empty; ``tool_seconds`` is ``execution_time``
when recorded, else 0.

What is lost: SWE-agent's history processors (which elide old observations, so real
prompts grow more slowly than the chain), the exact tokeniser, LLM latencies and real
arrival times.

Errors (:class:`~sagacore.errors.TraceFormatError`) name the file, the line of the
offending JSON value and its path (for example ``trajectory[3].execution_time``).

Examples
--------
>>> import json, pathlib, tempfile
>>> traj = {"history": [{"role": "system", "content": "s" * 400},
...                     {"role": "user", "content": "fix the bug" * 4}],
...         "trajectory": [{"action": "ls -F", "observation": "a.py b.py",
...                         "response": "Let me look.\\nls -F", "execution_time": 0.25},
...                        {"action": "submit", "observation": "", "response": "submit"}]}
>>> p = pathlib.Path(tempfile.mkdtemp()) / "run.traj"
>>> _ = p.write_text(json.dumps(traj, indent=2))
>>> s0, s1 = read_swe_agent(p).tasks[0].steps
>>> [x.tokens for x in s0.prompt], s0.output_tokens, s0.tool, s0.tool_seconds
([100, 11], 5, 'ls', 0.25)
>>> s1.prompt[:-1] == s0.context, s1.prompt_tokens, s1.tool
(True, 119, 'submit')
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from sagacore.errors import TraceFormatError
from sagacore.validate import positive
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload
from sagacore.workload.readers._common import BadLines, OnBadLines, as_bad_lines, read_text

__all__ = ["estimate_tokens", "read_swe_agent"]

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_Key: TypeAlias = str | int
_CALIBRATION_RANGE = (0.1, 10.0)


def _skip(text: str, pos: int) -> int:
    """Offset of the first non-blank character at or after ``pos``."""
    m = _WS.match(text, pos)
    return m.end() if m else pos


def estimate_tokens(text: str, chars_per_token: float = 4.0) -> int:
    """Estimated tokens of ``text``: ``max(1, ceil(len(text) / chars_per_token))``.

    Examples
    --------
    >>> estimate_tokens("hello world"), estimate_tokens("")
    (3, 1)
    """
    return max(1, math.ceil(len(text) / chars_per_token))


def _value_offset(text: str, keys: tuple[_Key, ...]) -> int:
    """Offset of the JSON value at ``keys`` in valid JSON ``text`` (of its deepest found
    container when a key is absent)."""
    idx = _skip(text, 0)
    try:
        for key in keys:
            if isinstance(key, int):
                if not text.startswith("[", idx):
                    return idx
                pos = _skip(text, idx + 1)
                for _ in range(key):
                    if text.startswith("]", pos):
                        return idx
                    _, pos = _DECODER.raw_decode(text, pos)
                    pos = _skip(text, pos)
                    if text.startswith(",", pos):
                        pos = _skip(text, pos + 1)
                if text.startswith("]", pos):
                    return idx
                idx = pos
            else:
                if not text.startswith("{", idx):
                    return idx
                pos = _skip(text, idx + 1)
                found = -1
                while text.startswith('"', pos):
                    name, pos = _DECODER.raw_decode(text, pos)
                    pos = _skip(text, pos)
                    pos = _skip(text, pos + 1)  # past ':'
                    if name == key:
                        found = pos  # the last duplicate wins, as in json.loads
                    _, pos = _DECODER.raw_decode(text, pos)
                    pos = _skip(text, pos)
                    if text.startswith(",", pos):
                        pos = _skip(text, pos + 1)
                if found < 0:
                    return idx
                idx = found
    except (ValueError, IndexError, RecursionError):
        pass
    return idx


@dataclass(slots=True)
class _Doc:
    """A parsed file and the means to name the line of any of its values."""

    path: Path
    text: str

    def error(self, keys: tuple[_Key, ...], message: str) -> TraceFormatError:
        offset = _value_offset(self.text, keys)
        line = self.text.count("\n", 0, offset) + 1
        field = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys).lstrip(".")
        return TraceFormatError(self.path, message, line=line, field=field or None)

    def string(self, obj: Mapping[str, Any], key: str, keys: tuple[_Key, ...]) -> str:
        """An optional text field (missing or null is empty; content parts are joined)."""
        value = obj.get(key)
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            parts: list[str] = []
            for k, part in enumerate(value):
                if isinstance(part, str):
                    parts.append(part)
                elif isinstance(part, dict) and isinstance(part.get("text", ""), str):
                    parts.append(part.get("text", ""))
                else:
                    raise self.error((*keys, key, k), f"expected text, found {part!r}")
            return "".join(parts)
        raise self.error((*keys, key), f"expected a string, found {value!r}")


@dataclass(slots=True)
class _Call:
    keys: tuple[_Key, ...]
    output: str
    action: str
    observation: str
    seconds: float


class _Contents:
    """Segment ids by content: equal (text, tokens) get equal ids, 1, 2, ... in order."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, int], int] = {}

    def segment(self, text: str, tokens: int) -> Segment:
        key = (text, tokens)
        sid = self.ids.get(key)
        if sid is None:
            sid = self.ids[key] = len(self.ids) + 1
        return Segment(sid, tokens)


def _load(path: Path) -> tuple[_Doc, dict[str, Any]]:
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceFormatError(
            path, f"broken JSON: {exc.msg} (column {exc.colno})", line=exc.lineno
        ) from None
    except (ValueError, RecursionError) as exc:
        raise TraceFormatError(path, f"broken JSON: {exc}", line=1) from None
    doc = _Doc(path, text)
    if not isinstance(data, dict):
        raise doc.error((), f"expected a JSON object, found {type(data).__name__}")
    return doc, data


def _messages(doc: _Doc, data: dict[str, Any]) -> list[tuple[tuple[_Key, ...], dict[str, Any]]]:
    raw = data.get("history")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise doc.error(("history",), f"expected a list, found {type(raw).__name__}")
    out: list[tuple[tuple[_Key, ...], dict[str, Any]]] = []
    for k, msg in enumerate(raw):
        keys: tuple[_Key, ...] = ("history", k)
        if not isinstance(msg, dict):
            raise doc.error(keys, "expected a message object")
        if not isinstance(msg.get("role"), str):
            raise doc.error((*keys, "role"), f"expected a string, found {msg.get('role')!r}")
        out.append((keys, msg))
    return out


def _is_call(msg: Mapping[str, Any]) -> bool:
    return msg["role"] == "assistant" and not msg.get("is_demo")


def _initial(doc: _Doc, data: dict[str, Any]) -> list[str]:
    """Texts of the messages before the first call: from history, else from the first
    trajectory entry's ``messages``."""
    texts: list[str] = []
    for keys, msg in _messages(doc, data):
        if _is_call(msg):
            break
        texts.append(doc.string(msg, "content", keys))
    if texts:
        return texts
    traj = data.get("trajectory")
    if isinstance(traj, list) and traj and isinstance(traj[0], dict):
        msgs = traj[0].get("messages")
        if isinstance(msgs, list):
            for k, msg in enumerate(msgs):
                keys = ("trajectory", 0, "messages", k)
                if not isinstance(msg, dict):
                    raise doc.error(keys, "expected a message object")
                if msg.get("role") == "assistant" and not msg.get("is_demo"):
                    break
                texts.append(doc.string(msg, "content", keys))
    return texts


def _with_action(response: str, action: str) -> str:
    if action.strip() and action.strip() not in response:
        return f"{response}\n{action}" if response else action
    return response


def _calls(doc: _Doc, data: dict[str, Any]) -> list[_Call]:
    traj = data.get("trajectory")
    if traj is not None and not isinstance(traj, list):
        raise doc.error(("trajectory",), f"expected a list, found {type(traj).__name__}")
    calls: list[_Call] = []
    if traj:
        for k, entry in enumerate(traj):
            keys: tuple[_Key, ...] = ("trajectory", k)
            if not isinstance(entry, dict):
                raise doc.error(keys, "expected an object")
            action = doc.string(entry, "action", keys)
            response = doc.string(entry, "response", keys)
            if not response:
                thought = doc.string(entry, "thought", keys)
                response = thought
            seconds = 0.0
            raw = entry.get("execution_time")
            if raw is not None:
                if (
                    isinstance(raw, bool)
                    or not isinstance(raw, int | float)
                    or not math.isfinite(raw)
                    or raw < 0
                ):
                    raise doc.error(
                        (*keys, "execution_time"),
                        f"expected a finite number >= 0, found {raw!r}",
                    )
                seconds = float(raw)
            calls.append(
                _Call(
                    keys,
                    _with_action(response, action),
                    action,
                    doc.string(entry, "observation", keys),
                    seconds,
                )
            )
        return calls
    # No trajectory: every non-demo assistant message of the history is a call, and the
    # messages after it (up to the next call) are its observation.
    current: _Call | None = None
    observed: list[str] = []
    for keys, msg in _messages(doc, data):
        if _is_call(msg):
            if current is not None:
                current.observation = "\n".join(observed)
                calls.append(current)
            action = doc.string(msg, "action", keys)
            current = _Call(
                keys, _with_action(doc.string(msg, "content", keys), action), action, "", 0.0
            )
            observed = []
        elif current is not None:
            observed.append(doc.string(msg, "content", keys))
    if current is not None:
        current.observation = "\n".join(observed)
        calls.append(current)
    return calls


def _stat(stats: Mapping[str, Any], key: str) -> int:
    value = stats.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1e15:
        return 0  # absent, not a count, or implausibly large
    return int(value)


def _scale(tokens: int, factor: float) -> int:
    return max(1, round(tokens * factor))


def _read_file(path: Path, contents: _Contents, chars_per_token: float, calibrate: bool) -> Task:
    doc, data = _load(path)
    initial = _initial(doc, data)
    if not initial:
        raise doc.error(("history",), "no prompt messages before the first call")
    calls = _calls(doc, data)
    if not calls:
        raise doc.error(("trajectory",), "no LLM calls (empty trajectory and history)")

    def est(text: str) -> int:
        return estimate_tokens(text, chars_per_token)

    first = [est(t) for t in initial]
    obs = [est(c.observation) for c in calls]
    out = [est(c.output) for c in calls]
    f_in = f_out = 1.0
    info = data.get("info")
    stats = info.get("model_stats") if isinstance(info, dict) else None
    if calibrate and isinstance(stats, dict) and _stat(stats, "api_calls") == len(calls):
        # Estimated prompt tokens summed over calls: the chain repeats each segment in
        # every later prompt.
        # tokens_sent = f_in * (own prompt segments) + f_out * (earlier outputs replayed).
        n = len(calls)
        own = sum(first) * n + sum((n - 1 - k) * obs[k] for k in range(n - 1))
        replayed = sum((n - 1 - k) * out[k] for k in range(n - 1))
        sent, received = _stat(stats, "tokens_sent"), _stat(stats, "tokens_received")
        if sent and received:
            g_out = received / sum(out)
            rest = sent - g_out * replayed
            g_in = rest / own if rest > 0 else sent / (own + replayed)
            if all(_CALIBRATION_RANGE[0] <= g <= _CALIBRATION_RANGE[1] for g in (g_in, g_out)):
                f_in, f_out = g_in, g_out

    steps: list[Step] = []
    prompt = tuple(
        contents.segment(t, _scale(n, f_in)) for t, n in zip(initial, first, strict=True)
    )
    for k, call in enumerate(calls):
        if k:
            prev = calls[k - 1]
            prompt = (
                *steps[-1].context,
                contents.segment(prev.observation, _scale(obs[k - 1], f_in)),
            )
        words = call.action.split(maxsplit=1)
        output = contents.segment(call.output, _scale(out[k], f_out))
        steps.append(
            Step(
                index=k,
                prompt=prompt,
                output_tokens=output.tokens,
                output_id=output.id,
                tool=words[0] if words else None,
                tool_seconds=call.seconds if words else 0.0,
                deps=(k - 1,) if k else (),
            )
        )
    name = path.name[: -len(".traj")] if path.name.endswith(".traj") else path.name
    return Task(id=TaskId(name), steps=tuple(steps), agent_type="swe-agent")


def read_swe_agent(
    path: str | Path,
    *,
    chars_per_token: float = 4.0,
    calibrate: bool = True,
    on_bad_lines: OnBadLines | BadLines = "error",
) -> Workload:
    """Read SWE-agent ``.traj`` files into a :class:`~sagacore.workload.model.Workload`.

    Parameters
    ----------
    path
        A ``.traj`` file, or a directory whose ``.traj`` files are read in sorted order.
    chars_per_token
        The token estimator: a text of ``c`` characters counts
        ``max(1, ceil(c / chars_per_token))`` tokens.
    calibrate
        Rescale the estimates to the totals of ``info.model_stats`` when they cover
        every call.
    on_bad_lines
        ``error``, ``warn`` or ``skip`` an invalid file of a directory (one task), or a
        :class:`~sagacore.workload.readers.BadLines` recording what was skipped.

    Returns
    -------
    Workload
        One task per file, named after the file or directory.

    Raises
    ------
    TraceFormatError
        Naming the file, the line and the JSON path of the first problem.
    """
    positive("chars_per_token", chars_per_token)
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.name.endswith(".traj") and f.is_file())
        if not files:
            raise TraceFormatError(p, "no .traj files in this directory")
        name = p.name
    else:
        files = [p]
        name = p.name[: -len(".traj")] if p.name.endswith(".traj") else p.stem
    contents = _Contents()
    bad = as_bad_lines(on_bad_lines)
    tasks: list[Task] = []
    for f in files:
        try:
            tasks.append(_read_file(f, contents, chars_per_token, calibrate))
        except TraceFormatError as exc:
            bad.handle(exc)
    if not tasks:
        raise TraceFormatError(p, "no valid .traj file")
    return Workload(tuple(tasks), name=name, source=str(p))
