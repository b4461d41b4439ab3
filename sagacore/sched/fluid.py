"""The virtual clocks and the water-filling the fair-queueing policies run.

:class:`VirtualClock` is the online virtual time of a fluid system of tagged sessions
(what a WFQ or Justitia scheduler keeps), :class:`ActiveSetClock` the simpler variant
whose rate follows an externally given active set (the real system's), and
:func:`waterfill` the weighted max-min split that AFS-WF uses. They are mechanism of
the policies in :mod:`sagacore.sched`.

The references the theorems measure these policies against live in
:mod:`sagacore.theory` and share no code with this module: the fluid (GPS) schedule
:func:`sagacore.theory.fluid.fluid_schedule`, its own online clock
:class:`sagacore.theory.fluid.GpsClock`, :func:`sagacore.theory.fluid.workload_fluid`
and :func:`sagacore.theory.fluid.lateness`.

.. deprecated::
    ``FluidJob``, ``FluidResult``, ``fluid_schedule``, ``workload_fluid``, ``Lateness``
    and ``lateness`` moved to :mod:`sagacore.theory.fluid`; importing them from here
    still works and warns (``DeprecationWarning``).

All arithmetic is generic over :class:`fractions.Fraction` (exact) and ``float``.

Virtual time
------------
``dV/dt = capacity / W(t)`` with ``W(t)`` the total weight of the sessions active in the
fluid system at ``t``; ``V`` stays constant while none is. A session arriving at ``a``
with work ``C`` and weight ``w`` finishes in the fluid system when ``V`` reaches
``V(a) + C / w``: its *virtual finish tag*.

Examples
--------
>>> from fractions import Fraction as Q
>>> vc = VirtualClock(capacity=Q(1))
>>> [str(vc.push(s, Q(c), weight=Q(1), now=Q(0))) for s, c in (("a", 2), ("b", 1))]
['2', '1']
>>> str(vc.time_at(Q(2)))   # both share until t = 2, then "a" alone
'3'
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise
from typing import Any, Generic, TypeVar

from sagacore.errors import ConfigError

__all__ = ["ActiveSetClock", "VirtualClock", "waterfill"]

R = TypeVar("R", Fraction, float)
"""Number type of a fluid computation: exact ``Fraction`` or ``float``."""

_MOVED = frozenset({"FluidJob", "FluidResult", "Lateness", "fluid_schedule", "lateness",
                    "workload_fluid"})


def __getattr__(name: str) -> Any:
    """The names that moved to :mod:`sagacore.theory.fluid`, with a deprecation warning."""
    if name in _MOVED:
        warnings.warn(f"sagacore.sched.fluid.{name} moved to sagacore.theory.fluid.{name}",
                      DeprecationWarning, stacklevel=2)
        import sagacore.theory.fluid as theory_fluid

        return getattr(theory_fluid, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


@dataclass
class VirtualClock(Generic[R]):
    """Online virtual time of a fluid system of tagged sessions (WFQ, Justitia).

    A session's work is pushed as it arrives; its tag is
    ``F = max(V(now), F_previous) + work / weight`` and the session stays *active in
    the fluid system* while ``V < F``. ``V`` grows at ``capacity / (sum of weights of
    active sessions)`` and stays constant while none is. With one push per agent (its
    whole predicted cost) this is Justitia's clock computed on the fluid system's own
    active set; with one push per call it is WFQ's.

    Examples
    --------
    >>> from fractions import Fraction as Q
    >>> vc = VirtualClock(capacity=Q(1))
    >>> str(vc.push("a", Q(2), weight=Q(1), now=Q(0))), str(vc.push("b", Q(1), weight=Q(1), now=Q(0)))
    ('2', '1')
    >>> vc.advance(Q(2)); str(vc.v)   # both active: V grows at 1/2
    '1'
    >>> vc.advance(Q(3)); str(vc.v)   # only "a" left
    '2'
    >>> str(vc.time_at(Q(2)))         # when "a" finished in the fluid system
    '3'
    """

    capacity: R
    """Service per second of the fluid system."""
    t: R | None = None
    """Time up to which ``v`` is computed (None before the first call)."""
    v: R | None = None
    """Virtual time at ``t``."""
    tags: dict[Hashable, tuple[R, R]] = field(default_factory=dict)
    """Session -> (latest finish tag, weight)."""
    breakpoints: list[tuple[R, R]] = field(default_factory=list)
    """``(t, V)`` trajectory so far."""
    keep_history: bool = True
    """Record :attr:`breakpoints` (needed by :meth:`time_at`) and keep finished sessions;
    a long-running policy turns it off to use constant memory."""

    def _start(self, now: R) -> None:
        if self.t is None:
            self.t = now
            self.v = now - now
            self.breakpoints.append((now, self.v))

    def advance(self, now: R) -> None:
        """Integrate ``V`` up to time ``now`` (a time before the last one is ignored)."""
        self._start(now)
        t, v = self.t, self.v
        assert t is not None and v is not None
        while t < now:
            active = [(f, w) for f, w in self.tags.values() if v < f]
            if not active:
                t = now
                break
            total_w = active[0][1]
            for _, w in active[1:]:
                total_w = total_w + w
            f_min = active[0][0]
            for f, _ in active[1:]:
                if f < f_min:
                    f_min = f
            t_hit = t + (f_min - v) * total_w / self.capacity
            if t_hit <= now:
                t, v = t_hit, f_min
            else:
                v = v + (now - t) * self.capacity / total_w
                t = now
            if self.keep_history:
                self.breakpoints.append((t, v))
        self.t, self.v = t, v
        if not self.keep_history:  # sessions the fluid system has finished
            for s in [s for s, (f, _) in self.tags.items() if not v < f]:
                del self.tags[s]

    def push(self, session: Hashable, work: R, *, weight: R, now: R) -> R:
        """Add ``work`` to ``session`` at time ``now`` and return its finish tag."""
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

    def active_weight(self) -> R:
        """Total weight of sessions active in the fluid system now."""
        v = self.v
        total = self.capacity - self.capacity
        for f, w in self.tags.values():
            if v is not None and v < f:
                total = total + w
        return total

    def time_at(self, tag: R) -> R:
        """Time the fluid system reaches virtual time ``tag``, with no further pushes."""
        if self.t is None or self.v is None:
            raise ConfigError("the clock has not started")
        if not self.keep_history:
            raise ConfigError("time_at needs keep_history=True")
        if self.v < tag:
            top = tag
            for f, _ in self.tags.values():
                if top < f:
                    top = f
            # run to the end of the current backlog
            while True:
                active = [(f, w) for f, w in self.tags.values() if self.v < f]
                if not active:
                    break
                total_w = active[0][1]
                for _, w in active[1:]:
                    total_w = total_w + w
                f_min = min(f for f, _ in active)
                assert self.t is not None and self.v is not None
                self.advance(self.t + (f_min - self.v) * total_w / self.capacity)
        for (t0, v0), (t1, v1) in pairwise(self.breakpoints):
            if tag <= v1 and v0 < v1:
                if tag <= v0:
                    return t0
                return t0 + (t1 - t0) * (tag - v0) / (v1 - v0)
        if tag <= self.breakpoints[0][1]:
            return self.breakpoints[0][0]
        raise ConfigError(f"virtual time never reaches {tag}")


@dataclass
class ActiveSetClock(Generic[R]):
    """Virtual time whose rate follows an externally given active set.

    ``dV/dt = capacity / (sum of weights of the active members)``. Justitia's simpler
    variant keeps it on the *real* system's active set (agents arrived and not yet
    finished), which needs no fluid simulation but loses the fair-queueing bound
    (``proofs/fair_queueing``: theorem ``wfq-agent-real-clock``).

    Examples
    --------
    >>> from fractions import Fraction as Q
    >>> c = ActiveSetClock(capacity=Q(1))
    >>> c.activate("a", Q(1), now=Q(0)); c.activate("b", Q(1), now=Q(0))
    >>> c.deactivate("a", now=Q(1)); str(c.at(Q(2)))
    '3/2'
    """

    capacity: R
    """Service per second."""
    t: R | None = None
    """Time of the last update."""
    v: R | None = None
    """Virtual time at ``t``."""
    members: dict[Hashable, R] = field(default_factory=dict)
    """Active member -> weight."""

    def at(self, now: R) -> R:
        """Advance to ``now`` and return ``V(now)``."""
        if self.t is None or self.v is None:
            self.t, self.v = now, now - now
            return self.v
        if self.t < now:
            if self.members:
                total = sum(self.members.values(), self.capacity - self.capacity)
                self.v = self.v + (now - self.t) * self.capacity / total
            self.t = now
        return self.v

    def activate(self, member: Hashable, weight: R, *, now: R) -> None:
        """``member`` becomes active at ``now``."""
        self.at(now)
        self.members[member] = weight

    def deactivate(self, member: Hashable, *, now: R) -> None:
        """``member`` stops being active at ``now`` (no-op when it was not)."""
        self.at(now)
        self.members.pop(member, None)
