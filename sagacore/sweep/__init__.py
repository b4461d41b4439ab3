"""Sweeps: every stack over loads, seeds, clusters and workloads, with headroom.

A single simulation compares stacks at one load; a user choosing a scheduler needs the
whole curve. This package runs grids of simulations (:func:`run_sweep`), each in its own
process, streams their rows to a tidy table that a killed sweep resumes from
(:class:`ResultTable`), computes what the rows mean (ratios to a reference with
confidence intervals, the headroom a stack captures, goodput and SLO-peak rates:
:mod:`sagacore.sweep.analysis`), draws them (:mod:`sagacore.sweep.plots`, the ``plots``
extra) and names the regimes worth sweeping (:data:`REGIMES`).

The command line is ``sagacore sweep``, ``sagacore plot`` and ``sagacore reproduce``.
"""

from sagacore.sweep.driver import PeakSpec, SweepResult, run_sweep
from sagacore.sweep.run import ROW_FIELDS, ideal_cluster, run_one
from sagacore.sweep.spec import IDEALS, REGIMES, Regime, RelRate, RunSpec, parse_rates
from sagacore.sweep.table import ResultTable, read_rows

__all__ = [
    "IDEALS",
    "REGIMES",
    "ROW_FIELDS",
    "PeakSpec",
    "Regime",
    "RelRate",
    "ResultTable",
    "RunSpec",
    "SweepResult",
    "ideal_cluster",
    "parse_rates",
    "read_rows",
    "run_one",
    "run_sweep",
]
