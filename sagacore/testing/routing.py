"""The routers run on given worker states: the harness of ``proofs/work_stealing``.

SAGA's router: :class:`Ticks` is a sequence of worker states at consecutive
:meth:`rebalance` ticks, :func:`moves` the router's answers to them; :class:`Placements`
a sequence of calls to route with the workers' states at each, :func:`placements` the
router's choices. The ``sagacore`` stack's idle stealing: :class:`IdleTicks` (workers'
queues of calls, free KV and load at each tick) and :func:`idle_moves`, the router's
pairs and the calls the simulator's mechanism moves for them; :class:`IdleSim` and
:func:`idle_sim_run`, a real simulation with the router's every tick, size query and
migration written down. The references they are checked against are in
:mod:`sagacore.theory.routing`.

Examples
--------
>>> moves(Ticks((((0.9, 2), (0.1, 0)), ((0.9, 2), (0.1, 0)))))
[[(0, 1)], [(0, 1)]]
>>> placements(Placements((("a", ((0.5, 0), (0.1, 0))), ("a", ((0.5, 0), (0.9, 0))))))
[1, 0]
>>> busy, idle = (0.9, 100, (150, 10)), (0.1, 900, ())
>>> idle_moves(IdleTicks(((busy, idle), (busy, idle))))   # ticks 0.125 s apart
[[], [(0, 1, 150)]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

__all__ = [
    "TICK",
    "IdleSim",
    "IdleSimRun",
    "IdleTicks",
    "Placements",
    "Ticks",
    "idle_moves",
    "idle_sim_run",
    "moves",
    "placements",
]

TICK = 0.125
"""Seconds between ticks (``idle_s``; dyadic, so tick times are exact)."""

State = tuple[tuple[float, int], ...]
"""``(load, waiting calls)`` of each worker at one tick."""


@dataclass(frozen=True)
class Ticks:
    """States of the workers at consecutive ticks, and the rule's parameters."""

    states: tuple[State, ...]
    """The workers' ``(load, waiting calls)`` at each tick."""
    threshold: float = 0.8
    """``load_threshold``."""
    ratio: float = 2.0
    """``steal_ratio``."""
    seed: int = 0
    """The router's seed."""


def moves(inst: Ticks) -> list[list[tuple[int, int]]]:
    """The ``(source, thief)`` pairs :meth:`SagaAffinity.rebalance
    <sagacore.route.saga.SagaAffinity.rebalance>` answers at each tick."""
    from sagacore.route.saga import SagaAffinity

    r = SagaAffinity(inst.threshold, idle_s=TICK, steal_ratio=inst.ratio, seed=inst.seed)
    out = []
    for k, state in enumerate(inst.states):
        ws = [SimpleNamespace(worker_id=i, load=load, queued_calls=q)
              for i, (load, q) in enumerate(state)]
        out.append(r.rebalance(ws, k * TICK))
    return out


@dataclass(frozen=True)
class Placements:
    """Calls routed one after another: ``(session, workers' states)`` each, where a
    session ``"-x"`` instead ends session ``x`` (its affinity is forgotten) and ``"x>w"``
    migrates session ``x``'s KV to worker ``w`` (its affinity follows)."""

    calls: tuple[tuple[str, State], ...]
    """The calls, in order."""
    threshold: float = 0.8
    """``load_threshold``."""


def placements(inst: Placements) -> list[int]:
    """The worker :meth:`SagaAffinity.route <sagacore.route.saga.SagaAffinity.route>`
    picks for each call (-1 for a session end or a migration)."""
    from sagacore.route.saga import SagaAffinity

    r = SagaAffinity(inst.threshold, steal=False)
    out = []
    for k, (session, state) in enumerate(inst.calls):
        if session.startswith("-"):
            r.observe_task_end(session[1:], float(k))  # type: ignore[arg-type]
            out.append(-1)
            continue
        if ">" in session:
            name, dst = session.split(">")
            r.observe_migration(name, -1, int(dst), float(k))  # type: ignore[arg-type]
            out.append(-1)
            continue
        ws = [SimpleNamespace(worker_id=i, load=load, queued_calls=q)
              for i, (load, q) in enumerate(state)]
        call = SimpleNamespace(task_id=session, prompt_tokens=1)
        out.append(r.route(call, ws, float(k)))
    return out


