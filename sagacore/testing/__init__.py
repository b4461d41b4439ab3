"""Public testing tools for other projects' CI: Hypothesis strategies and fairness checks.

- :mod:`sagacore.testing.strategies`: strategies of agent tasks and execution graphs,
  multi-tenant workloads, cache traces, and instances of the exact scheduling models, in
  Hypothesis's house style (keyword-only ``min_*``/``max_*``; they shrink well).
- :mod:`sagacore.testing.fairness`: run any :class:`~sagacore.policy.Scheduler` in the
  theorems' abstract model and check the fair-share bound (example there and in
  ``docs/fairness.md``).
- :mod:`sagacore.testing.policy_models`: the policies that run beside exact models of
  their documented rules, decision by decision (AFS's rule from
  :mod:`sagacore.theory.afs_rule`, an exact-work oracle predictor).
- :mod:`sagacore.testing.mutants`: mutation testing of the checkers, a catalogue of
  deliberate bugs that ``sagacore verify --mutants`` requires the checkers to catch.

The references these check against (exact models, the fluid system, the theorem API)
are in :mod:`sagacore.theory`, apart from the policies.

Importing this package needs ``hypothesis`` (a test extra); the SMT proofs need
``z3-solver``.
"""

from sagacore.testing.fairness import SimpleCall, fair_share_violations, run_servers
from sagacore.testing.strategies import (
    afs_tasks,
    agent_graphs,
    agent_tasks,
    cache_traces,
    hrrn_jobs,
    unit_agents,
    vtc_requests,
    workloads,
)

__all__ = [
    "SimpleCall",
    "afs_tasks",
    "agent_graphs",
    "agent_tasks",
    "cache_traces",
    "fair_share_violations",
    "hrrn_jobs",
    "run_servers",
    "unit_agents",
    "vtc_requests",
    "workloads",
]
