"""Variants of the ``sagacore`` stack tried and not (yet) kept, over seeds.

Runs ``vllm-apc`` and the named stacks on a regime's workload (``--regime``, from
``sagacore.sweep.spec.REGIMES``) or any workload at the given rates and seeds, and
prints each run's geometric-mean TCT ratio to ``vllm-apc``, SLO attainment and
migrations, then the geometric mean of the ratios over the seeds. Besides any
registered stack name:

- ``eager``: ``idle-steal`` without its copy rule (a call may move as soon as a thief
  idles, not only once it has waited as long as the copy of its KV takes): the stack's
  router before 2026-12-03;
- ``arrival``: the admission control, retention and routing of ``sagacore`` over
  programs ordered by arrival (vLLM's ``priority`` with the task's arrival time,
  Continuum's order) instead of predicted remaining work with aging;
- ``no-steal``: ``sagacore`` with session affinity alone;
- ``wait-aged``: programs ordered by predicted remaining work minus the time the program
  has *waited* (its calls' waits so far), the stack's order before 2026-12-03, instead of
  minus its age;
- ``aging-R`` (``R`` a number, e.g. ``aging-4``): the stack's order with ageing rate ``R``
  (the default is 1);
- ``no-admission``: the stack's order without its admission control (``-admission`` of
  ``benchmarks/sagacore_stack.py``'s ablation);
- ``gate-paused``: the admission gate asked only on a worker where a program between
  calls still holds cached KV (nothing to protect elsewhere: admit).
- ``saga-router``: the stack with SAGA's router (session affinity while the load is
  below 0.8, stealing between busy instances) instead of idle stealing.

docs/stacks.md ("Where it stands against the goals") reports what these gave. Usage::

    python benchmarks/sagacore_variants.py --regime long-context --rates 0.27689,0.36918 \\
        --seeds 0,1,2,3 --stacks sagacore,arrival,continuum
    python benchmarks/sagacore_variants.py --regime long-context --rates 0.04615,0.0923 \\
        --seeds 0,1,2,3 --stacks sagacore,eager,no-steal
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Callable

from sagacore.build import BuildContext
from sagacore.errors import ConfigError, SagacoreError, UnknownNameError
from sagacore.metrics import compare
from sagacore.policy import CallView, Router, Scheduler, WorkerView
from sagacore.route.idle_steal import IdleSteal
from sagacore.sched.admission import SagacoreScheduler, WorkingSetAdmission
from sagacore.sched.srpt_aging import SRPTAging, SRPTAgingConfig
from sagacore.sim import isolated_tcts, simulate
from sagacore.sim.config import ClusterConfig, get_cluster
from sagacore.stacks import Stack, get_stack
from sagacore.sweep.spec import REGIMES
from sagacore.workload.load import load_workload


def _eager(ctx: BuildContext) -> Router:
    return IdleSteal()  # built bare: no copy rule


def _arrival(ctx: BuildContext) -> Scheduler:
    from sagacore.sched.admission import with_admission
    from sagacore.sched.fcfs import Priority

    return with_admission(Priority(), predictor=ctx.predictor)


class _WaitAged(SRPTAging):
    """Key ``R - aging * W``, ``W`` the program's waiting time so far (the old order)."""

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        wait = call.task_wait_s + max(0.0, now - call.ready_s)
        return (self.remaining_seconds(call) - self.config.aging * wait, call.task_arrival_s,
                float(call.step))


class _GateIfPaused(SagacoreScheduler):
    """Admit a new program outright where no paused program's KV is cached."""

    def admit(self, call: CallView, worker: WorkerView, now: float) -> bool:
        tid, w = call.task_id, worker.worker_id
        if tid not in self._where and self._deferred_at != (now, w):
            self._release_dropped(worker)
            if not self._paused.get(w):
                self._shared[tid] = min(worker.cached_prefix_tokens(call), call.prompt_tokens)
                self._place(tid, w, self.peak_tokens(call))
                return True
        return super().admit(call, worker, now)


def _gate_if_paused(ctx: BuildContext) -> Scheduler:
    p, o = ctx.token_prices()
    return _GateIfPaused(ctx.predictor, seconds_per_prompt_token=p, seconds_per_output_token=o)


