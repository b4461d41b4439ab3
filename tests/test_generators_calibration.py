"""The SWE-bench generator against the real trace it is calibrated to.

Tolerances (also in docs/generators.md), for 600 generated tasks against the bundled
198-task trace: medians within 10%, p90 within 15%; two-sample KS statistic below 0.12
for per-task quantities (198 real samples: the 5% critical value is about 0.11) and below
0.04 for per-call quantities (about 16,000 real samples). Over seeds 0-19 the worst
errors were 4.6% (median), 6.0% (p90), 0.071 and 0.022 (KS).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sagacore.data import bundled_trace
from sagacore.workload.generators import swe_bench
from sagacore.workload.generators._swe_bench_fit import SWE_BENCH_FIT
from sagacore.workload.generators.calibration import (
    QuantileTable,
    calibration_rows,
    fit_swe_bench,
    main,
    render_fit_module,
)
from sagacore.workload.model import Workload
from sagacore.workload.readers import read_workload

FIT_MODULE = (
    Path(__file__).resolve().parent.parent / "sagacore/workload/generators/_swe_bench_fit.py"
)
PER_TASK = {"calls per task", "first prompt tokens"}


@pytest.fixture(scope="module")
def real() -> Workload:
    return read_workload(bundled_trace())


def test_committed_fit_is_reproducible(real: Workload) -> None:
    fit = fit_swe_bench(real, source=SWE_BENCH_FIT.source)
    assert fit == SWE_BENCH_FIT
    command = FIT_MODULE.read_text().splitlines()[2].split("``")[1]
    assert render_fit_module(fit, command=command) == FIT_MODULE.read_text()


def test_generated_distributions_match_the_trace(real: Workload) -> None:
    rows = calibration_rows(real, swe_bench(tasks=600, seed=0))
    checked = 0
    for name, stat, x, y, err in rows:
        if stat == "median":
            assert abs(err) <= 0.10, (name, stat, x, y)
        elif stat == "p90":
            assert abs(err) <= 0.15, (name, stat, x, y)
        elif stat == "KS":
            assert err < (0.12 if name in PER_TASK else 0.04), (name, err)
        else:
            continue
        checked += 1
    assert checked == 18


def test_fitted_structure_matches_the_trace(real: Workload) -> None:
    fit = SWE_BENCH_FIT
    assert fit.system_prompt_tokens == 320
    assert -0.4 < fit.output_observation_correlation < -0.2
    assert fit.calls_per_task.quantile(0.0) == min(t.llm_calls for t in real)
    assert fit.calls_per_task.quantile(1.0) == max(t.llm_calls for t in real)
    w = swe_bench(tasks=50, seed=0)
    assert all(t.steps[-1].tool is None for t in w)


def test_quantile_table_validation() -> None:
    with pytest.raises(ValueError, match="increase strictly"):
        QuantileTable((0.0, 0.5, 0.5, 1.0), (1.0, 2.0, 3.0, 4.0))
    with pytest.raises(ValueError, match="non-decreasing"):
        QuantileTable((0.0, 1.0), (2.0, 1.0))
    q = QuantileTable.fit([1, 2, 3, 4])
    assert q.quantile(0.0) == 1.0 and q.quantile(1.0) == 4.0 and q.scaled(2).quantile(1) == 8.0


def test_report_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--tasks", "30", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "calls per task" in out and "tool seconds" in out and "KS" in out
