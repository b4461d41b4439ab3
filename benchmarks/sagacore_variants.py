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
- ``calm-saga-T`` (``T`` a number, e.g. ``calm-saga-0.8``): SAGA's router (routing and
  stealing) while every instance's load (KV in use and queued over capacity) is below
  ``T``, the stack's idle stealing otherwise (both keep the same session homes);
- ``gate-cluster-S`` (``S`` a share, e.g. ``gate-cluster-0.25``): the admission gate
  asked only while the reservations of the programs paused between calls, over the
  whole cluster, exceed ``S`` of the cluster's KV capacity; below that, admit;
- ``gate-free-K`` (``K`` a number, e.g. ``gate-free-1``): the gate defers a new program
  only when the reservations overflow *and* the worker's free (or evictable) KV is below
  ``K`` times what the program would reserve;
- ``gate-load-L`` (``L`` a number, e.g. ``gate-load-1``): the gate defers a new program
  only when the reservations overflow *and* the worker's load (KV in use and queued)
  plus what the program would reserve exceeds ``L`` of its capacity;
- ``gate-queue-Q`` (``Q`` a number, e.g. ``gate-queue-4``): the gate asked only on a
  worker with at least ``Q`` calls waiting (a deferred program waits there too, so once
  on, the gate stays on while the queue lasts); with fewer, admit.

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
from collections.abc import Callable, Sequence

from sagacore.build import BuildContext
from sagacore.errors import ConfigError, SagacoreError, UnknownNameError
from sagacore.metrics import compare
from sagacore.policy import CallView, Router, Scheduler, WorkerView
from sagacore.route.idle_steal import IdleSteal
from sagacore.route.saga import SagaAffinity
from sagacore.sched.admission import SagacoreScheduler, WorkingSetAdmission
from sagacore.sched.srpt_aging import SRPTAging, SRPTAgingConfig
from sagacore.sim import isolated_tcts, simulate
from sagacore.sim.config import ClusterConfig, get_cluster
from sagacore.stacks import Stack, get_stack
from sagacore.sweep.spec import REGIMES
from sagacore.workload.load import load_workload
from sagacore.workload.model import TaskId


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


class _CalmSaga(IdleSteal):
    """SAGA's routing and stealing while every load is below ``calm``, else idle stealing."""

    def __init__(self, calm: float, copy_seconds: Callable[[float], float]) -> None:
        super().__init__(copy_seconds=copy_seconds)
        self.calm = calm
        self.saga = SagaAffinity()
        self.saga.homes = self._home  # one set of session homes
        self._calm_tick = False

    def _is_calm(self, workers: Sequence[WorkerView]) -> bool:
        return max(w.load for w in workers) < self.calm

    def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
        if self._is_calm(workers):
            return self.saga.route(call, workers, now)
        return super().route(call, workers, now)

    def rebalance(self, workers: Sequence[WorkerView], now: float) -> list[tuple[int, int]]:
        mine = super().rebalance(workers, now)  # both keep their idle clocks
        theirs = self.saga.rebalance(workers, now)
        self._calm_tick = self._is_calm(workers)
        return theirs if self._calm_tick else mine

    def stealable(self, call: CallView, dst: WorkerView) -> bool:
        return self._calm_tick or super().stealable(call, dst)


def _calm_saga(calm: float) -> Callable[[BuildContext], Router]:
    return lambda ctx: _CalmSaga(calm, ctx.cost.migration_seconds)


class _GateIfClusterPaused(SagacoreScheduler):
    """Admit a new program outright while the cluster's paused reservations are below
    ``share`` of its KV capacity."""

    def __init__(self, share: float, ctx: BuildContext) -> None:
        p, o = ctx.token_prices()
        super().__init__(ctx.predictor, seconds_per_prompt_token=p, seconds_per_output_token=o)
        self.share = share
        self._pools: dict[int, int] = {}

    def _paused_tokens(self) -> float:
        need: dict[TaskId, float] = self._need
        return sum(need[t] for p in self._paused.values() for t in p)

    def admit(self, call: CallView, worker: WorkerView, now: float) -> bool:
        tid, w = call.task_id, worker.worker_id
        self._pools[w] = worker.pool_tokens
        if (tid not in self._where and self._deferred_at != (now, w)
                and self._paused_tokens() < self.share * sum(self._pools.values())):
            self._shared[tid] = min(worker.cached_prefix_tokens(call), call.prompt_tokens)
            self._place(tid, w, self.peak_tokens(call))
            return True
        return super().admit(call, worker, now)


