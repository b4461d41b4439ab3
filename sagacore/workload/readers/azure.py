"""Reader of the Azure LLM inference traces (CSV of arrival times and token counts).

The Azure public LLM inference traces (Patel et al., "Splitwise", ISCA'24;
``data/AzureLLMInferenceTrace_{code,conv}.csv`` of github.com/Azure/AzurePublicDataset,
and the 2024 one-week traces with the same columns) hold one request per row::

    TIMESTAMP,ContextTokens,GeneratedTokens
    2023-11-16 18:17:03.9799600,4808,10

``TIMESTAMP`` is the invocation time (a datetime with up to 7 fractional digits, beyond
what :meth:`datetime.fromisoformat` reads; naive, read as UTC, or with a UTC offset such
as ``+00:00`` or ``Z``, as pandas writes them), ``ContextTokens`` the prompt length
and ``GeneratedTokens`` the output length. There is no prompt content, prefix hash or
session id.

Mapping to the model: every row is a one-step task (agent type ``azure``, tenant
``default``, no tool) arriving at its timestamp minus the earliest timestamp of the
file, in seconds. Its prompt is one segment unique to the request, so no two requests
share a prefix (the trace cannot tell). Task ids are the 0-based row numbers,
zero-padded so that they sort in file order.

Zero counts: an LLM call reads at least one token and produces at least one, so a
``ContextTokens`` or ``GeneratedTokens`` of 0 is read as 1.

Examples
--------
>>> import pathlib, tempfile
>>> p = pathlib.Path(tempfile.mkdtemp()) / "azure.csv"
>>> _ = p.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\\n"
...                  "2023-11-16 18:17:03.9799600,4808,10\\n"
...                  "2023-11-16 18:17:05.0000000,3180,0\\n")
>>> w = read_azure(p)
>>> [(t.id, round(t.arrival_s, 7), t.steps[0].prompt_tokens, t.steps[0].output_tokens)
...  for t in w.tasks]
[('0', 0.0, 4808, 10), ('1', 1.02004, 3180, 1)]
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from sagacore.errors import TraceFormatError
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload
from sagacore.workload.readers._common import (
    BadLines,
    OnBadLines,
    as_bad_lines,
    iter_csv_rows,
    req_tokens,
)

__all__ = ["REQUIRED_COLUMNS", "parse_timestamp", "read_azure"]

REQUIRED_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(Z|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)
_EPOCH = datetime(1970, 1, 1)


def parse_timestamp(text: str) -> float:
    """Seconds since 1970-01-01 UTC of a ``YYYY-MM-DD HH:MM:SS[.fffffff][OFFSET]`` datetime.

    Up to 9 fractional digits are kept (as a float). ``OFFSET`` is ``Z`` or ``+HH:MM``
    / ``-HH:MM`` (colon optional); without one the time is read as UTC. Raises
    :class:`ValueError` when ``text`` is not such a datetime.

    Examples
    --------
    >>> parse_timestamp("1970-01-02 00:00:01.2500000")
    86401.25
    >>> parse_timestamp("1970-01-02 02:00:01.25+02:00")
    86401.25
    """
    m = _TIMESTAMP.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"expected YYYY-MM-DD HH:MM:SS[.fraction][+HH:MM], found {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    whole = datetime(year, month, day, hour, minute, second)
    frac, zone = m.group(7), m.group(8)
    seconds = (whole - _EPOCH).total_seconds()
    if zone and zone != "Z":
        hh, mm = int(zone[1:3]), int(zone[-2:])
        if hh > 23 or mm > 59:
            raise ValueError(f"UTC offset {zone!r} out of range in {text!r}")
        seconds -= (1 if zone[0] == "+" else -1) * (hh * 3600 + mm * 60)
    return seconds + (int(frac) / 10 ** len(frac) if frac else 0.0)


def read_azure(path: str | Path, *, on_bad_lines: OnBadLines | BadLines = "error") -> Workload:
    """Read an Azure LLM inference CSV into a :class:`~sagacore.workload.model.Workload`.

    Parameters
    ----------
    path
        The CSV file (columns ``TIMESTAMP``, ``ContextTokens``, ``GeneratedTokens``;
        others are ignored).
    on_bad_lines
        ``error``, ``warn`` or ``skip`` an invalid row (a request), or a
        :class:`~sagacore.workload.readers.BadLines` recording what was skipped.

    Returns
    -------
    Workload
        One single-step task per row, named after the file.

    Raises
    ------
    TraceFormatError
        Naming the file, the line and the field of the first problem: missing column,
        bad timestamp, non-numeric or negative token count, empty file.
    """
    p = Path(path)
    rows: list[tuple[float, int, int]] = []
    bad = as_bad_lines(on_bad_lines)
    for line, row in iter_csv_rows(p, REQUIRED_COLUMNS, on_bad_lines=bad):
        try:
            try:
                ts = parse_timestamp(row["TIMESTAMP"])
            except (ValueError, OverflowError) as exc:
                raise TraceFormatError(p, str(exc), line=line, field="TIMESTAMP") from None
            context = max(1, req_tokens(row, "ContextTokens", p, line, text=True))
            generated = max(1, req_tokens(row, "GeneratedTokens", p, line, text=True))
        except TraceFormatError as exc:
            bad.handle(exc)
            continue
        rows.append((ts, context, generated))
    if not rows:
        raise TraceFormatError(p, "no data rows")
    t0 = min(r[0] for r in rows)
    width = len(str(len(rows) - 1))
    tasks = tuple(
        Task(
            id=TaskId(f"{i:0{width}d}"),
            steps=(
                Step(
                    index=0,
                    prompt=(Segment(2 * i + 1, context),),
                    output_tokens=generated,
                    output_id=2 * i + 2,
                ),
            ),
            arrival_s=ts - t0,
            agent_type="azure",
        )
        for i, (ts, context, generated) in enumerate(rows)
    )
    return Workload(tasks, name=p.stem, source=str(p))
