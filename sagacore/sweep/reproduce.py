"""``sagacore reproduce``: regenerate the results page, its plots and its verdicts.

:func:`reproduce` runs a :class:`Plan`: sweeps of the named regimes (every stack and the
ideal references over loads relative to ``vllm-apc``'s SLO peak, with the SLO-peak rate
of the stacks in ``peaks_for``), the cache table (each cache policy's miss cost over
FOO-L, with Belady) and the bound table on the bundled trace, then writes a Markdown
page with the load curves (PNG), the tables, a verdict per published claim, and
sentences that say where agent-aware scheduling can win and by at most how much.

The sweeps' rows stay in ``<out>/sweep`` (resumable: a reproduce killed midway and
started again reruns only what is missing).

:data:`QUICK` is the smoke plan (one regime, three loads, four stacks, a small cache
table: a few minutes on 2 cores); :data:`FULL` is the page in docs/results.md.
"""

from __future__ import annotations

import datetime as _dt
import math
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sagacore.errors import ConfigError
from sagacore.stacks import STACKS
from sagacore.sweep.analysis import Choice, Point, choose, load_label, load_points
from sagacore.sweep.driver import SweepResult, run_sweep
from sagacore.sweep.spec import REGIMES, RelRate

__all__ = ["FULL", "QUICK", "Plan", "reproduce", "summary"]


@dataclass(frozen=True)
class Plan:
    """What :func:`reproduce` runs."""

    regimes: tuple[tuple[str, tuple[float, ...] | None], ...]
    """Regime names with their loads (None: the regime's own)."""
    stacks: tuple[str, ...]
    """Stacks swept in every regime (unknown names are left out)."""
    ideals: tuple[str, ...]
    """Ideal references swept (``ideal:both`` ...)."""
    peaks_for: tuple[str, ...]
    """Stacks whose SLO-peak rate is searched in every regime (goodput)."""
    tasks: dict[str, int] | None
    """Task counts that override a regime's (None: the regime's)."""
    cache_capacities: tuple[int, ...]
    """Capacities (tokens) of the cache and bound tables."""
    cache_head: int | None
    """First tasks of the bundled trace used by the cache and bound tables."""
    cache_policies: tuple[str, ...]
    """Cache policies of the cache table (unknown names are left out)."""
    regime_stacks: dict[str, tuple[str, ...]] | None = None
    """Stacks (ideals included) that replace ``stacks`` and ``ideals`` in a regime."""
    overload_seeds: tuple[int, ...] = ()
    """Seeds run besides seed 0 at loads of at least ``overload_from`` (each relative to
    ``vllm-apc``'s SLO peak at that seed); their tasks are pooled with seed 0's. Overload
    results at one seed swing by tens of percent with the arrival pattern."""
    overload_from: float = 1.5
    """The least load (multiple of the peak) that ``overload_seeds`` run at."""

    def __post_init__(self) -> None:
        for name, _ in self.regimes:
            if name not in REGIMES:
                raise ConfigError(f"Plan.regimes: unknown regime {name!r}")
        if 0 in self.overload_seeds or any(sd < 0 for sd in self.overload_seeds):
            raise ConfigError(f"Plan.overload_seeds: seeds other than 0 and >= 0, got "
                              f"{self.overload_seeds}")


_PEERS = ("continuum", "sglang", "autellix", "kvflow", "infercept", "astraea", "justitia",
          "saga", "preble", "vtc")

QUICK = Plan(
    regimes=(("swe-trace-16", (0.5, 1.0, 2.0)),),
    stacks=("vllm-apc", "continuum", "saga", "sagacore"),
    ideals=("ideal:both",),
    peaks_for=(),
    tasks=None,
    cache_capacities=(65_536,),
    cache_head=20,
    cache_policies=("lru", "walru", "next-use", "sagacore"),
    overload_seeds=(1,),
    overload_from=2.0,
)
"""The smoke plan of ``sagacore reproduce --quick``."""

