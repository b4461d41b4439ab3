"""Observers: explicit hooks that receive the simulator's events.

An observer is any callable taking a :class:`TraceEvent`; pass observers to
:func:`~sagacore.sim.simulate`. Nothing is recorded unless an observer asks for it.
:class:`EventLog` keeps the events in a list and writes them as JSON lines.

Examples
--------
>>> log = EventLog()
>>> log(TraceEvent("task_arrival", 0.0, "t0"))
>>> log.events[0].kind, log.counts()
('task_arrival', {'task_arrival': 1})
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

__all__ = ["EVENT_KINDS", "EventKind", "EventLog", "Observer", "TraceEvent"]

EventKind = Literal[
    "task_arrival",
    "call_ready",
    "call_start",
    "call_preempt",
    "call_migrate",
    "call_end",
    "tool_start",
    "tool_end",
    "task_end",
]
EVENT_KINDS: tuple[str, ...] = (
    "task_arrival",
    "call_ready",
    "call_start",
    "call_preempt",
    "call_migrate",
    "call_end",
    "tool_start",
    "tool_end",
    "task_end",
)


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One thing that happened in a simulation."""

    kind: EventKind
    """What happened."""
    time: float
    """Simulated time, seconds."""
    task_id: str
    """The task."""
    step: int | None = None
    """The step, for call and tool events."""
    worker: int | None = None
    """The instance, for call events."""
    tokens: int | None = None
    """``call_start``: prompt tokens reused from the cache; ``call_end``: output tokens;
    ``call_migrate``: KV tokens copied to the new worker (whose id is ``worker``)."""


Observer = Callable[[TraceEvent], None]
"""Anything that takes a :class:`TraceEvent`."""


class EventLog:
    """An observer that keeps every event."""

    def __init__(self) -> None:
        self.events: list[TraceEvent] = []

    def __call__(self, event: TraceEvent) -> None:
        """Record ``event``."""
        self.events.append(event)

    def counts(self) -> dict[str, int]:
        """Events per kind."""
        return dict(Counter(e.kind for e in self.events))

    def write_jsonl(self, path: str | Path) -> None:
        """Write the events as JSON lines."""
        with open(path, "w", encoding="utf-8") as f:
            for e in self.events:
                f.write(json.dumps(asdict(e), separators=(",", ":")) + "\n")
