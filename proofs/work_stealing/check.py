"""Checker of SAGA's work-stealing rule as implemented (``STATEMENT.md`` beside this file).

The object is the router itself, :meth:`sagacore.route.saga.SagaAffinity.rebalance`: the
checker feeds it the workers' states at consecutive ticks ``idle_s`` apart (load and
waiting calls of each worker, as the simulator's ``WorkerView`` shows them, through
:mod:`sagacore.testing.routing`) and checks the moves it answers, each thief and source
against the documented conditions (:mod:`sagacore.theory.routing`, no code shared with
the router). ``saga-affinity-rule`` checks the router's placements against the
documented affinity rule the same way. ``tests/test_theory_stealing.py`` checks the same obligations on
the ticks of real simulations. Proof: ``docs/proofs/work_stealing.md``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

from hypothesis import strategies as st

from sagacore.testing.routing import (
    TICK,
    IdleSim,
    IdleSimRun,
    IdleState,
    IdleTicks,
    Move,
    Placements,
    State,
    Ticks,
    idle_moves,
    idle_sim_run,
    moves,
    placements,
)
from sagacore.theory.routing import (
    affinity_choice,
    idle_fits,
    idle_since,
    idle_steal_pairs,
    idle_thief_qualifies,
    thief_qualifies,
    victim_qualifies,
)
from sagacore.theory.theorems import Obligation, Theorem

PROOF = "docs/proofs/work_stealing.md"


def tick_obligations(states: Sequence[State], pairs_per_tick: Sequence[Sequence[tuple[int, int]]],
                     threshold: float, ratio: float) -> list[Obligation]:
    """The theorem's obligations on one tick sequence (ticks ``idle_s`` apart)."""
    out: list[Obligation] = []
    total = 0
    for k, (state, pairs) in enumerate(zip(states, pairs_per_tick, strict=True)):
        m = len(state)
        total += len(pairs)
        dsts = [d for _, d in pairs]
        out.append((f"tick {k}: each thief takes at most one call", len(dsts) - len(set(dsts)), 0))
        out.append((f"tick {k}: at most m - 1 moves", len(pairs), m - 1))
        before = states[k - 1] if k else None
        for s, d in pairs:
            out.append((f"tick {k}: thief {d} has an empty queue", state[d][1], 0))
            out.append((f"tick {k}: source {s} has a waiting call", 1, state[s][1]))
            ok = thief_qualifies(d, state, before, threshold=threshold, ratio=ratio)
            out.append((f"tick {k}: thief {d} idle for idle_s below the threshold, or the "
                        "least loaded under skew", 0 if ok else 1, 0))
            ok = victim_qualifies(s, d, state, threshold=threshold, ratio=ratio)
            out.append((f"tick {k}: source {s} at or above the threshold, or above ratio x "
                        f"thief {d}'s load", 0 if ok else 1, 0))
        for s in {s for s, _ in pairs}:
            out.append((f"tick {k}: source {s} gives at most its waiting calls",
                        sum(1 for x, _ in pairs if x == s), state[s][1]))
        given = {s: sum(1 for x, _ in pairs if x == s) for s in range(m)}
        if not any(q for _, q in state):
            continue
        loads = [load for load, _ in state]
        lo, hi = min(loads), max(loads)
        least = min(range(m), key=lambda i: (state[i][0], state[i][1], i))
        for w in range(m):
            if state[w][1] or w in dsts:
                continue
            idle = k > 0 and states[k - 1][w][1] == 0 and state[w][0] < threshold
            skew = hi > ratio * lo and w == least
            if not (idle or skew):
                continue
            # a qualifying thief that got nothing: every call it could take was taken
            left = sum(state[v][1] - given[v] for v in range(m)
                       if state[v][1] and (loads[v] >= threshold or loads[v] > ratio * loads[w]))
            why = "idle for idle_s" if idle else "least loaded under skew"
            out.append((f"tick {k}: worker {w} ({why}) stole nothing while {left} calls it "
                        "could take still wait", left, 0))
    out.append(("moves over the run <= ticks x (m - 1)", total,
                len(states) * (len(states[0]) - 1) if states else 0))
    return out


def obligations(inst: Ticks) -> list[Obligation]:
    """The obligations on the router's answers to ``inst``."""
    return tick_obligations(inst.states, moves(inst), inst.threshold, inst.ratio)


def describe(inst: Ticks) -> dict[str, Any]:
    """The instance as plain data."""
    return {"tick_s": TICK, "threshold": inst.threshold, "ratio": inst.ratio, "seed": inst.seed,
            "ticks": [[{"load": load, "waiting": q} for load, q in s] for s in inst.states]}