FULL = Plan(
    regimes=tuple((name, (1.0, 2.0, 3.0) if name == "swe-gen-64" else None)
                  for name in REGIMES),
    stacks=("vllm-apc", "vllm", *_PEERS, "sagacore"),
    ideals=("ideal:infinite-kv", "ideal:zero-prefill", "ideal:both"),
    peaks_for=("vllm-apc", "continuum", "saga", "sagacore"),
    tasks=None,
    cache_capacities=(65_536, 131_072, 196_608, 262_144),
    cache_head=None,
    cache_policies=("lru", "walru", "kvflow", "next-use", "sagacore"),
    # 600 tasks on 16 instances cost about 30-60 s per run: no ideals but ideal:both
    regime_stacks={"swe-gen-64": ("vllm-apc", "vllm", *_PEERS, "sagacore", "ideal:both")},
    overload_seeds=(1, 2),
)
"""The plan of docs/results.md (``sagacore reproduce``)."""

Progress = Callable[[int, int, str], None]


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False,
                             cwd=Path(__file__).resolve().parent)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def _fmt_ratio(p: Point | None) -> str:
    if p is None or not math.isfinite(p.ratio):
        return "-"
    return f"{p.ratio:.2f}x [{p.ratio_lo:.2f}, {p.ratio_hi:.2f}]"


def _rate_label(p: Point) -> str:
    if p.seeds == 1:
        return f"{p.rate_per_min:.2f}/min"
    return f"{p.seeds} seeds, mean {p.rate_per_min:.2f}/min"


def _choice_table(choices: Sequence[Choice], w: TextIO) -> None:
    """Which stack to run at each load (:func:`~sagacore.sweep.analysis.choose`)."""
    per_load = [c for c in choices if c.load is not None]
    if not per_load:
        return
    w.write("\nWhich stack to run: the lowest ratio to `vllm-apc` at each load, and its "
            "geometric-mean TCT ratio to the next best on the same tasks (95% bootstrap CI; "
            "*faster* when the interval lies below 1):\n\n"
            "| load | fastest | next best | fastest / next best | verdict |\n"
            "|---|---|---|---|---|\n")
    for c in per_load:
        assert c.load is not None
        vs = (f"{c.vs_runner_up:.3f} [{c.vs_lo:.3f}, {c.vs_hi:.3f}]"
              if c.runner_up is not None else "-")
        w.write(f"| {load_label(c.load, c.rel_to)} | {c.stack} | {c.runner_up or '-'} | "
                f"{vs} | {c.verdict} |\n")
    for c in choices:
        if c.load is None:
            w.write(f"\nOver these loads: `{c.stack}` (fastest at {c.fastest_at} of {c.loads}; "
                    f"geometric mean of its ratios {c.ratio:.3f}x).\n")


