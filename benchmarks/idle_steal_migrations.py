"""Migrations of the ``sagacore`` stack's idle stealing, with and without settling, and
how often an idle thief goes without a call that fits it.

The figures of ``docs/proofs/work_stealing.md`` (idle stealing):

1. the bundled SWE-bench trace, 24 tasks on ``a100-16``, seed 0, the router recorded by
   :func:`sagacore.testing.routing.idle_sim_run`: ticks, pairs the router asked,
   migrations, distinct calls moved, the most moves of one call, KV tokens copied (and
   the largest copy), with the stack's settling and without it;
2. the refuted ``idle-steal-no-idle-beside-fitting-call`` in the long-context regime
   (``long-context``, 120 tasks at 0.2769 tasks/min, ``docs/stacks.md``'s SLO peak, on
   ``a100-16``): pairs asked, pairs that moved nothing (no waiting call of the chosen
   source fits the thief), and of those, ticks at which another source the thief could
   take from (more loaded, settled) had a call that fits it.

Run::

    python benchmarks/idle_steal_migrations.py [--seed 0] [--no-long-context]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sagacore.build import BuildContext
from sagacore.policy import WorkerView
from sagacore.route.idle_steal import IdleSteal
from sagacore.sim import simulate
from sagacore.stacks import get_stack
from sagacore.testing.routing import IdleSim, idle_sim_run
from sagacore.workload.load import load_workload


class _Counting(IdleSteal):
    """Counts the pairs whose source has no call that fits the thief, and those of them
    where another eligible source has one (reads the simulator's waiting calls)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.pairs = self.empty = self.elsewhere = 0

    def rebalance(self, workers: Sequence[WorkerView], now: float) -> list[tuple[int, int]]:
        pairs = super().rebalance(workers, now)
        by = {w.worker_id: w for w in workers}

        def fits(w: Any, dst: WorkerView) -> bool:
            # the simulator's worker behind its read-only view (a diagnostic reads inside)
            return any(self.stealable(c, dst) for c in getattr(w, "_w", w).waiting)

        for src, dst in pairs:
            self.pairs += 1
            d = by[dst]
            if fits(by[src], d):
                continue
            self.empty += 1
            if any(v.worker_id not in (src, dst) and v.load > d.load
                   and now - self._received.get(v.worker_id, -math.inf) >= self.settle_s
                   and fits(v, d) for v in workers):
                self.elsewhere += 1
        return pairs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seed", type=int, default=0, help="workload seed (default 0)")
    ap.add_argument("--no-long-context", action="store_true", help="skip part 2")
    args = ap.parse_args(argv)
    print("| run | ticks | pairs asked | migrations | calls moved | most moves of one call "
          "| tokens copied (largest) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    copied = {}
    for rate, settle in ((6.0, None), (12.0, None), (12.0, 0.0)):
        run = idle_sim_run(IdleSim(rate=rate, seed=args.seed, settle_s=settle))
        asked = sum(len(p) for _, _, p in run.ticks)
        per_call = Counter((task, step) for _, task, step, _, _ in run.migrations)
        tokens = [t for *_, t in run.migrations]
        copied[(rate, run.settle_s)] = sum(tokens)
        print(f"| {rate:g} tasks/min, settle {run.settle_s:g} s | {len(run.ticks):,} | {asked} "
              f"| {len(run.migrations)} | {len(per_call)} | {max(per_call.values(), default=0)} "
              f"| {sum(tokens):,} ({max(tokens, default=0):,}) |")
    with_settle = copied.get((12.0, 1.0))
    if with_settle:
        print(f"copies without settling / with it (12 tasks/min): "
              f"{copied[(12.0, 0.0)] / with_settle:.2f}")
    if args.no_long_context:
        return 0
    made: list[_Counting] = []

    def build(ctx: BuildContext) -> IdleSteal:
        made.append(_Counting(copy_seconds=ctx.cost.migration_seconds))  # as the stack
        return made[-1]

    stack = dataclasses.replace(get_stack("sagacore"), name="sagacore (counting)", router=build)
    w = load_workload("long-context", tasks=120, rate=0.2769, seed=args.seed)
    res = simulate(w, stack, "a100-16")
    r = made[0]
    print(f"long-context, 120 tasks at 0.2769/min, seed {args.seed}: {r.pairs:,} pairs asked, "
          f"{res.migrations} migrations; {r.empty:,} pairs whose source had no call that fits "
          f"the thief, {r.elsewhere} of them while another eligible source had one")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
