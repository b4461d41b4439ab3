"""SAGA's work stealing in the simulator: the obligations of ``work-stealing-bounds`` on
the ticks of real runs (``proofs/work_stealing``, ``docs/proofs/work_stealing.md``).

The router is the registered ``SagaAffinity`` with a recorder around ``rebalance``: at
every tick the simulator shows it the live workers (load and waiting calls) and moves
what it answers; the test checks the theorem's obligations on that sequence, and that
the simulator's migration count is what the router asked for.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from sagacore.policy import WorkerView
from sagacore.route.saga import SagaAffinity
from sagacore.sim import simulate
from sagacore.stacks import BuildContext, get_stack
from sagacore.workload.load import load_workload

REPO = Path(__file__).resolve().parent.parent


def _checker() -> Any:
    spec = importlib.util.spec_from_file_location("ws_check", REPO / "proofs/work_stealing/check.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["ws_check"] = mod
    spec.loader.exec_module(mod)
    return mod


class _Recording(SagaAffinity):
    """SagaAffinity that writes down what each tick showed it and what it answered (every
    tick: the quiet ones the mechanism may leave out too)."""

    quiet_ticks_idle = False

    def __init__(self) -> None:
        super().__init__()
        self.ticks: list[tuple[float, tuple[tuple[float, int], ...], list[tuple[int, int]]]] = []

    def rebalance(self, workers: Sequence[WorkerView], now: float) -> list[tuple[int, int]]:
        pairs = super().rebalance(workers, now)
        ids = [w.worker_id for w in workers]
        assert ids == list(range(len(ids)))  # no instance lost in these runs
        state = tuple((w.load, w.queued_calls) for w in workers)
        self.ticks.append((now, state, pairs))
        return pairs


@pytest.mark.parametrize("rate", [6.0, 12.0])
def test_stealing_bounds_hold_in_the_simulator(rate: float) -> None:
    check = _checker()
    routers: list[_Recording] = []

    def build(ctx: BuildContext) -> SagaAffinity:
        r = _Recording()
        routers.append(r)
        return r

    stack = dataclasses.replace(get_stack("saga"), name="saga (recorded)", router=build)
    w = load_workload("swe-bench-trace", tasks=24, rate=rate, seed=0)
    res = simulate(w, stack, "a100-16")
    (router,) = routers
    ticks = router.ticks
    assert len(ticks) > 10
    times = [t for t, _, _ in ticks]
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(times)}
    assert gaps == {router.idle_s}  # ticks every idle_s, none skipped
    states = [s for _, s, _ in ticks]
    pairs = [p for _, _, p in ticks]
    bad = [f"{label}: {lhs} > {rhs}"
           for label, lhs, rhs in check.tick_obligations(states, pairs, router.load_threshold,
                                                          router.steal_ratio)
           if lhs > rhs]
    assert bad == []
    asked = sum(len(p) for p in pairs)
    m = len(states[0])
    assert res.migrations <= asked <= len(ticks) * (m - 1)
    # the runs exercise the rule: calls wait somewhere, and some are stolen at the higher rate
    assert any(q for s in states for _, q in s)
    if rate >= 12.0:
        assert asked > 0


def test_idle_stealing_settles_in_the_simulator() -> None:
    """``idle-steal-bounds`` (3) on real runs of the ``sagacore`` stack: with the stack's
    settling no call moves twice and every obligation holds; without it calls bounce
    (so the spacing clause is not vacuous) and the obligations still hold."""
    from sagacore.testing.routing import IdleSim, idle_sim_run

    check = _checker()
    settled = idle_sim_run(IdleSim(rate=12.0))
    bouncing = idle_sim_run(IdleSim(rate=12.0, settle_s=0.0))
    assert settled.settle_s == 1.0 and bouncing.settle_s == 0.0
    for run in (settled, bouncing):
        assert run.simulator_migrations == len(run.migrations) > 0
    moves = [Counter((task, step) for _, task, step, _, _ in r.migrations)
             for r in (settled, bouncing)]
    assert max(moves[0].values()) == 1
    assert max(moves[1].values()) > 1
    for run in (settled, bouncing):
        assert [o for o in check.run_obligations(run) if o[1] > o[2]] == []
