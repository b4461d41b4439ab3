"""Justitia: fair and efficient scheduling of task-parallel LLM agents.

Justitia prices an agent by the KV memory it holds over time: a call with ``I`` input and
``O`` output tokens costs ``c = I O + O (O + 1) / 2`` (KV tokens held times decode
iterations); an agent's cost ``C`` is the sum over its calls, **predicted when it
arrives** by a light model trained on completed agents. A virtual clock runs as in the
idealised fluid system where the KV memory is shared by weight,
``dV/dt = M / (sum of weights of agents active in the fluid system)``, and each agent gets
the virtual finish tag ``F = V(arrival) + C / w``. Agents are served in order of ``F``:
the agent with the smallest tag gets all its ready calls (*selective pampering*), the
remaining batch budget goes to the next tags.

Choices (parameters of :class:`JustitiaConfig`):

- ``virtual_clock``: ``"fluid"`` keeps the fluid system's own active set (agents active
  while ``V`` is below their tag: exact GPS, :class:`~sagacore.sched.fluid.VirtualClock`);
  ``"real"`` uses the real system's active set (agents arrived and not finished), simpler
  but without the delay bound (theorem ``wfq-agent-real-clock`` is refuted).
- ``cost``: ``"memory"`` (Justitia's) or ``"tokens"`` (prompt + output, the unit of the
  abstract model in :mod:`sagacore.testing.fairness`).
- ``cost_source``: ``"learned"`` (:class:`CostPredictor`) or ``"oracle"`` (true costs
  read from the task: a reference point, not deployable).
- ``capacity``: ``M`` in cost units per second (with memory cost: KV tokens times
  decode iterations per second; the default, 2e6 x 30, is a 2M-token KV pool at 30
  iterations per second). Only the scale of the clock against costs matters.

Notes
-----
Delay bound (``docs/proofs/justitia_delay.md``): in the single-server model with exact
costs every agent finishes within ``L_max / M`` of its fluid fair-share finish (theorem
``wfq-agent``); with costs under-predicted by at most a factor ``1 + eps`` the bound
becomes ``g_hat + L_max / M + eps (g_hat - b)`` against the fluid system of the predicted
costs (theorem ``justitia-delay``). Both are checked by ``sagacore verify``.

Examples
--------
>>> from sagacore.testing.fairness import SimpleCall
>>> from sagacore.workload.model import Segment, Step, Task, TaskId
>>> def task(name, n, at):
...     steps = tuple(Step(i, (Segment(i, 100),), 10, 100 + i, deps=((i - 1,) if i else ()))
...                   for i in range(n))
...     return Task(TaskId(name), steps, arrival_s=at)
>>> j = Justitia(JustitiaConfig(cost="tokens", cost_source="oracle", capacity=1.0))
>>> for t in (task("big", 5, 0.0), task("small", 1, 1.0)):
...     j.observe_task_arrival(t, t.arrival_s); j.observe_task_future(t, t.arrival_s)
>>> j.key(SimpleCall(task_id="small"), 1.0) < j.key(SimpleCall(task_id="big"), 1.0)
True
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from sagacore.errors import ConfigError
from sagacore.policy import CallView, Scheduler, TaskArrivalView
from sagacore.sched._base import TaskBook, call_memory_cost
from sagacore.sched.fluid import ActiveSetClock, VirtualClock
from sagacore.validate import positive
from sagacore.workload.model import Task, TaskId, Workload

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.workload.predictor import Predictor

__all__ = [
    "CostPredictor",
    "CostPredictorAccuracy",
    "Justitia",
    "JustitiaConfig",
    "JustitiaRealClock",
    "evaluate_cost_predictor",
    "task_cost",
]


def task_cost(task: Task, cost: Literal["memory", "tokens"] = "memory") -> float:
    """True cost of a task: the sum of its calls' memory-centric costs (or tokens).

    Examples
    --------
    >>> from sagacore.workload.model import Segment, Step, TaskId
    >>> t = Task(TaskId("t"), (Step(0, (Segment(1, 1000),), 10, 2),))
    >>> task_cost(t), task_cost(t, "tokens")
    (10055.0, 1010.0)
    """
    if cost == "memory":
        return sum(call_memory_cost(s.prompt_tokens, s.output_tokens) for s in task.steps)
    return float(sum(s.prompt_tokens + s.output_tokens for s in task.steps))


@dataclass
class CostPredictor:
    """Justitia's light cost model: ``log C = a + b log(first prompt tokens)`` per agent type.

    Trained on completed agents (:meth:`learn`). With fewer than ``min_fit`` samples of
    a type it predicts the type's geometric mean cost, and with none the geometric mean
    of all types (``prior`` before any). The slope is clipped to ``[0, 3]`` so a few
    samples cannot produce wild extrapolation.

    Examples
    --------
    >>> p = CostPredictor(min_fit=2)
    >>> for first, c in [(100, 1e4), (1000, 1e5), (10000, 1e6)]:
    ...     p.learn("swe", first, c)
    >>> round(p.predict("swe", 300))
    30000
    """

    min_fit: int = 8
    """Samples of a type before the regression is used."""
    prior: float = 5e8
    """Prediction before any agent completed (cost units)."""
    _data: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def learn(self, agent_type: str, first_prompt_tokens: int, cost: float) -> None:
        """Add a completed agent."""
        if cost > 0:
            self._data.setdefault(agent_type, []).append(
                (math.log(max(first_prompt_tokens, 1)), math.log(cost))
            )

    def predict(self, agent_type: str, first_prompt_tokens: int) -> float:
        """Predicted total cost of a new agent."""
        pts = self._data.get(agent_type)
        if not pts:
            everything = [y for d in self._data.values() for _, y in d]
            return math.exp(float(np.mean(everything))) if everything else self.prior
        xs = np.array([p[0] for p in pts])
        ys = np.array([p[1] for p in pts])
        if len(pts) < self.min_fit or float(np.ptp(xs)) == 0.0:
            return math.exp(float(ys.mean()))
        b = float(np.clip(np.cov(xs, ys, bias=True)[0, 1] / np.var(xs), 0.0, 3.0))
        a = float(ys.mean() - b * xs.mean())
        return math.exp(a + b * math.log(max(first_prompt_tokens, 1)))


@dataclass(frozen=True)
class CostPredictorAccuracy:
    """Online accuracy of :class:`CostPredictor` on a workload (each task predicted before
    it is learned from, in arrival order)."""

    tasks: int
    """Tasks predicted (after the first, which has only the prior)."""
    median_abs_log_ratio: float
    """Median of ``|ln(predicted / true)|`` (0.69 = within a factor 2)."""
    within_2x: float
    """Fraction predicted within a factor 2."""
    mean_abs_pct_error: float
    """Mean ``|predicted - true| / true``."""
    spearman: float
    """Rank correlation of predicted and true costs (what the tag order needs)."""


def evaluate_cost_predictor(
    workload: Workload, *, cost: Literal["memory", "tokens"] = "memory", min_fit: int = 8
) -> CostPredictorAccuracy:
    """Measure :class:`CostPredictor` online on ``workload`` (completion order = arrival order).

    Examples
    --------
    >>> from sagacore.data import bundled_trace
    >>> from sagacore.workload import read_workload
    >>> acc = evaluate_cost_predictor(read_workload(bundled_trace()))
    >>> acc.tasks, 0.0 < acc.within_2x < 1.0
    (197, True)
    """
    p = CostPredictor(min_fit=min_fit)
    pred, true = [], []
    for i, t in enumerate(workload.tasks):
        c = task_cost(t, cost)
        if i:
            pred.append(p.predict(t.agent_type, t.steps[0].prompt_tokens))
            true.append(c)
        p.learn(t.agent_type, t.steps[0].prompt_tokens, c)
    if not pred:
        raise ConfigError("evaluate_cost_predictor needs at least two tasks")
    pa, ta = np.array(pred), np.array(true)
    r = np.abs(np.log(pa / ta))
    ranks_p = np.argsort(np.argsort(pa))
    ranks_t = np.argsort(np.argsort(ta))
    rho = float(np.corrcoef(ranks_p, ranks_t)[0, 1]) if len(pa) > 1 else 0.0
    return CostPredictorAccuracy(
        len(pa), float(np.median(r)), float(np.mean(r <= math.log(2))),
        float(np.mean(np.abs(pa - ta) / ta)), rho,
    )


@dataclass(frozen=True)
class JustitiaConfig:
    """Parameters of :class:`Justitia` (module docs)."""

    virtual_clock: Literal["fluid", "real"] = "fluid"
    """Active set of the virtual clock: the fluid system's own, or the real system's."""
    cost: Literal["memory", "tokens"] = "memory"
    """Cost of a call: ``I O + O (O + 1) / 2`` or ``I + O``."""
    cost_source: Literal["learned", "oracle"] = "learned"
    """Predicted by :class:`CostPredictor`, or the true cost (not deployable)."""
    capacity: float = 2e6 * 30
    """``M``: cost units served per second by the fluid system."""
    tenant_weights: Mapping[str, float] = field(default_factory=dict)
    """Weight of each tenant's agents (default 1)."""
    min_fit: int = 8
    """:attr:`CostPredictor.min_fit`."""

    def __post_init__(self) -> None:
        if self.virtual_clock not in ("fluid", "real"):
            raise ConfigError(f"virtual_clock must be 'fluid' or 'real', got {self.virtual_clock!r}")
        if self.cost not in ("memory", "tokens"):
            raise ConfigError(f"cost must be 'memory' or 'tokens', got {self.cost!r}")
        if self.cost_source not in ("learned", "oracle"):
            raise ConfigError(f"cost_source must be 'learned' or 'oracle', got {self.cost_source!r}")
        positive("capacity", self.capacity)
        for t, w in self.tenant_weights.items():
            positive(f"tenant_weights[{t!r}]", w)


