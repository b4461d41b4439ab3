"""Exact abstract models of scheduling disciplines: what the fairness theorems are about.

Each model is a small event-driven simulation over exact numbers
(:class:`fractions.Fraction`), written with ``+ - * /`` and comparisons only, so the same
code runs on symbolic reals for z3 proofs (:mod:`sagacore.theory.symbolic`). The
theorems, their proofs and checkers are in ``docs/fairness.md``, ``docs/proofs/`` and
``proofs/``; the policies in :mod:`sagacore.sched` implement the same rules on real
engines. The models are references: they import nothing from the policies
(``tests/test_theory_independence.py`` checks it), so a bug in a policy's code cannot
move its reference with it.

Models
------
:func:`serve_agents`
    Agents (weighted), each a chain of non-preemptive *units* of service separated by
    optional tool gaps, on ``servers`` identical servers of rate 1; units served in the
    order of a tag: Justitia's agent-level virtual finish tag on the fluid system's own
    clock (``"fluid"``), on the real system's active set (``"real"``), or per-unit WFQ
    tags (``"unit"``). Predicted costs may replace true ones in the tags.
:func:`serve_vtc`
    Clients with queues of requests on one server, VTC's virtual token counters with the
    lift on re-activation, counters charged as service is received.
:func:`serve_hrrn`
    Non-preemptive jobs on one server in highest-response-ratio-next order, the ratio
    computed with predicted sizes.
:func:`serve_afs`
    SAGA's Agent Fair Share in epochs: capacity split in proportion to urgency
    (``"proportional"``) or by weighted water-filling of the urgencies
    (``"waterfill"``, the variant with a guarantee).

Examples
--------
>>> from fractions import Fraction as Q
>>> run = serve_agents([Agent(Q(0), (Q(3),)), Agent(Q(1), (Q(1),))])
>>> [str(f) for f in run.finish]   # non-preemptive: the short agent waits for the unit
['3', '4']
>>> [str(g) for g in run.fluid_finish]
['4', '3']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from sagacore.errors import ConfigError
from sagacore.theory.fluid import FluidJob, GpsClock, fluid_schedule, waterfill

__all__ = [
    "AfsRun",
    "AfsTask",
    "Agent",
    "AgentRun",
    "HrrnJob",
    "HrrnRun",
    "Request",
    "VtcRun",
    "serve_afs",
    "serve_agents",
    "serve_hrrn",
    "serve_vtc",
]

Q = Fraction
ONE = Fraction(1)
TagRule = Literal["fluid", "real", "unit"]


def _sum(xs: Sequence[Fraction], zero: Fraction) -> Fraction:
    total = zero
    for x in xs:
        total = total + x
    return total


def _min(xs: Sequence[Fraction]) -> Fraction:
    best = xs[0]
    for x in xs[1:]:
        if x < best:
            best = x
    return best


def _max(xs: Sequence[Fraction]) -> Fraction:
    best = xs[0]
    for x in xs[1:]:
        if best < x:
            best = x
    return best


# ---------------------------------------------------------------------------------------
# agents of units: WFQ / Justitia
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agent:
    """An agent: a chain of non-preemptive units of service, with optional tool gaps."""

    arrival: Fraction
    """Arrival time; the first unit is ready then."""
    units: tuple[Fraction, ...]
    """Service time of each unit on a rate-1 server (each positive)."""
    gaps: tuple[Fraction, ...] = ()
    """Tool time after each unit but the last (empty: no gaps)."""
    weight: Fraction = ONE
    """Fair-share weight."""
    misprediction: Fraction | None = None
    """Predicted over true total cost, for the tag (None: exact). Any positive
    prediction is such a ratio; keeping the ratio keeps symbolic models linear."""

    @property
    def cost(self) -> Fraction:
        """True total service."""
        return _sum(self.units, self.arrival - self.arrival)

    @property
    def predicted(self) -> Fraction:
        """The cost the tag uses: ``cost * misprediction`` (the true cost when exact)."""
        return self.cost if self.misprediction is None else self.cost * self.misprediction


@dataclass(frozen=True)
class AgentRun:
    """Result of :func:`serve_agents`."""

    finish: tuple[Fraction, ...]
    """Completion time of each agent's last unit."""
    starts: tuple[tuple[Fraction, ...], ...]
    """Start time of each unit of each agent."""
    tags: tuple[tuple[Fraction, ...], ...]
    """Tag each unit was served by."""
    fluid_finish: tuple[Fraction, ...]
    """Finish time in the reference fluid system (module docs of each theorem): the
    fluid of the agents' true costs without gaps (capacity ``servers``, rate cap 1
    when ``servers > 1``) for ``"fluid"``/``"real"``; with gaps, the fluid with the
    same gaps; for ``"unit"``, the GPS fed with the units as they were released."""
    tag_fluid_finish: tuple[Fraction, ...]
    """Finish time in the fluid system the tags were computed on (predicted costs)."""
    busy_start: tuple[Fraction, ...]
    """Start of the busy period (some server busy) in which each agent finished."""
    max_unit: Fraction
    """Largest unit over all agents (``L_max``)."""


