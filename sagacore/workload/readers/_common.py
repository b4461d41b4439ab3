"""Helpers shared by the trace readers: decoding, JSON lines and typed field access.

Every failure raises :class:`~sagacore.errors.TraceFormatError` naming the file, the
1-based line and the field.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sagacore.errors import TraceFormatError

__all__ = [
    "iter_csv_rows",
    "iter_json_lines",
    "read_text",
    "req_float",
    "req_int",
    "req_str",
]


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


def iter_json_lines(path: str | Path, text: str | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, value)`` for each non-blank line of a JSON-lines file.

    Lines end at ``\n`` only (JSON strings may hold U+2028 and other characters that
    :meth:`str.splitlines` would split at).
    """
    if text is None:
        text = read_text(path)
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            raise TraceFormatError(
                path, f"broken JSON: {exc.msg} (column {exc.colno})", line=n
            ) from None
        except (ValueError, RecursionError) as exc:  # too deep, or an integer too long
            raise TraceFormatError(path, f"broken JSON: {exc}", line=n) from None


def iter_csv_rows(
    path: str | Path, required: Sequence[str], text: str | None = None
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line_number, row)`` of a CSV file after checking its header."""
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
                raise TraceFormatError(
                    path, f"expected {len(header)} values, found {len(values)}", line=n
                )
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
    obj: Mapping[str, Any], key: str, path: str | Path, line: int, *, minimum: int = 0
) -> int:
    """A required integer field (JSON number or CSV text) that is at least ``minimum``."""
    raw = _get(obj, key, path, line)
    value: int
    if isinstance(raw, bool):
        raise TraceFormatError(path, f"expected an integer, found {raw!r}", line=line, field=key)
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    elif isinstance(raw, str):
        try:
            f = float(raw.strip())
        except ValueError:
            raise TraceFormatError(
                path, f"expected an integer, found {raw!r}", line=line, field=key
            ) from None
        if not (math.isfinite(f) and f.is_integer()):
            raise TraceFormatError(
                path, f"expected an integer, found {raw!r}", line=line, field=key
            )
        value = int(f)
    else:
        raise TraceFormatError(path, f"expected an integer, found {raw!r}", line=line, field=key)
    if value < minimum:
        word = "negative" if value < 0 and minimum == 0 else f"below {minimum}"
        raise TraceFormatError(path, f"{word} value {value}", line=line, field=key)
    return value


def req_float(
    obj: Mapping[str, Any], key: str, path: str | Path, line: int, *, minimum: float = 0.0
) -> float:
    """A required finite number (JSON number or CSV text) that is at least ``minimum``."""
    raw = _get(obj, key, path, line)
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise TraceFormatError(path, f"expected a number, found {raw!r}", line=line, field=key)
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except ValueError:
        raise TraceFormatError(
            path, f"expected a number, found {raw!r}", line=line, field=key
        ) from None
    if not math.isfinite(value):
        raise TraceFormatError(
            path, f"expected a finite number, found {raw!r}", line=line, field=key
        )
    if value < minimum:
        word = "negative" if value < 0 and minimum == 0 else f"below {minimum}"
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