class Justitia(Scheduler):
    """Virtual-finish-tag order with selective pampering (module docs).

    Parameters
    ----------
    config
        Parameters (default :class:`JustitiaConfig`).
    predictor
        Unused by the tag (Justitia predicts the whole cost at arrival with its own light
        model, so it does not declare :attr:`~sagacore.policy.Policy.needs_predictor`);
        kept for callers that pass one.
    """

    name: ClassVar[str] = "justitia"

    def __init__(self, config: JustitiaConfig | None = None, predictor: Predictor | None = None) -> None:
        self.config = config if config is not None else JustitiaConfig()
        self.costs = CostPredictor(min_fit=self.config.min_fit)
        self.book = TaskBook(predictor)
        self.tags: dict[TaskId, float] = {}
        self.predicted: dict[TaskId, float] = {}
        self._fluid: VirtualClock[float] = VirtualClock(self.config.capacity, keep_history=False)
        self._real: ActiveSetClock[float] = ActiveSetClock(self.config.capacity)
        self._tokens_cost: dict[TaskId, float] = {}

    def _weight(self, tenant: str) -> float:
        return self.config.tenant_weights.get(tenant, 1.0)

    def observe_task_arrival(self, task: TaskArrivalView, now: float) -> None:
        """Predict the agent's cost and give it its virtual finish tag (the oracle's
        true cost: :meth:`observe_task_future`)."""
        self.book.arrive(task)
        if self.config.cost_source != "oracle":
            self._tag(task, self.costs.predict(task.agent_type, task.first_prompt_tokens), now)

    def observe_task_future(self, task: Task, now: float) -> None:
        """With ``cost_source="oracle"``: tag the agent with its true cost."""
        if self.config.cost_source == "oracle":
            self._tag(task, task_cost(task, self.config.cost), now)

    def _tag(self, task: TaskArrivalView, cost: float, now: float) -> None:
        cost = max(cost, 1e-9)
        self.predicted[task.id] = cost
        w = self._weight(task.tenant)
        if self.config.virtual_clock == "fluid":
            self.tags[task.id] = self._fluid.push(task.id, cost, weight=w, now=now)
        else:
            self.tags[task.id] = self._real.at(now) + cost / w
            self._real.activate(task.id, w, now=now)

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        """``(F, task arrival, step)``: all of the smallest-tag agent's calls first."""
        tag = self.tags.get(call.task_id)
        if tag is None:  # arrival not observed: tag it now from the view
            tag = self._late_tag(call, now)
        return (tag, call.task_arrival_s, float(call.step))

    def _late_tag(self, call: CallView, now: float) -> float:
        cost = self.costs.predict(call.agent_type, call.prompt_tokens)
        w = self._weight(call.tenant)
        if self.config.virtual_clock == "fluid":
            tag = self._fluid.push(call.task_id, cost, weight=w, now=now)
        else:
            tag = self._real.at(now) + cost / w
            self._real.activate(call.task_id, w, now=now)
        self.tags[call.task_id] = tag
        return tag

    def observe_call_start(self, call: CallView, now: float) -> None:
        """Track running calls."""
        self.book.start(call)

    def observe_call_end(self, call: CallView, output_tokens: int, now: float) -> None:
        """Accumulate the agent's observed cost."""
        self.book.end(call, output_tokens)
        self._tokens_cost[call.task_id] = (
            self._tokens_cost.get(call.task_id, 0.0) + call.prompt_tokens + output_tokens
        )

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        """Train the cost model on the finished agent; leave the real active set."""
        rec = self.book.finish(task_id)
        spent = self._tokens_cost.pop(task_id, 0.0)
        if rec is not None:
            observed = rec.memory_cost if self.config.cost == "memory" else spent
            self.costs.learn(rec.agent_type, rec.first_prompt_tokens, observed)
        self.tags.pop(task_id, None)
        self.predicted.pop(task_id, None)
        if self.config.virtual_clock == "real":
            self._real.deactivate(task_id, now=now)
        # the fluid clock keeps the tag: the agent stays active there until V reaches it


class JustitiaRealClock(Justitia):
    """Justitia with the simpler clock on the real system's active set (registry entry)."""

    name: ClassVar[str] = "justitia-real-clock"

    def __init__(self, config: JustitiaConfig | None = None, predictor: Predictor | None = None) -> None:
        base = config if config is not None else JustitiaConfig()
        super().__init__(replace(base, virtual_clock="real"), predictor)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the cost predictor's online error on the bundled SWE-bench trace."""
    from sagacore.data import bundled_trace
    from sagacore.workload import read_workload

    w = read_workload(bundled_trace())
    costs: tuple[Literal["memory", "tokens"], ...] = ("memory", "tokens")
    for cost in costs:
        a = evaluate_cost_predictor(w, cost=cost)
        sys.stdout.write(
            f"{cost:>6} cost: {a.tasks} tasks, median |ln(pred/true)| {a.median_abs_log_ratio:.3f}, "
            f"within 2x {a.within_2x:.1%}, mean abs % error {a.mean_abs_pct_error:.1%}, "
            f"Spearman {a.spearman:.3f}\n"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