def serve_agents(
    agents: Sequence[Agent], *, servers: int = 1, tags: TagRule = "fluid"
) -> AgentRun:
    """Serve ``agents`` unit by unit in tag order on ``servers`` rate-1 servers.

    Parameters
    ----------
    agents
        The agents; an agent's units run one at a time, each ready when the previous
        one and its gap ended (the first at arrival).
    servers
        Identical servers; a free server takes the ready unit with the smallest
        ``(tag, agent index, unit index)``; a unit is never preempted.
    tags
        ``"fluid"``: Justitia's ``F = V(a) + C / w`` with ``V`` the virtual time of the
        fluid system of the agents' (predicted) costs, capacity ``servers``.
        ``"real"``: the same tag with ``V`` driven by the real system's active set
        (agents arrived and unfinished). ``"unit"``: WFQ per unit,
        ``F = max(V(r), F_prev) + u / w`` at the unit's release time ``r``.

    Returns
    -------
    AgentRun
        Finish times, the reference fluid finish times and ``L_max``.

    Notes
    -----
    The guarantee ``finish <= fluid_finish + L_max`` holds for ``tags="fluid"`` with one
    server, no gaps and exact costs (theorem ``wfq-agent``) and for ``tags="unit"``
    with gaps (``wfq-unit-gaps``); ``docs/proofs/fair_queueing.md`` proves both and
    gives counterexamples for the other combinations.
    """
    if not agents:
        raise ConfigError("serve_agents needs at least one agent")
    if servers < 1:
        raise ConfigError(f"servers must be >= 1, got {servers}")
    n = len(agents)
    zero = agents[0].arrival - agents[0].arrival
    cap = zero + servers
    for j, a in enumerate(agents):
        if a.gaps and len(a.gaps) != len(a.units) - 1:
            raise ConfigError(f"agent {j}: {len(a.units)} units but {len(a.gaps)} gaps")
    order = sorted(range(n), key=lambda j: (agents[j].arrival, j))

    # agent-level tags on the fluid system's own clock (predicted costs)
    fclock: GpsClock[Fraction] = GpsClock(cap)
    agent_tag: list[Fraction | None] = [None] * n
    if tags == "fluid":
        for j in order:
            a = agents[j]
            agent_tag[j] = fclock.push(j, a.predicted, weight=a.weight, now=a.arrival)
    rclock = _ActiveClock(cap)
    uclock: GpsClock[Fraction] = GpsClock(cap)

    nxt_unit = [0] * n
    release: list[Fraction | None] = [a.arrival for a in agents]  # next unit's ready time
    ready: list[tuple[Fraction, int, int]] = []  # (tag, agent, unit)
    running: list[tuple[Fraction, int, int] | None] = [None] * servers  # (end, agent, unit)
    starts: list[list[Fraction]] = [[] for _ in agents]
    unit_tags: list[list[Fraction]] = [[] for _ in agents]
    finish: list[Fraction | None] = [None] * n
    arrived = [False] * n
    busy_from: Fraction | None = None
    busy_start: list[Fraction | None] = [None] * n
    t = agents[order[0]].arrival
    remaining = n
    while remaining:
        # 1. completions at t
        for s in range(servers):
            r = running[s]
            if r is not None and r[0] <= t:
                _, j, k = r
                running[s] = None
                a = agents[j]
                if k + 1 == len(a.units):
                    finish[j] = t
                    remaining -= 1
                    busy_start[j] = busy_from
                    if tags == "real":
                        rclock.deactivate(j, now=t)
                else:
                    gap = a.gaps[k] if a.gaps else zero
                    release[j] = t + gap
        # 2. releases (arrivals and returns from tools) at t
        for j in order:
            r_j = release[j]
            if r_j is not None and r_j <= t:
                release[j] = None
                a = agents[j]
                k = nxt_unit[j]
                if not arrived[j]:
                    arrived[j] = True
                    if tags == "real":
                        v = rclock.at(t)
                        agent_tag[j] = v + a.predicted / a.weight
                        rclock.activate(j, a.weight, now=t)
                if tags == "unit":
                    tag = uclock.push(j, a.units[k], weight=a.weight, now=t)
                else:
                    tg = agent_tag[j]
                    assert tg is not None
                    tag = tg
                ready.append((tag, j, k))
        # 3. dispatch
        for s in range(servers):
            if running[s] is None and ready:
                best = 0
                for i in range(1, len(ready)):
                    if _tag_lt(ready[i], ready[best]):
                        best = i
                tag, j, k = ready.pop(best)
                if busy_from is None:
                    busy_from = t
                running[s] = (t + agents[j].units[k], j, k)
                starts[j].append(t)
                unit_tags[j].append(tag)
                nxt_unit[j] = k + 1
        if all(r is None for r in running):
            busy_from = None
        if not remaining:
            break
        # 4. next event
        cands = [r[0] for r in running if r is not None]
        cands += [r for r in release if r is not None]
        t = _min(cands)

    max_unit = _max([u for a in agents for u in a.units])
    fin = tuple(_need(f) for f in finish)
    # reference fluid systems
    if tags == "unit":
        ref = tuple(uclock.time_at(unit_tags[j][-1]) for j in range(n))
        tag_ref = ref
    else:
        jobs = [
            FluidJob(a.arrival, a.units, a.gaps, weight=a.weight,
                     cap=(zero + 1) if servers > 1 else None)
            for a in agents
        ]
        ref = fluid_schedule(jobs, cap).finish
        if tags == "fluid":
            tag_ref = tuple(fclock.time_at(_need(agent_tag[j])) for j in range(n))
        else:
            tag_ref = ref
    bstart = tuple(_need(b) if b is not None else zero for b in busy_start)
    return AgentRun(
        fin,
        tuple(tuple(s) for s in starts),
        tuple(tuple(u) for u in unit_tags),
        ref,
        tag_ref,
        bstart,
        max_unit,
    )


