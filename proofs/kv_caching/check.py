"""Checkers of the KV prefix-caching theorems (``STATEMENT.md`` beside this file).

Model (``docs/caching.md``, section 1): a trace of requests, each a lookup path (its
prompt) and a context path (prompt and output) in a prefix tree of sized blocks; a
prompt block is a hit only when it and its whole prefix are cached; the cost is the
prompt tokens prefilled; between requests the cache holds at most ``C`` tokens and, in
the working-set variant, what it keeps across a request whose context fits must fit
beside that context. The exact models are library code (:mod:`sagacore.bounds`:
``exact_dp``, ``exact_ip``, ``belady``, ``FooSolver``; :mod:`sagacore.cache.replay`),
tested in ``tests/``; this file only states what must hold and searches for
counterexamples. Proofs: ``docs/caching.md``.

Instances are small traces over the blocks ``a`` (1), ``b`` (2) and ``c`` (3) below
``a``, and ``d`` (4), with sizes and a capacity. LP values are floats; obligations
allow ``TOL`` for the solver's tolerance (the certified dual bound is checked too).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hypothesis import strategies as st

from sagacore.bounds import CacheTrace, FooSolver, belady, exact_dp, exact_ip
from sagacore.cache import CACHE_POLICIES
from sagacore.cache.replay import ReplayConfig, replay
from sagacore.theory.theorems import Obligation, Theorem
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload

PROOF = "docs/caching.md"
TOL = 1e-6


@dataclass(frozen=True)
class KV:
    """A cache trace: requests ``(context block ids, prompt length)``, sizes, capacity."""

    requests: tuple[tuple[tuple[int, ...], int], ...]
    sizes: tuple[tuple[int, int], ...]
    capacity: int

    def trace(self) -> CacheTrace:
        """The :class:`~sagacore.bounds.CacheTrace` of the instance."""
        size = dict(self.sizes)
        reqs = []
        for t, (ctx, k) in enumerate(self.requests):
            segs = tuple(Segment(i, size[i]) for i in ctx)
            reqs.append((segs[:k], segs, float(t)))
        return CacheTrace.from_segments(reqs)


def describe(inst: KV) -> dict[str, Any]:
    """The instance as plain data."""
    names = {1: "a", 2: "b", 3: "c", 4: "d"}
    return {
        "requests": [
            {
                "prompt": [names.get(i, i) for i in ctx[:k]],
                "output": [names.get(i, i) for i in ctx[k:]],
            }
            for ctx, k in inst.requests
        ],
        "sizes": {names.get(i, str(i)): s for i, s in inst.sizes},
        "capacity": inst.capacity,
    }


@lru_cache(maxsize=4096)
def _solver(
    requests: tuple[tuple[tuple[int, ...], int], ...], sizes: tuple[tuple[int, int], ...],
    ws: bool, prefix_rows: bool = False,
) -> FooSolver:
    """One FOO LP per trace and model, re-solved at each capacity (the grid varies the
    capacity innermost): :class:`FooSolver` keeps the capacity a cvxpy Parameter, so a
    new capacity only re-parameterises the canonicalised problem."""
    tr = KV(requests, sizes, 0).trace()
    return FooSolver(tr, working_set=ws, prefix_rows=prefix_rows, grouped=not prefix_rows)


@lru_cache(maxsize=8192)
def _lp(inst: KV, ws: bool, prefix_rows: bool = False) -> dict[str, float]:
    """FOO-L, its certificate, FOO-U and the rounding alone, at the instance's capacity."""
    r = _solver(inst.requests, inst.sizes, ws, prefix_rows).solve(inst.capacity)
    return {
        "lower": r.lower,
        "certified": r.lower_certified,
        "upper": r.upper,
        "rounded": r.upper_rounded,
    }


@lru_cache(maxsize=8192)
def _comb(inst: KV, ws: bool) -> dict[str, float]:
    """The exact and Belady costs (dynamic programs: no LP)."""
    tr = inst.trace()
    c = inst.capacity
    return {
        "opt": exact_dp(tr, c, working_set=ws),
        "opt_closed": exact_dp(tr, c, working_set=ws, closed=True),
        "belady": belady(tr, c, working_set=ws),
    }


