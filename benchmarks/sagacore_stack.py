"""The ``sagacore`` stack against ``vllm-apc`` and the peer stacks, across loads; ablation.

Runs a workload (default: the bundled SWE-bench trace) on a cluster preset (default
``a100-16``: 4 instances of Llama-3-70B, tensor parallel 4, 16 A100-80GB) at Poisson
rates spanning 0.25x to 3x ``vllm-apc``'s SLO peak (2.83 tasks/min on that trace and
cluster, ``docs/stacks.md``) and prints, per rate, every stack's geometric-mean TCT
ratio to ``vllm-apc`` with its 95% bootstrap CI. Then the ablation: ``sagacore`` with
one piece removed at a time:

- *retention*: eviction only (``next-use``, KV never pinned or swapped in a tool);
- *admission*: no admission control (the SRPT-with-aging order alone);
- *ordering*: admission control over FCFS instead of SRPT with aging;
- *stealing*: session affinity without work stealing by idle workers;
- *routing*: per-call least-loaded placement instead of session affinity.

With ``--growth-shares``, also the admission rule's ``growth_share`` (the share of its
predicted growth a program reserves) at ``--growth-rates``. Fast mode, seed 0. Usage::

    python benchmarks/sagacore_stack.py [--workload swe-bench-trace] [--cluster a100-16]
        [--rates 0.7,1.4,2.83,4.25,5.66,8.5] [--peers continuum,sglang,...]
        [--tasks N] [--ablation-rates 2.83,5.66,8.5] [--growth-shares 0,0.35,0.5,1]
        [--growth-rates 4.25,5.66,8.5]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from sagacore.metrics import compare
from sagacore.policy import Scheduler
from sagacore.sim import isolated_tcts, simulate
from sagacore.sim.config import get_cluster
from sagacore.stacks import BuildContext, Stack, get_stack
from sagacore.workload.load import load_workload

PEERS = "continuum,sglang,autellix,kvflow,infercept,astraea,justitia,saga,preble"


def _srpt_only(ctx: BuildContext) -> Scheduler:
    from sagacore.sched.srpt_aging import SRPTAging

    return SRPTAging.from_context(ctx)


def _admission_fcfs(ctx: BuildContext) -> Scheduler:
    from sagacore.sched.admission import with_admission
    from sagacore.sched.fcfs import FCFS

    return with_admission(FCFS(), predictor=ctx.predictor)


def _with_growth_share(share: float) -> Stack:
    from sagacore.sched.admission import AdmissionConfig, SagacoreScheduler

    def build(ctx: BuildContext) -> Scheduler:
        p, o = ctx.token_prices()
        return SagacoreScheduler(ctx.predictor, seconds_per_prompt_token=p,
                                 seconds_per_output_token=o,
                                 config=AdmissionConfig(growth_share=share))

    return dataclasses.replace(get_stack("sagacore"), name=f"share {share:g}", scheduler=build)


def ablations() -> list[Stack]:
    """``sagacore`` with one piece removed at a time."""
    s = get_stack("sagacore")
    r = dataclasses.replace
    return [
        r(s, name="-retention", cache="next-use"),
        r(s, name="-admission", scheduler=_srpt_only),
        r(s, name="-ordering", scheduler=_admission_fcfs),
        r(s, name="-stealing", router="session-affinity"),
        r(s, name="-routing", router="least-loaded"),
    ]


def _run(workload_name: str, cluster_name: str, rate: float, stacks: list[Stack],
         tasks: int | None = None) -> None:
    cluster = get_cluster(cluster_name)
    w = load_workload(workload_name, tasks=tasks, rate=rate, seed=0)
    iso = isolated_tcts(w, cluster)
    base = simulate(w, get_stack("vllm-apc"), cluster, isolated=iso)
    print(f"\n{workload_name}, {cluster_name}, {rate:g} tasks/min: vllm-apc geomean TCT "
          f"{base.tct.geomean:,.0f} s, SLO {base.slo_attainment:.1%}")
    for st in stacks:
        r = simulate(w, st, cluster, isolated=iso)
        c = compare(r.tct_by_task(), base.tct_by_task(), seed=0)
        print(f"  {st.name:<12} {c.ratio:6.3f}x [{c.ci_low:.3f}, {c.ci_high:.3f}]  "
              f"SLO {r.slo_attainment:6.1%}  prefill {r.prefill_tokens_computed / 1e6:6.1f}M  "
              f"tasks/min {r.throughput_tasks_per_min:5.2f}", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", default="swe-bench-trace")
    p.add_argument("--cluster", default="a100-16")
    p.add_argument("--tasks", type=int, default=None, help="first N tasks (default: all)")
    p.add_argument("--rates", default="0.7,1.4,2.83,4.25,5.66,8.5")
    p.add_argument("--peers", default=PEERS, help="comma separated ('' for none)")
    p.add_argument("--ablation-rates", default="2.83,5.66,8.5", help="'' for none")
    p.add_argument("--growth-shares", default="", help="admission growth_share values "
                   "to compare (e.g. 0,0.25,0.35,0.5,0.65,1; default: none)")
    p.add_argument("--growth-rates", default="4.25,5.66,8.5", help="rates for those")
    args = p.parse_args()
    peers = [get_stack(n) for n in args.peers.split(",") if n]
    print("ratios: geometric mean of per-task TCT ratios to vllm-apc [95% bootstrap CI]")
    for rate in (float(x) for x in args.rates.split(",") if x):
        _run(args.workload, args.cluster, rate, [get_stack("sagacore"), *peers], args.tasks)
    rates = [float(x) for x in args.ablation_rates.split(",") if x]
    if rates:
        print("\nablation: sagacore with one piece removed")
    for rate in rates:
        _run(args.workload, args.cluster, rate, [get_stack("sagacore"), *ablations()], args.tasks)
    shares = [float(x) for x in args.growth_shares.split(",") if x]
    if shares:
        print("\nadmission: the share of its predicted growth a program reserves")
        for rate in (float(x) for x in args.growth_rates.split(",") if x):
            _run(args.workload, args.cluster, rate, [_with_growth_share(g) for g in shares],
                 args.tasks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