_LOADS = (0.0, 0.25, 0.5, 0.9)


def _grid(thorough: bool) -> Iterator[Ticks]:
    """Two ticks of two or three workers: loads in {0, 1/4, 9/10} and 0 to 2 waiting
    calls for two workers, loads {0, 9/10} and 0 or 2 calls for three (``thorough``:
    loads {0, 1/4, 1/2, 9/10} for two workers, 0 to 2 calls for three)."""
    for m in (2, 3):
        if m == 2:
            loads, waits = (_LOADS if thorough else (0.0, 0.25, 0.9)), (0, 1, 2)
        else:
            loads, waits = (0.0, 0.9), ((0, 1, 2) if thorough else (0, 2))
        per = list(itertools.product(loads, waits))
        for first, second in itertools.product(itertools.product(per, repeat=m), repeat=2):
            yield Ticks((tuple(first), tuple(second)))


def _targeted(thorough: bool) -> Iterator[Ticks]:
    """Many idle thieves and few waiting calls (the cap on what a worker gives), one
    overloaded worker with a long queue and several idle ones over many ticks, loads
    just below and at the threshold, skew without idleness, unequal loads without skew,
    seeds 0 to 3."""
    for seed, m, q in itertools.product(range(4), (3, 4, 6), (1, 2, 5)):
        busy = ((0.9, q),)
        idle = tuple((0.1 * i, 0) for i in range(m - 1))
        yield Ticks(tuple(busy + idle for _ in range(4)), seed=seed)
        yield Ticks(tuple(((0.79, q), (0.8, q), *idle) for _ in range(3)), seed=seed)
        yield Ticks((((0.5, q), (0.2, 0), (0.3, 1)),) * 2, seed=seed)
        # loads that differ, but by less than the ratio: no skew, so no skew thief
        yield Ticks((((0.9, q), (0.5, 0), (0.6, 0)),) * 2, seed=seed)


@st.composite
def tick_sequences(draw: st.DrawFn) -> Ticks:
    """Two to five workers over one to six ticks, loads in quarters up to 5/4, 0 to 3
    waiting calls, thresholds 1/2 to 1 and ratios 1 to 3."""
    m = draw(st.integers(2, 5))
    n = draw(st.integers(1, 6))
    state = st.tuples(st.integers(0, 5).map(lambda x: x / 4), st.integers(0, 3))
    states = tuple(tuple(draw(state) for _ in range(m)) for _ in range(n))
    return Ticks(states, draw(st.sampled_from((0.5, 0.8, 1.0))),
                 draw(st.sampled_from((1.0, 1.5, 2.0, 3.0))), draw(st.integers(0, 3)))


STEALING: Theorem[Ticks] = Theorem(
    name="work-stealing-bounds",
    title="SAGA's work stealing as implemented: bounded migrations, no idle worker beside "
          "stealable work",
    claim="holds",
    statement=(
        "SagaAffinity.rebalance called every idle_s seconds on m workers (each with a load "
        "and a number of waiting calls). (1) Migrations: at each tick every move goes from "
        "a worker with a waiting call to a worker with an empty queue, a thief takes at "
        "most one call and a worker gives at most its waiting calls, so a tick moves at "
        "most m - 1 calls and a run of T seconds at most (T / idle_s + 1)(m - 1), each "
        "costing the migration of one call's prompt KV. (2) Imbalance: a worker whose "
        "queue was empty at two consecutive ticks with load below the threshold, or the "
        "least-loaded worker with an empty queue when max load > ratio x min load, "
        "steals at that tick unless every call it could take (waiting at a worker with "
        "load at least the threshold, or above ratio x its own) was taken by another "
        "thief at the same tick. So a worker never stays idle beyond 2 idle_s beside "
        "stealable work, except while the stealable calls are fewer than the idle thieves. "
        "(3) Every move is by a thief (as in (2)) from a worker with load at least the "
        "threshold or above ratio x the thief's."
    ),
    model="the router's rebalance on worker states at consecutive ticks; the same "
          "obligations on the ticks of the simulator (tests/test_theory_stealing.py)",
    proof=f"{PROOF}#theorem",
    obligations=obligations,
    enumerate=_grid,
    targeted=_targeted,
    strategy=tick_sequences,
    describe=describe,
)



def affinity_obligations(inst: Placements) -> list[Obligation]:
    """Each call goes where the documented rule sends it."""
    got = placements(inst)
    home: dict[str, int] = {}
    out: list[Obligation] = []
    for k, ((session, state), pick) in enumerate(zip(inst.calls, got, strict=True)):
        if session.startswith("-"):
            home.pop(session[1:], None)
            continue
        if ">" in session:
            name, dst = session.split(">")
            home[name] = int(dst)
            continue
        want = affinity_choice(home.get(session), state, threshold=inst.threshold)
        home[session] = want
        out.append((f"call {k} of {session}: router picks {pick}, the rule {want}",
                    0 if pick == want else 1, 0))
    return out