def _values(inst: KV, ws: bool) -> dict[str, float]:
    """Every quantity the theorems compare, for one instance and model."""
    return {**_comb(inst, ws), **_lp(inst, ws)}


# ------------------------------------------------------------------ obligations
def _both_models(
    inst: KV, bounds: Callable[[dict[str, float]], list[Obligation]]
) -> list[Obligation]:
    """``bounds`` of the :func:`_values` of the bypass model, then of the working-set
    model, each label prefixed with its model."""
    out: list[Obligation] = []
    for ws in (False, True):
        m = "working set" if ws else "bypass"
        out += [(f"{m}: {label}", lhs, rhs) for label, lhs, rhs in bounds(_values(inst, ws))]
    return out


def foo_lower(inst: KV) -> list[Obligation]:
    """FOO-L <= OPT (and the dual certificate below FOO-L), both models."""
    return _both_models(
        inst,
        lambda v: [
            ("FOO-L <= OPT", v["lower"], v["opt"] + TOL),
            ("certified <= FOO-L", v["certified"], v["lower"] + TOL),
        ],
    )


def foo_upper(inst: KV) -> list[Obligation]:
    """OPT <= FOO-U <= rounding alone, both models."""
    return _both_models(
        inst,
        lambda v: [
            ("OPT <= FOO-U", v["opt"], v["upper"]),
            ("FOO-U <= rounded", v["upper"], v["rounded"]),
        ],
    )


def exact_agree(inst: KV) -> list[Obligation]:
    """The integer program and the dynamic program give the same OPT, both models."""
    out: list[Obligation] = []
    tr = inst.trace()
    for ws in (False, True):
        ip = exact_ip(tr, inst.capacity, working_set=ws)
        dp = _comb(inst, ws)["opt"]
        out += [(f"ws={ws}: IP <= DP", ip, dp), (f"ws={ws}: DP <= IP", dp, ip)]
    return out


def fresh_outputs(inst: KV) -> bool:
    """Whether every block a context adds beyond its prompt appears there first.

    True for real traces (an agent's output is new content; Mooncake caches prompts
    only); false when an output re-creates a block that was already seen, which brings a
    block back into the cache without a lookup.
    """
    seen: set[tuple[int, ...]] = set()
    for ctx, k in inst.requests:
        for j in range(len(ctx)):
            key = ctx[: j + 1]
            if j >= k and key in seen:
                return False
        seen.update(ctx[: j + 1] for j in range(len(ctx)))
    return True


def belady_any(inst: KV) -> list[Obligation]:
    """Belady (farthest next lookup, deeper first on ties) costs at most OPT (bypass)."""
    v = _comb(inst, False)
    return [("Belady <= OPT", v["belady"], v["opt"])]


def belady_optimal(inst: KV) -> list[Obligation]:
    """:func:`belady_any` for traces whose outputs are new blocks (else vacuous)."""
    return belady_any(inst) if fresh_outputs(inst) else []


def closed_any(inst: KV) -> list[Obligation]:
    """The prefix-closed (radix) optimum is at most the general one (bypass model)."""
    v = _comb(inst, False)
    return [("OPT_closed <= OPT", v["opt_closed"], v["opt"])]


def closed_loses_nothing(inst: KV) -> list[Obligation]:
    """:func:`closed_any` for traces whose outputs are new blocks (else vacuous)."""
    return closed_any(inst) if fresh_outputs(inst) else []


def prefix_rows(inst: KV) -> list[Obligation]:
    """The LP with the rows ``x[u] <= x[parent(u)]`` has the value of the LP without."""
    out: list[Obligation] = []
    for ws in (False, True):
        plain = _lp(inst, ws)["lower"]
        full = _lp(inst, ws, True)["lower"]
        out += [
            (f"ws={ws}: with rows <= without", full, plain + TOL),
            (f"ws={ws}: without <= with rows", plain, full + TOL),
        ]
    return out