class _ActiveClock:
    """``V`` growing at ``capacity / (sum of the weights of the active members)``: the
    real system's clock of the ``"real"`` tag rule."""

    def __init__(self, capacity: Fraction) -> None:
        self.capacity = capacity
        self.t: Fraction | None = None
        self.v = capacity - capacity
        self.members: dict[int, Fraction] = {}

    def at(self, now: Fraction) -> Fraction:
        """Advance to ``now`` and return ``V(now)``."""
        if self.t is not None and self.t < now and self.members:
            weight = _sum(list(self.members.values()), self.capacity - self.capacity)
            self.v = self.v + (now - self.t) * self.capacity / weight
        if self.t is None or self.t < now:
            self.t = now
        return self.v

    def activate(self, member: int, weight: Fraction, *, now: Fraction) -> None:
        """``member`` becomes active at ``now``."""
        self.at(now)
        self.members[member] = weight

    def deactivate(self, member: int, *, now: Fraction) -> None:
        """``member`` leaves at ``now``."""
        self.at(now)
        self.members.pop(member, None)


def _tag_lt(x: tuple[Fraction, int, int], y: tuple[Fraction, int, int]) -> bool:
    if x[0] < y[0]:
        return True
    if y[0] < x[0]:
        return False
    return (x[1], x[2]) < (y[1], y[2])


def _need(x: Fraction | None) -> Fraction:
    assert x is not None
    return x


# ---------------------------------------------------------------------------------------
# VTC
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """A request of a VTC client: arrival time and service (its charged tokens)."""

    client: int
    """Client index."""
    arrival: Fraction
    """Arrival time."""
    size: Fraction
    """Service time on the rate-1 server, equal to its charge (positive)."""


@dataclass(frozen=True)
class VtcRun:
    """Result of :func:`serve_vtc`."""

    segments: tuple[tuple[Fraction, Fraction, int], ...]
    """Service segments ``(start, end, client)`` in time order."""
    backlogged: tuple[tuple[tuple[Fraction, Fraction], ...], ...]
    """Per client, maximal intervals ``[from, to)`` with a request waiting or in
    service."""
    max_size: Fraction
    """``U``: the largest request."""
    events: tuple[tuple[Fraction, tuple[Fraction, ...], tuple[bool, ...]], ...] = ()
    """After the events at each event time ``t`` (increasing): ``(t, cumulative service
    of each client up to t, whether each client is backlogged until the next event)``."""

    def service(self, client: int, t1: Fraction, t2: Fraction) -> Fraction:
        """Service ``client`` received in ``[t1, t2]``."""
        total = t1 - t1
        for s, e, c in self.segments:
            if c != client:
                continue
            lo = s if t1 < s else t1
            hi = e if e < t2 else t2
            if lo < hi:
                total = total + (hi - lo)
        return total