def describe_placements(inst: Placements) -> dict[str, Any]:
    """The instance as plain data."""
    return {"threshold": inst.threshold,
            "calls": [{"session": s, "workers": [list(w) for w in st_]} for s, st_ in inst.calls]}


def _affinity_grid(thorough: bool) -> Iterator[Placements]:
    """Two sessions' calls on two workers, loads around the threshold (0, 0.79, 0.8,
    0.81), a session end in between."""
    loads = (0.0, 0.79, 0.8, 0.81) if thorough else (0.0, 0.8, 0.81)
    other = loads if thorough else (0.0, 0.8)
    states = [((a, 0), (b, q)) for a in loads for b in other for q in (0, 1)]
    for s1, s2, s3 in itertools.product(states, repeat=3):
        yield Placements((("a", s1), ("b", s2), ("a", s3)))
        yield Placements((("a", s1), ("-a", s2), ("a", s3)))


def _affinity_targeted(thorough: bool) -> Iterator[Placements]:
    """A session driven off its home (load at, just above and far above the threshold)
    whose old home then frees: it must stay on its new home; on three workers, with a
    second session between its calls, and thresholds 0.5 and 0.8; a session whose KV
    migrated must follow it."""
    for theta, hot in itertools.product((0.5, 0.8), (0.0, 0.01, 0.4)):
        free = ((0.0, 0), (0.1, 0), (0.2, 0))
        busy = ((theta + hot, 0), (0.1, 0), (0.2, 0))
        yield Placements((("a", free), ("a", busy), ("a", free)), theta)
        yield Placements((("a", free), ("b", busy), ("a", busy), ("b", free), ("a", free)),
                         theta)
        # a migration moves the affinity with the KV
        yield Placements((("a", free), ("a>2", free), ("a", free)), theta)


@st.composite
def placement_sequences(draw: st.DrawFn) -> Placements:
    """Up to eight calls, ends or migrations of three sessions on two to four workers,
    loads in tenths up to 1.2, thresholds 1/2 to 1."""
    m = draw(st.integers(2, 4))
    state = st.tuples(st.integers(0, 12).map(lambda x: x / 10), st.integers(0, 2))
    calls = tuple((draw(st.sampled_from(("a", "b", "c", "-a", "-b", "a>1", "b>0"))),
                   tuple(draw(state) for _ in range(m)))
                  for _ in range(draw(st.integers(1, 8))))
    return Placements(calls, draw(st.sampled_from((0.5, 0.8, 1.0))))


AFFINITY: Theorem[Placements] = Theorem(
    name="saga-affinity-rule",
    title="SAGA's affinity routing places every call by its documented rule",
    claim="holds",
    statement=(
        "SagaAffinity.route sends a session's call to its home worker while that worker's "
        "load is strictly below the threshold, and otherwise (or for a new session, or "
        "one whose home ended) to the worker of least (load, waiting calls, id), which "
        "becomes the session's home; a session end forgets its home, and a migration of "
        "its KV makes the destination its home."
    ),
    model="the router's route on given worker states; the rule is "
          "sagacore.theory.routing.affinity_choice (no code shared with the router)",
    proof=f"{PROOF}#affinity",
    obligations=affinity_obligations,
    enumerate=_affinity_grid,
    targeted=_affinity_targeted,
    strategy=placement_sequences,
    describe=describe_placements,
)



# ---------------------------------------------------------------------------------------
# idle stealing: the sagacore stack's router (IdleSteal)
# ---------------------------------------------------------------------------------------

IDLE_PROOF = "docs/proofs/work_stealing.md#idle-stealing-the-sagacore-stacks-rule"


View = dict[int, tuple[float, int, int, int]]
"""The workers offered at a tick by id: ``(load, waiting, free, capacity)``."""


def _idle_view(state: IdleState, capacity: int, offered: Sequence[int]) -> View:
    return {i: (state[i][0], len(state[i][2]), state[i][1], capacity) for i in offered}


