"""Work stealing in the ``sagacore`` stack: which rule, at the SLO peak and beyond.

Runs ``vllm-apc`` and the ``sagacore`` stack with four routers on one workload, at the
given rates and seeds, and prints each run's geometric-mean TCT ratio to ``vllm-apc``
[95% bootstrap CI] and its SLO attainment (TCT within 1.5x the isolated TCT), then the
geometric mean of the ratios over the seeds:

- ``sagacore``: ``idle-steal`` (``sagacore/route/idle_steal.py``);
- ``no-steal``: session affinity alone (the stack before idle stealing);
- ``no-size-rule``: ``idle-steal`` letting any waiting call move that takes at most half
  the thief's free KV (without the cap at 20% of its capacity);
- ``saga-steal``: SAGA's ``saga-affinity`` (load threshold 0.8, stealing by idle workers
  and whenever max/min load exceeds 2, the longest-waiting call of a random victim);
- ``saga-affinity-only``: the same without stealing (affinity broken above load 0.8).

Usage::

    python benchmarks/idle_steal.py --workload swe-bench-trace --rates 2.8284 --seeds 0,1
    python benchmarks/idle_steal.py --workload long-context --tasks 120 --rates 0.2769 \\
        --seeds 0,1,2,3 --variants sagacore,no-steal,no-size-rule
    python benchmarks/idle_steal.py --workload swe-bench --cluster a100-64 --tasks 600 \\
        --rates 14.05 --variants sagacore,no-steal,saga-steal,saga-affinity-only
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys

from sagacore.build import BuildContext
from sagacore.metrics import compare
from sagacore.policy import CallView, Router, WorkerView
from sagacore.route.idle_steal import IdleSteal
from sagacore.route.saga import SagaAffinity
from sagacore.sim import isolated_tcts, simulate
from sagacore.sim.config import get_cluster
from sagacore.stacks import Stack, get_stack
from sagacore.workload.load import load_workload


class _NoSizeRule(IdleSteal):
    """``idle-steal`` whose stolen call need only take at most half the thief's free KV."""

    def stealable(self, call: CallView, dst: WorkerView) -> bool:
        return 2 * call.prompt_tokens <= dst.free_tokens


def _no_size_rule(ctx: BuildContext) -> Router:
    return _NoSizeRule()


def _saga_steal(ctx: BuildContext) -> Router:
    return SagaAffinity()


def _saga_affinity_only(ctx: BuildContext) -> Router:
    return SagaAffinity(steal=False)


def variants() -> dict[str, Stack]:
    """The ``sagacore`` stack with each router."""
    s = get_stack("sagacore")
    r = dataclasses.replace
    return {
        "sagacore": s,
        "no-steal": r(s, name="no-steal", router="session-affinity"),
        "no-size-rule": r(s, name="no-size-rule", router=_no_size_rule),
        "saga-steal": r(s, name="saga-steal", router=_saga_steal),
        "saga-affinity-only": r(s, name="saga-affinity-only", router=_saga_affinity_only),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", default="swe-bench-trace")
    p.add_argument("--cluster", default="a100-16")
    p.add_argument("--tasks", type=int, default=None, help="first N tasks (default: all)")
    p.add_argument("--rates", default="2.8284")
    p.add_argument("--seeds", default="0")
    p.add_argument("--variants", default="sagacore,no-steal,no-size-rule,saga-steal")
    args = p.parse_args()
    table = variants()
    names = [n for n in args.variants.split(",") if n]
    for n in names:
        if n not in table:
            p.error(f"unknown variant {n!r}; known: {', '.join(table)}")
    cluster = get_cluster(args.cluster)
    for rate in (float(x) for x in args.rates.split(",") if x):
        logs: dict[str, list[float]] = {n: [] for n in names}
        for seed in (int(x) for x in args.seeds.split(",") if x):
            w = load_workload(args.workload, tasks=args.tasks, rate=rate, seed=seed)
            iso = isolated_tcts(w, cluster)
            base = simulate(w, get_stack("vllm-apc"), cluster, isolated=iso)
            line = [f"{args.workload} {rate:g}/min seed {seed}: vllm-apc SLO "
                    f"{base.slo_attainment:.0%}"]
            for n in names:
                r = simulate(w, table[n], cluster, isolated=iso)
                c = compare(r.tct_by_task(), base.tct_by_task(), seed=0)
                logs[n].append(math.log(c.ratio))
                line.append(f"{n} {c.ratio:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}] "
                            f"SLO {r.slo_attainment:.0%} moved {r.migrations}")
            print(" | ".join(line), flush=True)
        print(f"geometric mean over the seeds, {rate:g}/min: " + ", ".join(
            f"{n} {math.exp(sum(v) / len(v)):.3f}" for n, v in logs.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