# ------------------------------------------------------------------ instances
A, B, C_, D = 1, 2, 3, 4
_TYPES: tuple[tuple[tuple[int, ...], int], ...] = (
    ((A,), 1),
    ((A, B), 2),
    ((A, C_), 2),
    ((D,), 1),
    ((A, B), 1),  # prompt a, output b
)


def _grid(thorough: bool, *, unit: bool, lp: bool = False, lp3: bool = True) -> Iterator[KV]:
    """Every trace of up to 3 requests (4 when ``thorough``) of the :data:`_TYPES`, with
    every size assignment and capacity of the grid.

    ``lp`` (the theorems that solve an LP or an integer program per instance, at about
    10 ms each): in default mode, traces of up to 2 requests with every size assignment,
    and with ``lp3`` the 3-request traces with ``a`` of 2 tokens and ``b`` of 1 only (the
    sizes at which Belady and radix caches lose, so where the LP's integrality gap
    appears) at capacities 2 and 3 (longer traces come from Hypothesis, up to 6
    requests); ``thorough`` runs the full grid. The dynamic-program theorems (Belady, radix) cost
    under a millisecond per instance and always run the full grid.
    """
    length = 4 if thorough else 3
    caps = range(0, 6) if thorough else range(1, 5)
    if thorough:
        size_sets: list[tuple[int, ...]] = [(1, 2), (1, 2), (1, 2), (1, 2)]
    else:
        size_sets = [(1, 2), (1, 2), (1,), (1,)]
    if unit:
        sizes_iter: list[tuple[int, ...]] = [(1, 1, 1, 1)]
    else:
        sizes_iter = list(itertools.product(*size_sets))
    for n in range(1, length + 1):
        sizes_n = sizes_iter
        caps_n = caps
        if lp and not thorough and n > 2:
            sizes_n = [(2, 1, 1, 1)] if lp3 else []
            caps_n = range(2, 4)  # below 2 little fits, from 4 nearly everything does
        for seq in itertools.product(_TYPES, repeat=n):
            for sz in sizes_n:
                for c in caps_n:
                    inst = KV(seq, tuple(zip((A, B, C_, D), sz, strict=True)), c)
                    if not unit or fresh_outputs(inst):
                        yield inst


@st.composite
def kv_instances(draw: st.DrawFn, *, unit: bool = False, max_requests: int = 6) -> KV:
    """Random small traces: each request extends a prefix of an earlier context."""
    n = draw(st.integers(1, max_requests))
    contexts: list[tuple[int, ...]] = []
    reqs = []
    sizes: dict[int, int] = {}
    nxt = 10
    for _ in range(n):
        base: tuple[int, ...] = ()
        if contexts and draw(st.booleans()):
            src = draw(st.sampled_from(contexts))
            base = src[: draw(st.integers(0, len(src)))]
        new = []
        for _ in range(draw(st.integers(0 if base else 1, 2))):
            sizes[nxt] = 1 if unit else draw(st.integers(1, 3))
            new.append(nxt)
            nxt += 1
        prompt = base + tuple(new)
        ctx = prompt
        if draw(st.booleans()):
            sizes[nxt] = 1 if unit else draw(st.integers(1, 3))
            ctx = (*prompt, nxt)
            nxt += 1
        if not prompt:
            continue
        contexts.append(ctx)
        reqs.append((ctx, len(prompt)))
    if not reqs:
        sizes[nxt] = 1
        reqs.append(((nxt,), 1))
    return KV(tuple(reqs), tuple(sorted(sizes.items())), draw(st.integers(0, 8)))


# ------------------------------------------------------------------ replay theorem
@dataclass(frozen=True)
class Session:
    """A ReAct session for the replay theorem: observation sizes and tool seconds."""

    arrival: int
    observations: tuple[int, ...]
    tool_seconds: int
    shared_system: bool


