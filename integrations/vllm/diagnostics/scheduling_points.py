"""Diagnostic: the plug-in acting only at sagacore's scheduling points (not for deployment).

sagacore's simulator re-evaluates scheduler keys, and lets a ``preemptive`` scheduler
preempt for a waiting call, only at *scheduling points* (``sagacore/sim/worker.py``):
a boundary after a prefill step, after the batch changed, or after an event reached the
worker. vLLM calls ``schedule()`` every step, and the plug-in acts at every step.
:class:`PointsScheduler` is the plug-in restricted to (an approximation of) those points,
to measure what that difference is worth (docs/vllm-plugin.md, SWE-bench fidelity)::

    cd integrations/vllm/diagnostics && python scheduling_points.py

It runs the ``saga`` stack's AFS order with LRU eviction on the SWE-bench command of the
docs, with the plug-in as is and restricted to points, and prints the median per-task
TCT error against the simulator for each.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sagacore_vllm.plugin import SagaScheduler


class PointsScheduler(SagaScheduler):
    """Keys and preemption for waiting requests only after a prefill step, a change of the
    running or waiting set, or a new request."""

    _prev: tuple[frozenset[str], frozenset[str]] | None = None
    _prefill_last = True

    def _sagacore_before(self, now: float) -> None:
        state = (frozenset(r.request_id for r in self.running),
                 frozenset(r.request_id for r in self.waiting))
        point = self._prefill_last or state != self._prev
        policy = self.sagacore_policy
        key = type(policy).key
        frozen: dict[str, Any] = self.__dict__.setdefault("_frozen", {})
        if point:
            frozen.clear()
        preemptive = self._preemptive
        if not point:
            self._preemptive = False  # no preemption for waiting requests between points

        def at_point(call: Any, t: float) -> Any:
            rid = call.request.request_id
            if rid not in frozen:
                frozen[rid] = key(policy, call, t)
            return frozen[rid]

        policy.key = at_point  # type: ignore[method-assign]
        try:
            super()._sagacore_before(now)
        finally:
            self._preemptive = preemptive
            del policy.key

    def schedule(self, throttle_prefills: bool = False) -> Any:
        out = super().schedule(throttle_prefills)
        self._prev = (frozenset(r.request_id for r in self.running),
                      frozenset(r.request_id for r in self.waiting))
        self._prefill_last = any(
            self.requests[rid].num_computed_tokens <= self.requests[rid].num_prompt_tokens
            for rid in out.num_scheduled_tokens if rid in self.requests)
        return out


def main() -> None:
    import numpy as np

    from sagacore.cli.simulate import load_workload
    from sagacore.sim import simulate
    from sagacore.sim.config import ClusterConfig, EngineConfig
    from sagacore_vllm.fidelity import fidelity_stack
    from sagacore_vllm.harness import run_twin

    w = load_workload("swe-bench-trace", tasks=10, rate=4, seed=0)
    c = ClusterConfig.from_gpus(4, tp=4, model="llama-3-70b", gpu="a100-80gb",
                                engine=EngineConfig(kv_capacity_tokens=150000))
    stack = dataclasses.replace(fidelity_stack("saga")[0], cache="lru")
    sim = simulate(w, stack, c)
    s = sim.tct_by_task()
    for label, cls in (("every step (the plug-in)", "sagacore_vllm.plugin.SagaScheduler"),
                       ("scheduling points", "scheduling_points.PointsScheduler")):
        twin = run_twin(w, c, stack=stack, plugin_cls=cls,
                        plugin_settings={"release_pins_under_pressure": False})
        t = twin.tct_by_task()
        err = [abs(s[k] - t[k]) / t[k] for k in t]
        print(f"{label}: median error {np.median(err):.2%}, max {max(err):.2%}, "
              f"TCT mean sim {sim.tct.mean:,.1f} / twin {twin.tct.mean:,.1f} s, "
              f"preemptions {sim.preemptions} / {twin.preemptions}", flush=True)


if __name__ == "__main__":
    main()
