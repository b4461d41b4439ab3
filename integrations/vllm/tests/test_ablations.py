"""Tests of the ablations: each changes one side only, and the simulator is restored.

Pure Python (no vLLM needed).
"""

from __future__ import annotations

import doctest

import pytest

import sagacore_vllm.ablations as module
from sagacore.errors import UnknownNameError
from sagacore.sim import worker
from sagacore.stacks import STACKS
from sagacore_vllm.ablations import (
    VllmPriority,
    applied,
    get_ablations,
    sim_stack,
    twin_adjust,
)
from sagacore_vllm.engine import EngineConfig
from sagacore_vllm.fidelity import FIDELITY_STACKS


def test_twin_side_ablations_compose() -> None:
    adjust = twin_adjust(get_ablations(["twin-null-block", "twin-no-full-isl"]))
    assert adjust is not None
    c = adjust(EngineConfig(num_gpu_blocks=100))
    assert c.num_gpu_blocks == 101 and not c.scheduler_reserve_full_isl
    assert twin_adjust(get_ablations(["sim-priority-vllm"])) is None
    with pytest.raises(UnknownNameError):
        get_ablations(["nope"])


def test_sim_side_ablation_touches_priority_stacks_only_and_is_restored() -> None:
    abl = get_ablations(["sim-priority-vllm"])
    assert sim_stack(STACKS["vllm-apc"], abl) is STACKS["vllm-apc"]
    changed = sim_stack(FIDELITY_STACKS["vllm-apc-priority"], abl)
    assert callable(changed.scheduler)
    assert not VllmPriority.preemptive
    original = worker.Worker._victim
    with applied(abl):
        assert worker.Worker._victim is not original
    assert worker.Worker._victim is original
    with applied(get_ablations(["twin-null-block"])):
        assert worker.Worker._victim is original


def test_module_examples() -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
