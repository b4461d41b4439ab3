"""Calibration of the SWE-bench generator against a real trace.

:func:`fit_swe_bench` turns a trace of ReAct agents (by default the bundled
mini-swe-agent SWE-bench trace) into a :class:`SweBenchFit`: empirical quantile tables
(inverse CDFs sampled at :data:`FIT_PROBABILITIES`, linear interpolation between knots)
of calls per task, first prompt, observation tokens per step (the prompt growth beyond the
previous call's context), output tokens and tool seconds, plus the rank correlation of a
call's output with the next observation and the shared system-prompt length. The fit of
the bundled trace is committed as ``SWE_BENCH_FIT`` in ``_swe_bench_fit.py``, so that
generating never reads the CSV; this module regenerates that file::

    python -m sagacore.workload.generators fit > sagacore/workload/generators/_swe_bench_fit.py

and prints the measured match of generated against real distributions (the table in
``docs/generators.md``)::

    python -m sagacore.workload.generators report --tasks 2000 --seed 0

Why empirical quantiles and not a parametric family: the real output-token distribution
is bimodal (thought-and-command replies near 90 tokens, file edits near 600) and tool
times have a heavy tail (median 0.26 s, maximum 65 s), which a log-normal misses by far
more than the tolerances below. The tables keep 105 knots, dense in both tails.

Examples
--------
>>> q = QuantileTable((0.0, 0.5, 1.0), (0.0, 10.0, 30.0))
>>> q.sample(np.array([0.25, 0.75])).tolist(), q.quantile(0.5)
([5.0, 20.0], 10.0)
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import fields

import numpy as np

from sagacore.errors import ConfigError
from sagacore.workload.generators.quantiles import (
    _DIGITS,
    FIT_PROBABILITIES,
    QuantileTable,
    SweBenchFit,
)
from sagacore.workload.generators.swe_bench import swe_bench
from sagacore.workload.model import Task, Workload, shared_prefix_tokens

__all__ = [
    "FIT_PROBABILITIES",
    "QuantileTable",
    "SweBenchFit",
    "calibration_rows",
    "chain_tokens",
    "fit_swe_bench",
    "main",
    "render_fit_module",
]

def _normal_scores(x: np.ndarray) -> np.ndarray:
    from scipy.special import ndtri
    from scipy.stats import rankdata

    r = rankdata(x)
    return np.asarray(ndtri((r - 0.5) / len(x)), dtype=float)


def chain_tokens(task: Task) -> tuple[list[int], list[int]]:
    """Prompt tokens of each step and the tokens each step ``k > 0`` appends to the
    longest segment prefix it shares with step ``k - 1``'s context (its observation).

    Linear in the task's segments when prompts extend the previous context (the usual
    case, checked by one tuple comparison), quadratic only where they do not.

    Examples
    --------
    >>> from sagacore.workload.generators import swe_bench
    >>> t = swe_bench(tasks=1, seed=0).tasks[0]
    >>> prompts, obs = chain_tokens(t)
    >>> prompts == [s.prompt_tokens for s in t.steps], len(obs) == len(t.steps) - 1
    (True, True)
    """
    prompts = [task.steps[0].prompt_tokens]
    appended: list[int] = []
    for k in range(1, len(task.steps)):
        prev, cur = task.steps[k - 1], task.steps[k]
        ctx = prev.context
        m = len(ctx)
        if cur.prompt[:m] == ctx:
            grow = sum(seg.tokens for seg in cur.prompt[m:])
            prompts.append(prompts[-1] + prev.output_tokens + grow)
        else:
            total = cur.prompt_tokens
            grow = total - shared_prefix_tokens(ctx, cur.prompt)
            prompts.append(total)
        appended.append(grow)
    return prompts, appended


def _task_effects(
    z_out: np.ndarray, z_obs: np.ndarray, owner: np.ndarray
) -> tuple[float, float, float]:
    """Method-of-moments task effects from paired normal scores grouped by task.

    The covariance matrix of per-task means minus the mean sampling (co)variance of a
    mean (within-task covariance over the task's number of pairs), clipped to a valid
    range: variances to [0, 0.5], the correlation to [-1, 1].
    """
    means: list[tuple[float, float]] = []
    noise = np.zeros((2, 2))
    for i in np.unique(owner):
        sel = owner == i
        m = int(sel.sum())
        if m < 2:
            continue
        pair = np.vstack([z_out[sel], z_obs[sel]])
        means.append((float(pair[0].mean()), float(pair[1].mean())))
        noise += np.cov(pair) / m
    if len(means) < 2:
        return 0.0, 0.0, 0.0
    between = np.cov(np.array(means).T) - noise / len(means)
    v_out = float(min(0.5, max(0.0, between[0, 0])))
    v_obs = float(min(0.5, max(0.0, between[1, 1])))
    c = float(between[0, 1] / math.sqrt(v_out * v_obs)) if v_out > 0 and v_obs > 0 else 0.0
    return v_out, v_obs, float(min(1.0, max(-1.0, c)))


def fit_swe_bench(workload: Workload, *, source: str = "") -> SweBenchFit:
    """Fit the SWE-bench generator's distributions to a trace of ReAct agents.

    Parameters
    ----------
    workload
        Tasks whose steps are chains (each step's prompt extends the previous context),
        as the steps-CSV reader builds them.
    source
        Recorded in the fit.

    Notes
    -----
    Observation tokens of step ``k > 0`` are its prompt tokens beyond the longest
    segment prefix it shares with step ``k - 1``'s context. Dependence is fitted on
    normal scores of the pairs (output of step ``k - 1``, observation of step ``k``):
    their pooled correlation, and by the method of moments the variance share of a
    per-task effect in each and the correlation of the two effects (a "verbose" task has
    both longer replies and longer observations). Tool seconds are taken from
    the steps that name a tool. The system prompt is the first segment of step 0 that the
    most tasks share (0 when no two tasks share one). Values are rounded to 4 decimals,
    so the fit is exactly reproducible.

    Examples
    --------
    >>> from sagacore.data import bundled_trace
    >>> from sagacore.workload.readers import read_workload
    >>> from sagacore.workload.generators._swe_bench_fit import SWE_BENCH_FIT
    >>> fit_swe_bench(read_workload(bundled_trace()), source=SWE_BENCH_FIT.source) == SWE_BENCH_FIT
    True
    """
    tasks = workload.tasks
    if not tasks:
        raise ConfigError("cannot fit the SWE-bench generator to an empty workload")
    obs: list[int] = []
    out_before: list[int] = []
    owner: list[int] = []
    for i, t in enumerate(tasks):
        grown = chain_tokens(t)[1]
        obs += grown
        out_before += [s.output_tokens for s in t.steps[:-1]]
        owner += [i] * len(grown)
    if len(obs) < 3:
        raise ConfigError("cannot fit the SWE-bench generator: fewer than 3 multi-step calls")
    z_out = _normal_scores(np.array(out_before))
    z_obs = _normal_scores(np.array(obs))
    corr = float(np.corrcoef(z_out, z_obs)[0, 1])
    tau_out, tau_obs, tau_corr = _task_effects(z_out, z_obs, np.array(owner))
    firsts = Counter(t.steps[0].prompt[0] for t in tasks if len(t.steps[0].prompt) > 1)
    system = 0
    if firsts:
        seg, count = max(firsts.items(), key=lambda kv: (kv[1], -kv[0].tokens))
        system = seg.tokens if count >= 2 else 0
    tools = [s.tool_seconds for t in tasks for s in t.steps if s.tool is not None]
    return SweBenchFit(
        calls_per_task=QuantileTable.fit([t.llm_calls for t in tasks]),
        first_prompt_tokens=QuantileTable.fit([t.steps[0].prompt_tokens for t in tasks]),
        observation_tokens=QuantileTable.fit(obs),
        output_tokens=QuantileTable.fit([s.output_tokens for t in tasks for s in t.steps]),
        tool_seconds=QuantileTable.fit(tools if tools else [0.0]),
        output_observation_correlation=round(corr, _DIGITS),
        task_output_variance=round(tau_out, _DIGITS),
        task_observation_variance=round(tau_obs, _DIGITS),
        task_effect_correlation=round(tau_corr, _DIGITS),
        system_prompt_tokens=system,
        source=source,
    )


def render_fit_module(fit: SweBenchFit, *, command: str) -> str:
    """Python source of a module defining ``SWE_BENCH_FIT = fit`` (ruff-formatted style)."""
    lines = [
        '"""Fitted distributions of the SWE-bench generator. GENERATED, do not edit.',
        "",
        f"Regenerate with ``{command}``.",
        '"""',
        "",
        "from sagacore.workload.generators.quantiles import QuantileTable, SweBenchFit",
        "",
        '__all__ = ["SWE_BENCH_FIT"]',
        "",
        "# fmt: off",
        f"_P = {_tuple_src(fit.calls_per_task.probabilities)}",
        "",
        "SWE_BENCH_FIT = SweBenchFit(",
    ]
    for f in fields(fit):
        value = getattr(fit, f.name)
        if isinstance(value, QuantileTable):
            if value.probabilities != fit.calls_per_task.probabilities:
                raise ConfigError("render_fit_module needs one probability grid for all tables")
            lines.append(f"    {f.name}=QuantileTable(")
            lines.append("        _P,")
            lines.append(f"        {_tuple_src(value.values, indent=8)},")
            lines.append("    ),")
        else:
            lines.append(f"    {f.name}={value!r},")
    lines.append(")")
    lines.append("# fmt: on")
    return "\n".join(lines) + "\n"


def _tuple_src(values: Sequence[float], indent: int = 0) -> str:
    items = [repr(float(v)) for v in values]
    pad = " " * (indent + 4)
    body = []
    line = pad
    for item in items:
        piece = item + ","
        if len(line) + len(piece) + 1 > 100 and line.strip():
            body.append(line.rstrip())
            line = pad
        line += piece + " "
    body.append(line.rstrip())
    return "(\n" + "\n".join(body) + "\n" + " " * indent + ")"


def calibration_rows(
    real: Workload, generated: Workload
) -> list[tuple[str, str, float, float, float]]:
    """Rows ``(quantity, statistic, real, generated, relative error)`` of the match table.

    Quantities: calls per task, first prompt tokens, prompt tokens per call, observation
    tokens, output tokens, tool seconds; statistics: median, p90, p99 and the two-sample
    Kolmogorov-Smirnov statistic (its "relative error" column is the statistic itself).
    """
    from scipy.stats import ks_2samp

    def samples(w: Workload) -> dict[str, np.ndarray]:
        prompts: list[int] = []
        obs: list[int] = []
        for t in w.tasks:
            p, o = chain_tokens(t)
            prompts += p
            obs += o
        return {
            "calls per task": np.array([t.llm_calls for t in w.tasks], dtype=float),
            "first prompt tokens": np.array(
                [t.steps[0].prompt_tokens for t in w.tasks], dtype=float
            ),
            "prompt tokens per call": np.array(prompts, dtype=float),
            "observation tokens": np.array(obs, dtype=float),
            "output tokens": np.array(
                [s.output_tokens for t in w.tasks for s in t.steps], dtype=float
            ),
            "tool seconds": np.array(
                [s.tool_seconds for t in w.tasks for s in t.steps if s.tool is not None],
                dtype=float,
            ),
        }

    a, b = samples(real), samples(generated)
    rows: list[tuple[str, str, float, float, float]] = []
    for name in a:
        for label, p in (("median", 50), ("p90", 90), ("p99", 99)):
            x, y = float(np.percentile(a[name], p)), float(np.percentile(b[name], p))
            rows.append((name, label, x, y, (y - x) / x if x else math.inf))
        ks = float(ks_2samp(a[name], b[name]).statistic)
        rows.append((name, "KS", math.nan, math.nan, ks))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """``fit``: print the fitted-constants module; ``report``: print the match table."""
    parser = argparse.ArgumentParser(prog="python -m sagacore.workload.generators")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("fit", help="print _swe_bench_fit.py fitted to the bundled trace")
    rep = sub.add_parser("report", help="generated against real distributions")
    rep.add_argument("--tasks", type=int, default=2000)
    rep.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from sagacore.data import bundled_trace
    from sagacore.workload.readers import read_workload

    real = read_workload(bundled_trace())
    if args.action == "fit":
        fit = fit_swe_bench(
            real, source=f"mini-swe-agent SWE-bench trace (bundled steps.csv), {len(real)} tasks"
        )
        sys.stdout.write(
            render_fit_module(
                fit,
                command="python -m sagacore.workload.generators fit "
                "> sagacore/workload/generators/_swe_bench_fit.py",
            )
        )
        return 0
    gen = swe_bench(tasks=args.tasks, seed=args.seed)
    out = sys.stdout
    out.write(
        f"real: bundled trace, {len(real)} tasks, {real.llm_calls} calls; "
        f"generated: swe_bench(tasks={args.tasks}, seed={args.seed}), {gen.llm_calls} calls\n"
    )
    out.write(f"{'quantity':<24}{'stat':<8}{'real':>12}{'generated':>12}{'rel. err / KS':>15}\n")
    for name, label, x, y, err in calibration_rows(real, gen):
        if label == "KS":
            out.write(f"{name:<24}{label:<8}{'':>12}{'':>12}{err:>15.3f}\n")
        else:
            out.write(f"{name:<24}{label:<8}{x:>12.4g}{y:>12.4g}{err:>+15.1%}\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
