"""The ``sagacore`` stack against ``vllm-apc`` and the peer stacks, across loads; ablation.

Runs a workload (default: the bundled SWE-bench trace) on a cluster preset (default
``a100-16``: 4 instances of Llama-3-70B, tensor parallel 4, 16 A100-80GB) at Poisson
rates spanning 0.25x to 3x ``vllm-apc``'s SLO peak (2.83 tasks/min on that trace and
cluster, ``docs/stacks.md``) and prints, per rate, every stack's geometric-mean TCT
ratio to ``vllm-apc`` with its 95% bootstrap CI. Then the ablation: ``sagacore`` with
one piece removed at a time:

- *retention*: eviction only (``next-use``, KV never pinned or swapped in a tool);
- *admission*: no admission control (the SRPT-with-aging order alone);
- *ordering*: admission control over FCFS instead of SRPT with aging;
- *stealing*: session affinity without work stealing by idle workers;
- *routing*: per-call least-loaded placement instead of session affinity.

With ``--growth-shares``, also the admission rule's ``growth_share`` (the share of its
predicted growth a program reserves) at ``--growth-rates``.

Rates are tasks/min or multiples of ``vllm-apc``'s SLO peak (``2x``), as in ``sagacore
sweep``; a multiple is taken of the peak at each seed, read from a sweep's
``peaks.jsonl`` (``--peaks``; with ``--regime`` the reproduce's,
``docs/results-files/sweep/REGIME/peaks.jsonl``). With ``--seeds``, every seed runs at
peak multiples from ``--seeds-from`` on (1.5 by default), the first alone below, and the
seeds' tasks are pooled, each task of each seed one paired sample, as ``sagacore
reproduce`` pools them: a stack's ratio is the geometric mean over the pooled tasks, its
CI a bootstrap over them; past the first stack of a table each line also gives its ratio
to the first (``sagacore`` in the ablation) on the same tasks, whose CI says whether
removing a piece changed anything; SLO attainment, prompt tokens computed (prefill) and
throughput are means over the seeds. The workload is re-timed as a sweep does it
(``sagacore.sweep.run``), so the ``sagacore`` line matches ``docs/results.md`` at the same
rates. Usage::

    python benchmarks/sagacore_stack.py [--regime NAME | --workload swe-bench-trace
        --cluster a100-16] [--tasks N] [--seeds 0,1,2] [--seeds-from 1.5]
        [--peaks peaks.jsonl] [--rates 0.7,1.4,2.83,4.25,5.66,8.5]
        [--peers continuum,sglang,...] [--ablation-rates 2.83,5.66,8.5]
        [--growth-shares 0,0.35,0.5,1] [--growth-rates 4.25,5.66,8.5]

The ablation of ``docs/stacks.md``::

    python benchmarks/sagacore_stack.py --regime swe-trace-16 --seeds 0,1,2 --rates '' \\
        --ablation-rates 1x,1.5x,2x,3x
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from sagacore.errors import ConfigError, SagacoreError
from sagacore.metrics import compare
from sagacore.policy import Scheduler
from sagacore.sim import isolated_tcts, simulate
from sagacore.sim.config import get_cluster
from sagacore.stacks import BuildContext, Stack, get_stack
from sagacore.sweep.run import load_cached
from sagacore.sweep.spec import REGIMES, RelRate, parse_rates
from sagacore.workload.generators.arrivals import with_poisson_arrivals
from sagacore.workload.model import Workload

PEERS = "continuum,sglang,autellix,kvflow,infercept,astraea,justitia,saga,preble"


def _srpt_only(ctx: BuildContext) -> Scheduler:
    from sagacore.sched.srpt_aging import SRPTAging

    return SRPTAging.from_context(ctx)


def _admission_fcfs(ctx: BuildContext) -> Scheduler:
    from sagacore.sched.admission import with_admission
    from sagacore.sched.fcfs import FCFS

    return with_admission(FCFS(), predictor=ctx.predictor)


def _with_growth_share(share: float) -> Stack:
    from sagacore.sched.admission import AdmissionConfig, SagacoreScheduler

    def build(ctx: BuildContext) -> Scheduler:
        p, o = ctx.token_prices()
        return SagacoreScheduler(ctx.predictor, seconds_per_prompt_token=p,
                                 seconds_per_output_token=o,
                                 config=AdmissionConfig(growth_share=share))

    return dataclasses.replace(get_stack("sagacore"), name=f"share {share:g}", scheduler=build)


def ablations() -> list[Stack]:
    """``sagacore`` with one piece removed at a time."""
    s = get_stack("sagacore")
    r = dataclasses.replace
    return [
        r(s, name="-retention", cache="next-use"),
        r(s, name="-admission", scheduler=_srpt_only),
        r(s, name="-ordering", scheduler=_admission_fcfs),
        r(s, name="-stealing", router="session-affinity"),
        r(s, name="-routing", router="least-loaded"),
    ]


@dataclass(frozen=True)
class Setting:
    """Where the runs happen: a workload on a cluster, at which seeds and rates."""

    workload: str
    cluster: str
    tasks: int | None
    seeds: tuple[int, ...]
    """Arrival seeds (the first alone below ``seeds_from``)."""
    seeds_from: float
    """The least peak multiple that every seed runs at (as ``sagacore reproduce``)."""
    peaks: dict[int, float]
    """``vllm-apc``'s SLO-peak rate per seed, tasks/min (for rates such as ``2x``)."""

    def runs(self, rate: float | RelRate) -> list[tuple[int, float]]:
        """(seed, tasks/min) of each run at ``rate``: a multiple of the seed's peak, or
        a rate run at every seed."""
        if not isinstance(rate, RelRate):
            return [(sd, rate) for sd in self.seeds]
        seeds = self.seeds if rate.factor >= self.seeds_from else self.seeds[:1]
        missing = [sd for sd in seeds if sd not in self.peaks]
        if missing:
            raise ConfigError(f"{rate}: no vllm-apc peak for seed(s) "
                              f"{', '.join(map(str, missing))} (--peaks)")
        return [(sd, rate.factor * self.peaks[sd]) for sd in seeds]


