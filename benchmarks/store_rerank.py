"""The store's eviction rule in the simulator: asking the policy at each admission or not.

``PrefixStore`` asks the cache policy for a victim at every allocation that must evict
for a new call (its admission); a running call's further blocks (a later prefill chunk,
a decode step's next block) take the rest of the last victim. Before commit 92dc20d
every allocation drained the last victim until it was gone, in use or had a child.
Cache-only replay gains from asking at each request (``docs/caching.md``, Section 5);
this script measures what the rule does in the simulator:
each stack with the library's store and with a store whose every allocation drains
(``DrainingStore`` of ``benchmarks/cache_diagnostics.py``, not part of the library), on the bundled SWE-bench
trace, 4 instances of Llama-3-70B (tensor parallel 4, 16 A100-80GB), at the given
Poisson rates (default: 2.83 and 4 tasks/min, 100% and 141% of ``vllm-apc``'s peak
sustainable rate; ``docs/stacks.md``). Fast mode, seed 0. Ratios are geometric means of
per-task TCT ratios to ``vllm-apc`` with the library's store.

Usage::

    python benchmarks/store_rerank.py [--rates 2.83,4] [--stacks sagacore-best,kvflow,saga]
"""

from __future__ import annotations

import argparse
import sys

from cache_diagnostics import DrainingStore, store_class  # the script beside this one

import sagacore.sim.cluster as cluster_module
from sagacore.cache.store import PrefixStore
from sagacore.metrics import compare
from sagacore.sim import isolated_tcts, simulate
from sagacore.sim.config import ClusterConfig
from sagacore.sim.result import SimResult
from sagacore.workload.load import load_workload


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="2.83,4")
    p.add_argument("--stacks", default="sagacore-best,kvflow,saga")
    args = p.parse_args()
    cluster = ClusterConfig.from_gpus(16, tp=4, model="llama-3-70b", gpu="a100-80gb")
    print(f"cluster: {cluster.describe()}")
    for rate in (float(r) for r in args.rates.split(",")):
        w = load_workload("swe-bench-trace", tasks=None, rate=rate, seed=0)
        iso = isolated_tcts(w, cluster)
        ref = simulate(w, "vllm-apc", cluster, isolated=iso)
        print(f"\nSWE-bench trace, {len(w)} tasks, Poisson {rate:g}/min, seed 0; "
              f"vllm-apc TCT mean {ref.tct.mean:,.0f} s")
        print(f"{'stack':<16}{'store':<18}{'TCT mean':>9}{'ratio':>8}{'  95% CI':<18}"
              f"{'prefill':>9}{'evicted':>9}")
        for name in args.stacks.split(","):
            for label, cls in (("per admission", PrefixStore), ("draining", DrainingStore)):
                with store_class(cls, cluster_module):
                    r: SimResult = simulate(w, name, cluster, isolated=iso)
                c = compare(r.tct_by_task(), ref.tct_by_task())
                print(f"{name:<16}{label:<18}{r.tct.mean:>9,.0f}{c.ratio:>7.3f}x"
                      f"  [{c.ci_low:.3f}, {c.ci_high:.3f}]  {r.prefill_tokens_computed / 1e6:>7.1f}M"
                      f"{r.evicted_blocks / 1e3:>8.0f}k")
    return 0


if __name__ == "__main__":
    sys.exit(main())