def _ordered(cls: type[SRPTAging], aging: float) -> Callable[[BuildContext], Scheduler]:
    def make(ctx: BuildContext) -> Scheduler:
        p, o = ctx.token_prices()
        inner = cls(SRPTAgingConfig(seconds_per_prompt_token=p, seconds_per_output_token=o,
                                    aging=aging), ctx.predictor)
        return WorkingSetAdmission(inner, None, ctx.predictor, book=inner.book)
    return make


def variant(name: str) -> Stack:
    """A registered stack, or one of the variants above."""
    s = get_stack("sagacore")
    r = dataclasses.replace
    if name.startswith("aging-"):
        try:
            rate = float(name[len("aging-"):])
        except ValueError:
            raise ConfigError(f"variant {name!r}: aging-R needs a number R") from None
        return r(s, name=name, scheduler=_ordered(SRPTAging, rate))
    made = {
        "eager": lambda: r(s, name="eager", router=_eager),
        "arrival": lambda: r(s, name="arrival", scheduler=_arrival),
        "no-steal": lambda: r(s, name="no-steal", router="session-affinity"),
        "wait-aged": lambda: r(s, name="wait-aged", scheduler=_ordered(_WaitAged, 1.0)),
        "no-admission": lambda: r(s, name="no-admission", scheduler="srpt-aging"),
        "gate-paused": lambda: r(s, name="gate-paused", scheduler=_gate_if_paused),
        "saga-router": lambda: r(s, name="saga-router", router="saga-affinity"),
    }
    return made[name]() if name in made else get_stack(name)


def _numbers(text: str, option: str, kind: Callable[[str], float]) -> list[float]:
    try:
        out = [kind(x) for x in text.split(",") if x]
    except ValueError:
        raise ConfigError(f"{option} {text!r}: numbers, comma separated") from None
    if not out:
        raise ConfigError(f"{option}: at least one value")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--regime", default=None, help="a named regime (its workload, cluster, tasks)")
    p.add_argument("--workload", default="swe-bench-trace")
    p.add_argument("--cluster", default="a100-16")
    p.add_argument("--tasks", type=int, default=None)
    p.add_argument("--rates", required=True, help="tasks/min, comma separated")
    p.add_argument("--seeds", default="0")
    p.add_argument("--stacks", default="sagacore,eager,arrival,continuum")
    a = p.parse_args()
    try:
        if a.regime is not None:
            if a.regime not in REGIMES:
                raise UnknownNameError("regime", a.regime, list(REGIMES))
            rg = REGIMES[a.regime]
            workload, cluster_name, tasks = rg.workload, rg.cluster, rg.tasks
        else:
            workload, cluster_name, tasks = a.workload, a.cluster, a.tasks
        cluster = get_cluster(cluster_name)
        names = [n for n in a.stacks.split(",") if n]
        for n in names:
            variant(n)  # an unknown name fails here, before any run
        seeds = [int(x) for x in _numbers(a.seeds, "--seeds", int)]
        rates = _numbers(a.rates, "--rates", float)
        for rate in rates:
            if not (math.isfinite(rate) and rate > 0):
                raise ConfigError(f"--rates: {rate!r} is not a positive rate")
        _run(workload, cluster, tasks, names, seeds, rates)
    except SagacoreError as e:
        print(f"sagacore_variants.py: error: {e}", file=sys.stderr)
        return 2
    return 0


def _run(workload: str, cluster: ClusterConfig, tasks: int | None, names: list[str],
         seeds: list[int], rates: list[float]) -> None:
    for rate in rates:
        ratios: dict[str, list[float]] = {n: [] for n in names}
        for seed in seeds:
            w = load_workload(workload, tasks=tasks, rate=rate, seed=seed)
            iso = isolated_tcts(w, cluster)
            base = simulate(w, get_stack("vllm-apc"), cluster, isolated=iso)
            out = [f"{workload} {rate:g}/min seed {seed}: vllm-apc SLO {base.slo_attainment:.0%}"]
            for n in names:
                res = simulate(w, variant(n), cluster, isolated=iso)
                c = compare(res.tct_by_task(), base.tct_by_task(), seed=0)
                ratios[n].append(c.ratio)
                out.append(f"{n} {c.ratio:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}] "
                           f"SLO {res.slo_attainment:.0%} moved {res.migrations}")
            print(" | ".join(out), flush=True)
        print(f"geometric mean over the seeds, {rate:g}/min: " + ", ".join(
            f"{n} {math.exp(sum(map(math.log, v)) / len(v)):.4f}" for n, v in ratios.items()),
            flush=True)


if __name__ == "__main__":
    sys.exit(main())