def serve_vtc(requests: Sequence[Request], clients: int) -> VtcRun:
    """Serve ``requests`` with VTC's virtual token counters on one rate-1 server.

    Non-preemptive: when the server is free it takes the head request of the
    backlogged client with the smallest counter (ties: lower client index); the
    counter grows with the service as it is received. A client whose queue was empty
    and gets a request is *lifted*: ``c = max(c, min over backlogged clients' c)``, or
    ``max(c, c_last)`` with ``c_last`` the counter of the client that left the backlog
    last when none is backlogged (VTC, Sheng et al., OSDI 2024, Algorithm 2).

    Notes
    -----
    Two clients backlogged over ``[t1, t2]`` receive service within ``2 U`` of each
    other (theorem ``vtc-2u``, ``docs/proofs/vtc.md``); some instance reaches ``2 U``.

    Examples
    --------
    >>> from fractions import Fraction as Q
    >>> run = serve_vtc([Request(0, Q(0), Q(2)), Request(0, Q(0), Q(2)),
    ...                  Request(1, Q(1), Q(1))], clients=2)
    >>> [(str(s), str(e), c) for s, e, c in run.segments]
    [('0', '2', 0), ('2', '3', 1), ('3', '5', 0)]
    """
    if clients < 1:
        raise ConfigError(f"clients must be >= 1, got {clients}")
    reqs = sorted(range(len(requests)), key=lambda i: (requests[i].arrival, i))
    if not reqs:
        raise ConfigError("serve_vtc needs at least one request")
    zero = requests[0].arrival - requests[0].arrival
    counter = [zero] * clients
    queue: list[list[int]] = [[] for _ in range(clients)]
    in_service: tuple[Fraction, Fraction, int] | None = None  # (start, end, client)
    last_left: int | None = None
    backlog_from: list[Fraction | None] = [None] * clients
    backlogged: list[list[tuple[Fraction, Fraction]]] = [[] for _ in range(clients)]
    segments: list[tuple[Fraction, Fraction, int]] = []
    pos = 0
    t = requests[reqs[0]].arrival

    served = [zero] * clients
    events: list[tuple[Fraction, tuple[Fraction, ...], tuple[bool, ...]]] = []

    def is_backlogged(c: int) -> bool:
        return bool(queue[c]) or (in_service is not None and in_service[2] == c)

    while pos < len(reqs) or in_service is not None or any(queue):
        # completion
        if in_service is not None and in_service[1] <= t:
            s, e, c = in_service
            in_service = None
            segments.append((s, e, c))
            counter[c] = counter[c] + (e - s)
            served[c] = served[c] + (e - s)
            if not queue[c]:
                bf = backlog_from[c]
                assert bf is not None
                backlogged[c].append((bf, t))
                backlog_from[c] = None
                last_left = c
        # arrivals
        while pos < len(reqs) and requests[reqs[pos]].arrival <= t:
            r = requests[reqs[pos]]
            pos += 1
            c = r.client
            if not is_backlogged(c):
                others = [k for k in range(clients) if k != c and is_backlogged(k)]
                if others:
                    low = _min([_counter_now(counter, in_service, k, t) for k in others])
                elif last_left is not None:
                    low = counter[last_left]
                else:
                    low = counter[c]
                if counter[c] < low:
                    counter[c] = low
                backlog_from[c] = t
            queue[c].append(reqs[pos - 1])
        # dispatch
        if in_service is None:
            cands = [k for k in range(clients) if queue[k]]
            if cands:
                best = cands[0]
                for k in cands[1:]:
                    if counter[k] < counter[best]:
                        best = k
                i = queue[best].pop(0)
                in_service = (t, t + requests[i].size, best)
        cum = list(served)
        if in_service is not None:
            cum[in_service[2]] = cum[in_service[2]] + (t - in_service[0])
        events.append((t, tuple(cum), tuple(is_backlogged(c) for c in range(clients))))
        # next event
        nxt: list[Fraction] = []
        if in_service is not None:
            nxt.append(in_service[1])
        if pos < len(reqs):
            nxt.append(requests[reqs[pos]].arrival)
        if not nxt:
            break
        t = _min(nxt)
    max_size = _max([r.size for r in requests])
    return VtcRun(tuple(segments), tuple(tuple(b) for b in backlogged), max_size, tuple(events))