def _regime_section(name: str, points: Sequence[Point], peaks: list[dict[str, Any]],
                    plots: list[Path], page_dir: Path, w: TextIO,
                    choices: Sequence[Choice] = ()) -> list[str]:
    rg = REGIMES[name]
    w.write(f"\n### {name}: {rg.workload} on {rg.cluster}\n\n{rg.why}\n\n")
    loads = sorted({p.load for p in points})
    stacks = sorted({p.stack for p in points}, key=lambda s: (s.startswith("ideal:"),
                                                              s != "vllm-apc", s))
    at = {(p.stack, p.load): p for p in points}
    ref = [at.get(("vllm-apc", ld)) for ld in loads]
    rates = " | ".join(f"{load_label(ld, 'x')}" + (f" ({_rate_label(r)})" if r else "")
                       for ld, r in zip(loads, ref, strict=True))
    w.write("Geometric-mean TCT ratio to `vllm-apc` (95% bootstrap CI); lower is better. "
            "The `vllm-apc` row gives its geometric-mean TCT in seconds, and the floor row "
            "the isolated TCT's.\n\n")
    w.write(f"| stack | {rates} |\n|---|{'---|' * len(loads)}\n")
    w.write("| floor (isolated) | " + " | ".join(
        f"{r.floor:,.0f} s" if r else "-" for r in ref) + " |\n")
    for s in stacks:
        cells = []
        for ld in loads:
            p = at.get((s, ld))
            cells.append(f"{p.geomean:,.0f} s" if s == "vllm-apc" and p else _fmt_ratio(p))
        w.write(f"| {s} | " + " | ".join(cells) + " |\n")
    w.write("\nSLO attainment (TCT <= 1.5x isolated) and goodput (tasks/min within SLO):\n\n")
    w.write(f"| stack | {' | '.join(load_label(ld, 'x') for ld in loads)} |\n"
            f"|---|{'---|' * len(loads)}\n")
    for s in stacks:
        cells = []
        for ld in loads:
            p = at.get((s, ld))
            cells.append(f"{p.slo_attainment:.0%} / {p.goodput:.2f}" if p else "-")
        w.write(f"| {s} | " + " | ".join(cells) + " |\n")
    _choice_table(choices, w)
    if peaks:
        w.write("\nSLO-peak rates (highest Poisson rate with >= 90% of tasks within SLO):\n\n")
        w.write("| stack | peak (tasks/min) | vs vllm-apc |\n|---|---|---|\n")
        ref_pk = next((p["rate_per_min"] for p in peaks if p["stack"] == "vllm-apc"), None)
        for pk in sorted(peaks, key=lambda p: -p["rate_per_min"]):
            rel = f"{pk['rate_per_min'] / ref_pk:.2f}x" if ref_pk else "-"
            note = " (target missed at every rate)" if pk.get("met") is False else ""
            if pk.get("bracketed") is False:
                note = " (no rate tried missed the target: a lower bound)"
            w.write(f"| {pk['stack']} | {pk['rate_per_min']:.2f}{note} | {rel} |\n")
    w.write("\n")
    for png in plots:
        w.write(f"![{png.stem}]({png.relative_to(page_dir).as_posix()})\n")
    return _headroom_sentences(name, points, loads)


def _headroom_sentences(name: str, points: Sequence[Point], loads: list[float]) -> list[str]:
    at = {(p.stack, p.load): p for p in points}
    out: list[str] = []
    for ld in loads:
        ref = at.get(("vllm-apc", ld))
        if ref is None:
            continue
        ideal = next((at[(s, ld)] for s in ("ideal:both", "ideal:infinite-kv",
                                            "ideal:zero-prefill") if (s, ld) in at), None)
        real = [p for p in points if p.load == ld and not p.stack.startswith("ideal:")
                and math.isfinite(p.ratio)]
        best = min(real, key=lambda p: p.ratio) if real else None
        room = ref.geomean / (ideal.geomean if ideal else ref.floor)
        what = ideal.stack if ideal else "the isolated floor"
        s = (f"{name} at {load_label(ld, 'x')}: vllm-apc is {room:.2f}x {what}")
        if best is not None and best.stack != "vllm-apc":
            s += (f"; the best stack, {best.stack}, is {1 / best.ratio:.2f}x faster than "
                  f"vllm-apc" + (f" ({best.headroom:.0%} of the headroom)"
                                 if math.isfinite(best.headroom) else ""))
        elif best is not None:
            s += "; no stack beats vllm-apc"
        out.append(s + ".")
    return out