def _read_peaks(path: Path, workload: str, cluster: str, tasks: int | None) -> dict[int, float]:
    """``vllm-apc``'s peak rate per seed from a sweep's ``peaks.jsonl``."""
    out: dict[int, float] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise ConfigError(f"--peaks {str(path)!r}: {e.strerror}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if (row["stack"], row["workload"], row["cluster"], row["tasks"]) == (
                    "vllm-apc", workload, cluster, tasks):
                out[int(row["seed"])] = float(row["rate_per_min"])
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"--peaks {str(path)!r} line {n}: not a peak row ({e})") from None
    return out


_ISOLATED: dict[tuple[int, str, int | None], dict[str, float]] = {}


def _runs_of(setting: Setting, seed: int, rate: float) -> tuple[Workload, dict[str, float]]:
    """The workload re-timed at ``rate`` and its isolated TCTs, as a sweep makes them."""
    base = load_cached(setting.workload, seed, setting.tasks)
    k = (seed, setting.workload, setting.tasks)
    if k not in _ISOLATED:
        _ISOLATED[k] = isolated_tcts(base, get_cluster(setting.cluster))
    return with_poisson_arrivals(base, rate, seed=seed), _ISOLATED[k]


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _run(setting: Setting, rate: float | RelRate, stacks: list[Stack]) -> None:
    """Each stack against ``vllm-apc`` at ``rate``, the seeds' tasks pooled."""
    cluster = get_cluster(setting.cluster)
    runs = setting.runs(rate)
    base: dict[str, float] = {}
    for seed, r in runs:
        w, iso = _runs_of(setting, seed, r)
        b = simulate(w, get_stack("vllm-apc"), cluster, isolated=iso)
        base.update({f"{seed}/{t}": v for t, v in b.tct_by_task().items()})
        print(f"\n{setting.workload}, {setting.cluster}, {rate}, seed {seed}: {r:.4f} "
              f"tasks/min; vllm-apc geomean TCT {b.tct.geomean:,.0f} s, SLO "
              f"{b.slo_attainment:.1%}, prefill {b.prefill_tokens_computed / 1e6:.1f}M",
              flush=True)
    print(f"{rate}, seeds {','.join(str(sd) for sd, _ in runs)} pooled: ratio "
          "[95% CI] (per seed), SLO, prefill and tasks/min (means over the seeds); then, "
          f"past the first, the ratio to {stacks[0].name} [95% CI], paired on the same tasks")
    first: dict[str, float] = {}
    for i, st in enumerate(stacks):
        tct: dict[str, float] = {}
        per_seed: list[float] = []
        slo: list[float] = []
        prefill: list[float] = []
        tput: list[float] = []
        for seed, r in runs:
            w, iso = _runs_of(setting, seed, r)
            res = simulate(w, st, cluster, isolated=iso)
            t = {f"{seed}/{k}": v for k, v in res.tct_by_task().items()}
            tct.update(t)
            per_seed.append(compare(t, base, seed=0).ratio)
            slo.append(res.slo_attainment)
            prefill.append(res.prefill_tokens_computed)
            tput.append(res.throughput_tasks_per_min)
        c = compare(tct, base, seed=0)
        seeds = f" ({' '.join(f'{x:.3f}' for x in per_seed)})" if len(runs) > 1 else ""
        if i == 0:
            first, paired = tct, ""
        else:
            d = compare(tct, first, seed=0)
            paired = f"  vs {stacks[0].name} {d.ratio:.3f} [{d.ci_low:.3f}, {d.ci_high:.3f}]"
        print(f"  {st.name:<12} {c.ratio:6.3f}x [{c.ci_low:.3f}, {c.ci_high:.3f}]{seeds}  "
              f"SLO {_mean(slo):6.1%}  prefill {_mean(prefill) / 1e6:6.1f}M  "
              f"tasks/min {_mean(tput):5.2f}{paired}", flush=True)