def _idle_walk(inst: IdleTicks) -> Iterator[tuple[int, float, View, dict[int, float],
                                                 dict[int, float], list[Move],
                                                 list[list[int]]]]:
    """Per tick: index, time, the workers offered, ``idle_since``, the receptions before
    the tick (from the moves made), the moves, and the queues left after them."""
    got = idle_moves(inst)
    history: list[tuple[float, View]] = []
    received: dict[int, float] = {}
    for k, (state, tick) in enumerate(zip(inst.states, got, strict=True)):
        now = k * TICK
        view = _idle_view(state, inst.capacity, inst.offered(k))
        history.append((now, view))
        queues = [list(q) for _, _, q in state]
        for s, _, n in tick:
            if n is not None and n in queues[s]:
                queues[s].remove(n)
        yield k, now, view, idle_since(history), dict(received), tick, queues
        for _, d, n in tick:
            if n is not None:
                received[d] = now


def idle_obligations(inst: IdleTicks) -> list[Obligation]:
    """The obligations of ``idle-steal-bounds`` on the router's and the mechanism's
    answers to ``inst``."""
    th, settle = inst.idle_load, inst.settle_s
    out: list[Obligation] = []
    total = 0
    receptions: dict[int, int] = {}
    bound = 0
    for k, now, view, since, received, tick, _ in _idle_walk(inst):
        m = len(view)
        bound += max(m - 1, 0)
        pairs = [(s, d) for s, d, _ in tick]
        want = idle_steal_pairs(view, since, received, now, idle_s=TICK, idle_load=th,
                                settle_s=settle)
        out.append((f"tick {k}: the router's pairs {pairs} are the rule's {want}",
                    0 if pairs == want else 1, 0))
        total += len(tick)
        dsts = [d for _, d in pairs]
        out.append((f"tick {k}: each thief takes at most one call", len(dsts) - len(set(dsts)), 0))
        out.append((f"tick {k}: at most m - 1 moves", len(tick), m - 1))
        queues = [list(q) for _, _, q in inst.states[k]]
        for s, d, n in tick:
            if s not in view or d not in view:
                out.append((f"tick {k}: pair {s}->{d} between offered workers", 1, 0))
                continue
            load_d, _, free_d, cap = view[d]
            ok = idle_thief_qualifies(d, view, since, now, idle_s=TICK, idle_load=th)
            out.append((f"tick {k}: thief {d} idle for idle_s, load below {th}, free KV "
                        f">= {1 - th:g} of capacity", 0 if ok else 1, 0))
            out.append((f"tick {k}: source {s} more loaded than thief {d}",
                        0 if view[s][0] > load_d else 1, 0))
            out.append((f"tick {k}: source {s} received no stolen call within settle_s",
                        0 if now - received.get(s, -math.inf) >= settle else 1, 0))
            fit = [c for c in queues[s] if idle_fits(c, free_d, cap, th)]
            if n is None:
                out.append((f"tick {k}: nothing moved {s}->{d} though a call fits",
                            len(fit), 0))
                continue
            out.append((f"tick {k}: the call moved {s}->{d} ({n} tokens) is the "
                        "longest-waiting one that fits", 0 if fit and fit[0] == n else 1, 0))
            out.append((f"tick {k}: the call moved to {d} takes at most half its free KV",
                        2 * n, free_d))
            out.append((f"tick {k}: the call moved to {d} takes at most 1 - idle_load of "
                        "its capacity", n, (1.0 - th) * cap))
            if n in queues[s]:
                queues[s].remove(n)
            receptions[d] = receptions.get(d, 0) + 1
        for s in {s for s, _ in pairs}:
            out.append((f"tick {k}: source {s} gives at most its waiting calls",
                        sum(1 for x, _ in pairs if x == s), view[s][1]))
        # an idle thief left without a pair: no more-loaded, settled worker has a call left
        for w in view:
            if w in dsts or not idle_thief_qualifies(w, view, since, now, idle_s=TICK,
                                                     idle_load=th):
                continue
            given = {s: sum(1 for x, _ in pairs if x == s) for s in view}
            left = sum(view[v][1] - given[v] for v in view
                       if view[v][0] > view[w][0] and now - received.get(v, -math.inf) >= settle)
            out.append((f"tick {k}: idle thief {w} got nothing while {left} calls wait at "
                        "more loaded, settled workers", left, 0))
    ticks = len(inst.states)
    out.append(("moves over the run <= ticks x (m - 1)", total, bound))
    for d, c in receptions.items():
        out.append((f"worker {d} receives at most one call per tick", c, ticks))
    return out


