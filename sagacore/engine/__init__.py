"""Hardware and model specifications and the cost model of an engine instance.

See :mod:`sagacore.engine.cost` for the model and ``docs/cost-model.md`` for its
derivation and validation against published measurements.
"""

from sagacore.engine.cost import (
    DEFAULT_ALLREDUCE_LATENCY_S,
    DEFAULT_BANDWIDTH_EFFICIENCY,
    DEFAULT_COMPUTE_EFFICIENCY,
    DEFAULT_ROOFLINE_EXPONENT,
    DEFAULT_STEP_OVERHEAD_S,
    CostModel,
    StepBreakdown,
    attention_pairs,
    roofline,
)
from sagacore.engine.specs import GPUS, MODELS, GPUSpec, ModelSpec, get_gpu, get_model

__all__ = [
    "DEFAULT_ALLREDUCE_LATENCY_S",
    "DEFAULT_BANDWIDTH_EFFICIENCY",
    "DEFAULT_COMPUTE_EFFICIENCY",
    "DEFAULT_ROOFLINE_EXPONENT",
    "DEFAULT_STEP_OVERHEAD_S",
    "GPUS",
    "MODELS",
    "CostModel",
    "GPUSpec",
    "ModelSpec",
    "StepBreakdown",
    "attention_pairs",
    "get_gpu",
    "get_model",
    "roofline",
]