def _rates(text: str, flag: str) -> tuple[float | RelRate, ...]:
    """Rates (tasks/min) and peak multiples (``2x``) from ``flag``; '' for none."""
    if not text.strip():
        return ()
    try:
        return parse_rates(text)
    except ConfigError as e:
        raise ConfigError(str(e).replace("--rates", flag, 1)) from None


def _setting(a: argparse.Namespace) -> Setting:
    if a.regime is not None:
        if a.regime not in REGIMES:
            raise ConfigError(f"--regime {a.regime!r}: known: {', '.join(REGIMES)}")
        rg = REGIMES[a.regime]
        workload, cluster, tasks = rg.workload, rg.cluster, rg.tasks
        peaks = a.peaks or f"docs/results-files/sweep/{a.regime}/peaks.jsonl"
    else:
        workload, cluster, tasks, peaks = a.workload, a.cluster, a.tasks, a.peaks
    if a.tasks is not None:
        if a.tasks < 1:
            raise ConfigError(f"--tasks {a.tasks}: must be >= 1")
        tasks = a.tasks
    get_cluster(cluster)
    try:
        seeds = tuple(int(x) for x in a.seeds.split(","))
    except ValueError:
        raise ConfigError(f"--seeds {a.seeds!r}: integers, comma separated") from None
    if any(sd < 0 for sd in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {a.seeds!r}: distinct integers >= 0")
    if not (math.isfinite(a.seeds_from) and a.seeds_from > 0):
        raise ConfigError(f"--seeds-from {a.seeds_from!r}: a positive peak multiple")
    return Setting(workload, cluster, tasks, seeds, a.seeds_from,
                   _read_peaks(Path(peaks), workload, cluster, tasks) if peaks else {})


class _Parser(argparse.ArgumentParser):
    """Errors on one line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def main() -> int:
    p = _Parser(description=__doc__.splitlines()[0])
    p.add_argument("--regime", default=None, help="a named regime (its workload, cluster, "
                   "tasks; peaks from docs/results-files/sweep/REGIME/peaks.jsonl)")
    p.add_argument("--workload", default="swe-bench-trace")
    p.add_argument("--cluster", default="a100-16")
    p.add_argument("--tasks", type=int, default=None, help="first N tasks (default: all, or "
                   "the regime's)")
    p.add_argument("--seeds", default="0", help="arrival seeds, pooled (default 0)")
    p.add_argument("--seeds-from", type=float, default=1.5, help="below this peak multiple "
                   "only the first seed runs (default 1.5, as sagacore reproduce)")
    p.add_argument("--peaks", default=None, help="a sweep's peaks.jsonl: vllm-apc's SLO peak "
                   "per seed, for rates such as 2x")
    p.add_argument("--rates", default="0.7,1.4,2.83,4.25,5.66,8.5", help="tasks/min or peak "
                   "multiples (1.5x), comma separated ('' for none)")
    p.add_argument("--peers", default=PEERS, help="comma separated ('' for none)")
    p.add_argument("--ablation-rates", default="2.83,5.66,8.5", help="'' for none")
    p.add_argument("--growth-shares", default="", help="admission growth_share values "
                   "to compare (e.g. 0,0.25,0.35,0.5,0.65,1; default: none)")
    p.add_argument("--growth-rates", default="4.25,5.66,8.5", help="rates for those")
    args = p.parse_args()
    try:
        setting = _setting(args)
        rates = _rates(args.rates, "--rates")
        ablation_rates = _rates(args.ablation_rates, "--ablation-rates")
        growth_rates = _rates(args.growth_rates, "--growth-rates")
        peers = [get_stack(n) for n in args.peers.split(",") if n]
        try:
            shares = [float(x) for x in args.growth_shares.split(",") if x]
        except ValueError:
            raise ConfigError(f"--growth-shares {args.growth_shares!r}: numbers, comma "
                              "separated") from None
        for r in (*rates, *ablation_rates, *growth_rates):
            setting.runs(r)
        _main(setting, rates, peers, ablation_rates, shares, growth_rates)
    except SagacoreError as e:
        print(f"{Path(sys.argv[0]).name}: error: {e}", file=sys.stderr)
        return 2
    return 0


def _main(setting: Setting, rates: tuple[float | RelRate, ...], peers: list[Stack],
          ablation_rates: tuple[float | RelRate, ...], shares: list[float],
          growth_rates: tuple[float | RelRate, ...]) -> None:
    print("ratios: geometric mean of per-task TCT ratios to vllm-apc [95% bootstrap CI]")
    for rate in rates:
        _run(setting, rate, [get_stack("sagacore"), *peers])
    if ablation_rates:
        print("\nablation: sagacore with one piece removed")
    for rate in ablation_rates:
        _run(setting, rate, [get_stack("sagacore"), *ablations()])
    if shares:
        print("\nadmission: the share of its predicted growth a program reserves")
        for rate in growth_rates:
            _run(setting, rate, [_with_growth_share(g) for g in shares])


if __name__ == "__main__":
    sys.exit(main())