@dataclass(frozen=True)
class ReplayInstance:
    """Sessions, a capacity and a cache policy."""

    sessions: tuple[Session, ...]
    capacity: int
    policy: str

    def workload(self) -> Workload:
        """The sessions as a workload (each prompt: previous context + observation)."""
        system = Segment(9999, 2)
        tasks = []
        for k, s in enumerate(self.sessions):
            steps: list[Step] = []
            prompt: tuple[Segment, ...] = (system,) if s.shared_system else ()
            for i, n in enumerate(s.observations):
                prev = steps[-1].context if steps else prompt
                seg = Segment(1000 * (k + 1) + 2 * i, n)
                last = i == len(s.observations) - 1
                steps.append(
                    Step(
                        i,
                        (*prev, seg),
                        1,
                        1000 * (k + 1) + 2 * i + 1,
                        tool=None if last else "bash",
                        tool_seconds=0.0 if last else float(s.tool_seconds),
                        deps=(i - 1,) if i else (),
                    )
                )
            tasks.append(Task(TaskId(f"s{k}"), tuple(steps), arrival_s=float(s.arrival)))
        return Workload(tuple(tasks))


@lru_cache(maxsize=1024)
def _replay_solver(sessions: tuple[Session, ...]) -> FooSolver:
    w = ReplayInstance(sessions, 0, "lru").workload()
    return FooSolver(CacheTrace.from_workload(w), working_set=True)


@lru_cache(maxsize=4096)
def _replay_lower(sessions: tuple[Session, ...], capacity: int) -> float:
    return _replay_solver(sessions).solve(capacity).lower


def replay_obligations(inst: ReplayInstance) -> list[Obligation]:
    """Every policy's single-tier replay cost is at least FOO-L (working-set model)."""
    w = inst.workload()
    lower = _replay_lower(inst.sessions, inst.capacity)
    r = replay(w, inst.policy, ReplayConfig(capacity_tokens=inst.capacity))
    return [(f"FOO-L <= {inst.policy}", lower, r.single_tier_cost_tokens + TOL)]


def _replay_grid(thorough: bool) -> Iterator[ReplayInstance]:
    obs = [(1,), (2, 1)] if not thorough else [(1,), (2, 1), (1, 2, 1), (3, 1, 2)]
    sessions = [
        Session(a, o, t, sh) for a in (0, 1) for o in obs for t in (0, 2) for sh in (False, True)
    ]
    for n in (1, 2):
        for combo in itertools.combinations(sessions, n):
            for c in (3, 6, 10) if thorough else (4, 8):
                for name in sorted(CACHE_POLICIES):
                    yield ReplayInstance(tuple(combo), c, name)


replay_instances = st.builds(
    ReplayInstance,
    sessions=st.lists(
        st.builds(
            Session,
            st.integers(0, 4),
            st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple),
            st.integers(0, 3),
            st.booleans(),
        ),
        min_size=1,
        max_size=4,
    ).map(tuple),
    capacity=st.integers(0, 30),
    policy=st.sampled_from(sorted(CACHE_POLICIES)),
)


# ------------------------------------------------------------------ theorems
def _kv_theorem(
    *, unit_grid: bool = False, lp: bool = False, lp3: bool = True,
    strategy: Callable[[], Any] = kv_instances, **fields: Any
) -> Theorem[KV]:
    """A theorem on :class:`KV` instances, searched over :func:`_grid` (unit block sizes
    only with ``unit_grid``; the LP theorems' smaller default grid with ``lp``) and
    ``strategy`` (default: :func:`kv_instances` ())."""
    return Theorem(
        enumerate=lambda thorough: _grid(thorough, unit=unit_grid, lp=lp, lp3=lp3),
        strategy=strategy,
        describe=describe,
        **fields,
    )


_MODEL = (
    "requests with a prompt path and a context path in a prefix tree of sized blocks; a "
    "prompt block is a hit only with its whole prefix cached; cost = prompt tokens "
    "prefilled; at most C tokens kept between requests (bypass allowed)"
)
_BOTH = _MODEL + "; with and without the working-set rows"

FOO_LOWER: Theorem[KV] = _kv_theorem(
    name="kv-foo-lower",
    lp=True,
    lp3=False,
    title="FOO-L is a lower bound on the optimal prefill, with the prefix constraint",
    claim="holds",
    statement=(
        "For every trace and capacity C, FOO-L (the prompt tokens minus the value of the "
        "interval LP over the prefix-aware reuse intervals, without prefix rows) is at "
        "most OPT, the least "
        "prefill of any cache schedule at any granularity down to single tokens; with the "
        "working-set rows, at most OPT of the working-set model. Any dual-feasible prices "
        "give a value at most FOO-L (the certified bound)."
    ),
    model=_BOTH,
    proof=f"{PROOF}#theorem-1-foo-l-is-a-lower-bound",
    obligations=foo_lower,
)

