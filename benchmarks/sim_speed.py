"""Simulator speed: fast mode (closed-form decode runs) against step mode (every step).

Runs the 64-GPU SWE-bench workload (the bundled real trace: 198 tasks, 15,881 LLM calls,
Poisson arrivals at ``sagacore simulate``'s default rate, seed 0; 16 instances of
Llama-3-70B, tensor parallel 4, on A100-80GB) once in each mode (after a two-task
warm-up of each), checks that both give the same results, and prints simulated LLM
calls per wall-clock second for each mode and their ratio. Not a timed test: the
figures depend on the machine.

Usage::

    python benchmarks/sim_speed.py [--stack vllm-apc] [--rate 8] [--tasks N]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

from sagacore.cli.simulate import DEFAULT_RATE_PER_MIN, load_workload
from sagacore.sim import simulate
from sagacore.sim.config import DEFAULT_CLUSTER, get_cluster
from sagacore.sim.result import SimResult


def _same(a: SimResult, b: SimResult) -> bool:
    sa, sb = a.summary(), b.summary()
    for k in ("sim_wall_seconds", "events", "mode", "kv_utilization"):
        del sa[k], sb[k]
    same_tasks = [(r.task_id, r.completion_s) for r in a.tasks] == [
        (r.task_id, r.completion_s) for r in b.tasks
    ]
    util = math.isclose(a.kv_utilization, b.kv_utilization, rel_tol=1e-9)
    return sa == sb and same_tasks and util


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stack", default="vllm-apc")
    p.add_argument("--rate", type=float, default=DEFAULT_RATE_PER_MIN)
    p.add_argument("--tasks", type=int, default=None)
    p.add_argument("--cluster", default=DEFAULT_CLUSTER)
    args = p.parse_args()
    w = load_workload("swe-bench-trace", tasks=args.tasks, rate=args.rate, seed=0)
    cluster = get_cluster(args.cluster)
    print(f"workload: {len(w)} tasks, {w.llm_calls:,} LLM calls, Poisson {args.rate:g}/min, seed 0")
    print(f"cluster:  {cluster.describe()}")
    print(f"stack:    {args.stack}; python {platform.python_version()} on {platform.machine()}")
    # warm up (imports, lazily built tables) on two tasks, so that neither mode pays it
    for mode in ("fast", "step"):
        simulate(w.head(2), args.stack, cluster, mode=mode)  # type: ignore[arg-type]
    results = {}
    for mode in ("fast", "step"):
        t0, c0 = time.perf_counter(), time.process_time()
        r = simulate(w, args.stack, cluster, mode=mode)  # type: ignore[arg-type]
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        results[mode] = (r, wall, cpu)
        print(
            f"{mode:>5}: {wall:7.2f} s wall, {cpu:7.2f} s CPU, {r.events:>9,} events, "
            f"{r.batch_steps:,} batch steps, {r.llm_calls / wall:7,.0f} LLM calls per wall s"
        )
    (fast, tf, cf), (step, ts, cs) = results["fast"], results["step"]
    same = _same(fast, step)
    print(f"identical results: {same}")
    print(f"speed-up of fast over step mode: {ts / tf:.1f}x wall, {cs / cf:.1f}x CPU")
    # every fast-mode event (an admission, a call's end, a tool's end, a prefill step's
    # end that decides something) is also an event of step mode, and costs at least a
    # plain decode step
    print(
        f"step-mode events per fast-mode event: {step.events / fast.events:.1f} "
        f"(the speed-up if a fast-mode event cost what a step-mode event costs); "
        f"CPU per event: fast {1e6 * cf / fast.events:.0f} us, step {1e6 * cs / step.events:.0f} us"
    )
    if hasattr(os, "getloadavg"):
        print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
