"""Trace readers, one module per format, and format detection.

``READERS`` maps a format name to ``"module:function"``; the function takes a path and
returns a :class:`~sagacore.workload.model.Workload`. Modules are imported on first use.

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

__all__ = ["FORMATS", "READERS", "detect_format", "read_workload"]

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


def _reader(name: str) -> Callable[[Path], Workload]:
    try:
        target = READERS[name]
    except KeyError:
        raise UnknownNameError("trace format", name, list(FORMATS)) from None
    module, func = target.split(":")
    reader: Callable[[Path], Workload] = getattr(importlib.import_module(module), func)
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


def read_workload(path: str | Path, format: str = "auto") -> Workload:
    """Read a trace of any supported format (``auto`` detects it)."""
    fmt = detect_format(path) if format == "auto" else format
    return _reader(fmt)(Path(path))
