"""Ablations that isolate each cause of a difference between the simulator and vLLM.

Each :class:`Ablation` removes one known difference, on one side, so that running the
fidelity comparison with and without it measures that cause's effect
(``sagacore-vllm fidelity --ablate NAME``). They are diagnostics, never defaults: the
twin is vLLM 0.33 as configured by default, and the simulator is sagacore's as it is.

- ``twin-null-block``: give each vLLM instance one more block. vLLM reserves block 0 of
  its pool as the *null block* (it never holds KV), so a pool of
  ``kv_capacity_tokens // 16`` blocks holds one block fewer than the simulator's
  store. With it, both have the same usable blocks.
- ``twin-no-full-isl``: turn off vLLM's ``scheduler_reserve_full_isl`` (admission
  checks only the first chunk), to measure what the simulator missed before it
  modelled that check.
- ``sim-priority-vllm``: run the simulator's ``priority`` scheduler with vLLM's
  semantics: no preemption on behalf of a *waiting* call (vLLM 0.33 preempts only
  when a *running* request cannot grow), while the running call of largest key is
  still the victim. It swaps in a scheduler subclass and, for the duration of the
  comparison only, a victim rule in ``sagacore.sim.worker.Worker`` (restored after).

Examples
--------
>>> sorted(ABLATIONS)
['sim-priority-vllm', 'twin-no-full-isl', 'twin-null-block']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from sagacore.errors import UnknownNameError
from sagacore.sched.fcfs import Priority
from sagacore.stacks import BuildContext, Stack
from sagacore_vllm.engine import EngineConfig

__all__ = ["ABLATIONS", "Ablation", "VllmPriority", "applied", "get_ablations"]


class VllmPriority(Priority):
    """sagacore's priority order with vLLM 0.33's preemption: never for a waiting call."""

    name: ClassVar[str] = "priority-vllm"
    preemptive: ClassVar[bool] = False


@dataclass(frozen=True)
class Ablation:
    """One difference removed.

    Attributes
    ----------
    name
        Its name.
    description
        One line.
    twin
        Changes the twin's instance configuration (None: no change).
    sim_stack
        Changes a simulator stack (None: no change).
    sim_victim_by_key
        While the simulator runs, preempt the running call of largest key for schedulers
        of class :class:`VllmPriority` (vLLM's priority victim).
    """

    name: str
    description: str
    twin: Callable[[EngineConfig], EngineConfig] | None = None
    sim_stack: Callable[[Stack], Stack] | None = None
    sim_victim_by_key: bool = False


def _one_more_block(c: EngineConfig) -> EngineConfig:
    return dataclasses.replace(c, num_gpu_blocks=c.num_gpu_blocks + 1)


def _no_full_isl(c: EngineConfig) -> EngineConfig:
    return dataclasses.replace(c, scheduler_reserve_full_isl=False)


def _vllm_priority(stack: Stack) -> Stack:
    if stack.scheduler != "priority":
        return stack

    def build(ctx: BuildContext) -> VllmPriority:
        return VllmPriority()

    return dataclasses.replace(stack, scheduler=build)


ABLATIONS: dict[str, Ablation] = {
    a.name: a
    for a in (
        Ablation(
            "twin-null-block",
            "vLLM gets one more block: both pools hold the same usable blocks",
            twin=_one_more_block,
        ),
        Ablation(
            "twin-no-full-isl",
            "vLLM admits on the first chunk (scheduler_reserve_full_isl off)",
            twin=_no_full_isl,
        ),
        Ablation(
            "sim-priority-vllm",
            "the simulator's priority preempts only for running calls, victim by key",
            sim_stack=_vllm_priority,
            sim_victim_by_key=True,
        ),
    )
}
"""The ablations by name."""


def get_ablations(names: Sequence[str]) -> list[Ablation]:
    """The named ablations.

    Raises
    ------
    UnknownNameError
        If a name is unknown.
    """
    out: list[Ablation] = []
    for n in names:
        try:
            out.append(ABLATIONS[n])
        except KeyError:
            raise UnknownNameError("ablation", n, list(ABLATIONS)) from None
    return out


@contextmanager
def applied(ablations: Sequence[Ablation]) -> Iterator[None]:
    """Install the simulator-side changes of ``ablations`` for the ``with`` block."""
    if not any(a.sim_victim_by_key for a in ablations):
        yield
        return
    from sagacore.sim import worker

    original = worker.Worker._victim

    def victim(self: Any, now: float) -> Any:
        if isinstance(self.scheduler, VllmPriority):
            self._keys(self.running, now)
            return max(self.running, key=worker._preempt_order)
        return original(self, now)

    worker.Worker._victim = victim  # type: ignore[method-assign]
    try:
        yield
    finally:
        worker.Worker._victim = original  # type: ignore[method-assign]


def twin_adjust(ablations: Sequence[Ablation]) -> Callable[[EngineConfig], EngineConfig] | None:
    """The twin-side changes of ``ablations``, composed (None when there are none)."""
    fs = [a.twin for a in ablations if a.twin is not None]
    if not fs:
        return None

    def adjust(c: EngineConfig) -> EngineConfig:
        for f in fs:
            c = f(c)
        return c

    return adjust


def sim_stack(stack: Stack, ablations: Sequence[Ablation]) -> Stack:
    """``stack`` with the simulator-side stack changes of ``ablations``."""
    for a in ablations:
        if a.sim_stack is not None:
            stack = a.sim_stack(stack)
    return stack