def _counter_now(
    counter: list[Fraction], in_service: tuple[Fraction, Fraction, int] | None, k: int, t: Fraction
) -> Fraction:
    """Client ``k``'s counter at ``t``, including service received so far in progress."""
    if in_service is not None and in_service[2] == k:
        return counter[k] + (t - in_service[0])
    return counter[k]


# ---------------------------------------------------------------------------------------
# HRRN
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HrrnJob:
    """A non-preemptive job: arrival, true size, predicted size (used in the ratio)."""

    arrival: Fraction
    """Arrival time."""
    size: Fraction
    """True service time (positive)."""
    predicted: Fraction | None = None
    """Size HRRN believes (None: the true size)."""

    @property
    def estimate(self) -> Fraction:
        """The size used in the response ratio."""
        return self.size if self.predicted is None else self.predicted


@dataclass(frozen=True)
class HrrnRun:
    """Result of :func:`serve_hrrn`."""

    start: tuple[Fraction, ...]
    """Start time of each job."""

    def wait(self, j: int, jobs: Sequence[HrrnJob]) -> Fraction:
        """Job ``j``'s wait: start minus arrival."""
        return self.start[j] - jobs[j].arrival


def serve_hrrn(jobs: Sequence[HrrnJob]) -> HrrnRun:
    """Serve ``jobs`` non-preemptively on one rate-1 server, highest response ratio next.

    At each decision time ``t`` the waiting job with the largest
    ``R = (t - a + S_hat) / S_hat`` starts (ties: earlier arrival, then lower index).

    Notes
    -----
    Every job's wait is bounded by the work ahead of it at arrival plus the work of
    later arrivals in a window that shrinks with the job's size (theorem ``hrrn-wait``,
    ``docs/proofs/hrrn.md``): HRRN is free of starvation even in overload up to
    ``1 / (1 - s_min / S)``.

    Examples
    --------
    >>> from fractions import Fraction as Q
    >>> run = serve_hrrn([HrrnJob(Q(0), Q(4)), HrrnJob(Q(1), Q(4)), HrrnJob(Q(2), Q(1))])
    >>> [str(s) for s in run.start]   # at t=4: R = 7/4 for job 1, 3 for job 2
    ['0', '5', '4']
    """
    if not jobs:
        raise ConfigError("serve_hrrn needs at least one job")
    n = len(jobs)
    order = sorted(range(n), key=lambda j: (jobs[j].arrival, j))
    start: list[Fraction | None] = [None] * n
    waiting: list[int] = []
    pos = 0
    t = jobs[order[0]].arrival
    while pos < n or waiting:
        while pos < n and jobs[order[pos]].arrival <= t:
            waiting.append(order[pos])
            pos += 1
        if not waiting:
            t = jobs[order[pos]].arrival
            continue
        best = waiting[0]
        for j in waiting[1:]:
            if _ratio_gt(jobs[j], jobs[best], t) or (
                not _ratio_gt(jobs[best], jobs[j], t)
                and (jobs[j].arrival, j) < (jobs[best].arrival, best)
            ):
                best = j
        waiting.remove(best)
        start[best] = t
        t = t + jobs[best].size
    return HrrnRun(tuple(_need(s) for s in start))


def _ratio_gt(x: HrrnJob, y: HrrnJob, t: Fraction) -> bool:
    """``R_x(t) > R_y(t)``, compared without division: ``(t - a_x) S_y > (t - a_y) S_x``."""
    return bool((t - x.arrival) * y.estimate > (t - y.arrival) * x.estimate)


# ---------------------------------------------------------------------------------------
# SAGA's Agent Fair Share
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AfsTask:
    """A task of AFS's model: tenant, arrival, work (capacity-seconds), deadline."""

    tenant: int
    """Tenant index."""
    arrival: Fraction
    """Arrival time."""
    work: Fraction
    """Remaining work at arrival (positive)."""
    deadline: Fraction
    """Deadline (after the arrival)."""


@dataclass(frozen=True)
class AfsRun:
    """Result of :func:`serve_afs`."""

    finish: tuple[Fraction | None, ...]
    """Completion time of each task (None: not finished by the horizon)."""
    epochs: tuple[Fraction, ...]
    """Start of each epoch simulated."""
    total_urgency: tuple[Fraction, ...]
    """Sum of (clamped) urgencies at the start of each epoch."""


