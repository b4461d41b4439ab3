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
from collections.abc import Iterator, Sequence
from typing import Any

from hypothesis import strategies as st

from sagacore.testing.routing import TICK, Placements, State, Ticks, moves, placements
from sagacore.theory.routing import affinity_choice, thief_qualifies, victim_qualifies
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

THEOREMS: tuple[Theorem[Any], ...] = (STEALING, AFFINITY)
