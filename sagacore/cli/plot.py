"""``sagacore plot``: draw a sweep's results as PNG files.

RESULTS is a sweep folder (or its results.jsonl). For each workload and cluster it
writes four plots into DIR: TCT against load with the isolated-TCT floor and the ideal
references, goodput against offered load, the TCT ratio to the reference stack with
95% intervals, and KV utilisation and prompt tokens computed against load. Needs
matplotlib (pip install 'sagacore[plots]').
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``plot``."""
    p = sub.add_parser(
        "plot",
        help="draw a sweep's results (PNG)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results", metavar="RESULTS", help="a sweep folder or its results.jsonl")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="folder for the PNG files")
    p.add_argument("--reference", default="vllm-apc", metavar="STACK",
                   help="stack the ratios are taken to (default vllm-apc)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sagacore.sweep.plots import plot_results
    from sagacore.sweep.table import read_rows

    rows = read_rows(args.results)
    for path in plot_results(rows, args.out, reference=args.reference):
        sys.stdout.write(f"{path}\n")
    return 0