def fitting_obligations(inst: IdleTicks) -> list[Obligation]:
    """The refuted claim: an idle thief gets a call whenever one that fits it waits at a
    more-loaded, settled worker."""
    th, settle = inst.idle_load, inst.settle_s
    out: list[Obligation] = []
    for k, now, view, since, received, tick, left_after in _idle_walk(inst):
        got = {d for _, d, n in tick if n is not None}
        for w in view:
            if w in got or not idle_thief_qualifies(w, view, since, now, idle_s=TICK,
                                                    idle_load=th):
                continue
            fits = sum(1 for v in view if view[v][0] > view[w][0]
                       and now - received.get(v, -math.inf) >= settle
                       for c in left_after[v] if idle_fits(c, view[w][2], view[w][3], th))
            out.append((f"tick {k}: idle thief {w} got nothing while {fits} calls that fit "
                        "it wait at more loaded, settled workers", fits, 0))
    return out


def describe_idle(inst: IdleTicks) -> dict[str, Any]:
    """The instance as plain data."""
    return {"tick_s": TICK, "idle_load": inst.idle_load, "settle_s": inst.settle_s,
            "capacity": inst.capacity, "lost": [list(x) for x in inst.lost],
            "ticks": [[{"load": load, "free": free, "waiting": list(q)} for load, free, q in s]
                      for s in inst.states]}


_BUSY = (0.9, 100, (50, 40))


def _idle_targeted(thorough: bool) -> Iterator[IdleTicks]:
    """Families where the rules bind: a call of exactly half the thief's free KV and of
    exactly its headroom (idle loads 3/4 and 1/2, so the headroom is exact in floats);
    thieves just below and at the load threshold, with free KV at and below the
    headroom; a receiver that queues what it got beside a less loaded idle worker
    (settling), a queue that fills and empties again (the idle clock), more thieves than
    calls, sources tied on waiting calls, and the break when the least-loaded thief has
    no source."""
    idle = (0.1, 900, ())
    for th in (0.75, 0.5):
        head = int((1 - th) * 1000)
        for n in (head - 1, head, head + 1):
            yield IdleTicks((((0.9, 100, (n,)), (0.1, 2 * head, ())),) * 2, th)
            yield IdleTicks((((0.9, 100, (n,)), (0.1, 2 * n, ())),) * 2, th)
            yield IdleTicks((((0.9, 100, (n,)), (0.1, 2 * n - 1, ())),) * 2, th)
            yield IdleTicks((((0.9, 100, (4 * head, n)), (0.0, 1000, ())),) * 2, th)
    for th in (0.5, 0.8):
        for load in (th - 0.05, th, th + 0.05):
            for free in (int((1 - th) * 1000) - 1, int((1 - th) * 1000) + 1, 900):
                yield IdleTicks((((0.95, 100, (10,)), (load, free, ())),) * 3, th)
    for settle in (0.0, 0.25, 0.5):
        # tick 1: worker 1 steals; it keeps the call waiting; from tick 2 worker 2 idles
        got = (0.3, 800, (50,))
        seq = ((_BUSY, idle, (0.95, 100, (5,))), (_BUSY, idle, (0.95, 100, (5,))),
               ((0.9, 100, (40,)), got, (0.0, 900, ())), ((0.9, 100, (40,)), got, (0.0, 900, ())),
               ((0.9, 100, (40,)), got, (0.0, 900, ())), ((0.9, 100, ()), got, (0.0, 900, ())),
               ((0.9, 100, ()), got, (0.0, 900, ())))
        yield IdleTicks(seq, settle_s=settle)
        yield IdleTicks(seq[:2] + tuple((s[1], s[0], s[2]) for s in seq[2:]), settle_s=settle)
    # the idle clock: empty, full, empty again (must wait idle_s again)
    yield IdleTicks(((_BUSY, idle), (_BUSY, (0.1, 900, (5,))), (_BUSY, idle), (_BUSY, idle)))
    yield IdleTicks(((_BUSY, idle), (_BUSY, idle), (_BUSY, (0.1, 900, (5,))), (_BUSY, idle)))
    for q in (1, 2, 3):
        calls = tuple(10 for _ in range(q))
        thieves = tuple((0.1 * i, 900, ()) for i in range(4))
        yield IdleTicks((((0.9, 100, calls), *thieves),) * 3)
        yield IdleTicks((((0.9, 100, calls), (0.85, 100, calls), *thieves),) * 3)
        yield IdleTicks((((0.85, 100, calls), (0.9, 100, (10,) * (q + 1)), *thieves),) * 3)
    # a worker lost while idle: the others' idle clocks and pairs go on without it
    three = ((0.9, 100, (10,)), (0.1, 900, ()), (0.2, 900, ()))
    for lost_at in (1, 2):
        yield IdleTicks((three,) * 3, lost=((lost_at, 2),))
        yield IdleTicks((three,) * 3, lost=((lost_at, 1),))
        yield IdleTicks((three,) * 3, lost=((lost_at, 0),))
    # a thief's free KV exactly at the headroom (exact in floats for 1/2 and 3/4)
    for th in (0.5, 0.75):
        yield IdleTicks((((0.95, 100, (10,)), (0.3, int((1 - th) * 1000), ())),) * 2, th)
    # the least-loaded thief finds no source (all as loaded as it): the others neither
    yield IdleTicks((((0.3, 900, ()), (0.3, 100, (10,)), (0.3, 900, ())),) * 2)
    yield IdleTicks((((0.5, 900, ()), (0.4, 100, (10,)), (0.2, 900, ())),) * 2)
    yield IdleTicks((((0.5, 900, ()), (0.6, 100, (10, 10)), (0.2, 900, ()), (0.7, 900, ())),) * 2)


