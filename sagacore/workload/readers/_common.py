"""Helpers shared by the trace readers: decoding, JSON lines and typed field access.

Every failure raises :class:`~sagacore.errors.TraceFormatError` naming the file, the
1-based line and the field.
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from sagacore.errors import ConfigError, TraceFormatError

__all__ = [
    "MAX_TOKENS",
    "BadLines",
    "OnBadLines",
    "iter_csv_rows",
    "iter_json_lines",
    "read_text",
    "req_float",
    "req_int",
    "req_str",
    "req_tokens",
]

MAX_TOKENS = 2**40
"""Largest token count a reader accepts (about 10**12: far beyond any context window,
small enough that sums over a trace stay within 64-bit integers)."""

OnBadLines = Literal["error", "warn", "skip"]
"""What a reader does with an invalid line (pandas' ``on_bad_lines`` names)."""


@dataclass
class BadLines:
    """What a reader does with an invalid row or line, and what it skipped.

    ``error`` raises the line's :class:`~sagacore.errors.TraceFormatError` (the
    default); ``warn`` skips the line and writes one line naming file, line, field and
    reason to ``stream`` (standard error by default); ``skip`` skips it silently. In
    both, :attr:`skipped` collects the errors, and :meth:`summary` is the count.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> bad = BadLines("warn", stream=out)
    >>> bad.handle(TraceFormatError("t.csv", "negative value -3", line=4, field="step"))
    >>> out.getvalue()
    'warning: skipped t.csv:4: field step: negative value -3\\n'
    >>> bad.summary("t.csv")
    't.csv: skipped 1 invalid line (negative value _: 1)'
    """

    mode: OnBadLines = "error"
    """``error``, ``warn`` or ``skip``."""
    stream: TextIO | None = None
    """Where ``warn`` writes (``None``: standard error)."""
    skipped: list[TraceFormatError] = field(default_factory=list)
    """The errors of the lines skipped, in reading order."""
    strict: bool | None = None
    """Also hand over problems that need no line skipped (a step number missing from a
    task, which ``warn`` and ``skip`` otherwise close over silently). Default: only
    with ``error``."""

    def __post_init__(self) -> None:
        if self.mode not in ("error", "warn", "skip"):
            raise ConfigError(f"on_bad_lines must be error, warn or skip, got {self.mode!r}")
        if self.strict is None:
            self.strict = self.mode == "error"

    def handle(self, exc: TraceFormatError) -> None:
        """Raise ``exc`` (``error``) or record it and skip its line."""
        if self.mode == "error":
            raise exc
        self.skipped.append(exc)
        if self.mode == "warn":
            (self.stream or sys.stderr).write(f"warning: skipped {exc}\n")

    def summary(self, path: str | Path) -> str:
        """One line: how many lines of ``path`` were skipped, by problem class."""
        n = len(self.skipped)
        classes = Counter(problem_class(e.message) for e in self.skipped)
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(classes.items()))
        return f"{path}: skipped {n} invalid line{'s' if n != 1 else ''}" + (
            f" ({detail})" if detail else ""
        )


def as_bad_lines(on_bad_lines: OnBadLines | BadLines) -> BadLines:
    """A :class:`BadLines` from a mode name (or the object itself)."""
    return on_bad_lines if isinstance(on_bad_lines, BadLines) else BadLines(on_bad_lines)


_NUMBERS = re.compile(r"-?\d[\d.,e+-]*|'[^']*'|\"[^\"]*\"|\[[^\]]*\]|\{[^}]*\}")


_TASK = re.compile(r"\btask \S+")


def problem_class(message: str) -> str:
    """A message with its values removed: the class of problem it reports.

    Examples
    --------
    >>> problem_class("expected an integer, found '12'")
    'expected an integer, found _'
    """
    return _NUMBERS.sub("_", _TASK.sub("task _", message))


def read_text(path: str | Path) -> str:
    """Read a UTF-8 file, naming the line of the first undecodable byte on failure."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise TraceFormatError(p, "no such file") from None
    except IsADirectoryError:
        raise TraceFormatError(p, "is a directory, expected a file") from None
    except OSError as exc:
        raise TraceFormatError(p, f"cannot read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TraceFormatError(
            p, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", line=line
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise TraceFormatError(p, "empty file")
    return text


def iter_json_lines(
    path: str | Path, text: str | None = None, *, on_bad_lines: BadLines | None = None
) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, value)`` for each non-blank line of a JSON-lines file.

    Lines end at ``\n`` only (JSON strings may hold U+2028 and other characters that
    :meth:`str.splitlines` would split at). A line that is not JSON is handed to
    ``on_bad_lines`` when given (which raises, or records it and skips it).
    """
    if text is None:
        text = read_text(path)
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            err = TraceFormatError(path, f"broken JSON: {exc.msg} (column {exc.colno})", line=n)
        except (ValueError, RecursionError) as exc:  # too deep, or an integer too long
            err = TraceFormatError(path, f"broken JSON: {exc}", line=n)
        else:
            yield n, value
            continue
        if on_bad_lines is None:
            raise err
        on_bad_lines.handle(err)


