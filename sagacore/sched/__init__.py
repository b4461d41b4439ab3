"""Call ordering and fair share: FCFS, priority, AFS, Justitia, Astraea, VTC, PLAS, ...

``SCHEDULERS`` maps a policy name to ``"module:Class"``; :func:`make_scheduler` builds
one: from a :class:`~sagacore.build.BuildContext` when given (what a stack does), else
with its default configuration, which a policy that needs the run's predictor or cost
model refuses (it would run without what it needs).

Examples
--------
>>> make_scheduler("fcfs").name
'fcfs'
>>> make_scheduler("saga-afs")
Traceback (most recent call last):
...
sagacore.errors.ConfigError: scheduler 'saga-afs' needs the run's predictor and cost model: build it with make_scheduler('saga-afs', ctx) from a sagacore.build.BuildContext, or run it in a stack
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sagacore.build import policy_class
from sagacore.errors import ConfigError
from sagacore.policy import Scheduler

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.build import BuildContext

__all__ = ["SCHEDULERS", "make_scheduler", "scheduler_class"]

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


def scheduler_class(name: str) -> type[Scheduler]:
    """The scheduler class called ``name`` (not built)."""
    cls = policy_class(SCHEDULERS, "scheduler", name)
    assert issubclass(cls, Scheduler)
    return cls


def make_scheduler(name: str, ctx: BuildContext | None = None) -> Scheduler:
    """A new scheduler of the named policy.

    Parameters
    ----------
    name
        A key of :data:`SCHEDULERS`.
    ctx
        The run's build context: the policy is built by its
        :meth:`~sagacore.policy.Policy.from_context`. None: its default configuration,
        refused (``ConfigError``) for a policy that needs the predictor or the cost model.
    """
    cls = scheduler_class(name)
    if ctx is not None:
        return cls.from_context(ctx)
    wants = [w for w, needed in (("predictor", cls.needs_predictor),
                                 ("cost model", cls.needs_cost_model)) if needed]
    if wants:
        raise ConfigError(
            f"scheduler {name!r} needs the run's {' and '.join(wants)}: build it with "
            f"make_scheduler({name!r}, ctx) from a sagacore.build.BuildContext, or run it "
            "in a stack"
        )
    return cls()
