"""Reference models and the theorem machinery: what the checkers measure policies against.

A checker proves little when its reference comes from the code it checks: a bug in a
virtual clock would move the tags and the reference together. So the references live
here, apart from the policies, and import nothing from :mod:`sagacore.sched`,
:mod:`sagacore.cache`, :mod:`sagacore.route` or the simulator
(``tests/test_theory_independence.py`` checks it, transitively):

- :mod:`sagacore.theory.models`: exact event-driven models of the disciplines the
  fairness theorems are about (agents of non-preemptive units under WFQ / Justitia
  tags, VTC, HRRN, AFS in epochs), written with ``+ - * /`` and comparisons only;
- :mod:`sagacore.theory.fluid`: the fluid (GPS) system with gaps, caps and groups, an
  online GPS clock for the models' tags, and the fluid finish times of a workload;
- :mod:`sagacore.theory.reference`: a GPS written from its definition, apart from both
  clocks, and its variant in which an agent uses at most one of ``m`` servers;
- :mod:`sagacore.theory.afs_rule`: SAGA's AFS dispatch rule as its policy documents it;
- :mod:`sagacore.theory.theorems`: :class:`~sagacore.theory.theorems.Theorem`, the API
  of ``proofs/*/check.py`` and ``sagacore verify``, and
  :mod:`sagacore.theory.symbolic`, the z3 symbolic execution behind its SMT proofs.

What runs policies against these references (the abstract servers, the decision-by-
decision harness, the mutants) is in :mod:`sagacore.testing`.

Examples
--------
>>> from fractions import Fraction as Q
>>> from sagacore.theory.models import Agent, serve_agents
>>> [str(f) for f in serve_agents([Agent(Q(0), (Q(2),)), Agent(Q(0), (Q(1),))]).finish]
['3', '1']
"""
