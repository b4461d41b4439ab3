"""Diagnostic: the first scheduling decision where the plug-in and the simulator part.

Runs one stack through sagacore's simulator (with an event log) and through the twin
(with the plug-in subclassed to log its admissions and preemptions), prints the median
per-task TCT error, then the first admission or preemption that happened at a different
time (or on one side only), with the events of the seconds around it on both sides.
Under a preemptive order every difference snowballs, so the first one is the one to
explain. It found the two causes of ``saga``'s error on the SWE-bench trace
(docs/vllm-plugin.md)::

    cd integrations/vllm/diagnostics && VLLM_CACHE_ROOT=$(mktemp -d) python divergence.py \\
        --workload swe-bench-trace --tasks 10 --rate 4 --kv-tokens 150000 --stack saga

``--variant order`` keeps the stack's scheduler with LRU eviction, ``--variant cache``
its cache policy with FCFS. ``--pins`` runs the plug-in and the simulator alike
(``sagacore_vllm.fidelity.sim_config``: pins released under pressure with ``release``;
a pin that ends makes its blocks the most recently used on both sides).
The simulator evicts LRU where the plug-in runs a cache policy with another
``victim``, as vLLM does (``sagacore_vllm.fidelity.sim_stack_for``, as ``fidelity``
does); ``--policy-eviction`` lets it evict by the policy (the comparison before it
modelled vLLM's eviction order; ``fidelity --ablate sim-policy-eviction``).
``--sim-every-step`` runs the simulator in step mode with every batch-step boundary a
scheduling point (keys re-evaluated, preemption for waiting calls allowed), as vLLM
calls ``schedule()`` at every step: what the simulator would do if it modelled that (it
patches ``Worker.plan`` in this process only; not a simulator mode).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sagacore_vllm.plugin import SagaScheduler

Event = tuple[float, str, str, int]
TRACE: list[Event] = []
"""The twin's events (time, kind, task, step), filled by :class:`TracingScheduler`."""


class TracingScheduler(SagaScheduler):
    """The plug-in, logging each admission and preemption at its step's start."""

    def schedule(self, throttle_prefills: bool = False) -> Any:
        now = self.sagacore_clock()
        before = {r.request_id for r in self.running}
        out = super().schedule(throttle_prefills)
        for rid in sorted(out.preempted_req_ids or ()):
            task, step = rid.rsplit("#", 1)
            TRACE.append((now, "call_preempt", task, int(step)))
        for r in self.running:
            if r.request_id not in before:
                task, step = r.request_id.rsplit("#", 1)
                TRACE.append((now, "call_start", task, int(step)))
        return out


def _keyed(events: Iterable[Event]) -> dict[tuple[str, str, int, int], float]:
    seen: Counter[tuple[str, str, int]] = Counter()
    out: dict[tuple[str, str, int, int], float] = {}
    for t, kind, task, step in events:
        k = (kind, task, step)
        seen[k] += 1
        out[(*k, seen[k])] = t
    return out


def _every_step_points() -> None:
    from sagacore.sim import worker

    plan = worker.Worker.plan

    def every_step(self: Any, now: float, composition_changed: bool) -> None:
        self.poked = True
        plan(self, now, composition_changed)

    worker.Worker.plan = every_step  # type: ignore[method-assign]


def main() -> None:
    import divergence  # this file as the module the twin loads the scheduler from
    import numpy as np

    from sagacore.cli.simulate import load_workload
    from sagacore.sim import build_policies
    from sagacore.sim.cluster import Simulation
    from sagacore.sim.config import ClusterConfig, EngineConfig
    from sagacore.sim.observe import EventLog
    from sagacore_vllm.fidelity import fidelity_stack, sim_config, sim_stack_for
    from sagacore_vllm.harness import run_twin

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workload", default="swe-bench-trace")
    p.add_argument("--tasks", type=int, default=10)
    p.add_argument("--rate", type=float, default=4.0)
    p.add_argument("--kv-tokens", type=int, default=150000)
    p.add_argument("--stack", default="saga")
    p.add_argument("--variant", choices=("full", "order", "cache"), default="full")
    p.add_argument("--pins", choices=("hold", "release"), default="hold")
    p.add_argument("--sim-every-step", action="store_true")
    p.add_argument("--policy-eviction", action="store_true",
                   help="the simulator evicts by the cache policy, not LRU as vLLM")
    p.add_argument("--tolerance", type=float, default=1e-4, help="seconds")
    a = p.parse_args()

    w = load_workload(a.workload, tasks=a.tasks, rate=a.rate, seed=0)
    c = ClusterConfig.from_gpus(4, tp=4, model="llama-3-70b", gpu="a100-80gb",
                                engine=EngineConfig(kv_capacity_tokens=a.kv_tokens))
    stack, plugin = fidelity_stack(a.stack)
    if a.variant == "order":
        stack = dataclasses.replace(stack, cache="lru")
    elif a.variant == "cache":
        stack = dataclasses.replace(stack, scheduler="fcfs")
    mode = "fast"
    if a.sim_every_step:
        _every_step_points()
        mode = "step"
    log = EventLog()
    config = dataclasses.replace(sim_config(plugin, release_pins=a.pins == "release"),
                                 mode=mode)
    sim_side = stack if a.policy_eviction else sim_stack_for(stack, plugin)
    sim = Simulation(w, build_policies(sim_side, c), c, config, observers=[log]).run()
    twin = run_twin(w, c, stack=stack, plugin_cls="divergence.TracingScheduler",
                    plugin_settings={"release_pins_under_pressure": a.pins == "release"})
    s, t = sim.tct_by_task(), twin.tct_by_task()
    err = [abs(s[k] - t[k]) / t[k] for k in t]
    print(f"TCT error median {np.median(err):.2%}, max {max(err):.2%}; "
          f"preemptions sim {sim.preemptions} / twin {twin.preemptions}")
    sim_events = [(e.time, e.kind, e.task_id, e.step if e.step is not None else -1)
                  for e in log.events if e.kind in ("call_start", "call_preempt")]
    twin_events = divergence.TRACE
    x, y = _keyed(sim_events), _keyed(twin_events)
    for k in sorted(set(x) | set(y), key=lambda k: min(x.get(k, 1e300), y.get(k, 1e300))):
        tx, ty = x.get(k), y.get(k)
        if tx is None or ty is None or abs(tx - ty) > a.tolerance:
            print(f"first difference: {k[0]} of {k[1]}#{k[2]} (occurrence {k[3]}): "
                  f"simulator {tx}, twin {ty}")
            t0 = min(v for v in (tx, ty) if v is not None)
            for name, events in (("simulator", sim_events), ("twin", twin_events)):
                print(f"--- {name}, {t0 - 3:.3f} s to {t0 + 1.5:.3f} s")
                for e in events:
                    if t0 - 3 <= e[0] <= t0 + 1.5:
                        print(f"  {e[0]:.6f} {e[1]} {e[2]}#{e[3]}")
            return
    print("no difference")


if __name__ == "__main__":
    main()