def summary(points: Sequence[Point]) -> list[str]:
    """Sentences on where agent-aware scheduling can win, by at most how much, and where not.

    Loads at or below 1x of ``vllm-apc``'s peak are "below the peak", from 1.5x "in
    overload". The headroom at a load is ``vllm-apc``'s geometric-mean TCT over the best
    ideal's (else the floor's); a stack's gain is ``1 / ratio``.
    """
    out: list[str] = []
    at = {(p.workload, p.cluster, p.load, p.stack): p for p in points}
    cells = sorted({(p.workload, p.cluster, p.load) for p in points if p.rel_to})

    def room(w: str, c: str, ld: float) -> float | None:
        ref = at.get((w, c, ld, "vllm-apc"))
        if ref is None:
            return None
        ideal = next((at[(w, c, ld, s)] for s in ("ideal:both", "ideal:infinite-kv",
                                                   "ideal:zero-prefill")
                      if (w, c, ld, s) in at), None)
        return ref.geomean / (ideal.geomean if ideal else ref.floor)

    def gains(sel: list[tuple[str, str, float]]) -> list[Point]:
        return [p for p in points if (p.workload, p.cluster, p.load) in set(sel)
                and not p.stack.startswith("ideal:") and math.isfinite(p.ratio)]

    for label, sel in (("at or below vllm-apc's SLO peak (<= 1x)",
                        [x for x in cells if x[2] <= 1.0]),
                       ("in overload (>= 1.5x)", [x for x in cells if x[2] >= 1.5])):
        rooms = [r for x in sel if (r := room(*x)) is not None]
        if not rooms:
            continue
        best = min(gains(sel), key=lambda p: p.ratio, default=None)
        s = (f"{label[0].upper()}{label[1:]}, vllm-apc is within {min(rooms):.2f}x-"
             f"{max(rooms):.2f}x of the ideal reference over the {len({x[:2] for x in sel})} "
             "regime(s) swept")
        if best is not None:
            s += (f"; the largest gain of any stack is {1 / best.ratio:.2f}x ({best.stack}, "
                  f"{best.workload} on {best.cluster}, {best.label})")
        out.append(s + ".")
        mine = [p for p in gains(sel) if p.stack == "sagacore"]
        if mine:
            lo = min(mine, key=lambda p: p.ratio)
            hi = max(mine, key=lambda p: p.ratio)
            out.append(f"The sagacore stack {label}: geometric-mean TCT ratio to vllm-apc "
                       f"from {lo.ratio:.3f}x ({lo.workload} on {lo.cluster}, {lo.label}) to "
                       f"{hi.ratio:.3f}x ({hi.workload} on {hi.cluster}, {hi.label}).")
    return out


