"""What a sweep's rows mean: load points, ratios with confidence intervals, headroom.

Rows of one workload and cluster at the same *load* form a :class:`Point` per stack. A
load is the rate's multiple of a peak when the sweep gave relative rates (``1.5x``),
else the absolute rate; seeds at the same load are pooled, each task of each seed one
paired sample.

- **Geometric-mean TCT** with a 95% bootstrap interval over tasks.
- **Ratio to the reference** stack (``vllm-apc`` by default): the geometric mean of the
  per-task TCT ratios with its bootstrap interval (:func:`sagacore.metrics.compare`).
- **Headroom.** The floor is the isolated TCT (each task alone on an idle instance). An
  ideal reference (``ideal:both``, else ``ideal:infinite-kv`` or ``ideal:zero-prefill``
  when swept) is the best a policy could hope for at that load. The *share of headroom*
  a stack captures is ``(G_ref - G_stack) / (G_ref - G_ideal)`` on geometric means, the
  ideal being the best ideal swept at that load, else the floor: 1 means all the gain
  that was possible, 0 none, negative a loss.
- **Goodput**: tasks completed within their SLO per minute; and the SLO-peak rates
  searched (``peaks.jsonl``).
- **Which stack to run** (:func:`choose`): at each load the stack with the lowest
  ratio to the reference, compared task by task with the next best (its ratio to it
  with a bootstrap interval: *faster* when the interval lies below 1, else *tied*); over
  a workload's loads, the stack with the lowest geometric mean of its ratios.

Examples
--------
>>> rows = [
...     {"workload": "w", "cluster": "c", "stack": s, "rate_per_min": 2.0, "rel_rate": None,
...      "seed": 0, "tasks": None, "tct_by_task": {"a": a, "b": b}, "floor_geomean": 1.0,
...      "slo_attainment": 1.0, "goodput_tasks_per_min": 1.0, "kv_utilization": 0.1,
...      "prefill_tokens_computed": 10, "ideal": s.startswith("ideal:")}
...     for s, a, b in (("vllm-apc", 4.0, 9.0), ("x", 2.0, 4.5), ("ideal:both", 1.0, 2.25))]
>>> [(p.stack, round(p.ratio, 3), round(p.headroom, 3)) for p in load_points(rows)]
[('ideal:both', 0.25, 1.0), ('vllm-apc', 1.0, 0.0), ('x', 0.5, 0.667)]
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sagacore.metrics import compare

__all__ = ["Choice", "Point", "choose", "load_label", "load_points"]

IDEAL_ORDER = ("ideal:both", "ideal:infinite-kv", "ideal:zero-prefill")


@dataclass(frozen=True)
class Point:
    """One stack at one load of one workload and cluster (seeds pooled)."""

    workload: str
    cluster: str
    load: float
    """The load: a multiple of ``rel_to``'s peak, or tasks/min when ``rel_to`` is None."""
    rel_to: str | None
    """The stack whose peak ``load`` multiplies (None: ``load`` is a rate)."""
    rate_per_min: float
    """Mean absolute rate over the seeds."""
    stack: str
    seeds: int
    tasks: int
    """Tasks pooled (completed, over the seeds)."""
    geomean: float
    geomean_lo: float
    geomean_hi: float
    floor: float
    """Geometric mean of the isolated TCTs of the same tasks."""
    ratio: float
    """Geometric-mean TCT ratio to the reference (nan when the reference is missing)."""
    ratio_lo: float
    ratio_hi: float
    headroom: float
    """Share of the headroom captured (see the module notes; nan without a gap)."""
    headroom_ref: str
    """What the headroom is measured against (an ideal stack's name, or ``floor``)."""
    slo_attainment: float
    goodput: float
    """Tasks per minute completed within SLO (mean over the seeds)."""
    kv_utilization: float
    prefill_tokens_computed: float
    """Mean over the seeds."""

    @property
    def label(self) -> str:
        """The load as written (``1.5x`` or ``4/min``)."""
        return load_label(self.load, self.rel_to)


def load_label(load: float, rel_to: str | None) -> str:
    """``1.5x`` for a peak multiple, ``4/min`` for a rate."""
    return f"{load:g}x" if rel_to is not None else f"{load:.3g}/min"


def _load(row: dict[str, Any]) -> tuple[float, str | None]:
    rel = row.get("rel_rate")
    if rel is not None:
        return float(rel), row.get("rel_to")
    return round(float(row["rate_per_min"]), 9), None