_IDLE_WORKERS = ((0.9, 100, (50,)), (0.9, 100, (300,)), (0.5, 500, (50, 50)),
                 (0.1, 900, ()), (0.1, 300, ()), (0.85, 900, ()), (0.0, 1000, ()))
_IDLE_FEW = ((0.9, 100, (50,)), (0.5, 500, (50, 50)), (0.1, 900, ()), (0.0, 1000, ()))


def _idle_grid(thorough: bool) -> Iterator[IdleTicks]:
    """Two ticks of two workers, each at each tick one of seven states (loaded with a
    small or a large call, half loaded with two calls, idle with much or little free
    KV, idle above the threshold, empty); three ticks of two workers and two ticks of
    three, of four of these states, settling for one tick (``thorough``: three ticks of
    three workers of the seven states, settle 0 and one tick)."""
    for s in itertools.product(itertools.product(_IDLE_WORKERS, repeat=2), repeat=2):
        yield IdleTicks(tuple(s), settle_s=0.125)
    per = _IDLE_WORKERS if thorough else _IDLE_FEW
    for settle in ((0.125, 0.0) if thorough else (0.125,)):
        for s in itertools.product(itertools.product(per, repeat=2), repeat=3):
            yield IdleTicks(tuple(s), settle_s=settle)
        for s in itertools.product(itertools.product(per, repeat=3), repeat=3 if thorough else 2):
            yield IdleTicks(tuple(s), settle_s=settle)


@st.composite
def idle_tick_sequences(draw: st.DrawFn) -> IdleTicks:
    """Two to five workers over one to eight ticks: loads in tenths up to 1.1, free KV
    in hundreds, up to three waiting calls of 50 to 600 tokens; idle loads 1/2 to 1,
    settle 0 to 4 ticks; maybe one worker lost."""
    m = draw(st.integers(2, 5))
    n = draw(st.integers(1, 8))
    call = st.sampled_from((50, 100, 200, 250, 300, 600))
    state = st.tuples(st.integers(0, 11).map(lambda x: x / 10),
                      st.integers(0, 10).map(lambda x: 100 * x),
                      st.lists(call, max_size=3).map(tuple))
    states = tuple(tuple(draw(state) for _ in range(m)) for _ in range(n))
    lost = draw(st.lists(st.tuples(st.integers(1, max(n - 1, 1)), st.integers(0, m - 1)),
                         max_size=1).map(tuple))
    return IdleTicks(states, draw(st.sampled_from((0.5, 0.75, 0.8, 1.0))),
                     draw(st.sampled_from((0.0, 0.125, 0.25, 0.5))), lost=lost)


IDLE_STEALING: Theorem[IdleTicks] = Theorem(
    name="idle-steal-bounds",
    title="The sagacore stack's idle stealing as implemented: its rule, bounded migrations "
          "and copies, settled receivers, no idle thief beside a queue it may take from",
    claim="holds",
    statement=(
        "IdleSteal.rebalance called every idle_s seconds on m workers (load, waiting calls, "
        "free KV, capacity C), each pair answered by the mechanism moving the "
        "longest-waiting call of the source that IdleSteal.stealable lets move. (0) Rule: "
        "the pairs are idle_steal_pairs of sagacore.theory.routing: thieves (queue empty "
        "at every tick for idle_s, load < idle_load, free KV >= (1 - idle_load) C) from the "
        "least loaded, each taking from the worker with the most calls not yet given "
        "(then the more loaded, then the lower id) among those more loaded than itself "
        "that received no stolen call in the last settle_s. (1) Migrations: a thief takes "
        "at most one call per tick and a source gives at most its waiting calls, so at "
        "most m - 1 moves per tick and (T / idle_s + 1)(m - 1) in T seconds; a worker "
        "receives at most one call per tick. (2) Copies: a moved call's prompt is at most "
        "half the thief's free KV and at most (1 - idle_load) C, so a run copies at most "
        "(T / idle_s + 1)(m - 1)(1 - idle_load) C prompt tokens. (3) Settling: a worker "
        "gives nothing within settle_s of receiving a stolen call, so two migrations of "
        "the same call are at least max(settle_s, idle_s) apart and a call that waits W "
        "seconds migrates at most 1 + W / max(settle_s, idle_s) times. (4) Liveness at "
        "the router: an idle thief left without a pair means every more-loaded, settled "
        "worker's waiting calls were all given at this tick; a pair moves nothing only "
        "when no waiting call of its source fits the thief."
    ),
    model="the router's rebalance and stealable on worker states (queues of calls, free KV) "
          "at ticks idle_s apart, the mechanism's choice of call modelled as Simulation._migrate "
          "makes it; the same on real simulations (idle-steal-simulator)",
    proof=f"{IDLE_PROOF}",
    obligations=idle_obligations,
    enumerate=_idle_grid,
    targeted=_idle_targeted,
    strategy=idle_tick_sequences,
    describe=describe_idle,
)


