"""Workloads: tasks, steps and tenants; execution graphs; trace readers; the predictor."""

from sagacore.workload.aeg import AEGInference, AgentExecutionGraph, infer_aeg, task_graph
from sagacore.workload.model import (
    DEFAULT_TENANT,
    Segment,
    Step,
    Task,
    TaskId,
    Tenant,
    TenantId,
    Workload,
    shared_prefix_tokens,
)
from sagacore.workload.native import read_native, write_native
from sagacore.workload.predictor import Predictor, PredictorConfig
from sagacore.workload.readers import read_workload

__all__ = [
    "DEFAULT_TENANT",
    "AEGInference",
    "AgentExecutionGraph",
    "Predictor",
    "PredictorConfig",
    "Segment",
    "Step",
    "Task",
    "TaskId",
    "Tenant",
    "TenantId",
    "Workload",
    "infer_aeg",
    "read_native",
    "read_workload",
    "shared_prefix_tokens",
    "task_graph",
    "write_native",
]
