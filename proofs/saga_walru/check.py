"""Checker of SAGA's Theorem 3, WA-LRU's competitive ratio (``STATEMENT.md`` beside this file).

Model: cache-only replay (:func:`sagacore.cache.replay.replay`, token blocks, the
working-set model of ``docs/caching.md``) of ``k + 1`` identical ReAct sessions taking
turns, with a capacity that holds ``k`` of their contexts. OPT is bracketed, never taken
from Belady (not optimal for variable sizes: ``kv-belady-sizes``): FOO-L <= OPT, and
OPT <= min(FOO-U, the replay cost of the offline ``next-use`` policy), both feasible
schedules. Proof: ``docs/proofs/saga_walru.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sagacore.bounds import CacheTrace, FooSolver
from sagacore.cache.replay import ReplayConfig, replay
from sagacore.theory.theorems import Obligation, Theorem
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload

PROOF = "docs/proofs/saga_walru.md"
CLAIMED = 2
"""The constant the refuted claim allows (any constant is beaten by a larger ``k``)."""


@dataclass(frozen=True)
class Cyclic:
    """``k + 1`` sessions of ``steps`` calls: a first observation of ``first`` tokens,
    then 1 token per step (and 1 output token), session ``i`` arriving at ``i`` seconds
    with ``k + 1`` seconds of tool time between its calls, so the sessions take turns;
    the capacity holds ``k`` contexts of the largest size."""

    k: int
    steps: int
    first: int

    def workload(self) -> Workload:
        """The sessions as a workload."""
        n = self.k + 1
        tasks = []
        for s in range(n):
            steps: list[Step] = []
            for i in range(self.steps):
                prev = steps[-1].context if steps else ()
                seg = Segment(1000 * (s + 1) * self.steps + 2 * i, self.first if i == 0 else 1)
                last = i == self.steps - 1
                steps.append(Step(i, (*prev, seg), 1, 1000 * (s + 1) * self.steps + 2 * i + 1,
                                  tool=None if last else "bash",
                                  tool_seconds=0.0 if last else float(n),
                                  deps=(i - 1,) if i else ()))
            tasks.append(Task(TaskId(f"s{s}"), tuple(steps), arrival_s=float(s)))
        return Workload(tuple(tasks))

    @property
    def capacity(self) -> int:
        """``k`` contexts of the largest size."""
        return self.k * (self.first + 2 * self.steps)


@lru_cache(maxsize=64)
def costs(inst: Cyclic) -> dict[str, float]:
    """WA-LRU's and LRU's replay costs, the offline next-use policy's, FOO-L and FOO-U."""
    w = inst.workload()
    cfg = ReplayConfig(capacity_tokens=inst.capacity)
    foo = FooSolver(CacheTrace.from_workload(w), working_set=True).solve(inst.capacity)
    out = {p: float(replay(w, p, cfg).single_tier_cost_tokens)
           for p in ("walru", "lru", "next-use")}
    out["foo_lower"] = foo.lower
    out["foo_upper"] = float(foo.upper)
    return out


def obligations(inst: Cyclic) -> list[Obligation]:
    """WA-LRU <= CLAIMED x OPT, with OPT replaced by an upper bound on it (so a violation
    is a violation for OPT too); and FOO-L <= every replay cost (sanity of the bracket)."""
    c = costs(inst)
    opt_up = min(c["foo_upper"], c["next-use"])
    return [
        (f"WA-LRU <= {CLAIMED} OPT (OPT <= min(FOO-U, next-use) = {opt_up:g})",
         c["walru"], CLAIMED * opt_up),
    ]


def ratio_bracket(inst: Cyclic) -> tuple[float, float]:
    """``(WA-LRU / min(FOO-U, next-use), WA-LRU / FOO-L)``: WA-LRU's ratio to OPT lies
    in between."""
    c = costs(inst)
    return c["walru"] / min(c["foo_upper"], c["next-use"]), c["walru"] / c["foo_lower"]


def _grid(thorough: bool) -> Iterator[Cyclic]:
    for k in (1, 2, 3, 4) + ((8, 16) if thorough else ()):
        yield Cyclic(k, 8 * k, 128 * k)


def describe(inst: Cyclic) -> dict[str, Any]:
    """The instance and what it costs."""
    lo, hi = ratio_bracket(inst)
    return {"k": inst.k, "steps": inst.steps, "first_observation_tokens": inst.first,
            "capacity_tokens": inst.capacity, "costs": costs(inst),
            "ratio_to_opt_between": [round(lo, 3), round(hi, 3)]}


WALRU_COMPETITIVE: Theorem[Cyclic] = Theorem(
    name="saga-walru-competitive",
    title="SAGA's Theorem 3: WA-LRU is within a constant factor of OPT",
    claim="refuted",
    statement=(
        "Claim (SAGA's Theorem 3, competitive ratio 1 + eps k_max + O(sigma / TTL)): for "
        "fixed eps, k_max, sigma and TTL, WA-LRU's prefill is within a constant factor of "
        "OPT whatever the cache size; here with the constant 2. False: k + 1 identical "
        "ReAct sessions (tool times deterministic, sigma = 0; every session continues, so "
        "every prediction of reuse is right and equal) take turns on a cache that holds "
        "k of their contexts. WA-LRU, whose score then reduces to LRU's idle time, evicts "
        "the context used next and misses at every call; OPT misses about one call in k. "
        "The ratio to OPT, bracketed by FOO-L below and min(FOO-U, offline next-use) "
        "above, is 1.8 to 1.9 for k = 2, 3.5 to 3.6 for k = 4, 6.6 to 6.7 for k = 8 and "
        "11.3 to 11.4 for k = 16 (128 k tokens of first observation, 8 k calls): it grows "
        "without bound with the cache size, as for every deterministic online eviction "
        "rule (Sleator and Tarjan)."
    ),
    model="cache-only replay, token blocks, working-set model; OPT bracketed by FOO-L and "
          "min(FOO-U, replay of the offline next-use policy)",
    proof=f"{PROOF}#refuted-a-constant-competitive-ratio",
    obligations=obligations,
    enumerate=_grid,
    counterexample=Cyclic(4, 32, 512),
    describe=describe,
)

THEOREMS: tuple[Theorem[Any], ...] = (WALRU_COMPETITIVE,)


if __name__ == "__main__":  # the table of docs/proofs/saga_walru.md
    print("k  calls  capacity  WA-LRU/min(FOO-U,next-use)  WA-LRU/FOO-L  WA-LRU==LRU")
    for k in (2, 4, 8, 16):
        inst = Cyclic(k, 8 * k, 128 * k)
        lo, hi = ratio_bracket(inst)
        c = costs(inst)
        print(f"{k:<2} {inst.steps:<6} {inst.capacity:<9} {lo:<27.2f} {hi:<13.2f} "
              f"{c['walru'] == c['lru']}")