class _GateIfShort(SagacoreScheduler):
    """Defer a new program only where free KV is also below ``k`` times its reservation."""

    def __init__(self, k: float, ctx: BuildContext) -> None:
        p, o = ctx.token_prices()
        super().__init__(ctx.predictor, seconds_per_prompt_token=p, seconds_per_output_token=o)
        self.k = k

    def admit(self, call: CallView, worker: WorkerView, now: float) -> bool:
        tid, w = call.task_id, worker.worker_id
        if tid not in self._where and self._deferred_at != (now, w):
            self._shared[tid] = min(worker.cached_prefix_tokens(call), call.prompt_tokens)
            need = self.peak_tokens(call)
            if worker.free_tokens >= self.k * need:
                self._place(tid, w, need)
                return True
        return super().admit(call, worker, now)


class _GateIfLoaded(SagacoreScheduler):
    """Defer a new program only where the load plus its reservation also exceeds ``cap``."""

    def __init__(self, cap: float, ctx: BuildContext) -> None:
        p, o = ctx.token_prices()
        super().__init__(ctx.predictor, seconds_per_prompt_token=p, seconds_per_output_token=o)
        self.cap = cap

    def admit(self, call: CallView, worker: WorkerView, now: float) -> bool:
        tid, w = call.task_id, worker.worker_id
        if tid not in self._where and self._deferred_at != (now, w):
            self._shared[tid] = min(worker.cached_prefix_tokens(call), call.prompt_tokens)
            need = self.peak_tokens(call)
            if worker.load * worker.pool_tokens + need <= self.cap * worker.pool_tokens:
                self._place(tid, w, need)
                return True
        return super().admit(call, worker, now)


class _GateIfQueued(SagacoreScheduler):
    """Ask the gate only on a worker with at least ``q`` calls waiting."""

    def __init__(self, q: float, ctx: BuildContext) -> None:
        p, o = ctx.token_prices()
        super().__init__(ctx.predictor, seconds_per_prompt_token=p, seconds_per_output_token=o)
        self.q = q

    def admit(self, call: CallView, worker: WorkerView, now: float) -> bool:
        tid, w = call.task_id, worker.worker_id
        if (tid not in self._where and self._deferred_at != (now, w)
                and worker.queued_calls < self.q):
            self._shared[tid] = min(worker.cached_prefix_tokens(call), call.prompt_tokens)
            self._place(tid, w, self.peak_tokens(call))
            return True
        return super().admit(call, worker, now)


_Gate = _GateIfClusterPaused | _GateIfShort | _GateIfLoaded | _GateIfQueued


def _gate(cls: type[_Gate], x: float) -> Callable[[BuildContext], Scheduler]:
    return lambda ctx: cls(x, ctx)


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
        return r(s, name=name, scheduler=_ordered(SRPTAging, _suffix(name, "aging-", "R")))
    if name.startswith("calm-saga-"):
        return r(s, name=name, router=_calm_saga(_suffix(name, "calm-saga-", "T")))
    if name.startswith("gate-cluster-"):
        x = _suffix(name, "gate-cluster-", "S")
        return r(s, name=name, scheduler=_gate(_GateIfClusterPaused, x))
    if name.startswith("gate-load-"):
        return r(s, name=name, scheduler=_gate(_GateIfLoaded, _suffix(name, "gate-load-", "L")))
    if name.startswith("gate-queue-"):
        return r(s, name=name, scheduler=_gate(_GateIfQueued, _suffix(name, "gate-queue-", "Q")))
    if name.startswith("gate-free-"):
        return r(s, name=name, scheduler=_gate(_GateIfShort, _suffix(name, "gate-free-", "K")))
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


def _suffix(name: str, prefix: str, letter: str) -> float:
    try:
        x = float(name[len(prefix):])
    except ValueError:
        raise ConfigError(f"variant {name!r}: {prefix}{letter} needs a number {letter}") from None
    if not (math.isfinite(x) and x >= 0):
        raise ConfigError(f"variant {name!r}: {letter} must be a number >= 0")
    return x


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
                out.append(f"{n} {c.ratio:.4f} [{c.ci_low:.3f}, {c.ci_high:.3f}] "
                           f"SLO {res.slo_attainment:.0%} moved {res.migrations}")
            print(" | ".join(out), flush=True)
        print(f"geometric mean over the seeds, {rate:g}/min: " + ", ".join(
            f"{n} {math.exp(sum(map(math.log, v)) / len(v)):.4f}" for n, v in ratios.items()),
            flush=True)


if __name__ == "__main__":
    sys.exit(main())
