"""Migrations of the ``sagacore`` stack's idle stealing, with and without settling.

The figures of ``docs/proofs/work_stealing.md`` (idle stealing, *Checks*): the bundled
SWE-bench trace, 24 tasks on ``a100-16``, seed 0, the router recorded by
:func:`sagacore.testing.routing.idle_sim_run`. For each run: ticks, pairs the router
asked, migrations, distinct calls moved, the most moves of one call, KV tokens copied
(and the largest copy), and the ratio of copies without settling to with it.

Run::

    python benchmarks/idle_steal_migrations.py [--seed 0]
"""

from __future__ import annotations

import argparse
from collections import Counter

from sagacore.testing.routing import IdleSim, idle_sim_run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seed", type=int, default=0, help="workload seed (default 0)")
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