def _claims(points: Sequence[Point], peaks: dict[str, list[dict[str, Any]]],
            cache_rows: list[dict[str, Any]], w: TextIO) -> None:
    w.write("\n## Published claims\n\n| claim | measured here | setting | verdict |\n"
            "|---|---|---|---|\n")

    def best_ratio(stack: str) -> tuple[Point | None, Point | None]:
        ps = [p for p in points if p.stack == stack and math.isfinite(p.ratio)]
        if not ps:
            return None, None
        return min(ps, key=lambda p: p.ratio), max(ps, key=lambda p: p.ratio)

    saga = [p for p in points if p.stack == "saga" and math.isfinite(p.ratio)]
    if saga:
        won = sorted({f"{p.workload} on {p.cluster} at {p.label}" for p in saga
                      if 1 / p.ratio >= 1.64})
        lo = min(saga, key=lambda p: p.ratio)
        hi = max(saga, key=lambda p: p.ratio)
        verdict = ("not reproduced anywhere" if not won else
                   f"reached in {len(won)} of {len(saga)} settings ({'; '.join(won)}), "
                   "not in the others")
        w.write(f"| SAGA: 1.64x lower TCT than vLLM+APC | from {1 / hi.ratio:.2f}x "
                f"({hi.workload} on {hi.cluster}, {hi.label}) to {1 / lo.ratio:.2f}x "
                f"({lo.workload} on {lo.cluster}, {lo.label}) | the regimes above, "
                f"geometric-mean TCT | {verdict}; where it loses, SAGA's router moves "
                "sessions off their cached context under load (docs/stacks.md) |\n")
    wa = [r for r in cache_rows if "walru" in r["policies"] and r["belady"]]
    if wa:
        txt = ", ".join(f"{r['policies']['walru']['cost_tokens'] / r['belady']:.2f}x at "
                        f"{r['capacity_tokens'] // 1024}K" for r in wa)
        w.write(f"| SAGA: WA-LRU within 1.31x of Belady | {txt} | bundled trace, cache "
                "replay (single-tier miss cost over unit-size Belady) | "
                f"{'within' if all(r['policies']['walru']['cost_tokens'] / r['belady'] <= 1.31 for r in wa) else 'not within'} "
                "1.31x; Belady is not optimal for variable sizes (FOO-L in the cache table) |\n")
    mt = [p for p in points if p.stack == "saga" and p.workload == "multi-tenant"]
    if mt:
        txt = ", ".join(f"{p.slo_attainment:.1%} at {p.label}" for p in mt)
        w.write(f"| SAGA: 99.2% SLO attainment, 10 tenants, ~80% load | {txt} | multi-tenant "
                "regime | SLO here is TCT <= 1.5x isolated; load is relative to vllm-apc's "
                "peak, not GPU utilisation |\n")
    for reg, pks in peaks.items():
        by = {p["stack"]: p["rate_per_min"] for p in pks}
        if "saga" in by and "vllm-apc" in by:
            w.write(f"| SAGA: ~30% lower peak throughput | saga's SLO peak is "
                    f"{by['saga'] / by['vllm-apc']:.2f}x vllm-apc's | {reg} | "
                    f"{'lower' if by['saga'] < by['vllm-apc'] else 'not lower'} |\n")
    lo_a, _ = best_ratio("astraea")
    if lo_a:
        ps = [p for p in points if p.stack == "astraea"]
        ref = {(p.workload, p.cluster, p.load): p for p in points if p.stack == "vllm-apc"}
        gains = []
        for p in ps:
            r = ref.get((p.workload, p.cluster, p.load))
            if r is not None and p.tasks:
                gains.append((1 - p.geomean / r.geomean, p))
        g, gp = max(gains, key=lambda x: x[0]) if gains else (math.nan, lo_a)
        w.write(f"| Astraea: up to 25.5% lower mean JCT | up to {g:.1%} lower geometric-mean "
                f"TCT ({gp.workload} on {gp.cluster}, {gp.label}) | the regimes above | "
                f"{'reproduced' if g >= 0.255 else 'not reproduced'} (as an upper figure: "
                "the gain is 0 at and below vllm-apc's peak, where nothing queues) |\n")
    w.write("| Justitia: bounded delay against fair sharing (finish <= fluid finish + "
            "C_max/M, our derivation) | checked by `sagacore verify` (docs/fairness.md) | "
            "all instances up to the checker's size | see `sagacore verify` |\n")


def _cache_section(rows: list[dict[str, Any]], policies: Sequence[str], head: int | None,
                   w: TextIO) -> None:
    w.write("\n## Cache table\n\nMiss cost (prompt tokens prefilled, plus swap-ins) of each "
            "policy over FOO-L (the LP lower bound on the optimum) on the bundled trace"
            + (f" (first {head} tasks)" if head else "") + "; FOO-U is a feasible "
            "upper bound, Belady the unit-size farthest-next-use oracle.\n\n")
    head_row = ["capacity", "FOO-L (tokens)", "FOO-U", "Belady", *policies]
    w.write("| " + " | ".join(head_row) + " |\n|" + "---|" * len(head_row) + "\n")
    for r in rows:
        lo = r["foo_lower"]
        cells = [f"{r['capacity_tokens']:,}", f"{lo:,.0f}", f"{r['foo_upper'] / lo:.3f}",
                 f"{r['belady'] / lo:.3f}"]
        cells += [f"{r['policies'][p]['ratio']:.3f}" for p in policies]
        w.write("| " + " | ".join(cells) + " |\n")


