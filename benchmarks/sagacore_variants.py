"""Variants of the ``sagacore`` stack tried and not (yet) kept, over seeds.

Runs ``vllm-apc`` and the named stacks on a regime's workload (``--regime``, from
``sagacore.sweep.spec.REGIMES``) or any workload at the given rates and seeds, and
prints each run's geometric-mean TCT ratio to ``vllm-apc``, SLO attainment and
migrations, then the geometric mean of the ratios over the seeds. Besides any
registered stack name:

- ``ski``: ``idle-steal`` that moves a call only once it has waited as long as the copy
  of its KV would take (``CostModel.migration_seconds`` of its cached tokens): a
  ski-rental rule against stealing calls that would have waited a step;
- ``arrival``: the admission control, retention and routing of ``sagacore`` over
  programs ordered by arrival (vLLM's ``priority`` with the task's arrival time,
  Continuum's order) instead of predicted remaining work with aging;
- ``no-steal``: ``sagacore`` with session affinity alone.

docs/stacks.md ("Where it stands against the goals") reports what these gave. Usage::

    python benchmarks/sagacore_variants.py --regime long-context --rates 0.27689,0.36918 \\
        --seeds 0,1,2,3 --stacks sagacore,arrival,continuum
    python benchmarks/sagacore_variants.py --regime long-context --rates 0.04615,0.0923 \\
        --seeds 0,1,2,3 --stacks sagacore,ski,no-steal
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Callable, Sequence

from sagacore.build import BuildContext
from sagacore.metrics import compare
from sagacore.policy import CallView, Router, Scheduler, WorkerView
from sagacore.route.idle_steal import IdleSteal
from sagacore.sim import isolated_tcts, simulate
from sagacore.sim.config import get_cluster
from sagacore.stacks import Stack, get_stack
from sagacore.sweep.spec import REGIMES
from sagacore.workload.load import load_workload


class SkiSteal(IdleSteal):
    """``idle-steal``; a call moves only once it has waited as long as its KV copy takes."""

    def __init__(self, migration_seconds: Callable[[float], float]) -> None:
        super().__init__()
        self._copy_s = migration_seconds
        self._now = 0.0

    def rebalance(self, workers: Sequence[WorkerView], now: float) -> list[tuple[int, int]]:
        self._now = now  # the mechanism asks stealable in the same tick
        return super().rebalance(workers, now)

    def stealable(self, call: CallView, dst: WorkerView) -> bool:
        return (super().stealable(call, dst)
                and self._now - call.ready_s >= self._copy_s(call.cached_tokens))


def _ski(ctx: BuildContext) -> Router:
    return SkiSteal(ctx.cost.migration_seconds)


def _arrival(ctx: BuildContext) -> Scheduler:
    from sagacore.sched.admission import with_admission
    from sagacore.sched.fcfs import Priority

    return with_admission(Priority(), predictor=ctx.predictor)


def variant(name: str) -> Stack:
    """A registered stack, or one of the variants above."""
    s = get_stack("sagacore")
    r = dataclasses.replace
    made = {
        "ski": lambda: r(s, name="ski", router=_ski),
        "arrival": lambda: r(s, name="arrival", scheduler=_arrival),
        "no-steal": lambda: r(s, name="no-steal", router="session-affinity"),
    }
    return made[name]() if name in made else get_stack(name)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--regime", default=None, help="a named regime (its workload, cluster, tasks)")
    p.add_argument("--workload", default="swe-bench-trace")
    p.add_argument("--cluster", default="a100-16")
    p.add_argument("--tasks", type=int, default=None)
    p.add_argument("--rates", required=True, help="tasks/min, comma separated")
    p.add_argument("--seeds", default="0")
    p.add_argument("--stacks", default="sagacore,ski,arrival,continuum")
    a = p.parse_args()
    if a.regime is not None:
        rg = REGIMES[a.regime]
        workload, cluster_name, tasks = rg.workload, rg.cluster, rg.tasks
    else:
        workload, cluster_name, tasks = a.workload, a.cluster, a.tasks
    cluster = get_cluster(cluster_name)
    names = [n for n in a.stacks.split(",") if n]
    seeds = [int(x) for x in a.seeds.split(",")]
    for rate in (float(x) for x in a.rates.split(",")):
        ratios: dict[str, list[float]] = {n: [] for n in names}
        for seed in seeds:
            w = load_workload(workload, tasks=tasks, rate=rate, seed=seed)
            iso = isolated_tcts(w, cluster)
            base = simulate(w, get_stack("vllm-apc"), cluster, isolated=iso)
            out = [f"{workload} {rate:g}/min seed {seed}: vllm-apc SLO {base.slo_attainment:.0%}"]
            for n in names:
                res = simulate(w, variant(n), cluster, isolated=iso)
                c = compare(res.tct_by_task(), base.tct_by_task(), seed=0)
                ratios[n].append(c.ratio)
                out.append(f"{n} {c.ratio:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}] "
                           f"SLO {res.slo_attainment:.0%} moved {res.migrations}")
            print(" | ".join(out), flush=True)
        print(f"geometric mean over the seeds, {rate:g}/min: " + ", ".join(
            f"{n} {math.exp(sum(map(math.log, v)) / len(v)):.4f}" for n, v in ratios.items()),
            flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