FOO_UPPER: Theorem[KV] = _kv_theorem(
    name="kv-foo-upper",
    lp=True,
    lp3=False,
    title="FOO-U is the cost of a feasible schedule, so an upper bound on OPT",
    claim="holds",
    statement=(
        "For every trace and capacity C, FOO-U (an LP-optimal solution moved to the "
        "shallowest blocks of each prompt, rounded down, then filled greedily) is the "
        "prefill of a feasible schedule that respects the prefix constraint, so "
        "OPT <= FOO-U <= the rounding alone; in both models."
    ),
    model=_BOTH,
    proof=f"{PROOF}#theorem-2-foo-u-is-an-upper-bound",
    obligations=foo_upper,
)

EXACT: Theorem[KV] = _kv_theorem(
    name="kv-exact",
    lp=True,
    lp3=False,
    title="The interval integer program is exact",
    claim="holds",
    statement=(
        "The integer program over single-block reuse intervals (capacity rows per gap, "
        "x[u] <= x[parent(u)] for intervals ending at the same request, and in the "
        "working-set model one row per request whose context fits) has the value of the "
        "dynamic program over all cache contents."
    ),
    model=_BOTH,
    proof=f"{PROOF}#the-integer-program",
    obligations=exact_agree,
    strategy=lambda: kv_instances(max_requests=5),
    hypothesis_examples=(60, 1000),
)

BELADY_UNIT: Theorem[KV] = _kv_theorem(
    name="kv-belady-unit",
    title="Belady's MIN is optimal for unit-size blocks, even with the prefix constraint",
    claim="holds",
    statement=(
        "When every block has one token and every block a context adds beyond its prompt "
        "is new (outputs are new content), Belady's MIN (after each request keep the "
        "blocks whose next lookup is nearest, deeper blocks first among equals, which "
        "keeps the cache prefix-closed) attains OPT."
    ),
    model=_MODEL + "; unit sizes; outputs are new blocks",
    proof=f"{PROOF}#theorem-3-belady-is-optimal-for-unit-blocks",
    obligations=belady_optimal,
    unit_grid=True,
    strategy=lambda: kv_instances(unit=True, max_requests=8),
)

CLOSED_UNIT: Theorem[KV] = _kv_theorem(
    name="kv-closed-unit",
    title="For unit-size blocks a prefix-closed (radix) cache loses nothing",
    claim="holds",
    statement=(
        "When every block has one token and outputs are new blocks, the least prefill "
        "over prefix-closed cache contents (a block only with its parent, as in a radix "
        "tree) equals OPT over all contents."
    ),
    model=_MODEL + "; unit sizes; outputs are new blocks",
    proof=f"{PROOF}#theorem-4-radix-caches-lose-nothing-for-unit-blocks",
    obligations=closed_loses_nothing,
    unit_grid=True,
    strategy=lambda: kv_instances(unit=True, max_requests=8),
)

_SIZES_CE = KV((((A,), 1), ((B,), 1), ((B,), 1), ((A,), 1)), ((A, 2), (B, 1)), 2)

BELADY_SIZES: Theorem[KV] = _kv_theorem(
    name="kv-belady-sizes",
    title="Belady's MIN is optimal for blocks of different sizes",
    claim="refuted",
    statement=(
        "Claim: Belady's MIN attains OPT for any block sizes. False: with a block of 2 "
        "tokens and one of 1, capacity 2, and requests A B B A, MIN evicts A (used "
        "farthest) and pays 5 tokens; keeping A and bypassing B pays 4."
    ),
    model=_MODEL + "; variable sizes",
    proof=f"{PROOF}#refuted-belady-with-variable-sizes",
    obligations=belady_optimal,
    counterexample=_SIZES_CE,
)

