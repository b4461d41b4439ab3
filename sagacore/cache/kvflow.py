"""KVFlow: evict the KV whose agent runs furthest in the future (steps-to-execution).

KVFlow (Pan et al., 2025, arXiv:2507.07400) abstracts a multi-agent workflow as an
*Agent Step Graph* and gives every agent a **steps-to-execution** value, how far it is
from being invoked again; eviction prefers the KV of the agent with the largest value,
and a prefix shared by several agents takes the smallest value of its users. It also
prefetches KV from host memory ahead of use, which is a mechanism feature outside a
cache policy.

Mapping to sessions (our reading; the paper schedules agents of one workflow, here each
task is an agent session):

- a session in a tool that the predictor expects to continue is **1** step from
  execution; its next call is soonest when the tool's expected residual time is smallest
  (the tie-break within a level);
- a session not in a tool but tracked (waiting to run) is **0** steps away;
- a session the predictor does not track (ended) or whose continuation probability is
  below ``continue_threshold`` is infinitely far: evicted first;
- an entry shared by several sessions (``task_id is None``) is **0** steps away, the
  minimum over its users (the paper's rule for shared prefixes).

Ties after that go to the least recently used entry.

Examples
--------
>>> from types import SimpleNamespace as E
>>> from sagacore.policy import CacheContext
>>> ctx = CacheContext(now=5.0, capacity_tokens=100, used_tokens=100)
>>> shared = E(entry_id=1, last_access_s=0.0, task_id=None, tool=None, tool_started_s=None)
>>> ended = E(entry_id=2, last_access_s=4.0, task_id="gone", tool=None, tool_started_s=None)
>>> KVFlow().victim([shared, ended], ctx)
1
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from sagacore.cache._common import active_tasks, next_call
from sagacore.errors import ConfigError
from sagacore.policy import CacheContext, CacheEntryView, CachePolicy
from sagacore.workload.model import TaskId

__all__ = ["KVFlow", "KVFlowConfig"]


@dataclass(frozen=True, slots=True)
class KVFlowConfig:
    """Parameters of the steps-to-execution mapping."""

    continue_threshold: float = 0.5
    """A session continues when P(next call) is at least this."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.continue_threshold <= 1.0:
            raise ConfigError(
                f"continue_threshold must be in [0, 1], got {self.continue_threshold!r}"
            )


class KVFlow(CachePolicy):
    """Evict the entry with the largest (steps-to-execution, expected seconds, idle)."""

    name: ClassVar[str] = "kvflow"
    needs_predictor: ClassVar[bool] = True

    def __init__(self, config: KVFlowConfig | None = None) -> None:
        self.config = config if config is not None else KVFlowConfig()

    def steps_to_execution(
        self,
        entry: CacheEntryView,
        ctx: CacheContext,
        active: frozenset[TaskId] | None = None,
    ) -> tuple[float, float]:
        """(steps until the entry's session runs, expected seconds until then)."""
        if entry.task_id is None:
            return 0.0, 0.0
        nxt = next_call(ctx, entry, active)
        if nxt is None or nxt[0] < self.config.continue_threshold:
            return math.inf, math.inf
        secs = nxt[1]
        return (1.0 if entry.tool is not None else 0.0), secs

    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        """Index of the candidate furthest from execution."""
        best = 0
        best_key: tuple[float, float, float, int] | None = None
        active = active_tasks(ctx)
        for i, e in enumerate(candidates):
            steps, secs = self.steps_to_execution(e, ctx, active)
            key = (steps, secs, -e.last_access_s, -e.entry_id)
            if best_key is None or key > best_key:
                best, best_key = i, key
        return best