def _bound_section(rows: list[dict[str, Any]], w: TextIO) -> None:
    w.write("\n## Bound table\n\nOffline bounds on the bundled trace's first tasks (exact OPT "
            "by integer program where it is small enough): FOO-L <= OPT <= FOO-U.\n\n"
            "| tasks | capacity | FOO-L | exact OPT | FOO-U | Belady |\n|---|---|---|---|---|---|\n")
    for r in rows:
        ex = f"{r['exact']:,.0f}" if r.get("exact") is not None else "-"
        w.write(f"| {r['head']} | {r['capacity_tokens']:,} | {r['foo_lower']:,.0f} | {ex} | "
                f"{r['foo_upper']:,.0f} | {r['belady']:,.0f} |\n")


def reproduce(out: str | Path, plan: Plan, *, jobs: int | None = None,
              progress: Progress | None = None, command: str = "sagacore reproduce") -> Path:
    """Run ``plan`` and write the results page ``out`` (plots and data beside it).

    Returns
    -------
    Path
        The page written.
    """
    from sagacore.bounds.report import run_bounds
    from sagacore.cache.table import ratio_table
    from sagacore.data import bundled_trace
    from sagacore.sweep.plots import plot_results

    page = Path(out)
    if page.exists() and page.is_dir():
        raise ConfigError(f"--out {out} is a folder; give the page's file name")
    if not page.parent.exists():
        raise ConfigError(f"--out {out}: folder {page.parent} does not exist")
    t0 = time.perf_counter()
    assets = page.parent / (page.stem + "-files")
    sweep_dir = assets / "sweep"
    all_stacks = [s for s in plan.stacks if s in STACKS] + list(plan.ideals)
    peaks_for = [s for s in plan.peaks_for if s in STACKS]
    all_points: list[Point] = []
    sim_seconds = 0.0
    peaks_by_regime: dict[str, list[dict[str, Any]]] = {}
    sections: list[tuple[str, list[Point], list[dict[str, Any]], list[Path], list[Choice]]] = []
    for name, loads in plan.regimes:
        rg = REGIMES[name]
        tasks = (plan.tasks or {}).get(name, rg.tasks)
        stacks = [s for s in (plan.regime_stacks or {}).get(name, all_stacks)
                  if s in STACKS or s.startswith("ideal:")]
        res: SweepResult = run_sweep(
            workloads=[rg.workload], clusters=[rg.cluster], stacks=stacks,
            rates=[RelRate(x) for x in (loads or rg.rel_rates)], tasks=tasks,
            out=sweep_dir / name, peaks_for=[s for s in peaks_for if s in stacks], jobs=jobs,
            progress=progress)
        if res.failed:
            raise ConfigError(f"{len(res.failed)} runs failed, first: {res.failed[0]}")
        wanted = {RelRate(x).factor for x in (loads or rg.rel_rates)}
        rows = [r for r in res.rows if r.get("rel_rate") in wanted and r["stack"] in stacks
                and r["seed"] == 0]
        over = [x for x in (loads or rg.rel_rates) if x >= plan.overload_from]
        if plan.overload_seeds and over:
            more = run_sweep(
                workloads=[rg.workload], clusters=[rg.cluster], stacks=stacks,
                rates=[RelRate(x) for x in over], seeds=plan.overload_seeds, tasks=tasks,
                out=sweep_dir / name, jobs=jobs, progress=progress)
            if more.failed:
                raise ConfigError(f"{len(more.failed)} runs failed, first: {more.failed[0]}")
            extra = {RelRate(x).factor for x in over}
            rows += [r for r in more.rows if r.get("rel_rate") in extra
                     and r["stack"] in stacks and r["seed"] in plan.overload_seeds]
        points = load_points(rows)
        sim_seconds += sum(float(r.get("sim_wall_seconds") or 0.0) for r in rows)
        plots = plot_results(rows, assets / "plots")
        all_points += points
        peaks = [p for p in res.peaks if p["stack"] in peaks_for and p["stack"] in stacks
                 and p["seed"] == 0]
        peaks_by_regime[name] = peaks
        sections.append((name, points, peaks, plots, choose(rows)))
    trace = bundled_trace()
    policies = [p for p in plan.cache_policies if _known_cache_policy(p)]
    from sagacore.cache.replay import ReplayConfig

    cache_rows = ratio_table([trace], list(plan.cache_capacities), policies,
                             lambda cap, fmt: ReplayConfig(capacity_tokens=cap),
                             head=plan.cache_head)
    bound_rows = []
    for head, cap in ((2, 4_096), (6, 16_384)):
        b = run_bounds(trace, cap, method="all", head=head, exact_time_limit_s=30.0)
        b["head"] = head
        bound_rows.append(b)
    wall = time.perf_counter() - t0
    with page.open("w", encoding="utf-8") as w:
        w.write("# Results\n\n")
        w.write(f"Generated by `{command}` at commit {_git_commit()} on "
                f"{_dt.date.today().isoformat()}, in {wall / 60:.1f} min of wall time (runs "
                "already in the sweep folders are not run again; the simulations in the "
                f"tables took {sim_seconds / 60:.0f} CPU-minutes in all, so a run from "
                f"scratch on 2 cores takes about {sim_seconds / 120:.0f} minutes plus the "
                "SLO-peak searches, about 10 runs each). Every "
                "figure on this page comes from that command; the sweeps' rows are in "
                f"`{sweep_dir.relative_to(page.parent).as_posix()}/` (JSON Lines and CSV). "
                "Loads are multiples of `vllm-apc`'s SLO-peak rate (the highest Poisson rate "
                "with at least 90% of tasks within 1.5x of their isolated TCT) in each "
                "regime; TCT is a task's completion time, and the floor its isolated TCT "
                "(alone on an idle instance). Tuning saw only generated workloads and the "
                "bundled SWE-bench trace." + _seeds_sentence(plan) + "\n")
        sentences: list[str] = []
        buf: list[tuple[str, str]] = []
        import io

        for name, points, peaks, plots, choices in sections:
            s = io.StringIO()
            sentences += _regime_section(name, points, peaks, plots, page.parent, s, choices)
            buf.append((name, s.getvalue()))
        w.write("\n## Where agent-aware scheduling can win\n\nThe headroom at each load is "
                "vllm-apc's geometric-mean TCT over the ideal reference's (vllm-apc with "
                "unbounded KV memory and free prefill, when swept; else the isolated "
                "floor): no policy can gain more than that by memory or prefill alone "
                "(the ideals keep FCFS order; see docs/sweeps.md).\n\n")
        for line in summary(all_points):
            w.write(f"{line}\n\n")
        w.write("At each load:\n\n")
        for line in sentences:
            w.write(f"- {line}\n")
        w.write("\n## Load curves by regime\n")
        for _, text in buf:
            w.write(text)
        _cache_section(cache_rows, policies, plan.cache_head, w)
        _bound_section(bound_rows, w)
        _claims(all_points, peaks_by_regime, cache_rows, w)
    return page


def _seeds_sentence(plan: Plan) -> str:
    if not plan.overload_seeds:
        return " Every run has seed 0 (arrivals and generated tasks)."
    seeds = ", ".join(str(s) for s in (0, *plan.overload_seeds))
    return (f" Loads below {plan.overload_from:g}x have seed 0; from {plan.overload_from:g}x "
            f"on, seeds {seeds} are run (arrivals and generated tasks; each load relative to "
            "`vllm-apc`'s peak at that seed) and their tasks pooled: in overload one "
            "arrival pattern can move a ratio by tens of percent. SLO peaks are seed 0's.")


def _known_cache_policy(name: str) -> bool:
    from sagacore.cache import CACHE_POLICIES

    return name in CACHE_POLICIES
