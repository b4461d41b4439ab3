"""Where a simulation's CPU time goes: a sampling profile of one stack on the default run.

``cProfile`` charges every Python call its own overhead, so it inflates small, often
called functions (the simulator's hot paths are made of those) and understates loops.
This script samples instead: a ``SIGPROF`` timer interrupts the ``simulate`` call every
few milliseconds of CPU time and records the function (and line) running then, and every
function on the stack above it. It prints each function's share of the samples where it
was running (self) and where it was on the stack (inclusive), and the hottest lines.
Same workload as ``benchmarks/sim_speed.py`` (the bundled SWE-bench trace, Poisson at
``sagacore simulate``'s default rate, seed 0, the default cluster), after a two-task
warm-up. Not a timed test; Unix only (``signal.setitimer``).

Usage::

    python benchmarks/sim_profile.py [--stack vllm-apc] [--runs 3] [--top 30]
"""

from __future__ import annotations

import argparse
import collections
import signal
import sys
from types import FrameType


def main() -> int:
    from sagacore.cli.simulate import DEFAULT_RATE_PER_MIN, load_workload
    from sagacore.sim import simulate
    from sagacore.sim.config import DEFAULT_CLUSTER, get_cluster

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stack", default="vllm-apc")
    p.add_argument("--runs", type=int, default=3, help="simulations sampled (more: steadier)")
    p.add_argument("--top", type=int, default=30, help="rows per table")
    p.add_argument("--interval", type=float, default=0.001, help="CPU seconds between samples")
    p.add_argument("--rate", type=float, default=DEFAULT_RATE_PER_MIN)
    p.add_argument("--cluster", default=DEFAULT_CLUSTER)
    args = p.parse_args()
    w = load_workload("swe-bench-trace", tasks=None, rate=args.rate, seed=0)
    cluster = get_cluster(args.cluster)
    simulate(w.head(2), args.stack, cluster)

    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    lines: collections.Counter[str] = collections.Counter()

    def sample(signum: int, frame: FrameType | None) -> None:
        seen: set[str] = set()
        first = True
        while frame is not None:
            code = frame.f_code
            name = f"{'/'.join(code.co_filename.rsplit('/', 2)[-2:])}:{code.co_name}"
            if first:
                own[name] += 1
                lines[f"{name}:{frame.f_lineno}"] += 1
                first = False
            if name not in seen:
                inclusive[name] += 1
                seen.add(name)
            frame = frame.f_back

    signal.signal(signal.SIGPROF, sample)
    signal.setitimer(signal.ITIMER_PROF, args.interval, args.interval)
    try:
        for _ in range(args.runs):
            simulate(w, args.stack, cluster)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
    total = sum(own.values())
    print(f"stack {args.stack}: {total} samples over {args.runs} run(s) of the default run")
    for title, counts in (("self", own), ("inclusive", inclusive), ("lines", lines)):
        print(f"--- {title}")
        for key, n in counts.most_common(args.top):
            print(f"{100 * n / total:5.1f}%  {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
