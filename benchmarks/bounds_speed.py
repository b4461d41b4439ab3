"""FOO-L on the Mooncake conversation trace: solve time against the size of the LP.

Builds the FOO LP (cvxpy + HiGHS, :class:`sagacore.bounds.FooSolver`) on the first
quarter, half and all of the trace's requests and solves it at one capacity, printing
the LP's size (variables, rows, nonzeros), the build and solve times, and FOO-L, FOO-U
and their gap. Goal: the whole trace in under a minute.

Run::

    python benchmarks/bounds_speed.py [TRACE] [--capacity-tokens N] [--no-working-set]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sagacore.bounds import FooSolver, load_cache_trace

DEFAULT = (
    Path(__file__).resolve().parents[1].parent / "shared/data/mooncake/conversation_trace.jsonl"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace", nargs="?", default=str(DEFAULT))
    ap.add_argument("--capacity-tokens", type=int, default=1 << 20)
    ap.add_argument("--working-set", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()
    t0 = time.perf_counter()
    full, workload = load_cache_trace(args.trace)
    read_s = time.perf_counter() - t0
    n = len(workload)
    print(
        f"trace {args.trace}: {n} tasks, read in {read_s:.1f} s; capacity "
        f"{args.capacity_tokens} tokens, working set {args.working_set}"
    )
    print(
        f"{'tasks':>7} {'requests':>9} {'variables':>10} {'rows':>8} {'nonzeros':>9} "
        f"{'build s':>8} {'solve s':>8} {'FOO-L':>13} {'FOO-U/FOO-L':>12}"
    )
    for frac in (0.25, 0.5, 1.0):
        k = max(1, int(n * frac))
        trace = full if k == n else load_cache_trace(args.trace, head=k)[0]
        t1 = time.perf_counter()
        solver = FooSolver(trace, working_set=args.working_set)
        r = solver.solve(args.capacity_tokens)
        total = time.perf_counter() - t1
        print(
            f"{k:>7} {trace.n_requests:>9} {r.lp_variables:>10} {r.lp_constraints:>8} "
            f"{r.lp_nonzeros:>9} {r.build_seconds:>8.2f} {r.solve_seconds:>8.2f} "
            f"{r.lower:>13,.0f} {r.upper / r.lower:>12.5f}"
        )
    print(
        f"whole trace: FOO-L built and solved in {total:.1f} s "
        f"({'under' if total < 60 else 'OVER'} the one-minute goal)"
    )


if __name__ == "__main__":
    main()