def serve_afs(
    tasks: Sequence[AfsTask],
    *,
    tenants: int,
    weights: Sequence[Fraction] | None = None,
    capacity: Fraction = ONE,
    epoch: Fraction = ONE,
    allocation: Literal["proportional", "waterfill"] = "proportional",
    horizon: Fraction | None = None,
    max_epochs: int = 10_000,
) -> AfsRun:
    """Serve ``tasks`` by Agent Fair Share in epochs of length ``epoch``.

    At each epoch start ``t_k`` (multiples of ``epoch``), every task that arrived by
    ``t_k`` and is unfinished has urgency ``u = rem / max(d - t_k, epoch)`` (the clamp
    keeps tasks at or past their deadline urgent and finite); tenant ``i``'s AFS is
    ``U_i = sum of its tasks' u``. Capacity is split among tenants

    - ``"proportional"`` (SAGA): ``C U_i / sum U``;
    - ``"waterfill"`` (the variant): ``min(U_i, L w_i)`` with the level ``L`` that
      fills ``C``; when the demands fit, the leftover goes in proportion to ``U_i``
      (then it equals the proportional split),

    and within a tenant in proportion to task urgency. Allocations hold for the whole
    epoch; capacity a finished task leaves unused idles until the next epoch. With a
    ``horizon`` no epoch starts at or after it (unfinished tasks get ``None``).

    Notes
    -----
    Guarantees (``docs/proofs/saga_afs.md``): with ``"waterfill"``, a tenant whose
    declared demand stays within ``C w_i / sum w`` finishes every task by its deadline
    rounded up to an epoch, whatever the other tenants do (theorem ``saga-afs-wf``);
    with ``"proportional"`` only when the total demand fits (``saga-afs-capacity``); the
    paper's per-tenant claim fails for it (``saga-afs-claim``).

    Examples
    --------
    >>> from fractions import Fraction as Q
    >>> light = AfsTask(0, Q(0), Q(1), Q(4))
    >>> heavy = AfsTask(1, Q(0), Q(8), Q(1))
    >>> [str(f) for f in serve_afs([light, heavy], tenants=2).finish]
    ['9', '9']
    >>> [str(f) for f in serve_afs([light, heavy], tenants=2, allocation="waterfill").finish]
    ['4', '9']
    """
    if not tasks:
        raise ConfigError("serve_afs needs at least one task")
    w = list(weights) if weights is not None else [Q(1)] * tenants
    if len(w) != tenants:
        raise ConfigError(f"{len(w)} weights for {tenants} tenants")
    n = len(tasks)
    zero = tasks[0].arrival - tasks[0].arrival
    rem = [t.work for t in tasks]
    finish: list[Fraction | None] = [None] * n
    epochs: list[Fraction] = []
    totals: list[Fraction] = []
    k = 0
    while any(f is None for f in finish):
        if k >= max_epochs:
            raise ConfigError(f"AFS did not finish within {max_epochs} epochs")
        tk = zero + k * epoch
        k += 1
        if horizon is not None and not tk < horizon:
            break
        live = [j for j in range(n) if finish[j] is None and tasks[j].arrival <= tk]
        if not live:
            continue
        urg: dict[int, Fraction] = {}
        for j in live:
            left = tasks[j].deadline - tk
            urg[j] = rem[j] / (left if epoch < left else epoch)
        tenant_u = [zero] * tenants
        for j in live:
            tenant_u[tasks[j].tenant] = tenant_u[tasks[j].tenant] + urg[j]
        total = _sum(tenant_u, zero)
        epochs.append(tk)
        totals.append(total)
        act = [i for i in range(tenants) if any(tasks[j].tenant == i for j in live)]
        alloc = [zero] * tenants
        if allocation == "proportional" or not capacity < total:
            for i in act:
                alloc[i] = capacity * tenant_u[i] / total
        else:
            rates = waterfill(capacity, [w[i] for i in act], [tenant_u[i] for i in act])
            for i, r in zip(act, rates, strict=True):
                alloc[i] = r
        for j in live:
            i = tasks[j].tenant
            rate = alloc[i] * urg[j] / tenant_u[i]
            if rem[j] <= rate * epoch:
                finish[j] = tk + rem[j] / rate
                rem[j] = zero
            else:
                rem[j] = rem[j] - rate * epoch
    return AfsRun(tuple(finish), tuple(epochs), tuple(totals))
