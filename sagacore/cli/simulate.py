"""``sagacore simulate``: run stacks on a workload and compare them.

With no arguments: the bundled real SWE-bench trace (198 tasks, 15,881 LLM calls) with
seeded Poisson arrivals at :data:`DEFAULT_RATE_PER_MIN`, on SAGA's evaluation cluster
(16 instances of Llama-3-70B, tensor parallel 4, on 64 A100-80GB), under the baseline
stacks; a table of their metrics and the geometric-mean TCT ratio of each stack to the
first, with a bootstrap confidence interval and a paired test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from sagacore.data import bundled_trace
from sagacore.errors import ConfigError
from sagacore.metrics import compare
from sagacore.sim import isolated_tcts, simulate
from sagacore.sim.arrivals import with_poisson_arrivals
from sagacore.sim.config import CLUSTERS, DEFAULT_CLUSTER, ClusterConfig, get_cluster
from sagacore.sim.result import SimResult
from sagacore.stacks import BASELINES, STACKS, get_stack
from sagacore.workload.model import Workload

__all__ = ["DEFAULT_RATE_PER_MIN", "DEFAULT_WORKLOAD", "load_workload", "register"]

DEFAULT_WORKLOAD = "swe-bench-trace"
"""The bundled real SWE-bench trace."""

DEFAULT_RATE_PER_MIN = 8.0
"""Default Poisson arrival rate (tasks per minute) of re-timed traces; see docs/simulator.md."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``simulate``."""
    p = sub.add_parser(
        "simulate",
        help="simulate stacks on a workload and compare them",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--workload",
        default=DEFAULT_WORKLOAD,
        metavar="NAME|PATH",
        help=f"{DEFAULT_WORKLOAD} (bundled real trace), a generator name "
        "(swe-bench, webarena, task-parallel, multi-tenant) or a trace file",
    )
    p.add_argument(
        "--stack",
        action="append",
        metavar="NAME",
        help=f"stack to run (repeat to compare; default: {' '.join(BASELINES)}); "
        f"known: {', '.join(sorted(STACKS))}",
    )
    p.add_argument("--cluster", metavar="PRESET", help=f"one of {', '.join(sorted(CLUSTERS))} "
                   f"(default {DEFAULT_CLUSTER}); or give --gpus/--tp/--model/--gpu")
    p.add_argument("--gpus", type=int, help="GPUs in the cluster")
    p.add_argument("--tp", type=int, help="tensor-parallel GPUs per instance")
    p.add_argument("--model", help="model preset (for example llama-3-70b)")
    p.add_argument("--gpu", help="GPU preset (for example a100-80gb)")
    p.add_argument(
        "--rate",
        type=float,
        metavar="TASKS_PER_MIN",
        help=f"Poisson arrival rate (default {DEFAULT_RATE_PER_MIN:g}); a trace file's own "
        "timestamps are replaced",
    )
    p.add_argument("--tasks", type=int, metavar="N", help="use the first N tasks")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="arrival seed (default 0)")
    p.add_argument("--mode", choices=("fast", "step"), default="fast",
                   help="fast (closed-form decode runs, default) or step (every batch step)")
    p.add_argument("--checked", action="store_true", help="assert invariants while running")
    p.add_argument(
        "--peak",
        type=float,
        nargs="?",
        const=0.9,
        metavar="SLO_TARGET",
        help="also search each stack's peak sustainable rate: the highest Poisson rate "
        "with at least SLO_TARGET (default 0.9) of tasks within their SLO (many runs)",
    )
    p.add_argument("--json", metavar="OUT", help="write per-stack results as JSON")
    p.set_defaults(func=_run)


def load_workload(spec: str, *, tasks: int | None, rate: float | None, seed: int) -> Workload:
    """The workload of ``--workload``: the bundled trace, a generator or a trace file.

    Traces are re-timed with Poisson arrivals at ``rate`` (default
    :data:`DEFAULT_RATE_PER_MIN`); generators draw their own Poisson arrivals.
    """
    from sagacore.workload.generators import GENERATORS, PoissonArrivals

    rate_v = DEFAULT_RATE_PER_MIN if rate is None else rate
    if tasks is not None and tasks < 1:
        raise ConfigError(f"--tasks must be >= 1, got {tasks}")
    if spec in GENERATORS:
        n = 200 if tasks is None else tasks
        return GENERATORS[spec](tasks=n, seed=seed, arrivals=PoissonArrivals(rate_per_min=rate_v))
    from sagacore.workload.readers import read_workload

    path = bundled_trace() if spec == DEFAULT_WORKLOAD else Path(spec)
    if spec != DEFAULT_WORKLOAD and not path.exists():
        raise ConfigError(
            f"--workload {spec!r} is neither {DEFAULT_WORKLOAD}, a generator "
            f"({', '.join(sorted(GENERATORS))}) nor an existing file"
        )
    w = read_workload(path)
    if tasks is not None:
        w = w.head(tasks)
    return with_poisson_arrivals(w, rate_v, seed=seed)


def _cluster(args: argparse.Namespace) -> ClusterConfig:
    custom = [a for a in ("gpus", "tp", "model", "gpu") if getattr(args, a) is not None]
    if args.cluster and custom:
        raise ConfigError(f"--cluster cannot be combined with --{', --'.join(custom)}")
    if custom:
        base = CLUSTERS[DEFAULT_CLUSTER]
        return ClusterConfig.from_gpus(
            args.gpus if args.gpus is not None else base[0],
            tp=args.tp if args.tp is not None else base[1],
            model=args.model if args.model is not None else base[2],
            gpu=args.gpu if args.gpu is not None else base[3],
        )
    return get_cluster(args.cluster or DEFAULT_CLUSTER)