def _pooled(rows: Iterable[dict[str, Any]], field: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in rows:
        for tid, v in r.get(field, {}).items():
            out[f"{r['seed']}/{tid}"] = float(v)
    return out


def _geomean_ci(xs: Sequence[float], seed: int = 0, resamples: int = 1000) -> tuple[float, float, float]:
    if not xs:
        return math.nan, math.nan, math.nan
    logs = np.log(np.asarray(xs, dtype=float))
    g = float(np.exp(logs.mean()))
    if len(logs) < 2:
        return g, g, g
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(logs), size=(resamples, len(logs)))
    means = np.exp(logs[idx].mean(axis=1))
    return g, float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def _mean(xs: Iterable[Any]) -> float:
    v = [float(x) for x in xs if x is not None]
    return sum(v) / len(v) if v else math.nan


def load_points(rows: Iterable[dict[str, Any]], *, reference: str = "vllm-apc") -> list[Point]:
    """Every (workload, cluster, load, stack) point of ``rows``, sorted.

    Parameters
    ----------
    rows
        Rows of a results table (:func:`sagacore.sweep.table.read_rows`).
    reference
        The stack ratios are taken to.
    """
    groups: dict[tuple[str, str, float, str | None], dict[str, list[dict[str, Any]]]] = (
        defaultdict(lambda: defaultdict(list)))
    for r in rows:
        load, rel_to = _load(r)
        groups[(r["workload"], r["cluster"], load, rel_to)][r["stack"]].append(r)
    points: list[Point] = []
    for (w, c, load, rel_to), by_stack in sorted(
            groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][3] or "", kv[0][2])):
        ref = _pooled(by_stack.get(reference, []), "tct_by_task")
        geo = {s: _geomean_ci(list(_pooled(rs, "tct_by_task").values()))
               for s, rs in by_stack.items()}
        ideal = next((s for s in IDEAL_ORDER if s in by_stack), None)
        iso = _pooled([r for rs in by_stack.values() for r in rs], "isolated_by_task")
        floor_all = _geomean_ci(list(iso.values()))[0] if iso else math.nan
        g_ideal = geo[ideal][0] if ideal is not None else floor_all
        g_ref = geo[reference][0] if reference in geo else math.nan
        for s in sorted(by_stack):
            rs = by_stack[s]
            tct = _pooled(rs, "tct_by_task")
            g, lo, hi = geo[s]
            if ref and tct and s != reference:
                cmp = compare(tct, ref, seed=0)
                ratio, rlo, rhi = cmp.ratio, cmp.ci_low, cmp.ci_high
            elif s == reference and tct:
                ratio = rlo = rhi = 1.0
            else:
                ratio = rlo = rhi = math.nan
            gap = g_ref - g_ideal
            head = (g_ref - g) / gap if gap > 0 and math.isfinite(g_ref) else math.nan
            iso_s = [v for k, v in _pooled(rs, "isolated_by_task").items() if k in tct]
            points.append(Point(
                workload=w, cluster=c, load=load, rel_to=rel_to,
                rate_per_min=_mean(r["rate_per_min"] for r in rs), stack=s,
                seeds=len({r["seed"] for r in rs}), tasks=len(tct),
                geomean=g, geomean_lo=lo, geomean_hi=hi,
                floor=_geomean_ci(iso_s)[0] if iso_s else _mean(r.get("floor_geomean") for r in rs),
                ratio=ratio, ratio_lo=rlo, ratio_hi=rhi,
                headroom=head, headroom_ref=ideal or "floor",
                slo_attainment=_mean(r.get("slo_attainment") for r in rs),
                goodput=_mean(r.get("goodput_tasks_per_min") for r in rs),
                kv_utilization=_mean(r.get("kv_utilization") for r in rs),
                prefill_tokens_computed=_mean(r.get("prefill_tokens_computed") for r in rs),
            ))
    return points