IdleState = tuple[tuple[float, int, tuple[int, ...]], ...]
"""``(load, free KV tokens, prompt tokens of the waiting calls, longest-waiting first)``
of each worker at one tick."""


@dataclass(frozen=True)
class IdleTicks:
    """States of the workers at consecutive ticks ``TICK`` apart, for idle stealing."""

    states: tuple[IdleState, ...]
    """Each worker's ``(load, free KV tokens, waiting calls' prompt tokens)`` per tick."""
    idle_load: float = 0.8
    """``IdleSteal.idle_load``."""
    settle_s: float = 0.5
    """``IdleSteal.settle_s`` (four ticks)."""
    capacity: int = 1000
    """Every worker's KV capacity, tokens."""
    lost: tuple[tuple[int, int], ...] = ()
    """``(tick, worker)``: the worker is lost from that tick on (no longer offered; its
    states from then on are ignored)."""

    def offered(self, k: int) -> list[int]:
        """The ids of the workers offered at tick ``k``."""
        gone = {w for t, w in self.lost if t <= k}
        return [i for i in range(len(self.states[k])) if i not in gone]


Move = tuple[int, int, int | None]
"""``(source, thief, prompt tokens of the call moved)``; None: the router asked, nothing
on the source fits the thief, nothing moved."""


def idle_moves(inst: IdleTicks) -> list[list[Move]]:
    """What happens at each tick: :meth:`IdleSteal.rebalance
    <sagacore.route.idle_steal.IdleSteal.rebalance>`'s pairs, and for each the call the
    simulator's mechanism moves (``Simulation._migrate``: the longest-waiting call of the
    source that :meth:`~sagacore.route.idle_steal.IdleSteal.stealable` lets move to the
    thief; the router then observes the migration). Moved calls leave their source's
    queue for the rest of the tick; the next tick's states are the instance's."""
    from sagacore.route.idle_steal import IdleSteal

    r = IdleSteal(idle_s=TICK, idle_load=inst.idle_load, settle_s=inst.settle_s)
    out: list[list[Move]] = []
    for k, state in enumerate(inst.states):
        now = k * TICK
        ws = [SimpleNamespace(worker_id=i, load=load, queued_calls=len(q), free_tokens=free,
                              pool_tokens=inst.capacity)
              for i, (load, free, q) in enumerate(state)]
        queues = [list(q) for _, _, q in state]
        tick: list[Move] = []
        for src, dst in r.rebalance([ws[i] for i in inst.offered(k)], now):
            if src == dst or not queues[src]:
                tick.append((src, dst, None))  # the mechanism moves nothing
                continue
            fits = [i for i, n in enumerate(queues[src])
                    if r.stealable(SimpleNamespace(task_id=f"c{k}.{src}.{i}", prompt_tokens=n),
                                   ws[dst])]
            if not fits:
                tick.append((src, dst, None))
                continue
            n = queues[src].pop(fits[0])
            tick.append((src, dst, n))
            r.observe_migration(f"c{k}.{src}", src, dst, now)  # type: ignore[arg-type]
        out.append(tick)
    return out


@dataclass(frozen=True)
class IdleSim:
    """A small simulation of the ``sagacore`` stack, its router recorded."""

    tasks: int = 24
    """Tasks of the workload."""
    rate: float = 12.0
    """Poisson arrivals, tasks per minute."""
    seed: int = 0
    """Workload seed."""
    cluster: str = "a100-16"
    """Cluster preset."""
    settle_s: float | None = None
    """``IdleSteal.settle_s`` (None: the stack's)."""
    workload: str = "swe-bench-trace"
    """A workload name of :func:`~sagacore.workload.load.load_workload`."""


