"""Ablations: put back one difference between the simulator and vLLM, to measure it.

The simulator models vLLM 0.33's scheduler exactly (``docs/vllm-twin.md``): the twin and
the simulator agree to rounding on every stack of the fidelity table. Each
:class:`Ablation` re-introduces one difference that was found and fixed, on one side,
so that the fidelity comparison with it (``sagacore-vllm fidelity --ablate NAME``)
measures what that difference is worth. They are diagnostics, never defaults.

- ``twin-null-block``: give each vLLM instance one more block. vLLM reserves block 0 of
  its pool as the *null block* (it never holds KV); the simulator reserves it too.
  With this ablation vLLM has one usable block more than the simulator, as before the
  simulator modelled the null block.
- ``twin-no-full-isl``: turn off vLLM's ``scheduler_reserve_full_isl`` (admission
  checks only the first chunk), to measure what a simulator without that check misses.
- ``sim-priority-preemptive``: the simulator's ``priority`` scheduler also preempts
  running calls of larger key on behalf of a *waiting* call that does not fit (vLLM
  0.33 never does: it preempts only when a *running* request cannot grow), as
  sagacore's priority scheduler did before it followed vLLM.
- ``sim-policy-eviction``: the simulator evicts by the stack's cache policy (its
  ``victim``: WA-LRU, next-use, ...) for a stack run through the plug-in, where vLLM
  evicts LRU (:class:`~sagacore_vllm.fidelity.VllmEviction` is not applied), as before
  the comparison modelled vLLM's eviction order.

Examples
--------
>>> sorted(ABLATIONS)
['sim-policy-eviction', 'sim-priority-preemptive', 'twin-no-full-isl', 'twin-null-block']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from sagacore.errors import UnknownNameError
from sagacore.sched.fcfs import Priority
from sagacore.stacks import BuildContext, Stack
from sagacore_vllm.engine import VllmEngineConfig

__all__ = [
    "ABLATIONS",
    "Ablation",
    "PreemptivePriority",
    "get_ablations",
    "sim_stack",
    "twin_adjust",
]


class PreemptivePriority(Priority):
    """sagacore's priority order that also preempts on behalf of waiting calls."""

    name: ClassVar[str] = "priority-preemptive"
    preemptive: ClassVar[bool] = True


@dataclass(frozen=True)
class Ablation:
    """One difference put back.

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
    sim_policy_eviction
        The simulator evicts by the stack's cache policy, not LRU as vLLM does (stacks
        run through the plug-in).
    """

    name: str
    description: str
    twin: Callable[[VllmEngineConfig], VllmEngineConfig] | None = None
    sim_stack: Callable[[Stack], Stack] | None = None
    sim_policy_eviction: bool = False


def _one_more_block(c: VllmEngineConfig) -> VllmEngineConfig:
    return dataclasses.replace(c, num_gpu_blocks=c.num_gpu_blocks + 1)


def _no_full_isl(c: VllmEngineConfig) -> VllmEngineConfig:
    return dataclasses.replace(c, scheduler_reserve_full_isl=False)


def _preemptive_priority(stack: Stack) -> Stack:
    if stack.scheduler != "priority":
        return stack

    def build(ctx: BuildContext) -> PreemptivePriority:
        return PreemptivePriority()

    return dataclasses.replace(stack, scheduler=build)


ABLATIONS: dict[str, Ablation] = {
    a.name: a
    for a in (
        Ablation(
            "twin-null-block",
            "vLLM gets one more block: one usable block more than the simulator",
            twin=_one_more_block,
        ),
        Ablation(
            "twin-no-full-isl",
            "vLLM admits on the first chunk (scheduler_reserve_full_isl off)",
            twin=_no_full_isl,
        ),
        Ablation(
            "sim-priority-preemptive",
            "the simulator's priority also preempts running calls for waiting ones",
            sim_stack=_preemptive_priority,
        ),
        Ablation(
            "sim-policy-eviction",
            "the simulator evicts by the cache policy's victim, where vLLM evicts LRU",
            sim_policy_eviction=True,
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


def twin_adjust(ablations: Sequence[Ablation]) -> Callable[[VllmEngineConfig], VllmEngineConfig] | None:
    """The twin-side changes of ``ablations``, composed (None when there are none)."""
    fs = [a.twin for a in ablations if a.twin is not None]
    if not fs:
        return None

    def adjust(c: VllmEngineConfig) -> VllmEngineConfig:
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
