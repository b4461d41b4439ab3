"""``sagacore reproduce``: regenerate the results page with its plots and verdicts.

Runs the sweeps of every named regime (each stack and the ideal references from 0.25x
to 3x of vllm-apc's SLO-peak rate, with SLO-peak searches), the cache table and the bound
table, and writes OUT (default docs/results.md) with its plots and data in OUT's
"-files" folder beside it: the load curves, where agent-aware scheduling can win and by
at most how much, which stack to run in each regime, and a verdict for each published
claim. --quick runs a small plan
(one regime, three loads, four stacks, a small cache table) in a few minutes on 2 cores;
CI runs it as a smoke test. Interrupted, it resumes where it stopped.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``reproduce``."""
    p = sub.add_parser(
        "reproduce",
        help="regenerate the results page (docs/results.md) and its plots",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="the small smoke plan (minutes)")
    p.add_argument("-o", "--out", default="docs/results.md", metavar="PAGE",
                   help="the page to write (default docs/results.md)")
    p.add_argument("--jobs", type=int, metavar="N", help="parallel runs (default: the cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sagacore.cli.sweep import SweepProgress
    from sagacore.sweep.reproduce import FULL, QUICK, reproduce

    bar = SweepProgress(sys.stderr, enabled=not args.quiet)
    cmd = "sagacore reproduce" + (" --quick" if args.quick else "")
    try:
        page = reproduce(args.out, QUICK if args.quick else FULL, jobs=args.jobs,
                         progress=bar, command=cmd)
    finally:
        bar.close()
    sys.stdout.write(f"wrote {page}\n")
    return 0
