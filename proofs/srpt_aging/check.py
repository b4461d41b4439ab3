"""Checker of the ``sagacore`` stack's ordering: no starvation (``STATEMENT.md`` beside).

The object is the policy as implemented, :class:`sagacore.sched.srpt_aging.SRPTAging`:
the checker asks its ``key`` and ``remaining_seconds`` (not a re-implementation) on one
non-preemptive server. Each program is one call; its predicted remaining work ``R`` comes
from the policy's own book, trained on one finished program of each agent type (type
``n<k>``: ``k`` calls of one second each, so ``R = k`` seconds). All numbers are dyadic,
so the policy's float arithmetic is exact. Proof: ``docs/proofs/srpt_aging.md``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from hypothesis import strategies as st

from sagacore.sched.srpt_aging import SRPTAging, SRPTAgingConfig
from sagacore.testing.admission import Offers, decisions
from sagacore.testing.fairness import SimpleCall
from sagacore.theory.theorems import Obligation, Theorem
from sagacore.workload.model import TaskId

PROOF = "docs/proofs/srpt_aging.md"

Job = tuple[float, float, int]
"""``(arrival, size, k)``: a one-call program of agent type ``n<k>`` (``R = k`` s)."""
Instance = tuple[float, list[Job]]
"""``(aging, jobs)``."""

_TOKENS = 512
_PRICE = 2.0 ** -10  # seconds per token: a call of 512 prompt and 512 output tokens is 1 s


def describe(inst: Instance) -> dict[str, Any]:
    """Aging and jobs as plain data."""
    aging, jobs = inst
    return {"aging": aging,
            "jobs": [{"arrival": a, "size": s, "predicted_calls": k} for a, s, k in jobs]}


def policy(aging: float, kinds: Sequence[int]) -> SRPTAging:
    """An :class:`SRPTAging` that has seen one finished program of each type ``n<k>``."""
    pol = SRPTAging(SRPTAgingConfig(seconds_per_prompt_token=_PRICE,
                                    seconds_per_output_token=_PRICE, aging=aging))
    for k in sorted(set(kinds)):
        tid = TaskId(f"train-{k}")
        for i in range(k):
            call = SimpleCall(task_id=tid, agent_type=f"n{k}", step=i, prompt_tokens=_TOKENS)
            pol.observe_call_end(call, _TOKENS, 0.0)
        pol.observe_task_end(tid, 0.0)
    return pol


def view(j: int, job: Job) -> SimpleCall:
    """What the scheduler sees of job ``j`` (its first and only call, waiting since arrival)."""
    a, _, k = job
    return SimpleCall(task_id=TaskId(f"job-{j}"), agent_type=f"n{k}", step=0, prompt_tokens=1,
                      task_arrival_s=a, ready_s=a)


def serve(inst: Instance) -> tuple[list[float], list[float]]:
    """``(start, R)`` of every job: one server, the waiting job of smallest policy key
    starts whenever the server is free (ties: the key's own, then index)."""
    aging, jobs = inst
    pol = policy(aging, [k for _, _, k in jobs])
    views = [view(j, job) for j, job in enumerate(jobs)]
    rem = [pol.remaining_seconds(v) for v in views]
    order = sorted(range(len(jobs)), key=lambda j: (jobs[j][0], j))
    start: list[float] = [0.0] * len(jobs)
    waiting: list[int] = []
    pos, t = 0, jobs[order[0]][0]
    while pos < len(order) or waiting:
        while pos < len(order) and jobs[order[pos]][0] <= t:
            waiting.append(order[pos])
            pos += 1
        if not waiting:
            t = jobs[order[pos]][0]
            continue
        best = min(waiting, key=lambda j: (pol.key(views[j], t), j))
        waiting.remove(best)
        start[best] = t
        t = t + jobs[best][1]
    return start, rem


def obligations(inst: Instance) -> list[Obligation]:
    """``W_j <= B_j + A_j(R_j / aging)`` for every job."""
    aging, jobs = inst
    start, rem = serve(inst)
    out: list[Obligation] = []
    for j, (a, _, _) in enumerate(jobs):
        window = a + rem[j] / aging
        backlog = later = 0.0
        for k, (ak, sk, _) in enumerate(jobs):
            if k == j:
                continue
            if ak <= a:
                end = start[k] + sk
                if a < end:
                    backlog += min(sk, end - a)
            elif ak <= window:
                later += sk
        out.append((f"job {j}: W <= B + A(R / aging)", start[j] - a, backlog + later))
    return out


def _enum(thorough: bool) -> Iterator[Instance]:
    sizes = (1.0, 2.0) if not thorough else (1.0, 2.0, 3.0)
    per = [(float(a), s, k) for a in (0, 1, 2) for s in sizes for k in (1, 3)]
    for aging in (0.5, 1.0, 2.0):
        for n in range(1, (3 if not thorough else 4) + 1):
            for combo in itertools.combinations_with_replacement(per, n):
                yield (aging, list(combo))


def _targeted(thorough: bool) -> Iterator[Instance]:
    """A program with a large predicted remainder (``R = 4`` or ``8``) behind short
    ones, then a stream of programs with ``R = 1`` arriving faster than the server
    clears them: without ageing (or with the wrong rate) the long one starves as long
    as the stream lasts, with it the window ``R / aging`` bounds its wait."""
    for aging, big, gap, count in itertools.product((0.5, 1.0, 2.0), (4, 8), (0.5, 0.75),
                                                    (8, 16)):
        jobs: list[Job] = [(0.0, 1.0, 1), (0.0, 1.0, big)]
        jobs += [(i * gap, 1.0, 1) for i in range(1, count + 1)]
        yield (aging, jobs)
    # short windows (R / aging under a second) and short jobs arriving as the server
    # frees: a key that ages by another function of the wait than aging x W (W^2, say,
    # slower below 1 s) lets programs arriving after the window overtake
    for aging, big, size in itertools.product((8.0, 16.0), (2, 3), (1 / 16, 1 / 32)):
        jobs = [(0.0, size, 1), (0.0, size, big)]
        for spacing in (1, 2):
            yield (aging, jobs + [(i * size * spacing, size, 1) for i in range(1, 17)])


def _strategy() -> Any:
    job = st.tuples(st.integers(0, 16).map(lambda x: x / 2), st.integers(1, 8).map(lambda x: x / 2),
                    st.integers(1, 8))
    return st.tuples(st.sampled_from([1.0, 0.5, 2.0, 0.25]), st.lists(job, min_size=1, max_size=8))


SRPT_AGING_WAIT: Theorem[Instance] = Theorem(
    name="srpt-aging-wait",
    title="The sagacore stack's ordering (SRPT with ageing) starves no program",
    claim="holds",
    statement=(
        "One server of rate 1, non-preemptive one-call programs; the scheduler is "
        "SRPTAging as implemented: when the server is free, the waiting call of smallest "
        "key R - aging W starts, R its program's predicted remaining seconds (fixed while "
        "it waits) and W = t - a_j its age, for a one-call program its wait so far. Let B_j be the unfinished work at a_j of the "
        "other programs that arrived by a_j and A_j(x) the work of programs arriving in "
        "(a_j, a_j + x]. Then W_j <= B_j + A_j(R_j / aging): only programs arriving within "
        "R_j / aging of a_j can overtake j, whatever the load, so no program starves."
    ),
    model="single server, non-preemptive one-call programs, the policy's own keys and "
          "predictions (learned per agent type), any arrivals",
    proof=f"{PROOF}#theorem",
    obligations=obligations,
    enumerate=_enum,
    targeted=_targeted,
    strategy=_strategy,
    smt=None,
    describe=describe,
)

THEOREMS: tuple[Theorem[Any], ...] = (SRPT_AGING_WAIT,)


# ---------------------------------------------------------------------------------------
# Programs of several calls with tool gaps
# ---------------------------------------------------------------------------------------
Program = tuple[float, tuple[float, ...], float, int]
"""``(arrival, call sizes, tool seconds after each call but the last, k)``: a program of
agent type ``n<k>`` (the policy predicts ``k`` calls of 1 s in all)."""
MultiInstance = tuple[float, list[Program]]
"""``(aging, programs)``."""


def describe_multi(inst: MultiInstance) -> dict[str, Any]:
    """Aging and programs as plain data."""
    aging, progs = inst
    return {"aging": aging, "programs": [{"arrival": a, "calls": list(s), "tool_s": g,
                                          "predicted_calls": k} for a, s, g, k in progs]}


def serve_multi(inst: MultiInstance) -> list[dict[str, float]]:
    """Serve the programs' calls on one non-preemptive server with the policy's keys; per
    call ``{program, step, ready, start, size, R, arrival}``, ``arrival`` its program's."""
    aging, progs = inst
    pol = policy(aging, [k for *_, k in progs])
    calls: list[dict[str, float]] = []
    wait_so_far = [0.0] * len(progs)
    ready: list[tuple[int, int, float]] = []  # (program, step, ready time)
    events: list[tuple[float, int, int]] = [(a, p, 0) for p, (a, *_) in enumerate(progs)]
    busy_until = None
    t = min(a for a, *_ in progs)
    while events or ready or busy_until is not None:
        # release everything due by t
        events.sort()
        while events and events[0][0] <= t:
            at, p, i = events.pop(0)
            ready.append((p, i, at))
        if busy_until is not None and busy_until <= t:
            busy_until = None
        if busy_until is None and ready:
            def view(c: tuple[int, int, float]) -> SimpleCall:
                p, i, r = c
                return SimpleCall(task_id=TaskId(f"prog-{p}"), agent_type=f"n{progs[p][3]}",
                                  step=i, prompt_tokens=1, task_arrival_s=progs[p][0],
                                  ready_s=r, task_wait_s=wait_so_far[p], steps_done=i)
            best = min(ready, key=lambda c: (pol.key(view(c), t), c[0], c[1]))
            ready.remove(best)
            p, i, r = best
            v = view(best)
            rem = pol.remaining_seconds(v)
            a, sizes, gap, _ = progs[p]
            calls.append({"program": p, "step": i, "ready": r, "start": t,
                          "size": sizes[i], "R": rem, "arrival": a})
            wait_so_far[p] += t - r
            busy_until = t + sizes[i]
            pol.observe_call_end(v, _TOKENS, busy_until)
            if i + 1 < len(sizes):
                events.append((busy_until + gap, p, i + 1))
        nxt = [x for x in ([busy_until] if busy_until is not None else [])
               + [ev[0] for ev in events] if x > t]
        if not nxt:
            if not ready and not events:
                break
            continue
        t = min(nxt)
    return calls


def multi_obligations(inst: MultiInstance) -> list[Obligation]:
    """``W_c <= B_c + A_c`` for every call ``c``: ``B_c`` the unfinished work at ``c``'s
    ready time of the other calls ready by then, ``A_c`` the work of calls that become
    ready later of programs that arrived by ``a_c + R_c / aging`` (``a_c`` the arrival of
    ``c``'s program)."""
    aging, _ = inst
    calls = serve_multi(inst)
    out: list[Obligation] = []
    for n, c in enumerate(calls):
        window = c["arrival"] + c["R"] / aging
        backlog = later = 0.0
        for m, d in enumerate(calls):
            if m == n:
                continue
            if d["ready"] <= c["ready"]:
                end = d["start"] + d["size"]
                if c["ready"] < end:
                    backlog += min(d["size"], end - c["ready"])
            elif d["arrival"] <= window:
                later += d["size"]
        out.append((f"program {int(c['program'])} call {int(c['step'])}: "
                    "W <= B + A(a + R / aging)", c["start"] - c["ready"], backlog + later))
    return out


def _multi_enum(thorough: bool) -> Iterator[MultiInstance]:
    shapes = [(1.0,), (2.0,), (1.0, 1.0), (1.0, 2.0)] + ([(2.0, 1.0, 1.0)] if thorough else [])
    per = [(float(a), s, g, k) for a in (0, 1) for s in shapes for g in (0.0, 1.0)
           for k in (1, 3)]
    for aging in (0.5, 1.0, 2.0):
        for n in range(1, (2 if not thorough else 3) + 1):
            for combo in itertools.combinations_with_replacement(per, n):
                yield (aging, list(combo))


def _multi_targeted(thorough: bool) -> Iterator[MultiInstance]:
    """A long program (predicted 4 or 8 calls, several calls with tool gaps) against a
    stream of one-call programs with ``R = 1`` and a program that waited long before and
    returns from a tool call: the window is on program arrivals, not ready times."""
    for aging, big, gap, count in itertools.product((0.5, 1.0, 2.0), (4, 8), (0.5, 0.75),
                                                    (8, 16)):
        progs: list[Program] = [(0.0, (1.0, 1.0, 1.0), 0.5, big), (0.0, (1.0,), 0.0, 1)]
        progs += [(i * gap, (1.0,), 0.0, 1) for i in range(1, count + 1)]
        progs += [(0.0, (2.0, 1.0), 3.0, 2)]
        yield (aging, progs)


def _multi_strategy() -> Any:
    prog = st.tuples(st.integers(0, 12).map(lambda x: x / 2),
                     st.lists(st.integers(1, 6).map(lambda x: x / 2), min_size=1, max_size=4)
                     .map(tuple),
                     st.integers(0, 6).map(lambda x: x / 2), st.integers(1, 8))
    return st.tuples(st.sampled_from([1.0, 0.5, 2.0, 0.25]), st.lists(prog, min_size=1, max_size=6))


SRPT_AGING_MULTI: Theorem[MultiInstance] = Theorem(
    name="srpt-aging-multi-call",
    title="SRPT with ageing starves no call of a multi-call program (tool gaps)",
    claim="holds",
    statement=(
        "One server of rate 1, non-preemptive calls; programs of several calls with tool "
        "calls between them; the scheduler is SRPTAging as implemented, key "
        "R - aging (t - a) with a the program's arrival and R its predicted remaining "
        "seconds (fixed while the call waits). Let a_c be the arrival of call c's "
        "program, B_c the unfinished work at c's ready time of the other calls ready by "
        "then, and A_c the work of the calls that become ready later, of programs that "
        "arrived by a_c + R_c / aging. Then W_c <= B_c + A_c. Only the finitely many "
        "programs arriving by a_c + R_c / aging can overtake c, so every call's wait is "
        "finite whatever the load."
    ),
    model="single server, non-preemptive calls, tool gaps, the policy's own keys and "
          "predictions (learned per agent type), any arrivals",
    proof=f"{PROOF}#programs-of-several-calls",
    obligations=multi_obligations,
    enumerate=_multi_enum,
    targeted=_multi_targeted,
    strategy=_multi_strategy,
    describe=describe_multi,
)

THEOREMS = (*THEOREMS, SRPT_AGING_MULTI)


# ---------------------------------------------------------------------------------------
# the stack's admission (SagacoreScheduler = SRPTAging order + working-set admission)
# ---------------------------------------------------------------------------------------

def admission_obligations(inst: Offers) -> list[Obligation]:
    """The rules of ``sagacore-admission-rule`` on the scheduler's answers to ``inst``.

    The reservations are recomputed here from the answers (each admitted program holds
    the ``peak`` the policy reported for it, on the worker of its last admission, until
    it ends; one between two calls whose KV the worker dropped holds nothing from the
    next new program on that busy worker that would not fit otherwise) and compared with
    the policy's."""
    got = decisions(inst)
    by_index = {d.index: d for d in got}
    active: dict[str, tuple[int, float]] = {}
    paused: dict[int, dict[str, int]] = {}
    deferred_at: set[tuple[float, int]] = set()
    out: list[Obligation] = []

    def held(w: int) -> float:
        return sum(need for (at, need) in active.values() if at == w)

    for i, ev in enumerate(inst.events):
        if ev[0] == "call_end":
            task, prompt = ev[1], ev[3]
            if task in active:
                paused.setdefault(active[task][0], {})[task] = prompt
            continue
        if ev[0] == "end":
            active.pop(ev[1], None)
            for p in paused.values():
                p.pop(ev[1], None)
            continue
        d = by_index[i]
        w, point = d.worker, (d.now, d.worker)
        where = f"offer {i} ({d.task} step {d.step} on worker {d.worker} at {d.now:g})"
        if d.task in active:
            out.append((f"{where}: a started program's call is admitted",
                        0 if d.admitted else 1, 0))
            paused.get(active[d.task][0], {}).pop(d.task, None)
            active[d.task] = (w, d.peak)
        elif point in deferred_at:
            out.append((f"{where}: a new program offered after a deferral at the same "
                        "point is deferred (rule ii)", 1 if d.admitted else 0, 0))
        elif d.running == 0:
            out.append((f"{where}: a new program is admitted on an idle worker (rule i)",
                        0 if d.admitted else 1, 0))
            if d.admitted:
                active[d.task] = (w, d.peak)
        else:
            if held(w) + d.peak > d.capacity:  # short: drop what the worker let go
                for task, prompt in list(paused.get(w, {}).items()):
                    if 2 * int(inst.cached_share * prompt) < prompt:
                        del paused[w][task]
                        active[task] = (active[task][0], 0.0)
            if d.admitted:
                active[d.task] = (w, d.peak)
                out.append((f"{where}: admitted beside busy calls, the reservations fit",
                            held(w), d.capacity))
            else:
                deferred_at.add(point)
                out.append((f"{where}: deferred only when the reservations and its own "
                            "exceed the capacity", d.capacity, held(w) + d.peak - 1e-6))
        out.append((f"{where}: the policy's reservations on worker {w} are the admitted "
                    f"programs' ({d.reserved:.1f} against {held(w):.1f})",
                    abs(d.reserved - held(w)), 1e-6 * max(1.0, held(w))))
    return out


def describe_offers(inst: Offers) -> dict[str, Any]:
    """The instance as plain data."""
    return {"cached_share": inst.cached_share, "growth_share": inst.growth_share,
            "events": [list(e) for e in inst.events]}


def _o(task: str, w: int, running: int, cap: int, now: float, step: int = 0,
       prompt: int = 1_600) -> tuple[Any, ...]:
    return ("offer", task, step, prompt, w, running, cap, now)


_CAP = 30_000  # about one program's reservation beside another's (prior growth)


def _admission_targeted(thorough: bool) -> Iterator[Offers]:
    """A new program deferred and another offered at the same point (same worker, then
    another worker); a started program resuming beside reservations beyond the capacity;
    a program too large for an idle worker; a program in a tool whose KV is kept or
    dropped; a program that ends and frees its reservation; growth shares 0, 1/2, 1;
    reservations exactly at the capacity (growth share 0: a program reserves its prompt)."""
    for cap in (3_199, 3_200, 3_201):
        yield Offers((_o("p", 0, 1, cap, 0.0), _o("q", 0, 1, cap, 1.0)), growth_share=0.0)
    for g in (0.0, 0.5, 1.0):
        yield Offers((_o("p", 0, 1, _CAP, 0.0), _o("q", 0, 1, _CAP, 1.0),
                      _o("r", 0, 1, 10**9, 1.0), _o("s", 1, 1, 10**9, 1.0),
                      _o("t", 1, 0, _CAP, 1.0)), growth_share=g)
        yield Offers((_o("p", 0, 0, 1_000, 0.0, prompt=5_000), _o("q", 0, 0, 1_000, 1.0),
                      _o("p", 0, 1, 1_000, 2.0, step=1, prompt=5_500),
                      _o("r", 1, 0, 1_000, 2.0)), growth_share=g)
        for share in (1.0, 0.5, 0.4):
            yield Offers((_o("p", 0, 1, _CAP, 0.0), ("call_end", "p", 0, 1_600, 100, 1.0),
                          _o("q", 0, 1, _CAP, 2.0),
                          _o("p", 0, 1, _CAP, 3.0, step=1, prompt=1_800),
                          _o("r", 0, 1, _CAP, 4.0)), cached_share=share, growth_share=g)
        yield Offers((_o("p", 0, 1, _CAP, 0.0), ("end", "p", 1.0), _o("q", 0, 1, _CAP, 2.0),
                      _o("r", 0, 1, _CAP, 2.0), ("end", "q", 3.0), _o("r", 0, 1, _CAP, 4.0)),
                     growth_share=g)
        # a session that moved (work stealing): its reservation follows it
        yield Offers((_o("p", 0, 1, _CAP, 0.0), _o("p", 1, 1, _CAP, 1.0, step=1),
                      _o("q", 0, 1, _CAP, 2.0), _o("r", 1, 1, _CAP, 2.0)), growth_share=g)


def _admission_grid(thorough: bool) -> Iterator[Offers]:
    """Three offers of programs ``a`` and ``b`` (a program offered again: its next call) on
    two workers, busy or idle, capacity 20,000 (about one reservation), at two times
    (``thorough``: four offers, capacities 20,000 and 40,000)."""
    offers = [_o(t, w, r, c, now)
              for t in ("a", "b") for w in (0, 1) for r in (0, 1)
              for c in ((20_000, 40_000) if thorough else (20_000,)) for now in (0.0, 1.0)]
    for seq in itertools.product(offers, repeat=3 if not thorough else 4):
        evs = sorted(seq, key=lambda e: e[7])
        running: dict[tuple[float, int], int] = {}
        if any(running.setdefault((e[7], e[4]), e[5]) != e[5] for e in evs):
            continue  # one scheduling point, one batch
        steps: dict[str, int] = {}
        fixed = []
        for e in evs:  # a program's later offers are its later calls
            k = steps.get(e[1], 0)
            steps[e[1]] = k + 1
            fixed.append(("offer", e[1], k, 1_600 + 200 * k, *e[4:]))
        yield Offers(tuple(fixed))


@st.composite
def _admission_strategy(draw: st.DrawFn) -> Offers:
    """Up to ten events of four programs on three workers: offers (busy or idle, capacity
    5,000 to 80,000), call ends and program ends; cached shares 0 to 1, growth shares
    0 to 1."""
    n = draw(st.integers(1, 10))
    now = 0.0
    steps: dict[str, int] = {}
    running: dict[tuple[float, int], int] = {}
    evs: list[tuple[Any, ...]] = []
    for _ in range(n):
        now += draw(st.sampled_from((0.0, 0.0, 1.0)))
        task = draw(st.sampled_from(("a", "b", "c", "d")))
        kind = draw(st.sampled_from(("offer", "offer", "offer", "call_end", "end")))
        k = steps.get(task, 0)
        if kind == "offer":
            w = draw(st.integers(0, 2))
            run = running.setdefault((now, w), draw(st.integers(0, 2)))
            evs.append(("offer", task, k, draw(st.integers(1, 40)) * 200, w, run,
                        draw(st.integers(1, 16)) * 5_000, now))
            steps[task] = k + 1
        elif kind == "call_end":
            evs.append(("call_end", task, max(k - 1, 0), 1_600, 100, now))
        else:
            evs.append(("end", task, now))
            steps.pop(task, None)
    return Offers(tuple(evs), draw(st.sampled_from((0.0, 0.4, 1.0))),
                  draw(st.sampled_from((0.0, 0.5, 1.0))))


ADMISSION: Theorem[Offers] = Theorem(
    name="sagacore-admission-rule",
    title="The sagacore stack's admission control keeps the rules its no-starvation proof "
          "starts from",
    claim="holds",
    statement=(
        "SagacoreScheduler.admit (the sagacore stack's scheduler: SRPTAging's order with "
        "working-set admission), asked at scheduling points (time, worker): (iii) a call of "
        "a program already admitted and not ended is admitted, on any worker; (i) a new "
        "program's call is admitted on a worker with no running call (unless (ii)); (ii) once a new "
        "program is deferred at a point, every later new program offered at that point is "
        "deferred; otherwise a new program is deferred only when the reservations of the "
        "programs active on the worker plus its own exceed the capacity, and admitted "
        "beside running calls only when they fit; the reservations are those of the "
        "programs admitted and not ended, each on the worker of its last admission "
        "(a program between calls whose KV the worker dropped holds none). With the "
        "simulator's head-of-line admission and SRPTAging's ageing this gives: every "
        "program is admitted in finite time when every started program ends in finite "
        "time (docs/proofs/srpt_aging.md)."
    ),
    model="the policy's admit and hooks on sequences of offers, call ends and program ends "
          "(sagacore.testing.admission), reservations recomputed from the answers",
    proof=f"{PROOF}#the-stacks-admission-control",
    obligations=admission_obligations,
    enumerate=_admission_grid,
    targeted=_admission_targeted,
    strategy=_admission_strategy,
    describe=describe_offers,
)

THEOREMS = (*THEOREMS, ADMISSION)
