"""``sagacore simulate``: run stacks on a workload and compare them.

With no arguments: the bundled real SWE-bench trace (198 tasks, 15,881 LLM calls) with
seeded Poisson arrivals at 8 tasks per minute, on SAGA's evaluation cluster
(16 instances of Llama-3-70B, tensor parallel 4, on 64 A100-80GB), under the baseline
stacks; a table of their metrics and the geometric-mean TCT ratio of each stack to the
first, with a bootstrap confidence interval and a paired test.

Columns: ``done`` tasks completed; TCT (task completion time, seconds) mean, median,
p99 and geometric mean; ``SLO`` the share of tasks within 1.5 x their isolated TCT;
``KV util`` the time-averaged share of KV memory in use; ``prefill`` the prompt tokens
computed and ``reused`` those served from the prefix cache; ``tasks/min`` the
throughput (tasks completed per minute of simulated time, from the first arrival to the
last completion); ``wall s`` and ``events`` the
simulator's own cost. ``wall s`` (``sim_wall_seconds`` in ``--json``) is the only field
that differs between identical runs.

``--faults SPEC`` injects faults (docs/faults.md): ``lose:I@T`` (instance I lost at time
T), ``slow:IxF@T1[-T2]`` (its step times x F from T1, until T2), ``migrate-fail:P`` (each
KV migration fails midway with probability P), ``seed:N``; comma-separated, times in
simulated seconds (or with s, m, h). The table shows the runs with the faults; a second
table their TCT cost against the same run without them (and of each fault alone).

``--profile FILE`` prices every step with a measured operator profile
(docs/cost-model.md, "Measured profiles") where its grid covers the step, and with the
roofline elsewhere, for every stack; the profile must be of the cluster's model, tensor
parallelism and GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from sagacore.cli._args import (
    add_on_bad_lines,
    add_quiet,
    check_output,
    int_at_least,
    positive_float,
)
from sagacore.cli._progress import Progress
from sagacore.errors import ConfigError
from sagacore.metrics import compare
from sagacore.sim import build_policies, isolated_tcts, simulate
from sagacore.sim.config import (
    CLUSTERS,
    DEFAULT_CLUSTER,
    MAX_INSTANCES,
    ClusterConfig,
    SimConfig,
    get_cluster,
)
from sagacore.sim.faults import FaultSchedule, FaultStats, parse_faults
from sagacore.sim.result import SimResult
from sagacore.stacks import BASELINES, STACKS, Stack, get_stack
from sagacore.workload.generators import DEFAULT_RATE_PER_MIN, GENERATORS
from sagacore.workload.load import DEFAULT_WORKLOAD, load_workload
from sagacore.workload.model import Workload

__all__ = ["DEFAULT_RATE_PER_MIN", "DEFAULT_WORKLOAD", "load_workload", "register"]

# load_workload, DEFAULT_WORKLOAD and DEFAULT_RATE_PER_MIN live with the workloads
# (sagacore.workload.load, sagacore.workload.generators); they are named here too
# because scripts and the vLLM integration import them from this module.


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
        f"({', '.join(GENERATORS)}) or a trace file",
    )
    p.add_argument(
        "--stack",
        action="append",
        metavar="NAME",
        help=f"stack to run (repeat to compare; default: {' '.join(BASELINES)}); "
        f"known: {', '.join(sorted(STACKS))}",
    )
    p.add_argument("--cluster", metavar="SPEC", help=f"a preset ({', '.join(sorted(CLUSTERS))}; "
                   f"default {DEFAULT_CLUSTER}) or GPUS:TP:MODEL:GPU; or give "
                   "--gpus/--tp/--model/--gpu")
    p.add_argument("--gpus", type=int_at_least(1),
                   help=f"GPUs in the cluster (at most {MAX_INSTANCES:,} instances)")
    p.add_argument("--tp", type=int_at_least(1, 64), help="tensor-parallel GPUs per instance")
    p.add_argument("--model", help="model preset (for example llama-3-70b)")
    p.add_argument("--gpu", help="GPU preset (for example a100-80gb)")
    p.add_argument("--profile", metavar="FILE", help="price steps with this measured profile "
                   "(sagacore cost profile) instead of the roofline, where its grid covers them")
    p.add_argument(
        "--rate",
        type=positive_float,
        metavar="TASKS_PER_MIN",
        help=f"Poisson arrival rate (default {DEFAULT_RATE_PER_MIN:g}); a trace file's own "
        "timestamps are replaced",
    )
    p.add_argument("--tasks", type=int_at_least(1), metavar="N", help="use the first N tasks")
    p.add_argument("--seed", type=int_at_least(0), default=0, metavar="S",
                   help="arrival seed (integer >= 0; default 0)")
    p.add_argument("--mode", choices=("fast", "step"), default="fast",
                   help="fast (closed-form decode runs, default) or step (every batch step)")
    p.add_argument("--checked", action="store_true", help="assert invariants while running")
    p.add_argument(
        "--peak",
        type=_slo_target,
        nargs="?",
        const=0.9,
        metavar="SLO_TARGET",
        help="also search each stack's peak sustainable rate: the highest Poisson rate "
        "with at least SLO_TARGET (default 0.9) of tasks within their SLO (many runs)",
    )
    p.add_argument(
        "--faults",
        type=_faults,
        metavar="SPEC",
        help="inject faults, for example 'lose:3@600s,slow:2x4@300s-1800s,migrate-fail:0.5' "
        "(docs/faults.md); also runs each stack without them (and with each fault alone) "
        "to report their TCT cost",
    )
    p.add_argument("--json", metavar="OUT", help="write per-stack results as JSON ('-': stdout, "
                   "and the table goes to stderr)")
    add_on_bad_lines(p)
    add_quiet(p)
    p.set_defaults(func=_run)


def _slo_target(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share in (0, 1], got {text!r}")
    return value


def _faults(text: str) -> FaultSchedule:
    try:
        return parse_faults(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _profile_note(cluster: ClusterConfig) -> str:
    """Where the profile was measured, and a warning when that was not a GPU."""
    from sagacore.engine.profile import MeasuredCostModel

    assert isinstance(cluster.cost, MeasuredCostModel)
    device = cluster.cost.profile.device
    if device.startswith("cuda"):
        return f"measured on {device}"
    return (f"measured on {device}: an example of the mechanism, not "
            f"{cluster.cost.gpu.name} figures")


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
            profile=args.profile,
        )
    return get_cluster(args.cluster or DEFAULT_CLUSTER, profile=args.profile)


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
    to_stdout = args.json == "-"
    if args.json is not None:
        check_output("--json", args.json, dash=True)
    faults: FaultSchedule | None = args.faults
    if faults is not None:
        if args.peak is not None:
            raise ConfigError("--faults cannot be combined with --peak")
        try:
            faults.check(cluster.instances)
        except ConfigError as exc:
            raise ConfigError(f"--faults: {exc}") from None
    workload = load_workload(args.workload, tasks=args.tasks, rate=args.rate, seed=args.seed,
                             on_bad_lines=args.on_bad_lines)
    cluster.check_fits(workload)
    out = sys.stderr if to_stdout else sys.stdout
    rate = DEFAULT_RATE_PER_MIN if args.rate is None else args.rate
    out.write(
        f"workload: {args.workload}: {len(workload)} tasks, {workload.llm_calls:,} LLM calls, "
        f"Poisson arrivals at {rate:g}/min (seed {args.seed})\n"
        f"cluster:  {cluster.describe()}\n"
        + (f"cost:     measured profile {args.profile} ({_profile_note(cluster)}); the "
           "roofline where its grid does not cover a step\n" if args.profile else "")
        + f"mode:     {args.mode}{' (checked)' if args.checked else ''}; TCT in seconds; "
        f"SLO: TCT <= 1.5 x isolated TCT\n"
        + (f"faults:   {faults}\n" if faults is not None else "")
        + "\n"
    )
    isolated = isolated_tcts(workload, cluster)
    results: list[SimResult] = []
    costs: dict[str, dict[str, Any]] = {}
    for k, st in enumerate(stacks):
        label = st.name if len(stacks) == 1 else f"{st.name} {k + 1}/{len(stacks)}"
        if faults is None:
            bar = Progress(label, quiet=args.quiet)
            try:
                r = simulate(workload, st, cluster, mode=args.mode, checked=args.checked,
                             progress=bar, isolated=isolated)
            finally:
                bar.close()
        else:
            r, costs[st.name] = _fault_runs(workload, st, cluster, args, isolated, faults, label)
        results.append(r)
    _table(results, out)
    if faults is not None:
        _cost_table(costs, out)
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
    if args.json is not None:
        doc = {
            "workload": args.workload,
            "tasks": len(workload),
            "llm_calls": workload.llm_calls,
            "rate_per_min": rate,
            "seed": args.seed,
            "cluster": cluster.describe(),
            "profile": args.profile,
            "stacks": {
                r.stack: {**r.summary(), **({"peak": peaks[r.stack]} if peaks else {}),
                          **({"faults": costs[r.stack]} if faults is not None else {})}
                for r in results
            },
            "comparisons": comparisons,
        }
        text = json.dumps(doc, indent=2) + "\n"
        if to_stdout:
            sys.stdout.write(text)
            return 0
        try:
            with open(args.json, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            # never lose a finished run: the results go to stdout instead
            sys.stdout.write(text)
            raise ConfigError(
                f"--json {args.json}: cannot write ({exc.strerror}); the JSON was printed "
                "to stdout instead"
            ) from None
        sys.stderr.write(f"wrote {args.json}\n")
    return 0


def _one_run(workload: Workload, st: Stack, cluster: ClusterConfig, args: argparse.Namespace,
             isolated: dict[str, float], faults: FaultSchedule | None,
             label: str) -> tuple[SimResult, FaultStats]:
    from sagacore.sim.cluster import Simulation

    bar = Progress(label, quiet=args.quiet)
    try:
        sim = Simulation(workload, build_policies(st, cluster), cluster,
                         SimConfig(mode=args.mode, checked=args.checked),
                         progress=bar, isolated=isolated, faults=faults)
        r = sim.run()
    finally:
        bar.close()
    return r, sim.fault_stats


def _cost(r: SimResult, base: SimResult, stats: FaultStats | None) -> dict[str, Any]:
    t, b = r.tct, base.tct
    doc: dict[str, Any] = {
        "tasks_completed": r.tasks_completed,
        "tct": {"mean": t.mean, "p50": t.p50, "p99": t.p99, "geomean": t.geomean},
        "slo_attainment": r.slo_attainment,
        "migrated_tokens": r.migrated_tokens,
    }
    if stats is not None:
        doc.update(
            tct_mean_delta_s=t.mean - b.mean,
            tct_geomean_delta_s=t.geomean - b.geomean,
            tct_mean_ratio=t.mean / b.mean if b.mean > 0 else None,
            tct_geomean_ratio=t.geomean / b.geomean if b.geomean > 0 else None,
            stats=stats.as_dict(),
        )
    return doc


def _fault_runs(workload: Workload, st: Stack, cluster: ClusterConfig, args: argparse.Namespace,
                isolated: dict[str, float], faults: FaultSchedule,
                label: str) -> tuple[SimResult, dict[str, Any]]:
    """The run with ``faults``, and their cost: the same run without them, and (with more
    than one fault) with each alone."""
    base, _ = _one_run(workload, st, cluster, args, isolated, None, f"{label} no faults")
    each: dict[str, Any] = {}
    items = faults.items()
    if len(items) > 1:
        for f in items:
            r1, s1 = _one_run(workload, st, cluster, args, isolated, faults.only(f),
                              f"{label} {f}")
            each[str(f)] = _cost(r1, base, s1)
    r, stats = _one_run(workload, st, cluster, args, isolated, faults, f"{label} faults")
    doc = {
        "spec": str(faults),
        "without": _cost(base, base, None),
        "each": each,
        "all": _cost(r, base, stats),
    }
    return r, doc


def _cost_table(costs: dict[str, dict[str, Any]], out: TextIO) -> None:
    out.write(
        "\nTCT cost of the faults (against the same run without them; each fault alone, "
        "then all):\n"
        f"  {'stack':<12}{'faults':<26}{'done':>5}{'TCT mean':>10}{'geomean':>9}"
        f"{'TCT mean +':>21}{'geomean +':>21}{'requeued':>9}{'restarted':>10}"
        f"{'failovers':>10}{'migr fail':>10}\n"
    )
    for stack, doc in costs.items():
        rows = [("none", doc["without"]), *doc["each"].items(), ("all", doc["all"])]
        for k, (name, c) in enumerate(rows):
            t = c["tct"]
            line = (f"  {stack if k == 0 else '':<12}{name:<26}{c['tasks_completed']:>5}"
                    f"{_fmt(t['mean']):>10}{_fmt(t['geomean']):>9}")
            if "stats" in c:
                dm, dg = c["tct_mean_delta_s"], c["tct_geomean_delta_s"]
                rm, rg = c["tct_mean_ratio"], c["tct_geomean_ratio"]
                pm = f" ({rm - 1:+.1%})" if rm is not None else ""
                pg = f" ({rg - 1:+.1%})" if rg is not None else ""
                s = c["stats"]
                line += (f"{f'{dm:+,.1f}{pm}':>21}{f'{dg:+,.1f}{pg}':>21}"
                         f"{s['calls_requeued']:>9}{s['calls_restarted']:>10}"
                         f"{s['failovers']:>10}{s['migrations_failed']:>10}")
            out.write(line + "\n")
        if "migrate-fail" in doc["spec"] and not doc["all"]["migrated_tokens"]:
            out.write(f"  ({stack} moved no KV between instances in this run: migrate-fail "
                      "had nothing to fail)\n")