@dataclass
class IdleSimRun:
    """What :func:`idle_sim_run` wrote down."""

    idle_s: float
    idle_load: float
    settle_s: float
    ticks: list[tuple[float, tuple[tuple[float, int, int, int], ...], list[tuple[int, int]]]] = (
        field(default_factory=list))
    """``(time, each worker's (load, waiting, free, capacity), the router's pairs)``."""
    queries: list[tuple[float, str, int, int, int, int, int, bool]] = field(default_factory=list)
    """Each :meth:`stealable` query: ``(tick time, task, step, prompt tokens, thief,
    thief's free KV, thief's capacity, answer)``."""
    waits: dict[tuple[float, str, int, int], tuple[float, float]] = field(default_factory=dict)
    """For each query (keyed as ``queries``): how long the call had waited since it was
    ready, and what the copy of its cached KV takes on the cluster (the cost model's
    ``migration_seconds``, computed here, not by the router)."""
    migrations: list[tuple[float, str, int, int, int]] = field(default_factory=list)
    """Each ``call_migrate`` event: ``(time, task, step, thief, KV tokens copied)``."""
    queues: dict[tuple[float, int], list[tuple[str, int, int]]] = field(default_factory=dict)
    """At each tick with pairs, each source's waiting calls ``(task, step, prompt
    tokens)``, longest-waiting first (the simulator's enqueue order)."""
    simulator_migrations: int = 0
    """The simulator's own count."""


def idle_sim_run(inst: IdleSim) -> IdleSimRun:
    """Simulate ``inst`` with the ``sagacore`` stack, its :class:`IdleSteal
    <sagacore.route.idle_steal.IdleSteal>` router recording each tick (what the workers
    showed it, what it answered), each size query and, through an observer, each
    migration the simulator made."""
    import dataclasses

    from sagacore.policy import CallView, WorkerView
    from sagacore.route.idle_steal import IdleSteal
    from sagacore.sim import build_policies, get_cluster
    from sagacore.sim.cluster import Simulation
    from sagacore.sim.observe import TraceEvent
    from sagacore.stacks import BuildContext, get_stack
    from sagacore.workload.load import load_workload

    base = get_stack("sagacore")
    if base.router != IdleSteal.name:
        raise AssertionError(f"the sagacore stack routes with {base.router!r}, not idle-steal")
    run = IdleSimRun(0.0, 0.0, 0.0)
    sims: list[Simulation] = []  # the simulation, once built (the router sees views only)

    class Recording(IdleSteal):
        def rebalance(self, workers: Sequence[WorkerView], now: float) -> list[tuple[int, int]]:
            pairs = super().rebalance(workers, now)
            if [w.worker_id for w in workers] != list(range(len(workers))):
                raise AssertionError("an instance was lost: the recording assumes none")
            run.ticks.append((now, tuple((w.load, w.queued_calls, w.free_tokens,
                                          w.pool_tokens) for w in workers), pairs))
            for src in {s for s, _ in pairs}:
                # the simulator's worker: its queue, in the order the mechanism reads it
                waiting = sorted(sims[0].workers[src].waiting,
                                 key=lambda c: (c.enqueued_s, c.seq))
                run.queues[(now, src)] = [(str(c.task_id), c.step, c.prompt_tokens)
                                          for c in waiting]
            return pairs

        def stealable(self, call: CallView, dst: WorkerView) -> bool:
            ok = super().stealable(call, dst)
            now = run.ticks[-1][0] if run.ticks else -1.0
            run.queries.append((now, str(call.task_id), call.step, call.prompt_tokens,
                                dst.worker_id, dst.free_tokens, dst.pool_tokens, ok))
            run.waits[(now, str(call.task_id), call.step, dst.worker_id)] = (
                now - call.ready_s, cluster.cost.migration_seconds(call.cached_tokens))
            return ok

    cluster = get_cluster(inst.cluster)

    def build(ctx: BuildContext) -> IdleSteal:
        # as the stack builds it (IdleSteal.from_context: the copy rule on), then recorded
        copy = ctx.cost.migration_seconds
        r = (Recording(copy_seconds=copy) if inst.settle_s is None
             else Recording(settle_s=inst.settle_s, copy_seconds=copy))
        run.idle_s, run.idle_load, run.settle_s = r.idle_s, r.idle_load, r.settle_s
        return r

    def observe(ev: TraceEvent) -> None:
        if ev.kind == "call_migrate":
            assert ev.step is not None and ev.worker is not None and ev.tokens is not None
            run.migrations.append((ev.time, str(ev.task_id), ev.step, ev.worker, ev.tokens))

    stack = dataclasses.replace(base, name="sagacore (recorded)", router=build)
    w = load_workload(inst.workload, tasks=inst.tasks, rate=inst.rate, seed=inst.seed)
    sims.append(Simulation(w, build_policies(stack, cluster), cluster, observers=(observe,)))
    res = sims[0].run()
    run.simulator_migrations = res.migrations
    return run
