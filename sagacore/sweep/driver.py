"""Running a sweep: peak searches, then every run, each in its own process.

:func:`run_sweep` checks everything it is given before any work (stacks, clusters,
workloads, the output folder), searches the SLO-peak rates that relative rates need
(and those asked for with ``peaks_for``), then runs every simulation not already in the
output folder's table, in parallel, appending each row as it finishes
(:class:`~sagacore.sweep.table.ResultTable`). A sweep killed midway and started again
with the same arguments does only what is missing.

Backends: ``local`` (default) runs each job in a fresh process forked from this one (so
the workloads, loaded once here, are shared), ``jobs`` at a time; ``ray`` sends the same
jobs to a Ray cluster (``pip install 'sagacore[ray]'``; ``RAY_ADDRESS`` selects the
cluster, else a local one is started), each worker loading the workloads itself.

Examples
--------
>>> import tempfile
>>> res = run_sweep(workloads=["swe-bench"], clusters=["a100-8-llama8b"], stacks=["vllm-apc"],
...                 rates=[4.0], seeds=[0], tasks=3, out=tempfile.mkdtemp(), jobs=1)
>>> len(res.rows), res.ran, res.failed
(1, 1, [])
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sagacore.errors import ConfigError, SagacoreError
from sagacore.stacks import get_stack
from sagacore.sweep.run import isolated_cached, load_cached, run_one
from sagacore.sweep.spec import RelRate, RunSpec, ideal_kind, parse_cluster
from sagacore.sweep.table import ResultTable
from sagacore.validate import positive_int

__all__ = ["PeakSpec", "SweepResult", "run_sweep"]

Backend = Literal["local", "ray"]

PEAK_LO = 0.5
"""First rate (tasks/min) a peak search tries; it doubles from there."""

PEAK_MIN = 0.5 / 64
"""Lowest first rate a peak search falls back to when :data:`PEAK_LO` misses the target."""


@dataclass(frozen=True)
class PeakSpec:
    """One SLO-peak search: the highest rate at which ``stack`` meets ``target``."""

    workload: str
    cluster: str
    stack: str
    seed: int
    tasks: int | None
    target: float

    def key(self) -> tuple[str, str, str, int, int | None, float]:
        """Identity of the search."""
        return (self.workload, self.cluster, self.stack, self.seed, self.tasks, self.target)

    def describe(self) -> str:
        """One line for progress displays."""
        return f"peak of {self.stack}, {self.workload}, {self.cluster}, seed {self.seed}"


def _peak_key(p: dict[str, Any]) -> tuple[str, str, str, int, int | None, float]:
    return (p["workload"], p["cluster"], p["stack"], int(p["seed"]), p["tasks"],
            float(p["target"]))


def run_peak(spec: PeakSpec) -> dict[str, Any]:
    """Search ``spec``'s peak rate (:func:`sagacore.sim.search.peak_sustainable_rate`).

    The search starts at :data:`PEAK_LO` tasks/min and doubles; when even that rate
    misses the target it starts again 4x lower, down to :data:`PEAK_MIN`. ``met`` says
    whether any rate tried met the target; ``bracketed`` whether a rate that missed it
    was found above the peak (else every task arriving almost at once still met it,
    and the peak is the highest rate tried).
    """
    from sagacore.sim.search import peak_sustainable_rate

    w = load_cached(spec.workload, spec.seed, spec.tasks)
    cluster = parse_cluster(spec.cluster)
    lo = PEAK_LO
    tried: list[tuple[float, float]] = []
    while True:
        pk = peak_sustainable_rate(w, spec.stack, cluster, slo_target=spec.target,
                                   seed=spec.seed, lo=lo)
        tried += pk.tried
        if pk.attainment >= spec.target or lo / 4 < PEAK_MIN:
            break
        lo /= 4
    met = pk.attainment >= spec.target
    return {
        "workload": spec.workload, "cluster": spec.cluster, "stack": spec.stack,
        "seed": spec.seed, "tasks": spec.tasks, "target": spec.target,
        "rate_per_min": pk.rate_per_min, "attainment": pk.attainment,
        "throughput_tasks_per_min": pk.throughput_tasks_per_min,
        "met": met,
        "bracketed": any(a < spec.target for r, a in tried if r > pk.rate_per_min),
        "tried": [list(x) for x in tried],
    }


Job = RunSpec | PeakSpec
Outcome = tuple[Literal["row", "peak", "error"], Job, Any]


def _job(job: Job) -> Outcome:
    """Run one job; never raises (a failure is an ``error`` outcome with its message)."""
    try:
        if isinstance(job, PeakSpec):
            return ("peak", job, run_peak(job))
        return ("row", job, run_one(job))
    except SagacoreError as exc:
        return ("error", job, f"{exc}")
    except Exception as exc:  # a bug: keep the sweep going, report where it broke
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {tb[-1].filename}:{tb[-1].lineno}" if tb else ""
        return ("error", job, f"internal error {type(exc).__name__}: {exc}{where}")


def _local(jobs: Sequence[Job], workers: int) -> Iterator[Outcome]:
    import multiprocessing as mp

    if not jobs:
        return
    ctx = mp.get_context("fork")
    with ctx.Pool(processes=min(workers, len(jobs)), maxtasksperchild=1) as pool:
        yield from pool.imap_unordered(_job, jobs)


def _ray(jobs: Sequence[Job], workers: int) -> Iterator[Outcome]:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--backend ray needs Ray: pip install 'sagacore[ray]'"
        ) from None
    if not jobs:
        return
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(_job)
    pending = [remote.remote(j) for j in jobs]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        out: Outcome = ray.get(done[0])
        yield out


def _execute(jobs: Sequence[Job], backend: Backend, workers: int) -> Iterator[Outcome]:
    if backend == "local":
        return _local(jobs, workers)
    if backend == "ray":
        return _ray(jobs, workers)
    raise ConfigError(f"unknown backend {backend!r}; known: local, ray")


@dataclass
class SweepResult:
    """What :func:`run_sweep` did."""

    rows: list[dict[str, Any]]
    """Every row of the table (earlier runs included)."""
    peaks: list[dict[str, Any]]
    """Every peak search of the table."""
    ran: int = 0
    """Runs and searches done by this call."""
    skipped: int = 0
    """Runs and searches found already done."""
    failed: list[str] = field(default_factory=list)
    """One line per failed run or search."""
    wall_s: float = 0.0
    """Wall-clock seconds this call took."""


ProgressFn = Callable[[int, int, str], None]


def _validate(workloads: Sequence[str], clusters: Sequence[str], stacks: Sequence[str],
              seeds: Sequence[int], tasks: int | None, target: float) -> None:
    for name, seq in (("workload", workloads), ("cluster", clusters), ("stack", stacks),
                      ("seed", seeds)):
        if not seq:
            raise ConfigError(f"a sweep needs at least one {name}")
    for s in stacks:
        if ideal_kind(s) is None:
            get_stack(s)
    for c in clusters:
        parse_cluster(c)
    for sd in seeds:
        positive_int("--seeds: a seed", sd, zero_ok=True)
    if tasks is not None:
        positive_int("--tasks", tasks)
    if not 0 < target <= 1:
        raise ConfigError(f"--peak-target must be in (0, 1], got {target!r}")


def run_sweep(
    *,
    workloads: Sequence[str],
    clusters: Sequence[str],
    stacks: Sequence[str],
    rates: Sequence[float | RelRate],
    seeds: Sequence[int] = (0,),
    tasks: int | None = None,
    out: str | Path,
    peak_of: str = "vllm-apc",
    peaks_for: Sequence[str] = (),
    peak_target: float = 0.9,
    jobs: int | None = None,
    backend: Backend = "local",
    progress: ProgressFn | None = None,
) -> SweepResult:
    """Run every (workload, cluster, seed, rate, stack) not yet in ``out``.

    Parameters
    ----------
    workloads, clusters, stacks, seeds
        The grid (stack names may be ``ideal:<kind>``).
    rates
        Rates in tasks/min, or multiples of ``peak_of``'s SLO-peak rate
        (:class:`~sagacore.sweep.spec.RelRate`), searched per workload, cluster and seed.
    tasks
        Use the first ``tasks`` tasks of each workload (generators: 200 by default).
    out
        The results folder (:class:`~sagacore.sweep.table.ResultTable`).
    peak_of
        The stack whose peak relative rates multiply.
    peaks_for
        Stacks whose SLO-peak rate to search as well (goodput), per workload, cluster
        and seed.
    peak_target
        SLO attainment that defines the peak.
    jobs
        Processes (or Ray tasks) at a time; default: the local cores.
    backend
        ``local`` or ``ray``.
    progress
        Called with (jobs done, jobs in all, what just finished) after each job.

    Raises
    ------
    SagacoreError
        On bad input, before any simulation runs.
    """
    _validate(workloads, clusters, stacks, seeds, tasks, peak_target)
    if backend not in ("local", "ray"):
        raise ConfigError(f"unknown backend {backend!r}; known: local, ray")
    workers = positive_int("--jobs", jobs if jobs is not None else (os.cpu_count() or 1))
    if not rates:
        raise ConfigError("a sweep needs at least one rate")
    rel = any(isinstance(r, RelRate) for r in rates)
    if rel and ideal_kind(peak_of) is not None:
        raise ConfigError(f"--peak-of {peak_of!r}: an ideal reference has no SLO peak")
    if rel:
        get_stack(peak_of)
    for s in peaks_for:
        if ideal_kind(s) is not None:
            raise ConfigError(f"--peak {s!r}: an ideal reference has no SLO peak")
        get_stack(s)
    # load every workload and its isolated TCTs here, once (forked workers share them),
    # before the output folder is made: a bad workload leaves nothing behind
    for w in workloads:
        for sd in seeds:
            load_cached(w, sd, tasks)
            for c in clusters:
                isolated_cached(RunSpec(w, c, "vllm-apc", 1.0, sd, tasks))
    table = ResultTable(out)

    result = SweepResult(rows=[], peaks=[])
    t0 = time.perf_counter()
    grid = [(w, c, sd) for w in workloads for c in clusters for sd in seeds]
    peak_stacks = list(dict.fromkeys(([peak_of] if rel else []) + list(peaks_for)))
    peak_jobs = [PeakSpec(w, c, s, sd, tasks, peak_target) for (w, c, sd) in grid
                 for s in peak_stacks]
    have_peaks = {_peak_key(p): p for p in table.peak_rows()}
    todo_peaks = [p for p in peak_jobs if p.key() not in have_peaks]
    result.skipped += len(peak_jobs) - len(todo_peaks)

    # runs at absolute rates need no peak: start them with the peak searches
    done_keys = table.done_keys()
    abs_runs = [RunSpec(w, c, s, float(r), sd, tasks) for (w, c, sd) in grid
                for r in rates if not isinstance(r, RelRate) for s in stacks]
    todo: list[Job] = [*todo_peaks, *(r for r in abs_runs if r.key() not in done_keys)]
    n_rel = len(grid) * len(stacks) * sum(isinstance(r, RelRate) for r in rates)
    total = len(todo) + n_rel
    done = 0

    def consume(outcomes: Iterator[Outcome]) -> None:
        nonlocal done
        for kind, job, payload in outcomes:
            done += 1
            if kind == "row":
                table.append(payload)
                result.ran += 1
            elif kind == "peak":
                table.append_peak(payload)
                have_peaks[_peak_key(payload)] = payload
                result.ran += 1
            else:
                result.failed.append(f"{job.describe()}: {payload}")
            if progress is not None:
                progress(done, total, job.describe())

    consume(_execute(todo, backend, workers))
    rel_runs: list[RunSpec] = []
    for (w, c, sd) in grid:
        pk = have_peaks.get((w, c, peak_of, sd, tasks, peak_target)) if rel else None
        for r in rates:
            if not isinstance(r, RelRate):
                continue
            if pk is None:
                result.failed.extend(
                    f"{s} @ {r} of {peak_of}, {w}, {c}, seed {sd}: no peak of {peak_of}"
                    for s in stacks)
                done += len(stacks)
                continue
            rate = float(pk["rate_per_min"]) * r.factor
            rel_runs.extend(RunSpec(w, c, s, rate, sd, tasks, r.factor, peak_of) for s in stacks)
    todo_rel = [r for r in rel_runs if r.key() not in done_keys]
    result.skipped += len(abs_runs) - sum(r.key() not in done_keys for r in abs_runs)
    result.skipped += len(rel_runs) - len(todo_rel)
    done += len(rel_runs) - len(todo_rel)
    consume(_execute(todo_rel, backend, workers))
    result.rows = table.rows
    result.peaks = table.peak_rows()
    result.wall_s = time.perf_counter() - t0
    return result

