"""Workloads: tasks, steps and tenants; execution graphs; trace readers; generators."""

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
from sagacore.workload.readers import read_workload

__all__ = [
    "DEFAULT_TENANT",
    "Segment",
    "Step",
    "Task",
    "TaskId",
    "Tenant",
    "TenantId",
    "Workload",
    "read_native",
    "read_workload",
    "shared_prefix_tokens",
    "write_native",
]