@dataclass(frozen=True)
class Choice:
    """The stack to run at one load of one workload and cluster (:func:`choose`), or over
    all of its loads (``load`` is None)."""

    workload: str
    cluster: str
    load: float | None
    """The load (as :attr:`Point.load`); None for the choice over every load."""
    rel_to: str | None
    stack: str
    """The fastest stack: the lowest ratio to the reference (over every load: the lowest
    geometric mean of its ratios, among the stacks swept at every load)."""
    ratio: float
    """Its ratio to the reference (over every load: the geometric mean of its ratios)."""
    fastest_at: int
    """At how many loads it is the fastest (1 or 0 for one load)."""
    loads: int
    """Loads considered."""
    runner_up: str | None
    """The next best stack (None when only one was swept)."""
    vs_runner_up: float
    """Geometric-mean TCT ratio of the chosen stack to the runner-up on the same tasks
    (one load only; nan otherwise)."""
    vs_lo: float
    vs_hi: float
    """95% bootstrap interval of :attr:`vs_runner_up`."""

    @property
    def verdict(self) -> str:
        """``faster`` (the interval against the runner-up lies below 1), ``tied``, or
        ``alone``; over every load, ``overall``."""
        if self.load is None:
            return "overall"
        if self.runner_up is None:
            return "alone"
        return "faster" if self.vs_hi < 1 else "tied"

    def describe(self, reference: str = "vllm-apc") -> str:
        """One line, as ``sagacore sweep`` prints it."""
        if self.load is None:
            return (f"{'overall':>9} {self.stack:<16} fastest at {self.fastest_at} of "
                    f"{self.loads} loads; geometric mean of its ratios to {reference} "
                    f"{self.ratio:.3f}x")
        head = f"{load_label(self.load, self.rel_to):>9} {self.stack:<16} {self.ratio:.3f}x {reference}"
        if self.runner_up is None:
            return head
        return (f"{head}; {self.vs_runner_up:.3f}x [{self.vs_lo:.3f}, {self.vs_hi:.3f}] "
                f"the next, {self.runner_up}: {self.verdict}")


def choose(rows: Iterable[dict[str, Any]], *, reference: str = "vllm-apc") -> list[Choice]:
    """Which stack to run: per workload and cluster, one :class:`Choice` per load, then
    one over every load.

    Ideal references (``ideal:*``) are left out; so are stacks without a ratio (the
    reference missing at that load). A stack swept at only some loads is left out of
    the choice over every load.

    Examples
    --------
    >>> rows = [{"workload": "w", "cluster": "c", "stack": s, "rate_per_min": r,
    ...          "rel_rate": None, "seed": 0, "tasks": None,
    ...          "tct_by_task": {"a": a * r, "b": 2 * a * r, "c": 3 * a * r}}
    ...         for r in (1.0, 2.0) for s, a in (("vllm-apc", 4.0), ("x", 2.0), ("y", 3.0))]
    >>> [(c.load, c.stack, round(c.ratio, 2), c.runner_up, c.verdict) for c in choose(rows)]
    [(1.0, 'x', 0.5, 'y', 'faster'), (2.0, 'x', 0.5, 'y', 'faster'), (None, 'x', 0.5, 'y', 'overall')]
    """
    rows = list(rows)
    points = [p for p in load_points(rows, reference=reference)
              if not p.stack.startswith("ideal:") and math.isfinite(p.ratio)]
    tct: dict[tuple[str, str, float, str | None, str], dict[str, float]] = defaultdict(dict)
    for r in rows:
        load, rel_to = _load(r)
        tct[(r["workload"], r["cluster"], load, rel_to, r["stack"])].update(
            _pooled([r], "tct_by_task"))
    by_setting: dict[tuple[str, str], dict[tuple[float, str | None], list[Point]]] = (
        defaultdict(lambda: defaultdict(list)))
    for p in points:
        by_setting[(p.workload, p.cluster)][(p.load, p.rel_to)].append(p)
    out: list[Choice] = []
    for (w, c), loads in by_setting.items():
        wins: dict[str, int] = defaultdict(int)
        for (load, rel_to), ps in loads.items():
            ranked = sorted(ps, key=lambda p: (p.ratio, p.stack))
            best = ranked[0]
            wins[best.stack] += 1
            nxt = ranked[1] if len(ranked) > 1 else None
            vs = lo = hi = math.nan
            if nxt is not None:
                cmp = compare(tct[(w, c, load, rel_to, best.stack)],
                              tct[(w, c, load, rel_to, nxt.stack)], seed=0)
                vs, lo, hi = cmp.ratio, cmp.ci_low, cmp.ci_high
            out.append(Choice(w, c, load, rel_to, best.stack, best.ratio, 1, 1,
                              nxt.stack if nxt else None, vs, lo, hi))
        everywhere = set.intersection(*({p.stack for p in ps} for ps in loads.values()))
        overall = sorted(
            (math.exp(sum(math.log(p.ratio) for ps in loads.values() for p in ps
                          if p.stack == s) / len(loads)), s)
            for s in everywhere)
        if overall:
            (g, s), nxt_s = overall[0], (overall[1][1] if len(overall) > 1 else None)
            out.append(Choice(w, c, None, None, s, g, wins[s], len(loads), nxt_s,
                              math.nan, math.nan, math.nan))
    return out
