"""Tests of the ablations: each changes one side only, and leaves the originals alone.

Pure Python (no vLLM needed).
"""

from __future__ import annotations

import doctest

import pytest

import sagacore_vllm.ablations as module
from sagacore.errors import UnknownNameError
from sagacore.sched.fcfs import Priority
from sagacore.stacks import STACKS, BuildContext
from sagacore_vllm.ablations import PreemptivePriority, get_ablations, sim_stack, twin_adjust
from sagacore_vllm.engine import VllmEngineConfig
from sagacore_vllm.fidelity import FIDELITY_STACKS


def test_twin_side_ablations_compose() -> None:
    adjust = twin_adjust(get_ablations(["twin-null-block", "twin-no-full-isl"]))
    assert adjust is not None
    c = adjust(VllmEngineConfig(num_gpu_blocks=100))
    assert c.num_gpu_blocks == 101 and not c.scheduler_reserve_full_isl
    assert twin_adjust(get_ablations(["sim-priority-preemptive"])) is None
    with pytest.raises(UnknownNameError):
        get_ablations(["nope"])


def test_sim_side_ablation_touches_priority_stacks_only() -> None:
    abl = get_ablations(["sim-priority-preemptive"])
    assert sim_stack(STACKS["vllm-apc"], abl) is STACKS["vllm-apc"]
    original = FIDELITY_STACKS["vllm-apc-priority"]
    changed = sim_stack(original, abl)
    assert callable(changed.scheduler) and original.scheduler == "priority"
    sched = changed.build_scheduler(BuildContext(None, 1, 1000, None))  # type: ignore[arg-type]
    assert isinstance(sched, PreemptivePriority) and sched.preemptive
    # sagacore's own priority follows vLLM: victim by key, no preemption for waiting calls
    assert not Priority.preemptive and Priority.victim_by_key


def test_module_examples() -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
