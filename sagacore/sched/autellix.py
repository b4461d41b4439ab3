"""Autellix: program-level attained service with multi-level queues and anti-starvation.

Autellix treats an agent program as the unit of scheduling and prioritises programs
that have received the least service, generalising least-attained-service to programs:

- **PLAS** (program-level attained service): a call's priority is the GPU service its
  whole program has attained so far.
- **ATLAS** (for DAG programs): a call's priority is the service attained along the
  *critical path* that leads to it: the largest, over its dependencies, of the
  dependency's path service (its own service plus the largest path service among its
  own dependencies). For a chain this equals PLAS. A call's dependencies are its
  :attr:`~sagacore.policy.CallView.parents`, what a program knows of a call when it
  issues it: Autellix reads nothing of a program's future.

Priorities are discretised into **multi-level queues**: queue ``k`` holds calls whose
program service lies in ``[q_{k-1}, q_k)``, with thresholds growing geometrically from
``first_quantum_s`` by ``quantum_growth``; within a queue calls go first come, first
served. **Anti-starvation**: a call whose program has waited at least
``starvation_ratio`` times the service it attained (and at least ``min_starvation_s``)
is promoted to the top queue.

Examples
--------
>>> from sagacore.testing.fairness import SimpleCall
>>> a = Autellix(AutellixConfig(program_service="plas"))   # whole-program service
>>> old = SimpleCall(task_id="a", task_attained_s=100.0, ready_s=0.0)
>>> new = SimpleCall(task_id="b", task_attained_s=0.0, ready_s=5.0)
>>> a.key(new, 6.0) < a.key(old, 6.0)      # least attained program first
True
>>> starved = SimpleCall(task_id="a", task_attained_s=1.0, task_wait_s=20.0, ready_s=0.0)
>>> a.key(starved, 6.0)[0]                 # promoted to the top queue
0.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from sagacore.errors import ConfigError
from sagacore.policy import CallView, Scheduler
from sagacore.validate import at_least, check, positive, positive_int
from sagacore.workload.model import TaskId

__all__ = ["Autellix", "AutellixConfig"]


@dataclass(frozen=True)
class AutellixConfig:
    """Parameters of :class:`Autellix` (module docs)."""

    program_service: Literal["atlas", "plas"] = "atlas"
    """Critical-path service (ATLAS, equal to PLAS on chains) or whole-program service."""
    first_quantum_s: float = 0.5
    """Upper edge of queue 0, seconds of attained service."""
    quantum_growth: float = 4.0
    """Each queue's edge is this times the previous one's."""
    levels: int = 8
    """Number of queues (the last is unbounded)."""
    starvation_ratio: float = 4.0
    """Wait over attained service at which a program is promoted to queue 0."""
    min_starvation_s: float = 5.0
    """Wait below which no program is promoted."""

    def __post_init__(self) -> None:
        if self.program_service not in ("atlas", "plas"):
            raise ConfigError(f"program_service must be 'atlas' or 'plas', got {self.program_service!r}")
        positive("first_quantum_s", self.first_quantum_s)
        check(at_least("quantum_growth", self.quantum_growth, 1) > 1, "quantum_growth",
              self.quantum_growth, "a number > 1")  # fmt: skip
        positive_int("levels", self.levels)
        positive("starvation_ratio", self.starvation_ratio)
        positive("min_starvation_s", self.min_starvation_s, zero_ok=True)


class Autellix(Scheduler):
    """PLAS/ATLAS with multi-level queues and anti-starvation (module docs)."""

    name: ClassVar[str] = "autellix"

    def __init__(self, config: AutellixConfig | None = None) -> None:
        self.config = config if config is not None else AutellixConfig()
        self._steps: dict[TaskId, set[int]] = {}
        self._service: dict[tuple[TaskId, int], float] = {}
        self._path: dict[tuple[TaskId, int], float] = {}

    def level(self, service_s: float) -> int:
        """Queue of a program with ``service_s`` of attained service."""
        c = self.config
        if service_s < c.first_quantum_s:
            return 0
        k = 1 + int(math.log(service_s / c.first_quantum_s) / math.log(c.quantum_growth))
        return min(k, c.levels - 1)

    def program_service(self, call: CallView) -> float:
        """PLAS: the program's attained service; ATLAS: the critical-path service."""
        if self.config.program_service == "plas":
            return call.task_attained_s
        tid = call.task_id
        return max((self._path.get((tid, d), 0.0) for d in call.parents), default=0.0)

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        """``(queue, ready_s, step)``; queue 0 for starved programs."""
        c = self.config
        service = self.program_service(call)
        wait = call.task_wait_s + max(0.0, now - call.ready_s)
        if wait >= c.min_starvation_s and wait >= c.starvation_ratio * call.task_attained_s:
            q = 0
        else:
            q = self.level(service)
        return (float(q), call.ready_s, float(call.step))

    def observe_service(self, call: CallView, tokens: int, seconds: float, now: float) -> None:
        """Add service to the call's node."""
        k = (call.task_id, call.step)
        self._service[k] = self._service.get(k, 0.0) + seconds

    def observe_call_end(self, call: CallView, output_tokens: int, now: float) -> None:
        """Fix the node's path service: its own plus the largest among its dependencies."""
        tid = call.task_id
        k = (tid, call.step)
        before = max((self._path.get((tid, d), 0.0) for d in call.parents), default=0.0)
        self._path[k] = before + self._service.pop(k, 0.0)
        self._steps.setdefault(tid, set()).add(call.step)

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        """Forget the program."""
        for i in self._steps.pop(task_id, ()):
            self._path.pop((task_id, i), None)
            self._service.pop((task_id, i), None)