def iter_csv_rows(
    path: str | Path,
    required: Sequence[str],
    text: str | None = None,
    *,
    on_bad_lines: BadLines | None = None,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line_number, row)`` of a CSV file after checking its header.

    A row with the wrong number of values is handed to ``on_bad_lines`` when given.
    """
    if text is None:
        text = read_text(path)
    reader = csv.reader(text.splitlines())
    try:
        header = next(reader)
    except StopIteration:
        raise TraceFormatError(path, "empty file") from None
    except csv.Error as exc:
        raise TraceFormatError(path, f"broken CSV: {exc}", line=1) from None
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise TraceFormatError(
            path, f"missing column(s) {', '.join(missing)}; header has {', '.join(header)}", line=1
        )
    try:
        for n, values in enumerate(reader, start=2):
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                err = TraceFormatError(
                    path, f"expected {len(header)} values, found {len(values)}", line=n
                )
                if on_bad_lines is None:
                    raise err
                on_bad_lines.handle(err)
                continue
            yield n, dict(zip(header, values, strict=True))
    except csv.Error as exc:
        raise TraceFormatError(path, f"broken CSV: {exc}", line=reader.line_num) from None


def _get(obj: Mapping[str, Any], key: str, path: str | Path, line: int) -> Any:
    if not isinstance(obj, Mapping):
        raise TraceFormatError(path, f"expected an object, found {type(obj).__name__}", line=line)
    if key not in obj:
        raise TraceFormatError(path, "missing", line=line, field=key)
    return obj[key]


def req_int(
    obj: Mapping[str, Any],
    key: str,
    path: str | Path,
    line: int,
    *,
    minimum: int = 0,
    maximum: int = 2**63 - 1,
    text: bool = False,
) -> int:
    """A required integer field that is in ``[minimum, maximum]``.

    A JSON number must be an integer (``100`` or ``100.0``); a string is accepted only
    when ``text`` (CSV fields are text), never in JSON, where ``"100"`` is a type error.
    """
    raw = _get(obj, key, path, line)
    value: int
    if isinstance(raw, bool):
        raise TraceFormatError(path, f"expected an integer, found {raw!r}", line=line, field=key)
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        if abs(raw) > maximum:
            raise TraceFormatError(
                path, f"value {raw!r} above the limit {maximum}", line=line, field=key
            )
        value = int(raw)
    elif isinstance(raw, str) and text:
        t = raw.strip()
        try:
            value = int(t)
        except ValueError:
            value = _int_text(t, raw, key, path, line, maximum)
    else:
        raise TraceFormatError(path, f"expected an integer, found {raw!r}", line=line, field=key)
    if value < minimum:
        word = "negative" if value < 0 and minimum == 0 else f"below {minimum}:"
        raise TraceFormatError(path, f"{word} value {value}", line=line, field=key)
    if value > maximum:
        raise TraceFormatError(
            path, f"value {value} above the limit {maximum}", line=line, field=key
        )
    return value


def _int_text(t: str, raw: str, key: str, path: str | Path, line: int, maximum: int) -> int:
    """An integer written as a float (``"1e3"``, ``"12.0"``) in a CSV field."""
    try:
        f = float(t)
    except ValueError:
        f = math.nan
    if not (math.isfinite(f) and f.is_integer()):
        raise TraceFormatError(path, f"expected an integer, found {raw!r}", line=line, field=key)
    if abs(f) > maximum:
        raise TraceFormatError(
            path, f"value {raw!r} above the limit {maximum}", line=line, field=key
        )
    return int(f)


def req_tokens(
    obj: Mapping[str, Any], key: str, path: str | Path, line: int, *, text: bool = False
) -> int:
    """A required token count: an integer in ``[0, MAX_TOKENS]`` (see :func:`req_int`)."""
    return req_int(obj, key, path, line, maximum=MAX_TOKENS, text=text)


def req_float(
    obj: Mapping[str, Any],
    key: str,
    path: str | Path,
    line: int,
    *,
    minimum: float = 0.0,
    text: bool = False,
) -> float:
    """A required finite number that is at least ``minimum``.

    A string is accepted only when ``text`` (CSV fields), never in JSON.
    """
    raw = _get(obj, key, path, line)
    if isinstance(raw, bool) or not isinstance(raw, int | float | str) or (
        isinstance(raw, str) and not text
    ):
        raise TraceFormatError(path, f"expected a number, found {raw!r}", line=line, field=key)
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (ValueError, OverflowError):
        raise TraceFormatError(
            path, f"expected a number, found {raw!r}", line=line, field=key
        ) from None
    if not math.isfinite(value):
        raise TraceFormatError(
            path, f"expected a finite number, found {raw!r}", line=line, field=key
        )
    if value < minimum:
        word = "negative" if value < 0 and minimum == 0 else f"below {minimum}:"
        raise TraceFormatError(path, f"{word} value {value}", line=line, field=key)
    return value


def req_str(obj: Mapping[str, Any], key: str, path: str | Path, line: int) -> str:
    """A required non-empty string field."""
    raw = _get(obj, key, path, line)
    if not isinstance(raw, str) or not raw:
        raise TraceFormatError(
            path, f"expected a non-empty string, found {raw!r}", line=line, field=key
        )
    return raw
