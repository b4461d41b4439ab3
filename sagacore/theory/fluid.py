"""The fluid (GPS) reference: the idealised weighted fair-share schedule of given arrivals.

In the fluid system every active job receives service at the same time, in proportion
to its weight (generalised processor sharing, Parekh and Gallager 1993). Packetised
policies (Justitia's virtual-finish order, WFQ, VTC) are measured against it: the
fairness theorems in ``docs/fairness.md`` bound how far a real schedule can fall behind
the fluid one.

This is the reference side of :mod:`sagacore.theory`: it imports nothing from the
policies (the clocks the policies run are :mod:`sagacore.sched.fluid`'s, a separate
implementation). Three tools live here:

- :func:`fluid_schedule`, the offline fluid system: jobs with phases of service
  separated by gaps (tool calls), weights, optional per-job rate caps (an agent whose
  calls form a chain can use at most one of several servers) and optional groups
  (tenants whose weight is split among their active jobs). It returns every job's fluid
  finish time and the system's virtual time.
- :class:`GpsClock`, the online virtual time of a fluid system of tagged sessions, from
  which the exact models (:mod:`sagacore.theory.models`) take their WFQ tags;
- :func:`workload_fluid` and :func:`lateness`: the fluid finish times of a whole
  :class:`~sagacore.workload.model.Workload` and a schedule's lateness against them.

All arithmetic is generic over :class:`fractions.Fraction` (exact; used by the proof
checkers in ``proofs/``) and ``float`` (used on workloads). With ``float`` a phase
counts as finished when its remaining time is within a relative ``1e-12``.

Virtual time
------------
``dV/dt = capacity / W(t)`` with ``W(t)`` the total weight of the jobs in service
(in a service phase, not in a gap) at ``t``; ``V`` stays constant while none is. Without
caps, groups or gaps a job arriving at ``a`` with work ``C`` and weight ``w`` finishes
when ``V`` reaches ``V(a) + C / w``: its *virtual finish tag*. With caps the finish
times come from the capped (water-filled) rates while ``V`` keeps the uncapped
definition, the one Justitia's tags use.

Examples
--------
>>> from fractions import Fraction as Q
>>> jobs = [FluidJob(Q(0), (Q(2),)), FluidJob(Q(0), (Q(1),))]
>>> res = fluid_schedule(jobs)
>>> [str(f) for f in res.finish]   # share 1/2 each until t=2, then job 0 alone
['3', '2']
>>> str(res.virtual_time(Q(2))), str(res.time_at_virtual(Q(2)))
('1', '3')
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise
from typing import Generic, Literal, TypeVar

import numpy as np

from sagacore.errors import ConfigError
from sagacore.workload.model import Task, TaskId, Workload

__all__ = [
    "FluidJob",
    "FluidResult",
    "GpsClock",
    "Lateness",
    "fluid_schedule",
    "lateness",
    "waterfill",
    "workload_fluid",
]

R = TypeVar("R", Fraction, float)
"""Number type of a fluid computation: exact ``Fraction`` or ``float``."""

_REL_TOL = 1e-12


def _le(a: R, b: R) -> bool:
    """``a <= b``, exactly for Fractions, with a relative tolerance for floats."""
    if isinstance(a, float) or isinstance(b, float):
        return bool(a <= b + _REL_TOL * max(1.0, abs(float(b))))
    return bool(a <= b)


@dataclass(frozen=True, slots=True)
class FluidJob(Generic[R]):
    """A job of the fluid system: phases of service separated by gaps.

    Raises :class:`~sagacore.errors.ConfigError` for a non-positive phase or weight, a
    negative arrival or gap, or a gap count other than ``len(work) - 1`` (or zero).
    """

    arrival: R
    """Time the job arrives (its first phase becomes ready)."""
    work: tuple[R, ...]
    """Service of each phase, in capacity-seconds (each positive)."""
    gaps: tuple[R, ...] = ()
    """Delay after each phase but the last (a tool call); empty means no gaps."""
    weight: R | int = 1
    """Fair-share weight (positive)."""
    cap: R | None = None
    """Largest service rate the job can use (None: unlimited)."""
    group: Hashable | None = None
    """Jobs of one group (a tenant) split the weight of the first of them equally
    among those in service; None: the job is its own group."""

    def __post_init__(self) -> None:
        if not self.work:
            raise ConfigError("a fluid job needs at least one phase")
        if any(not w > 0 for w in self.work):
            raise ConfigError(f"fluid job phases must be positive, got {self.work}")
        if self.gaps and len(self.gaps) != len(self.work) - 1:
            raise ConfigError(
                f"fluid job has {len(self.work)} phases but {len(self.gaps)} gaps"
            )
        if any(g < 0 for g in self.gaps):
            raise ConfigError(f"fluid job gaps must be >= 0, got {self.gaps}")
        if self.arrival < 0:
            raise ConfigError(f"fluid job arrival must be >= 0, got {self.arrival}")
        if not self.weight > 0:
            raise ConfigError(f"fluid job weight must be positive, got {self.weight}")
        if self.cap is not None and not self.cap > 0:
            raise ConfigError(f"fluid job cap must be positive or None, got {self.cap}")

    @property
    def total_work(self) -> R:
        """Sum of the phases."""
        total = self.work[0]
        for w in self.work[1:]:
            total = total + w
        return total


@dataclass(frozen=True)
class FluidResult(Generic[R]):
    """The fluid schedule: finish times and the virtual-time trajectory."""

    finish: tuple[R, ...]
    """Fluid finish time of each job (same order as the input)."""
    phase_finish: tuple[tuple[R, ...], ...]
    """Fluid finish time of each phase of each job."""
    breakpoints: tuple[tuple[R, R], ...]
    """``(t, V(t))`` at every event, increasing in ``t``; ``V`` is linear in between
    and constant after the last breakpoint."""

    def virtual_time(self, t: R) -> R:
        """``V(t)``, by linear interpolation between breakpoints."""
        bp = self.breakpoints
        if t <= bp[0][0]:
            return bp[0][1]
        for (t0, v0), (t1, v1) in pairwise(bp):
            if t <= t1:
                if t1 == t0:
                    return v1
                return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
        return bp[-1][1]

    def time_at_virtual(self, v: R) -> R:
        """The first time ``V`` reaches ``v`` (``ConfigError`` when it never does)."""
        bp = self.breakpoints
        if v <= bp[0][1]:
            return bp[0][0]
        for (t0, v0), (t1, v1) in pairwise(bp):
            if v <= v1 and v1 > v0:
                return t0 + (t1 - t0) * (v - v0) / (v1 - v0)
        raise ConfigError(f"virtual time never reaches {v}")


def waterfill(capacity: R, weights: Sequence[R], caps: Sequence[R | None]) -> list[R]:
    """Weighted max-min fair rates: ``rate_i = min(level * w_i, cap_i)`` summing to capacity.

    When every job is capped below its share the rates are the caps (capacity is left
    idle).

    Examples
    --------
    >>> from fractions import Fraction as Q
    >>> [str(r) for r in waterfill(Q(2), [Q(1), Q(1), Q(1)], [Q(1), Q(1), Q(1)])]
    ['2/3', '2/3', '2/3']
    >>> [str(r) for r in waterfill(Q(2), [Q(1), Q(3)], [None, Q(1)])]
    ['1', '1']
    """
    n = len(weights)
    rates: list[R | None] = [None] * n
    order = [i for i in range(n) if caps[i] is not None]
    # insertion sort by cap/weight (small n; comparisons only, exact types stay exact)
    ranked: list[int] = []
    for i in order:
        c_i = caps[i]
        assert c_i is not None
        pos = len(ranked)
        for k, j in enumerate(ranked):
            c_j = caps[j]
            assert c_j is not None
            if c_i * weights[j] < c_j * weights[i]:
                pos = k
                break
        ranked.insert(pos, i)
    left_cap = capacity
    left_w = weights[0] - weights[0]
    for w in weights:
        left_w = left_w + w
    for i in ranked:
        c_i = caps[i]
        assert c_i is not None
        if c_i * left_w <= left_cap * weights[i]:
            rates[i] = c_i
            left_cap = left_cap - c_i
            left_w = left_w - weights[i]
        else:
            break
    out: list[R] = []
    for i in range(n):
        r = rates[i]
        out.append(r if r is not None else left_cap * weights[i] / left_w)
    return out


def fluid_schedule(jobs: Sequence[FluidJob[R]], capacity: R | int = 1) -> FluidResult[R]:
    """Run the fluid (GPS) system on ``jobs`` sharing ``capacity`` and return its schedule.

    Parameters
    ----------
    jobs
        The jobs; a job is *in service* while one of its phases is ready and unfinished.
    capacity
        Service per second shared by the jobs in service (for example the number of
        servers, or Justitia's KV memory ``M``).

    Returns
    -------
    FluidResult
        Finish times of jobs and phases, and the virtual time (module docs).

    Notes
    -----
    Rates are piecewise constant, so the schedule is computed event by event (arrival,
    phase end, gap end) exactly for ``Fraction`` inputs. This is the reference of the
    fair-queueing theorems (``docs/proofs/fair_queueing.md``,
    ``proofs/fair_queueing/``); its virtual time is checked against
    :class:`GpsClock` and the policies' ``VirtualClock`` in ``tests/test_fluid.py``.

    Examples
    --------
    >>> from fractions import Fraction as Q
    >>> # one agent with a tool gap: 1 unit, a 2-second tool call, 1 unit
    >>> res = fluid_schedule([FluidJob(Q(0), (Q(1), Q(1)), (Q(2),))])
    >>> [str(t) for t in res.phase_finish[0]]
    ['1', '4']
    """
    if not jobs:
        raise ConfigError("fluid_schedule needs at least one job")
    if not capacity > 0:
        raise ConfigError(f"capacity must be positive, got {capacity}")
    n = len(jobs)
    zero = jobs[0].arrival - jobs[0].arrival
    cap_r: R = zero + capacity
    phase = [0] * n
    remaining: list[R] = [j.work[0] for j in jobs]
    ready_at: list[R | None] = [j.arrival for j in jobs]  # None while in service or done
    in_service = [False] * n
    done = [False] * n
    finish: list[R | None] = [None] * n
    phase_finish: list[list[R]] = [[] for _ in jobs]
    t = jobs[0].arrival
    for j in jobs[1:]:
        if j.arrival < t:
            t = j.arrival
    v = zero
    bps: list[tuple[R, R]] = [(t, v)]

    def group_weight(i: int, active: list[int]) -> R:
        g = jobs[i].group
        w: R = zero + jobs[i].weight
        if g is None:
            return w
        first = next(k for k in range(n) if jobs[k].group == g)
        count = sum(1 for k in active if jobs[k].group == g)
        return (zero + jobs[first].weight) / count

    while not all(done):
        # admit everything ready by t
        for i in range(n):
            r = ready_at[i]
            if r is not None and not done[i] and not in_service[i] and r <= t:
                in_service[i] = True
                ready_at[i] = None
        active = [i for i in range(n) if in_service[i]]
        pending: list[R] = [r for i, r in enumerate(ready_at) if r is not None and not done[i]]
        if not active:
            nxt = pending[0]
            for r in pending[1:]:
                if r < nxt:
                    nxt = r
            t = nxt
            bps.append((t, v))
            continue
        ws = [group_weight(i, active) for i in active]
        total_w = ws[0]
        for w in ws[1:]:
            total_w = total_w + w
        rates = waterfill(cap_r, ws, [jobs[i].cap for i in active])
        dts = [remaining[i] / rate for i, rate in zip(active, rates, strict=True)]
        dt = dts[0]
        for d in dts[1:]:
            if d < dt:
                dt = d
        for r in pending:
            if r - t < dt:
                dt = r - t
        t = t + dt
        v = v + dt * cap_r / total_w
        bps.append((t, v))
        for k, i in enumerate(active):
            if _le(dts[k], dt):
                phase_finish[i].append(t)
                in_service[i] = False
                p = phase[i] + 1
                if p == len(jobs[i].work):
                    done[i] = True
                    finish[i] = t
                else:
                    phase[i] = p
                    remaining[i] = jobs[i].work[p]
                    gap = jobs[i].gaps[p - 1] if jobs[i].gaps else zero
                    ready_at[i] = t + gap
            else:
                remaining[i] = remaining[i] - rates[k] * dt
    out_finish: list[R] = []
    for f in finish:
        assert f is not None
        out_finish.append(f)
    return FluidResult(
        tuple(out_finish), tuple(tuple(p) for p in phase_finish), tuple(bps)
    )


@dataclass
class GpsClock(Generic[R]):
    """The online virtual time of a GPS system of sessions, for the models' WFQ tags.

    Work pushed to a session at ``now`` gets the tag ``F = max(V(now), F_prev) + work /
    weight``; a session is active in the fluid system while ``V < F``, and ``V`` grows at
    ``capacity / (sum of the weights of the active sessions)`` (constant while none is).
    This is the reference's own clock, kept apart from the policies' one
    (:class:`sagacore.sched.fluid.VirtualClock`, which Justitia runs): a bug in either is
    not copied into the other.

    Examples
    --------
    >>> from fractions import Fraction as Q
    >>> c = GpsClock(Q(1))
    >>> str(c.push("a", Q(2), weight=Q(1), now=Q(0))), str(c.push("b", Q(1), weight=Q(1), now=Q(0)))
    ('2', '1')
    >>> str(c.time_at(Q(1))), str(c.time_at(Q(2)))   # V = 1 at t = 2, then "a" alone
    ('2', '3')
    """

    capacity: R
    """Service per second of the fluid system."""
    t: R | None = None
    """Time up to which ``v`` is computed (None before the first push)."""
    v: R | None = None
    """Virtual time at ``t``."""
    tags: dict[Hashable, tuple[R, R]] = field(default_factory=dict)
    """Session -> (latest finish tag, weight)."""
    breakpoints: list[tuple[R, R]] = field(default_factory=list)
    """``(t, V)`` at every step so far."""

    def _step(self, until: R | None) -> bool:
        """Advance to the next session finish or to ``until``, whichever is first (None:
        the next finish); False when no session is active."""
        t, v = self.t, self.v
        assert t is not None and v is not None
        live = [(f, w) for f, w in self.tags.values() if v < f]
        if not live:
            return False
        weight = live[0][1]
        nearest = live[0][0]
        for f, w in live[1:]:
            weight = weight + w
            if f < nearest:
                nearest = f
        t_next = t + (nearest - v) * weight / self.capacity
        if until is None or not until < t_next:
            self.t, self.v = t_next, nearest
        else:
            self.t, self.v = until, v + (until - t) * self.capacity / weight
        self.breakpoints.append((self.t, self.v))
        return True

    def advance(self, now: R) -> None:
        """Integrate ``V`` up to ``now`` (an earlier time is ignored)."""
        if self.t is None:
            self.t, self.v = now, now - now
            self.breakpoints.append((now, self.v))
        while self.t < now:
            if not self._step(now):
                self.t = now
                break

    def push(self, session: Hashable, work: R, *, weight: R, now: R) -> R:
        """Add ``work`` to ``session`` at ``now`` and return its finish tag."""
        if not work > 0 or not weight > 0:
            raise ConfigError(f"work and weight must be positive, got {work}, {weight}")
        self.advance(now)
        v = self.v
        assert v is not None
        prev = self.tags.get(session)
        start = v if prev is None or prev[0] < v else prev[0]
        tag = start + work / weight
        self.tags[session] = (tag, weight)
        return tag

    def time_at(self, tag: R) -> R:
        """The first time ``V`` reaches ``tag`` with no further pushes."""
        if self.t is None or self.v is None:
            raise ConfigError("the clock has not started")
        while self.v < tag and self._step(None):
            pass
        for (t0, v0), (t1, v1) in pairwise(self.breakpoints):
            if tag <= v1 and v0 < v1:
                if tag <= v0:
                    return t0
                return t0 + (t1 - t0) * (tag - v0) / (v1 - v0)
        if tag <= self.breakpoints[0][1]:
            return self.breakpoints[0][0]
        raise ConfigError(f"virtual time never reaches {tag}")


def _tokens(task: Task) -> float:
    return float(sum(s.prompt_tokens + s.output_tokens for s in task.steps))


def workload_fluid(
    workload: Workload,
    *,
    capacity: float,
    work: Callable[[Task], float] | None = None,
    share: Literal["task", "tenant"] = "task",
) -> dict[TaskId, float]:
    """Fluid fair-share finish time of every task of ``workload``: the reference schedule.

    Parameters
    ----------
    workload
        The tasks, with their arrivals and tenants (whose weights are used).
    capacity
        Service per second of the whole cluster, in the unit of ``work``.
    work
        A task's service demand (default: its prompt plus output tokens, so
        ``capacity`` is the cluster's token throughput).
    share
        ``"task"``: every task is a session with its tenant's weight (Justitia's
        agent-level fair share); ``"tenant"``: every tenant is a session with its
        weight, split equally among its unfinished tasks (VTC's and AFS's tenant-level
        share).

    Examples
    --------
    >>> from sagacore.workload.model import Segment, Step, Task, TaskId, Workload
    >>> step = Step(0, (Segment(1, 90),), 10, 2)
    >>> w = Workload((Task(TaskId("a"), (step,)), Task(TaskId("b"), (step,))))
    >>> workload_fluid(w, capacity=100.0)  # two tasks of 100 tokens share 100 tokens/s
    {'a': 2.0, 'b': 2.0}
    """
    if not capacity > 0:
        raise ConfigError(f"capacity must be positive, got {capacity}")
    if not workload.tasks:
        return {}
    price = work if work is not None else _tokens
    jobs = []
    for t in workload.tasks:
        w = float(workload.tenant(t.tenant).weight)
        demand = max(float(price(t)), 1e-12)
        jobs.append(FluidJob(float(t.arrival_s), (demand,), weight=w,
                             group=t.tenant if share == "tenant" else None))
    res = fluid_schedule(jobs, float(capacity))
    return {t.id: f for t, f in zip(workload.tasks, res.finish, strict=True)}


@dataclass(frozen=True)
class Lateness:
    """How far a schedule's finish times fall behind the fluid reference."""

    tasks: int
    """Tasks compared."""
    late_fraction: float
    """Fraction finishing after their fluid finish time."""
    mean_s: float
    """Mean of ``max(0, finish - fluid)``."""
    p99_s: float
    """99th percentile of ``max(0, finish - fluid)``."""
    max_s: float
    """Largest ``finish - fluid`` (negative: every task beat the fluid schedule)."""


def lateness(finish: Mapping[TaskId, float], fluid: Mapping[TaskId, float]) -> Lateness:
    """Compare finish times with the fluid reference, over the tasks both contain.

    Examples
    --------
    >>> lateness({"a": 3.0, "b": 1.0}, {"a": 2.0, "b": 2.0}).late_fraction
    0.5
    """
    keys = [k for k in finish if k in fluid]
    if not keys:
        raise ConfigError("lateness: no task in common")
    d = np.array([finish[k] - fluid[k] for k in keys], dtype=float)
    pos = np.maximum(d, 0.0)
    return Lateness(len(keys), float(np.mean(d > 1e-9)), float(pos.mean()),
                    float(np.percentile(pos, 99)), float(d.max()))
