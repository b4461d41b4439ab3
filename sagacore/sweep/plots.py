"""Plots of a sweep (matplotlib, the ``plots`` extra; PNG files, no display needed).

For each workload and cluster of a results table, :func:`plot_results` draws:

- ``*_tct.png``: geometric-mean TCT (95% bootstrap interval) against load, per stack,
  with the isolated-TCT floor and any ideal reference dashed;
- ``*_goodput.png``: goodput (tasks per minute within SLO) against the offered rate;
- ``*_ratio.png``: TCT ratio to the reference stack with its 95% interval;
- ``*_kv.png``: KV utilisation and prompt tokens computed (recomputation included)
  against load.

Examples
--------
>>> import tempfile
>>> rows = [{"workload": "w", "cluster": "c", "stack": s, "rate_per_min": r,
...          "rel_rate": None, "seed": 0, "tasks": None, "ideal": False,
...          "tct_by_task": {"a": r * k, "b": 2 * r * k}, "isolated_by_task": {"a": 1, "b": 2},
...          "slo_attainment": 1.0, "goodput_tasks_per_min": r, "kv_utilization": 0.2,
...          "prefill_tokens_computed": 100 * r}
...         for s, k in (("vllm-apc", 2.0), ("x", 1.5)) for r in (1.0, 2.0)]
>>> [p.name for p in plot_results(rows, tempfile.mkdtemp())]
['w_c_tct.png', 'w_c_goodput.png', 'w_c_ratio.png', 'w_c_kv.png']
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sagacore.errors import ConfigError
from sagacore.sweep.analysis import Point, load_points

__all__ = ["plot_results"]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("plots need matplotlib: pip install 'sagacore[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", Path(s).name if "/" in s else s).strip("-")


def _style(stack: str) -> dict[str, Any]:
    if stack.startswith("ideal:"):
        return {"linestyle": "--", "marker": None, "alpha": 0.8}
    return {"linestyle": "-", "marker": "o", "markersize": 4}


def _series(points: Sequence[Point]) -> dict[str, list[Point]]:
    out: dict[str, list[Point]] = {}
    for p in points:
        out.setdefault(p.stack, []).append(p)
    return {s: sorted(v, key=lambda p: p.load) for s, v in out.items()}


def plot_results(rows: Iterable[dict[str, Any]], out_dir: str | Path, *,
                 reference: str = "vllm-apc") -> list[Path]:
    """Draw the four plots of every workload and cluster in ``rows`` into ``out_dir``.

    Returns
    -------
    list of Path
        The files written, in order.

    Raises
    ------
    ConfigError
        If matplotlib is missing, ``out_dir`` cannot be created, or there are no rows.
    """
    plt = _pyplot()
    points = load_points(rows, reference=reference)
    if not points:
        raise ConfigError("no runs to plot")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create plot folder {out_dir}: {exc.strerror}") from None
    groups: dict[tuple[str, str], list[Point]] = {}
    for p in points:
        groups.setdefault((p.workload, p.cluster), []).append(p)
    written: list[Path] = []
    for (w, c), ps in groups.items():
        series = _series(ps)
        rel_to = ps[0].rel_to
        xlabel = f"load (multiple of {rel_to}'s SLO-peak rate)" if rel_to else "tasks/min"
        title = f"{w} on {c}"
        stem = f"{_slug(w)}_{_slug(c)}"

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for s, v in series.items():
            x = [p.load for p in v]
            y = [p.geomean for p in v]
            err = [[p.geomean - p.geomean_lo for p in v], [p.geomean_hi - p.geomean for p in v]]
            ax.errorbar(x, y, yerr=err, label=s, capsize=2, **_style(s))
        floor = sorted({(p.load, p.floor) for p in ps if math.isfinite(p.floor)})
        if floor:
            ax.plot([f[0] for f in floor], [f[1] for f in floor], color="black",
                    linestyle=":", label="floor (isolated TCT)")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("TCT geometric mean, s (95% CI)")
        ax.set_title(title)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        written.append(_save(fig, out / f"{stem}_tct.png", plt))

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for s, v in series.items():
            ax.plot([p.rate_per_min for p in v], [p.goodput for p in v], label=s, **_style(s))
        rates = sorted({p.rate_per_min for p in ps})
        ax.plot(rates, rates, color="gray", linestyle=":", label="offered")
        ax.set_xlabel("offered load, tasks/min")
        ax.set_ylabel("goodput, tasks/min within SLO")
        ax.set_title(title)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        written.append(_save(fig, out / f"{stem}_goodput.png", plt))

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for s, v in series.items():
            v2 = [p for p in v if math.isfinite(p.ratio)]
            if not v2:
                continue
            err = [[p.ratio - p.ratio_lo for p in v2], [p.ratio_hi - p.ratio for p in v2]]
            ax.errorbar([p.load for p in v2], [p.ratio for p in v2], yerr=err, label=s,
                        capsize=2, **_style(s))
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"TCT ratio to {reference} (geomean, 95% CI)")
        ax.set_title(title)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        written.append(_save(fig, out / f"{stem}_ratio.png", plt))

        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
        for s, v in series.items():
            a1.plot([p.load for p in v], [p.kv_utilization for p in v], label=s, **_style(s))
            a2.plot([p.load for p in v], [p.prefill_tokens_computed / 1e6 for p in v], label=s,
                    **_style(s))
        a1.set_xlabel(xlabel)
        a1.set_ylabel("KV utilisation")
        a2.set_xlabel(xlabel)
        a2.set_ylabel("prompt tokens computed, millions")
        a2.set_yscale("log")
        a1.set_title(title)
        a2.legend(fontsize=7)
        for a in (a1, a2):
            a.grid(alpha=0.3)
        written.append(_save(fig, out / f"{stem}_kv.png", plt))
    return written


def _save(fig: Any, path: Path, plt: Any) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
