"""SAGA's AFS: the incremental implementation against the straightforward one, side by side.

``sagacore.sched.afs.SagaAFS`` keeps each task's remaining work between epochs and
computes an epoch's urgencies vectorised; ``tests/afs_reference.py`` holds the previous
implementation, which recomputed every task in a Python loop each epoch. Two measures,
both in this one process, old and new alternated ``--repeat`` times (the best time of
each is kept; times are this process's CPU seconds, so that other work on the machine
does not blur the ratio):

1. **Policy alone**: every hook call the ``saga`` stack's scheduler received in one
   simulation (the default: the bundled SWE-bench trace, Poisson 4 tasks/min, cluster
   ``a100-16``: the run of ``sagacore simulate --stack saga --cluster a100-16 --rate 4``)
   is recorded, then replayed into a fresh instance of each class (without the shared
   predictor, so that only the bookkeeping is timed); the answers must be identical.
2. **Whole simulation**: the ``saga`` stack with each class; per-task completion times
   must be identical.

Run::

    python benchmarks/afs_speed.py [--tasks N] [--rate R] [--cluster NAME] [--repeat K]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from afs_reference import ReferenceAFS  # noqa: E402

from sagacore.data import bundled_trace  # noqa: E402
from sagacore.policy import CallView, Scheduler  # noqa: E402
from sagacore.sched.afs import AFSConfig, SagaAFS  # noqa: E402
from sagacore.sim import SimResult, simulate  # noqa: E402
from sagacore.stacks import BuildContext, Stack, get_stack  # noqa: E402
from sagacore.testing.fairness import SimpleCall  # noqa: E402
from sagacore.workload.generators import with_poisson_arrivals  # noqa: E402
from sagacore.workload.model import Task, TaskId, Workload  # noqa: E402
from sagacore.workload.predictor import Predictor  # noqa: E402
from sagacore.workload.readers import read_workload  # noqa: E402

Op = tuple[Any, ...]


def _snap(call: CallView) -> SimpleCall:
    return SimpleCall(
        task_id=call.task_id, tenant=call.tenant, agent_type=call.agent_type, step=call.step,
        prompt_tokens=call.prompt_tokens, task_arrival_s=call.task_arrival_s,
        ready_s=call.ready_s, task_tool_s=call.task_tool_s,
    )  # fmt: skip


class _Recording(SagaAFS):
    """SagaAFS that writes down every hook call it gets (its answers are unchanged)."""

    def __init__(self, config: AFSConfig | None = None, predictor: Predictor | None = None) -> None:
        super().__init__(config, predictor)
        self.ops: list[Op] = []

    def key(self, call: CallView, now: float) -> tuple[float, ...]:
        self.ops.append(("key", _snap(call), now))
        return super().key(call, now)

    def observe_task_arrival(self, task: Task, now: float) -> None:
        self.ops.append(("arrival", task, now))
        super().observe_task_arrival(task, now)

    def observe_call_start(self, call: CallView, now: float) -> None:
        self.ops.append(("start", _snap(call), now))
        super().observe_call_start(call, now)

    def observe_service(self, call: CallView, tokens: int, seconds: float, now: float) -> None:
        self.ops.append(("service", _snap(call), tokens, seconds, now))
        super().observe_service(call, tokens, seconds, now)

    def observe_call_end(self, call: CallView, output_tokens: int, now: float) -> None:
        self.ops.append(("end", _snap(call), output_tokens, now))
        super().observe_call_end(call, output_tokens, now)

    def observe_task_end(self, task_id: TaskId, now: float) -> None:
        self.ops.append(("task_end", task_id, now))
        super().observe_task_end(task_id, now)


def _stack(cls: type[SagaAFS] | type[ReferenceAFS], built: list[Scheduler] | None = None) -> Stack:
    """The ``saga`` stack with its scheduler of class ``cls`` (same configuration)."""
    saga = get_stack("saga")

    def build(ctx: BuildContext) -> Scheduler:
        own = saga.build_scheduler(ctx)
        assert isinstance(own, SagaAFS), "the saga stack no longer uses SagaAFS"
        policy = cls(own.config, predictor=ctx.predictor)
        if built is not None:
            built.append(policy)
        return policy

    return replace(saga, name=f"saga[{cls.__name__}]", scheduler=build)


def _replay(policy: Scheduler, ops: list[Op]) -> tuple[float, list[tuple[float, ...]]]:
    keys: list[tuple[float, ...]] = []
    t0 = time.process_time()
    for op in ops:
        kind = op[0]
        if kind == "key":
            keys.append(policy.key(op[1], op[2]))
        elif kind == "service":
            policy.observe_service(op[1], op[2], op[3], op[4])
        elif kind == "arrival":
            policy.observe_task_arrival(op[1], op[2])
        elif kind == "start":
            policy.observe_call_start(op[1], op[2])
        elif kind == "end":
            policy.observe_call_end(op[1], op[2], op[3])
        else:
            policy.observe_task_end(op[1], op[2])
    return time.process_time() - t0, keys


def _records(r: SimResult) -> list[tuple[str, float, float | None]]:
    return [(t.task_id, t.arrival_s, t.completion_s) for t in r.tasks]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=None, help="first N tasks (default all 198)")
    ap.add_argument("--rate", type=float, default=4.0, help="Poisson tasks per minute")
    ap.add_argument("--cluster", default="a100-16")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    w: Workload = read_workload(bundled_trace())
    if args.tasks is not None:
        w = w.head(args.tasks)
    w = with_poisson_arrivals(w, args.rate, seed=0)
    print(f"workload: bundled SWE-bench trace, {len(w)} tasks, {w.llm_calls:,} calls, "
          f"Poisson {args.rate:g}/min, cluster {args.cluster}")  # fmt: skip

    built: list[Scheduler] = []
    simulate(w, _stack(_Recording, built), args.cluster)
    recorder = built[0]
    assert isinstance(recorder, _Recording)
    ops, config = recorder.ops, recorder.config
    calls = sum(1 for op in ops if op[0] == "key")
    print(f"recorded {len(ops):,} hook calls ({calls:,} keys)")
    best = {"reference": float("inf"), "incremental": float("inf")}
    answers: dict[str, list[tuple[float, ...]]] = {}
    for _ in range(args.repeat):
        for name, cls in (("reference", ReferenceAFS), ("incremental", SagaAFS)):
            seconds, keys = _replay(cls(config), ops)
            best[name] = min(best[name], seconds)
            answers[name] = keys
    same = answers["reference"] == answers["incremental"]
    print(f"policy alone: reference {best['reference']:.2f} CPU s, incremental "
          f"{best['incremental']:.2f} CPU s, speed-up {best['reference'] / best['incremental']:.2f}x; "
          f"identical keys: {same}")  # fmt: skip

    walls = {"reference": float("inf"), "incremental": float("inf")}
    results: dict[str, SimResult] = {}
    for _ in range(args.repeat):
        for name, cls in (("reference", ReferenceAFS), ("incremental", SagaAFS)):
            t0 = time.process_time()
            results[name] = simulate(w, _stack(cls), args.cluster)
            walls[name] = min(walls[name], time.process_time() - t0)
    same_sim = _records(results["reference"]) == _records(results["incremental"])
    print(f"whole simulation: reference {walls['reference']:.2f} CPU s, incremental "
          f"{walls['incremental']:.2f} CPU s, speed-up {walls['reference'] / walls['incremental']:.2f}x; "
          f"identical per-task completion times: {same_sim}")  # fmt: skip
    if not (same and same_sim):
        raise SystemExit("the two implementations disagree")


if __name__ == "__main__":
    main()
