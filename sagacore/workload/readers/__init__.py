"""Trace readers, one module per format, and format detection.

``READERS`` maps a format name to ``"module:function"``; the function takes a path (and
the keyword ``on_bad_lines``) and returns a :class:`~sagacore.workload.model.Workload`.
Modules are imported on first use. ``on_bad_lines`` (``error``, ``warn``, ``skip``, or a
:class:`BadLines` that records what was skipped) says what to do with an invalid row or
line; ``docs/traces.md`` states which unit each format skips.

Examples
--------
>>> sorted(READERS)
['azure', 'mooncake', 'native', 'steps-csv', 'swe-agent', 'tracelab']
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from sagacore.errors import TraceFormatError, UnknownNameError
from sagacore.workload.model import Workload
from sagacore.workload.readers._common import BadLines, OnBadLines, as_bad_lines

__all__ = [
    "FORMATS",
    "READERS",
    "BadLines",
    "OnBadLines",
    "detect_format",
    "read_workload",
]

READERS: dict[str, str] = {
    "azure": "sagacore.workload.readers.azure:read_azure",
    "mooncake": "sagacore.workload.readers.mooncake:read_mooncake",
    "native": "sagacore.workload.native:read_native",
    "steps-csv": "sagacore.workload.readers.steps_csv:read_steps_csv",
    "swe-agent": "sagacore.workload.readers.swe_agent:read_swe_agent",
    "tracelab": "sagacore.workload.readers.tracelab:read_tracelab",
}

FORMATS: tuple[str, ...] = ("auto", *sorted(READERS))
"""Names accepted by :func:`read_workload` (``auto`` detects)."""


def _reader(name: str) -> Callable[..., Workload]:
    try:
        target = READERS[name]
    except KeyError:
        raise UnknownNameError("trace format", name, list(FORMATS)) from None
    module, func = target.split(":")
    reader: Callable[..., Workload] = getattr(importlib.import_module(module), func)
    return reader


def detect_format(path: str | Path) -> str:
    """Guess a trace's format from its name and first bytes.

    A directory holding ``.traj`` files is a set of SWE-agent trajectories. Raises
    :class:`~sagacore.errors.TraceFormatError` when nothing matches.
    """
    p = Path(path)
    if p.is_dir():
        try:
            if any(f.name.endswith(".traj") for f in p.iterdir()):
                return "swe-agent"
        except OSError as exc:
            raise TraceFormatError(p, f"cannot read: {exc.strerror}") from None
        raise TraceFormatError(p, "is a directory, expected a trace file (or .traj files)")
    try:
        with open(p, "rb") as f:
            head = f.read(4096)
    except FileNotFoundError:
        raise TraceFormatError(p, "no such file") from None
    except OSError as exc:
        raise TraceFormatError(p, f"cannot read: {exc.strerror}") from None
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff").lstrip()
    first = text.splitlines()[0] if text else ""
    if not first:
        raise TraceFormatError(p, "empty file")
    name = p.name.lower()
    if first.startswith("{"):
        if '"sagacore-workload"' in first:
            return "native"
        if '"hash_ids"' in first:
            return "mooncake"
        if '"session_id"' in first and '"round_index"' in first:
            return "tracelab"
        if name.endswith(".traj") or '"trajectory"' in text or '"environment"' in first:
            return "swe-agent"
    if name.endswith(".traj"):
        return "swe-agent"
    header = {h.strip().lower() for h in first.split(",")}
    if {"instance_id", "step", "prompt_tokens", "completion_tokens"} <= header:
        return "steps-csv"
    if {"timestamp", "contexttokens", "generatedtokens"} <= header:
        return "azure"
    raise TraceFormatError(p, "cannot detect the trace format; pass --format", line=1)


def read_workload(
    path: str | Path, format: str = "auto", *, on_bad_lines: OnBadLines | BadLines = "error"
) -> Workload:
    """Read a trace of any supported format (``auto`` detects it).

    ``on_bad_lines``: ``error`` raises at the first invalid line; ``warn`` and ``skip``
    drop each invalid line (``warn`` writes one line to stderr for each); pass a
    :class:`BadLines` to learn what was dropped.
    """
    fmt = detect_format(path) if format == "auto" else format
    reader = _reader(fmt)
    return reader(Path(path), on_bad_lines=as_bad_lines(on_bad_lines))
