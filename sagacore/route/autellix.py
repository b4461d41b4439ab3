"""Autellix's data-locality-aware load balancing (``autellix``).

Autellix (Luo et al., 2025, arXiv:2502.13965) routes the LLM calls of an agent program
with locality in mind: a **short** call (prompt up to ``short_tokens``, 2048 in the
paper) goes to the least-loaded engine, since little KV would be reused; a **long**
call goes to the engine where its program's earlier calls ran, so the program's KV is
reused, unless that engine is too loaded compared with the others, in which case it is
balanced to the least-loaded engine and the program's locality moves there. Follows
the paper's short/long split.

Where the paper is silent (our choices, each a parameter):

- the imbalance test: the home engine is abandoned when its load exceeds the lightest
  engine's by more than ``imbalance`` (load in KV tokens in use and queued over
  capacity, :attr:`~sagacore.policy.WorkerView.load`; default 0.5 of a full KV cache);
- the program's home is where its latest long call ran; short calls neither set nor
  move it, except that a program's first call sets it (where its first KV lives);
- ties go to fewer queued calls, then the lowest worker id.

Examples
--------
>>> from types import SimpleNamespace as NS
>>> ws = [NS(worker_id=i, load=l, queued_calls=0) for i, l in enumerate([0.3, 0.1, 0.2])]
>>> r = AutellixLB()
>>> long_call = NS(task_id="p", prompt_tokens=8000)
>>> r.route(long_call, ws, 0.0)           # first call: least loaded; home = 1
1
>>> ws[1].load = 0.5; r.route(long_call, ws, 1.0)   # 0.5 - 0.2 <= 0.5: locality wins
1
>>> r.route(NS(task_id="p", prompt_tokens=100), ws, 2.0)  # short: least loaded
2
>>> ws[1].load = 0.9; r.route(long_call, ws, 3.0)   # imbalanced: balance, home moves
2
>>> r.observe_task_end("p", 4.0); len(r.homes)
0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from sagacore.policy import CallView, Router, WorkerView
from sagacore.route.basic import least_loaded
from sagacore.validate import at_least, positive_int
from sagacore.workload.model import TaskId

__all__ = ["AutellixLB"]


class AutellixLB(Router):
    """Locality for a program's long calls, least loaded for short ones and on imbalance.

    Parameters
    ----------
    short_tokens
        Calls with at most this many prompt tokens go to the least-loaded engine
        (Autellix: 2048).
    imbalance
        Leave the program's engine when its load exceeds the lightest engine's by more
        than this (our choice: 0.5).
    """

    name: ClassVar[str] = "autellix"

    def __init__(self, short_tokens: int = 2048, imbalance: float = 0.5) -> None:
        positive_int("AutellixLB.short_tokens", short_tokens, zero_ok=True)
        at_least("AutellixLB.imbalance", imbalance, 0)
        self.short_tokens = short_tokens
        self.imbalance = imbalance
        self.homes: dict[TaskId, int] = {}
        """The engine holding each live program's KV."""

    def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
        """The program's engine for a long call unless imbalanced, else the least loaded."""
        lightest = least_loaded(workers)
        home = self.homes.get(call.task_id)
        if home is None:
            self.homes[call.task_id] = lightest
            return lightest
        if call.prompt_tokens <= self.short_tokens:
            return lightest
        min_load = min(w.load for w in workers)
        for w in workers:
            if w.worker_id == home:
                if w.load - min_load <= self.imbalance:
                    return home
                break
        self.homes[call.task_id] = lightest
        return lightest

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        """Forget the program."""
        self.homes.pop(task_id, None)

    def observe_migration(self, task_id: TaskId, src: int, dst: int, now: float) -> None:
        """The program's KV moved: its locality follows."""
        self.homes[task_id] = dst