_CLOSED_CE = KV(
    (((A, B), 2), ((D,), 1), ((D,), 1), ((A,), 1), ((A, B), 2)), ((A, 1), (B, 2), (D, 2)), 4
)

CLOSED_SIZES: Theorem[KV] = _kv_theorem(
    name="kv-closed-sizes",
    title="A prefix-closed (radix) cache loses nothing for blocks of different sizes",
    claim="refuted",
    statement=(
        "Claim: the prefix-closed optimum equals OPT for any block sizes. False: sizes "
        "a = 1, b = 2 (below a), d = 2, capacity 4, requests [a b], [d], [d], [a], [a b]: "
        "keeping b and d while a is out, then re-reading a, pays 6; every prefix-closed "
        "schedule pays 7."
    ),
    model=_MODEL + "; variable sizes",
    proof=f"{PROOF}#refuted-radix-caches-with-variable-sizes",
    obligations=closed_loses_nothing,
    counterexample=_CLOSED_CE,
)

# [d]; prompt [a b] with output e; [d]; prompt [a] whose output re-creates b; [a b e]
_REINSERT_CE = KV(
    (((D,), 1), ((A, B, 5), 2), ((D,), 1), ((A, B), 1), ((A, B, 5), 3)),
    ((A, 1), (B, 1), (D, 1), (5, 1)),
    3,
)

BELADY_REINSERT: Theorem[KV] = _kv_theorem(
    name="kv-belady-reinsert",
    title="Belady's MIN stays optimal for unit blocks when an output re-creates a block",
    claim="refuted",
    statement=(
        "Claim: for unit-size blocks Belady's MIN attains OPT even when a context adds, "
        "beyond its prompt, a block already seen. False: capacity 3, requests [d]; [a b] "
        "with output e; [d]; [a] with output b; [a b e]. MIN keeps d, a and b after the "
        "second request and pays 4; dropping b, which the fourth request brings back "
        "without a lookup, and keeping e pays 3 (and that cache is not prefix-closed)."
    ),
    model=_MODEL + "; unit sizes; outputs may repeat blocks",
    proof=f"{PROOF}#refuted-belady-when-outputs-re-create-blocks",
    obligations=belady_any,
    strategy=lambda: kv_instances(unit=True),
    counterexample=_REINSERT_CE,
)

PREFIX_ROWS: Theorem[KV] = _kv_theorem(
    name="kv-prefix-rows",
    lp=True,
    lp3=False,
    title="Prefix rows do not tighten the interval LP",
    claim="holds",
    statement=(
        "Adding the rows x[u] <= x[parent(u)] (per block, intervals ending at the same "
        "request) to the interval LP leaves its value unchanged, with or without the "
        "working-set rows; so does grouping the blocks of a prompt that share an interval "
        "into one variable."
    ),
    model=_BOTH,
    proof=f"{PROOF}#lemma-3-prefix-rows-do-not-tighten-the-lp",
    obligations=prefix_rows,
    hypothesis_examples=(60, 1000),
)

REPLAY: Theorem[ReplayInstance] = Theorem(
    name="kv-replay-bound",
    title="Every cache policy in replay pays at least FOO-L",
    claim="holds",
    statement=(
        "For every workload, capacity and cache policy, cache-only replay (calls at their "
        "start instants, token blocks) prefills plus restores from host memory at least "
        "FOO-L of the working-set model of the same trace."
    ),
    model="ReAct sessions with tool gaps in cache-only replay over the prefix store",
    proof=f"{PROOF}#theorem-5-replay-pays-at-least-foo-l",
    obligations=replay_obligations,
    enumerate=_replay_grid,
    strategy=lambda: replay_instances,
    describe=lambda inst: {
        "sessions": [vars(s) for s in inst.sessions],
        "capacity": inst.capacity,
        "policy": inst.policy,
    },
    hypothesis_examples=(60, 1000),
)

THEOREMS: tuple[Theorem[Any], ...] = (
    FOO_LOWER,
    FOO_UPPER,
    EXACT,
    BELADY_UNIT,
    CLOSED_UNIT,
    BELADY_SIZES,
    BELADY_REINSERT,
    CLOSED_SIZES,
    PREFIX_ROWS,
    REPLAY,
)
