"""``sagacore sweep``: stacks over loads, seeds, clusters and workloads, resumable.

Every run is its own process; its row is appended to OUT/results.jsonl and
OUT/results.csv the moment it ends, so a killed sweep started again with the same
arguments runs only what is missing. Rates are tasks per minute (Poisson arrivals of
whole agent tasks) or multiples of a stack's SLO-peak rate (1.5x: searched first, per
workload, cluster and seed). A regime (--regime) fills in the workload, cluster, task
count and loads of a named setting (docs/results.md). At the end a table per workload
and cluster gives, at each load, every stack's geometric-mean TCT, its ratio to
vllm-apc with a 95% bootstrap interval, SLO attainment, goodput and the share of the
headroom it captures; then which stack to run: at each load the one with the lowest
ratio and its ratio to the next best on the same tasks (95% interval: faster or tied),
and over the loads the one with the lowest geometric mean of its ratios.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict
from typing import Any, TextIO

from sagacore.errors import ConfigError
from sagacore.stacks import STACKS
from sagacore.sweep.spec import IDEAL_PREFIX, IDEALS, REGIMES, RelRate, parse_rates

__all__ = ["DEFAULT_STACKS", "SweepProgress", "choice_table", "json_clean", "register",
           "summary_table"]

DEFAULT_STACKS: tuple[str, ...] = tuple(
    s for s in ("vllm-apc", "sglang", "continuum", "sagacore") if s in STACKS)
"""Stacks swept when no --stack is given."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sweep``."""
    p = sub.add_parser(
        "sweep",
        help="run stacks over loads, seeds, clusters and workloads (resumable)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--regime", action="append", metavar="NAME",
                   help=f"a named setting (repeatable): {', '.join(sorted(REGIMES))}")
    p.add_argument("--workload", action="append", metavar="NAME|PATH",
                   help="workload (repeatable): swe-bench-trace, a generator or a trace file")
    p.add_argument("--cluster", action="append", metavar="SPEC",
                   help="cluster (repeatable): a preset (a100-16, a100-64, ...) or "
                   "GPUS:TP:MODEL:GPU; default a100-16")
    p.add_argument("--stack", action="append", metavar="NAME",
                   help=f"stack (repeatable); default: {', '.join(DEFAULT_STACKS)}")
    p.add_argument("--ideal", action="append", choices=IDEALS,
                   help="also run an ideal reference (repeatable): vllm-apc with unbounded "
                   "KV memory, free prefill, or both")
    p.add_argument("--rates", metavar="LIST",
                   help="comma-separated tasks/min or peak multiples (0.5x,1x,2x); "
                   "default with --regime: the regime's loads")
    p.add_argument("--peak-of", default="vllm-apc", metavar="STACK",
                   help="stack whose SLO-peak rate the multiples refer to (default vllm-apc)")
    p.add_argument("--peak", action="store_true",
                   help="also search every swept stack's SLO-peak rate (goodput; many runs)")
    p.add_argument("--peak-target", type=float, default=0.9, metavar="F",
                   help="SLO attainment that defines the peak (default 0.9)")
    p.add_argument("--seeds", default="0", metavar="LIST", help="arrival seeds (default 0)")
    p.add_argument("--tasks", type=int, metavar="N",
                   help="first N tasks of each workload (generators: 200)")
    p.add_argument("-o", "--out", default="sagacore-sweep", metavar="DIR",
                   help="results folder (default ./sagacore-sweep); reused to resume")
    p.add_argument("--jobs", type=int, metavar="N", help="parallel runs (default: the cores)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local processes (default) or a Ray cluster (pip install 'sagacore[ray]')")
    p.add_argument("--reference", default="vllm-apc", metavar="STACK",
                   help="stack the ratios are taken to (default vllm-apc)")
    p.add_argument("--json", action="store_true",
                   help="print the load points as JSON on stdout (nothing else)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


class SweepProgress:
    """A one-line progress bar on stderr: jobs done, ETA and the job that just ended.

    Shown only on a terminal (and not with ``--quiet``).
    """

    def __init__(self, stream: TextIO, *, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled and stream.isatty()
        self.t0 = time.perf_counter()
        self.shown = False

    def __call__(self, done: int, total: int, current: str) -> None:
        if not self.enabled:
            return
        el = time.perf_counter() - self.t0
        eta = el / done * (total - done) if done else math.nan
        width = 24
        filled = width * done // max(total, 1)
        eta_s = f"{eta:4.0f}s" if math.isfinite(eta) else "  ?"
        line = (f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} runs "
                f"ETA {eta_s}  {current}")
        self.stream.write(line[:160].ljust(100))
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        """Erase the bar."""
        if self.shown:
            self.stream.write("\r" + " " * 160 + "\r")
            self.stream.flush()


def _ints(text: str, flag: str) -> list[int]:
    out = []
    for s in text.split(","):
        try:
            out.append(int(s.strip()))
        except ValueError:
            raise ConfigError(f"{flag} {text!r}: {s.strip()!r} is not an integer") from None
    return out


def summary_table(points: list[Any], out: TextIO) -> None:
    """Write the per-load comparison of :func:`sagacore.sweep.analysis.load_points`."""
    by: dict[tuple[str, str], list[Any]] = {}
    for p in points:
        by.setdefault((p.workload, p.cluster), []).append(p)
    for (w, c), ps in by.items():
        out.write(f"\n{w} on {c}:\n")
        out.write(f"{'load':>9} {'stack':<20}{'rate':>8}{'geomean':>10}{'floor':>9}"
                  f"{'ratio [95% CI]':>26}{'SLO':>7}{'goodput':>9}{'headroom':>10}\n")
        for p in ps:
            ratio = (f"{p.ratio:.3f}x [{p.ratio_lo:.3f}, {p.ratio_hi:.3f}]"
                     if math.isfinite(p.ratio) else "-")
            head = f"{p.headroom:+.0%}" if math.isfinite(p.headroom) else "-"
            out.write(f"{p.label:>9} {p.stack:<20}{p.rate_per_min:>8.2f}{p.geomean:>10,.0f}"
                      f"{p.floor:>9,.0f}{ratio:>26}{p.slo_attainment:>7.1%}"
                      f"{p.goodput:>9.2f}{head:>10}\n")


def choice_table(choices: list[Any], out: TextIO, reference: str) -> None:
    """Write :func:`sagacore.sweep.analysis.choose`'s answer, per workload and cluster."""
    if not choices:
        return
    out.write(f"\nWhich stack to run: at each load the lowest geometric-mean TCT ratio to "
              f"{reference},\nand its ratio to the next best on the same tasks (95% CI); "
              "ideal references left out.\n")
    seen: set[tuple[str, str]] = set()
    for ch in choices:
        if (ch.workload, ch.cluster) not in seen:
            seen.add((ch.workload, ch.cluster))
            out.write(f"{ch.workload} on {ch.cluster}:\n")
        out.write(ch.describe(reference) + "\n")


def _run(args: argparse.Namespace) -> int:
    from sagacore.sweep.analysis import choose, load_points
    from sagacore.sweep.driver import run_sweep

    stacks = list(dict.fromkeys(args.stack or DEFAULT_STACKS))
    stacks += [IDEAL_PREFIX + k for k in dict.fromkeys(args.ideal or ())]
    seeds = _ints(args.seeds, "--seeds")
    rates = parse_rates(args.rates) if args.rates else None
    if not math.isfinite(args.peak_target):
        raise ConfigError(f"--peak-target must be in (0, 1], got {args.peak_target!r}")
    settings: list[tuple[list[str], list[str], int | None, tuple[float | RelRate, ...]]] = []
    if args.regime:
        if args.workload or args.cluster:
            raise ConfigError("--regime sets the workload and cluster: drop --workload/--cluster")
        for name in args.regime:
            if name not in REGIMES:
                from sagacore.errors import UnknownNameError

                raise UnknownNameError("regime", name, list(REGIMES))
            rg = REGIMES[name]
            settings.append(([rg.workload], [rg.cluster],
                             args.tasks if args.tasks is not None else rg.tasks,
                             rates or tuple(RelRate(x) for x in rg.rel_rates)))
    else:
        if rates is None:
            raise ConfigError("give --rates (or a --regime, which has its own loads)")
        settings.append((args.workload or ["swe-bench-trace"], args.cluster or ["a100-16"],
                         args.tasks, rates))
    peaks_for = [s for s in stacks if not s.startswith(IDEAL_PREFIX)] if args.peak else []
    bar = SweepProgress(sys.stderr, enabled=not args.quiet)
    failed: list[str] = []
    rows: list[dict[str, Any]] = []
    peaks: list[dict[str, Any]] = []
    try:
        for workloads, clusters, tasks, rs in settings:
            res = run_sweep(workloads=workloads, clusters=clusters, stacks=stacks, rates=rs,
                            seeds=seeds, tasks=tasks, out=args.out, peak_of=args.peak_of,
                            peaks_for=peaks_for, peak_target=args.peak_target,
                            jobs=args.jobs, backend=args.backend, progress=bar)
            failed += res.failed
            rows, peaks = res.rows, res.peaks
    finally:
        bar.close()
    points = load_points(rows, reference=args.reference)
    choices = choose(rows, reference=args.reference)
    if args.json:
        doc = {"out": args.out, "points": [asdict(p) for p in points],
               "choices": [{**asdict(c), "verdict": c.verdict} for c in choices],
               "peaks": peaks, "failed": failed}
        sys.stdout.write(json.dumps(json_clean(doc), indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(f"results: {args.out}/results.jsonl ({len(rows)} runs), "
                         f"{args.out}/results.csv\n")
        summary_table(points, sys.stdout)
        choice_table(choices, sys.stdout, args.reference)
        if peaks:
            sys.stdout.write("\nSLO-peak rates (tasks/min):\n")
            for pk in peaks:
                met = "" if pk.get("met", True) else "  (target not met at the lowest rate)"
                sys.stdout.write(f"  {pk['workload']} on {pk['cluster']} seed {pk['seed']}: "
                                 f"{pk['stack']:<16} {pk['rate_per_min']:8.2f}  "
                                 f"(attainment {pk['attainment']:.1%}){met}\n")
    for f in failed:
        sys.stderr.write(f"error: run failed: {f}\n")
    return 1 if failed else 0



def json_clean(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_clean(v) for v in obj]
    return obj