class _Progress:
    """A one-line progress bar on stderr, shown on a terminal once a run passes 2 s."""

    def __init__(self, label: str, stream: TextIO) -> None:
        self.label = label
        self.stream = stream
        self.tty = stream.isatty()
        self.t0 = time.perf_counter()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.tty:
            return
        elapsed = time.perf_counter() - self.t0
        if elapsed < 2.0:
            return
        width = 30
        filled = width * done // max(total, 1)
        self.stream.write(
            f"\r{self.label:<12} [{'#' * filled}{'.' * (width - filled)}] "
            f"{done}/{total} tasks {elapsed:5.1f}s"
        )
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()


def _fmt(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def _table(results: list[SimResult], out: TextIO) -> None:
    head = (
        f"{'stack':<12}{'done':>6}{'TCT mean':>10}{'p50':>9}{'p99':>9}{'geomean':>9}"
        f"{'SLO':>7}{'KV util':>8}{'prefill':>9}{'reused':>9}{'tasks/min':>10}"
        f"{'wall s':>8}{'events':>9}"
    )
    out.write(head + "\n")
    for r in results:
        t = r.tct
        out.write(
            f"{r.stack:<12}{r.tasks_completed:>6}{_fmt(t.mean):>10}{_fmt(t.p50):>9}"
            f"{_fmt(t.p99):>9}{_fmt(t.geomean):>9}{r.slo_attainment:>7.1%}"
            f"{r.kv_utilization:>8.1%}{r.prefill_tokens_computed / 1e6:>8.1f}M"
            f"{r.prefill_tokens_reused / 1e6:>8.1f}M{r.throughput_tasks_per_min:>10.2f}"
            f"{r.sim_wall_seconds:>8.2f}{r.events:>9,}\n"
        )


def _run(args: argparse.Namespace) -> int:
    names = args.stack or list(BASELINES)
    stacks = [get_stack(n) for n in names]
    cluster = _cluster(args)
    workload = load_workload(args.workload, tasks=args.tasks, rate=args.rate, seed=args.seed)
    out = sys.stdout
    rate = DEFAULT_RATE_PER_MIN if args.rate is None else args.rate
    out.write(
        f"workload: {args.workload}: {len(workload)} tasks, {workload.llm_calls:,} LLM calls, "
        f"Poisson arrivals at {rate:g}/min (seed {args.seed})\n"
        f"cluster:  {cluster.describe()}\n"
        f"mode:     {args.mode}{' (checked)' if args.checked else ''}; TCT in seconds; "
        f"SLO: TCT <= 1.5 x isolated TCT\n\n"
    )
    isolated = isolated_tcts(workload, cluster)
    results: list[SimResult] = []
    for st in stacks:
        bar = _Progress(st.name, sys.stderr)
        try:
            r = simulate(workload, st, cluster, mode=args.mode, checked=args.checked,
                         progress=bar, isolated=isolated)
        finally:
            bar.close()
        results.append(r)
    _table(results, out)
    comparisons: dict[str, Any] = {}
    if len(results) > 1:
        base = results[0]
        out.write(f"\nTCT geometric-mean ratio to {base.stack} (95% bootstrap CI; "
                  "Wilcoxon signed-rank p):\n")
        for r in results[1:]:
            c = compare(r.tct_by_task(), base.tct_by_task(), seed=args.seed)
            comparisons[r.stack] = {
                "vs": base.stack, "ratio": c.ratio, "ci_low": c.ci_low, "ci_high": c.ci_high,
                "p_value": c.p_value, "tasks": c.n,
            }
            out.write(
                f"  {r.stack:<12} {c.ratio:6.3f}x  [{c.ci_low:.3f}, {c.ci_high:.3f}]  "
                f"p={c.p_value:.2g}  ({c.n} tasks)\n"
            )
    peaks: dict[str, Any] = {}
    if args.peak is not None:
        from sagacore.sim.search import peak_sustainable_rate

        out.write(f"\npeak sustainable rate (SLO attainment >= {args.peak:g}):\n")
        for st in stacks:
            pk = peak_sustainable_rate(workload, st, cluster, slo_target=args.peak,
                                       seed=args.seed, lo=max(rate / 8, 0.25))
            peaks[st.name] = {
                "rate_per_min": pk.rate_per_min,
                "slo_attainment": pk.attainment,
                "throughput_tasks_per_min": pk.throughput_tasks_per_min,
                "tried": [list(x) for x in pk.tried],
            }
            out.write(
                f"  {st.name:<12} {pk.rate_per_min:8.2f} tasks/min (attainment "
                f"{pk.attainment:.1%}, {len(pk.tried)} runs)\n"
            )
    if args.json:
        doc = {
            "workload": args.workload,
            "tasks": len(workload),
            "llm_calls": workload.llm_calls,
            "rate_per_min": rate,
            "seed": args.seed,
            "cluster": cluster.describe(),
            "stacks": {
                r.stack: {**r.summary(), **({"peak": peaks[r.stack]} if peaks else {})}
                for r in results
            },
            "comparisons": comparisons,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        sys.stderr.write(f"wrote {args.json}\n")
    return 0