FITTING_COUNTEREXAMPLE = IdleTicks(
    (((0.9, 100, (500, 500)), (0.85, 100, (10,)), (0.1, 900, ())),) * 2)
"""Worker 2 idles: it takes from worker 0 (more waiting calls), where nothing fits it,
while worker 1's 10-token call would."""

def _fitting_targeted(thorough: bool) -> Iterator[IdleTicks]:
    """The counterexample's family: a source with more waiting calls, none of which fits
    the thief (two or three of 460 to 600 tokens against 900 free), beside a source with
    one small call, at loads 0.85 to 0.95."""
    for k, big, a, b in itertools.product((2, 3), (460, 500, 600), (0.9, 0.95), (0.85, 0.9)):
        yield IdleTicks((((a, 100, (big,) * k), (b, 100, (10,)), (0.1, 900, ())),) * 2)


IDLE_FITTING: Theorem[IdleTicks] = Theorem(
    name="idle-steal-no-idle-beside-fitting-call",
    title="Idle stealing leaves no idle thief beside a call that fits it",
    claim="refuted",
    statement=(
        "At every tick, an idle thief of IdleSteal (as in idle-steal-bounds) receives a "
        "call whenever a call that fits it (IdleSteal.stealable) waits at a more loaded "
        "worker that received no stolen call in the last settle_s."
    ),
    model="as idle-steal-bounds",
    proof=f"{IDLE_PROOF}",
    obligations=fitting_obligations,
    targeted=_fitting_targeted,
    counterexample=FITTING_COUNTEREXAMPLE,
    describe=describe_idle,
)


def sim_obligations(inst: IdleSim) -> list[Obligation]:
    """The obligations of ``idle-steal-bounds`` on a real simulation's every tick, size
    query and migration (:func:`sagacore.testing.routing.idle_sim_run`), each clause
    counted over the run (the label names the first tick that breaks it)."""
    return run_obligations(idle_sim_run(inst))


