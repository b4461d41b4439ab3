"""VTC: per-tenant virtual token counters (Sheng et al., "Fairness in Serving Large
Language Models", OSDI 2024).

Each tenant has a counter of the service it received, in weighted tokens
(``prompt_weight`` per prompt token computed, ``output_weight`` per output token),
divided by its fair-share weight. Waiting calls are served tenant with the smallest
counter first. A tenant that becomes active is **lifted** to the smallest counter of the
active tenants (or to the counter of the last tenant that left, when none is active), so
idle time earns no credit.

Choices the paper leaves to the engine, each a parameter of :class:`VTCConfig`:

- *Activity.* A tenant is *active* while it has a call waiting or running (``"call"``,
  VTC's per-request reading: its backlog) or while it has a task in progress
  (``"task"``: tool time counts as activity, so an agent keeps its place across tool
  calls). The :class:`~sagacore.policy.Scheduler` interface shows a waiting call only
  through :meth:`VTC.key`, so in ``"call"`` activity a call counts as waiting from the
  first time its key is asked. (Before, only running calls counted: between two calls
  every waiting tenant was inactive and re-lifted to the level at each decision, so the
  keys tied and the earlier ready call won, first come first served for agents.)
- *When the lift happens.* The key of an inactive tenant uses
  ``max(c, L)`` with ``L`` the current lift level, so its calls are ordered as if lifted
  now; the lift is committed when its call starts. (VTC lifts when the request arrives;
  the difference is that the level keeps rising while the call waits.)
- *Prompt and output tokens.* Service reported per batch step is split into prompt and
  output by the call's prompt length, and corrected exactly when the call ends (cached
  prompt tokens are not computed, so the split can be off by the cache hits until then).

Notes
-----
In the single-server model the counters keep two backlogged tenants' service within
``2U`` (theorem ``vtc-2u``, ``docs/proofs/vtc.md``, checked by ``sagacore verify``).

Examples
--------
>>> from sagacore.testing.fairness import SimpleCall
>>> v = VTC()
>>> a = SimpleCall(task_id="a", tenant="A", step=0, prompt_tokens=100)
>>> b = SimpleCall(task_id="b", tenant="B", step=0, prompt_tokens=100)
>>> v.observe_call_start(a, 0.0)
>>> v.observe_service(a, 100, 0.1, 0.1)   # tenant A served 100 prompt tokens
>>> v.key(b, 0.1)[0]                       # idle B earned no credit: lifted to A's level
100.0
>>> v.observe_call_end(a, 20, 0.2)         # A's call ends: 80 prompt + 2 x 20 output
>>> v.counters["A"]
120.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from sagacore.errors import ConfigError
from sagacore.policy import CallView, Scheduler, TaskArrivalView
from sagacore.validate import positive
from sagacore.workload.model import TaskId, TenantId

__all__ = ["VTC", "VTCConfig"]


@dataclass(frozen=True)
class VTCConfig:
    """Parameters of :class:`VTC`."""

    prompt_weight: float = 1.0
    """Counter increment per prompt token computed (VTC's ``w_p``)."""
    output_weight: float = 2.0
    """Counter increment per output token (VTC's ``w_q``)."""
    activity: Literal["call", "task"] = "call"
    """When a tenant counts as active (module docs)."""
    tenant_weights: Mapping[str, float] = field(default_factory=dict)
    """Fair-share weight per tenant (default 1): counters grow by service / weight."""

    def __post_init__(self) -> None:
        positive("prompt_weight", self.prompt_weight, zero_ok=True)
        positive("output_weight", self.output_weight, zero_ok=True)
        if self.activity not in ("call", "task"):
            raise ConfigError(f"activity must be 'call' or 'task', got {self.activity!r}")
        for t, w in self.tenant_weights.items():
            positive(f"tenant_weights[{t!r}]", w)


class VTC(Scheduler):
    """Virtual token counters with the lift on re-activation (module docs)."""

    name: ClassVar[str] = "vtc"

    def __init__(self, config: VTCConfig | None = None) -> None:
        self.config = config if config is not None else VTCConfig()
        self.counters: dict[TenantId, float] = {}
        self._active: dict[TenantId, int] = {}  # running calls (or live tasks) per tenant
        self._last_left: float = 0.0
        self._served: dict[tuple[TaskId, int], int] = {}  # tokens charged per running call
        self._charged: dict[tuple[TaskId, int], float] = {}
        self._tenant_of: dict[TaskId, TenantId] = {}
        self._waiting: dict[tuple[TaskId, int], TenantId] = {}  # "call": seen waiting

    # --- the level a (re)activating tenant is lifted to -----------------------------------
    def _level(self) -> float:
        active = [self.counters.get(t, 0.0) for t, n in self._active.items() if n > 0]
        return min(active) if active else self._last_left

    def _effective(self, tenant: TenantId) -> float:
        c = self.counters.get(tenant, 0.0)
        if self._active.get(tenant, 0) > 0:
            return c
        return max(c, self._level())

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        """``(counter of the call's tenant, as lifted if inactive, ready_s, step)``.

        In ``"call"`` activity a call seen here for the first time is waiting: its tenant
        becomes active (the lift is committed) until it has no call waiting or running.
        """
        if self.config.activity == "call":
            k = (call.task_id, call.step)
            if k not in self._waiting and k not in self._served:
                self._waiting[k] = call.tenant
                self._activate(call.tenant)
        return (self._effective(call.tenant), call.ready_s, float(call.step))

    # --- activity ---------------------------------------------------------------------------
    def _activate(self, tenant: TenantId) -> None:
        if self._active.get(tenant, 0) == 0:
            self.counters[tenant] = self._effective(tenant)
        self._active[tenant] = self._active.get(tenant, 0) + 1

    def _deactivate(self, tenant: TenantId) -> None:
        n = self._active.get(tenant, 0) - 1
        if n <= 0:
            self._active.pop(tenant, None)
            self._last_left = self.counters.get(tenant, 0.0)
        else:
            self._active[tenant] = n

    def observe_task_arrival(self, task: TaskArrivalView, now: float) -> None:
        """In ``"task"`` activity, the tenant becomes active."""
        if self.config.activity == "task":
            self._activate(task.tenant)
        self._tenant_of[task.id] = task.tenant

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        """In ``"task"`` activity, the tenant may become inactive."""
        tenant = self._tenant_of.pop(task_id, None)
        if self.config.activity == "task" and tenant is not None:
            self._deactivate(tenant)
        for k in [k for k in self._waiting if k[0] == task_id]:  # never started
            self._deactivate(self._waiting.pop(k))

    def observe_call_start(self, call: CallView, now: float) -> None:
        """Commit the lift when the tenant becomes active."""
        k = (call.task_id, call.step)
        if k in self._served:
            return  # restarted after a preemption: still the same request
        self._served[k] = 0
        self._charged[k] = 0.0
        if self.config.activity == "call":
            if self._waiting.pop(k, None) is None:  # not seen waiting: active from now
                self._activate(call.tenant)
        elif call.task_id not in self._tenant_of:  # task activity, arrival not observed
            self._tenant_of[call.task_id] = call.tenant
            self._activate(call.tenant)

    def _weight(self, tenant: TenantId) -> float:
        return self.config.tenant_weights.get(tenant, 1.0)

    def observe_service(self, call: CallView, tokens: int, seconds: float, now: float) -> None:
        """Charge ``tokens``: prompt tokens first, then output tokens."""
        k = (call.task_id, call.step)
        done = self._served.get(k, 0)
        prompt_part = max(0, min(tokens, call.prompt_tokens - done))
        out_part = tokens - prompt_part
        self._served[k] = done + tokens
        c = self.config
        inc = (c.prompt_weight * prompt_part + c.output_weight * out_part) / self._weight(call.tenant)
        self._charged[k] = self._charged.get(k, 0.0) + inc
        self.counters[call.tenant] = self.counters.get(call.tenant, 0.0) + inc

    def observe_call_end(self, call: CallView, output_tokens: int, now: float) -> None:
        """Correct the charge to ``prompt computed * w_p + output * w_q``; maybe deactivate."""
        k = (call.task_id, call.step)
        served = self._served.pop(k, 0)
        charged = self._charged.pop(k, 0.0)
        c = self.config
        exact = (c.prompt_weight * max(served - output_tokens, 0)
                 + c.output_weight * min(output_tokens, served)) / self._weight(call.tenant)
        self.counters[call.tenant] = self.counters.get(call.tenant, 0.0) + exact - charged
        if c.activity == "call":
            self._deactivate(call.tenant)
