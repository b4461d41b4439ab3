"""Call ordering and fair share: FCFS, priority, AFS, Justitia, Astraea, VTC, PLAS, ...

``SCHEDULERS`` maps a policy name to ``"module:Class"``; :func:`make_scheduler` builds
one with its default configuration.
"""

from __future__ import annotations

import importlib

from sagacore.errors import UnknownNameError
from sagacore.policy import Scheduler

__all__ = ["SCHEDULERS", "make_scheduler"]

SCHEDULERS: dict[str, str] = {
    "fcfs": "sagacore.sched.fcfs:FCFS",
    "priority": "sagacore.sched.fcfs:Priority",
    "lpm": "sagacore.sched.fcfs:LongestPrefixMatch",
    "saga-afs": "sagacore.sched.afs:SagaAFS",
    "saga-afs-wf": "sagacore.sched.afs:SagaAFSWaterfill",
    "justitia": "sagacore.sched.justitia:Justitia",
    "justitia-real-clock": "sagacore.sched.justitia:JustitiaRealClock",
    "astraea": "sagacore.sched.astraea:Astraea",
    "vtc": "sagacore.sched.vtc:VTC",
    "autellix": "sagacore.sched.autellix:Autellix",
    "srpt-oracle": "sagacore.sched.srpt:SRPTOracle",
    "srpt-aging": "sagacore.sched.srpt_aging:SRPTAging",
    "sagacore": "sagacore.sched.admission:SagacoreScheduler",
}


def make_scheduler(name: str) -> Scheduler:
    """A new scheduler of the named policy, with its default configuration."""
    try:
        module, cls = SCHEDULERS[name].split(":")
    except KeyError:
        raise UnknownNameError("scheduler", name, list(SCHEDULERS)) from None
    obj = getattr(importlib.import_module(module), cls)()
    assert isinstance(obj, Scheduler)
    return obj