def run_obligations(run: IdleSimRun) -> list[Obligation]:
    """:func:`sim_obligations` on a run already recorded."""
    idle_s, th, settle = run.idle_s, run.idle_load, run.settle_s
    bad: dict[str, list[Any]] = {}

    def fail(what: str, where: Any) -> None:
        bad.setdefault(what, []).append(where)

    migr = sorted(run.migrations)
    by_tick: dict[float, list[tuple[float, str, int, int, int]]] = {}
    for ev in migr:
        by_tick.setdefault(ev[0], []).append(ev)
    queries = {(t, task, step, dst): (n, free, cap, ok)
               for t, task, step, n, dst, free, cap, ok in run.queries}
    def worth_copy(t: float, task: str, step: int, dst: int) -> bool:
        """The copy rule: the call had waited at least as long as its copy takes."""
        waited, copy = run.waits.get((t, task, step, dst), (math.inf, 0.0))
        return waited >= copy

    for t, task, step, dst in queries:
        n, free, cap, ok = queries[(t, task, step, dst)]
        if ok != (idle_fits(n, free, cap, th) and worth_copy(t, task, step, dst)):
            fail("stealable answers as idle_fits and the copy rule", (t, task, step))
    since: dict[int, float] = {}
    received: dict[int, float] = {}
    i = 0
    asked = 0
    for now, view, pairs in run.ticks:
        while i < len(migr) and migr[i][0] < now:
            received[migr[i][3]] = migr[i][0]
            i += 1
        for w, (_, q, _, _) in enumerate(view):
            if q:
                since.pop(w, None)
            elif w not in since:
                since[w] = now
        want = idle_steal_pairs(view, since, received, now, idle_s=idle_s, idle_load=th,
                                settle_s=settle)
        if list(pairs) != want:
            fail("the router's pairs are the rule's", (now, list(pairs), want))
        asked += len(pairs)
        dsts = [d for _, d in pairs]
        for t, task, step, dst, tokens in by_tick.get(now, []):
            if dst not in dsts:
                fail("each migration answers a pair of its tick", (t, task, step, dst))
            q = queries.get((t, task, step, dst))
            if q is None or not q[3]:
                fail("each moved call fit its thief (stealable)", (t, task, step, dst))
            elif tokens > q[0] or q[0] > (1.0 - th) * q[2] or 2 * q[0] > q[1]:
                fail("each copy <= the prompt <= min(free / 2, (1 - idle_load) C)",
                     (t, task, step, tokens, q))
        if len(by_tick.get(now, [])) > len(pairs):
            fail("migrations at a tick <= the pairs asked", now)
        # the mechanism's choice: for each pair in order, the longest-waiting call of the
        # source that fits the thief (calls moved earlier at this tick are gone)
        gone: set[tuple[str, int]] = set()
        moved = {ev[3]: (ev[1], ev[2]) for ev in by_tick.get(now, [])}
        for s, d in pairs:
            _, _, free, cap = view[d]
            want_call = next(((task, step) for task, step, n in run.queues.get((now, s), [])
                              if (task, step) not in gone and idle_fits(n, free, cap, th)
                              and worth_copy(now, task, step, d)),
                             None)
            if moved.get(d) != want_call:
                fail("each pair moves the longest-waiting call of its source that fits",
                     (now, s, d, moved.get(d), want_call))
            if want_call is not None:
                gone.add(want_call)
    last: dict[tuple[str, int], float] = {}
    for t, task, step, _, _ in migr:
        prev = last.get((task, step))
        if prev is not None and t - prev < max(settle, idle_s) - 1e-9:
            fail("a call's migrations are max(settle_s, idle_s) apart", (task, step, prev, t))
        last[(task, step)] = t
    m = len(run.ticks[0][1]) if run.ticks else 0
    out: list[Obligation] = [
        (f"{what}: broken {len(where)} times, first {where[0]!r}", len(where), 0)
        for what, where in bad.items()]
    out.append(("the simulator's migrations are its call_migrate events",
                abs(run.simulator_migrations - len(migr)), 0))
    out.append(("migrations <= pairs asked", len(migr), asked))
    out.append(("pairs asked <= ticks x (m - 1)", asked, len(run.ticks) * max(m - 1, 0)))
    out.append(("the run steals (a check that sees no migration proves nothing)",
                1 if not migr else 0, 0))
    return out


def _sims(thorough: bool) -> Iterator[IdleSim]:
    """The bundled SWE-bench trace, 24 tasks on ``a100-16`` at 6 and 12 tasks/min with the
    stack's settle (1 s) and 12 tasks/min without settling (``thorough``: seeds 1 and 2
    too)."""
    for seed in ((0, 1, 2) if thorough else (0,)):
        yield IdleSim(rate=6.0, seed=seed)
        yield IdleSim(rate=12.0, seed=seed)
        yield IdleSim(rate=12.0, seed=seed, settle_s=0.0)


IDLE_SIMULATOR: Theorem[IdleSim] = Theorem(
    name="idle-steal-simulator",
    title="idle-steal-bounds on the ticks of real simulations of the sagacore stack",
    claim="holds",
    statement=(
        "In a simulation of the sagacore stack, at every tick of its IdleSteal router the "
        "pairs are idle_steal_pairs of what the workers showed (receptions taken from the "
        "simulator's call_migrate events), every stealable answer is idle_fits, every "
        "migration answers a pair of its tick and moves the longest-waiting call of its "
        "source that fits its thief, copying at most its prompt (a call preempted before "
        "the move could copy its generated tokens too: none in these runs), at most "
        "min(free / 2, (1 - idle_load) C) tokens; a call's "
        "migrations are at least max(settle_s, idle_s) apart; migrations <= pairs asked <= "
        "ticks x (m - 1)."
    ),
    model="sagacore.sim with the registered sagacore stack, its router recorded "
          "(sagacore.testing.routing.idle_sim_run); no faults",
    proof=f"{IDLE_PROOF}",
    obligations=sim_obligations,
    targeted=_sims,
    describe=lambda inst: {"workload": inst.workload, "tasks": inst.tasks,
                           "rate_per_min": inst.rate, "seed": inst.seed,
                           "cluster": inst.cluster, "settle_s": inst.settle_s},
)

THEOREMS: tuple[Theorem[Any], ...] = (STEALING, AFFINITY, IDLE_STEALING, IDLE_FITTING,
                                      IDLE_SIMULATOR)
