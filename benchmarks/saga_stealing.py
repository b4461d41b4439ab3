"""What SAGA's work stealing does: the same stacks with and without it, side by side.

Runs the bundled SWE-bench trace on 4 instances of Llama-3-70B (tensor parallel 4, 16
A100-80GB) at the given Poisson rates (default: 2.26, 2.83 and 4 tasks/min, about 80%,
100% and 141% of ``vllm-apc``'s peak sustainable rate; ``docs/stacks.md``) for:

- ``vllm-apc`` (the reference of the ratios);
- ``saga`` as registered (saga-affinity with work stealing, AFS, WA-LRU + tool TTL) and
  the same stack with ``SagaAffinity(steal=False)``;
- saga-affinity with and without stealing under ``vllm-apc``'s FCFS and LRU, which
  isolates the router.

Prints, per run: mean and geometric-mean TCT, the geometric-mean ratio to ``vllm-apc``,
prompt tokens computed, blocks evicted, preemptions and migrations. Fast mode, seed 0.

Usage::

    python benchmarks/saga_stealing.py [--rates 2.26,2.83,4]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from sagacore.metrics import compare
from sagacore.route.saga import SagaAffinity
from sagacore.sim import isolated_tcts, simulate
from sagacore.sim.config import ClusterConfig
from sagacore.stacks import BuildContext, Stack, get_stack
from sagacore.workload.load import load_workload


def _affinity(steal: bool) -> object:
    def build(ctx: BuildContext) -> SagaAffinity:
        return SagaAffinity(steal=steal)

    return build


def stacks() -> list[Stack]:
    """The stacks compared, ``vllm-apc`` first."""
    saga = get_stack("saga")
    return [
        get_stack("vllm-apc"),
        saga,
        dataclasses.replace(saga, name="saga (no stealing)", router=_affinity(False)),
        Stack("affinity+steal, fcfs, lru", _affinity(True), "fcfs", "lru"),  # type: ignore[arg-type]
        Stack("affinity, fcfs, lru", _affinity(False), "fcfs", "lru"),  # type: ignore[arg-type]
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="2.26,2.83,4")
    args = p.parse_args()
    cluster = ClusterConfig.from_gpus(16, tp=4, model="llama-3-70b", gpu="a100-80gb")
    print(f"cluster: {cluster.describe()}")
    for rate in (float(r) for r in args.rates.split(",")):
        w = load_workload("swe-bench-trace", tasks=None, rate=rate, seed=0)
        iso = isolated_tcts(w, cluster)
        print(f"\nSWE-bench trace, {len(w)} tasks, Poisson {rate:g}/min, seed 0")
        print(f"{'stack':<28}{'TCT mean':>9}{'geomean':>9}{'ratio':>8}{'prefill':>9}"
              f"{'evicted':>9}{'preempt':>8}{'migr':>6}")
        ref = None
        for st in stacks():
            r = simulate(w, st, cluster, isolated=iso)
            ratio = 1.0 if ref is None else compare(r.tct_by_task(), ref.tct_by_task()).ratio
            ref = r if ref is None else ref
            print(f"{st.name:<28}{r.tct.mean:>9,.0f}{r.tct.geomean:>9,.0f}{ratio:>7.3f}x"
                  f"{r.prefill_tokens_computed / 1e6:>8.1f}M{r.evicted_blocks / 1e3:>8.0f}k"
                  f"{r.preemptions:>8,}{r.migrations:>6,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
