"""``sagacore reproduce --quick``: the smoke run of the results page (CI runs it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sagacore.errors import ConfigError
from sagacore.sweep.reproduce import FULL, QUICK, Plan


def test_plans_name_known_regimes() -> None:
    assert {name for name, _ in FULL.regimes} >= {"swe-trace-16", "swe-gen-64"}
    assert QUICK.regimes and len(QUICK.stacks) <= 4
    with pytest.raises(ConfigError):
        Plan(regimes=(("nope", None),), stacks=(), ideals=(), peaks_for=(), tasks=None,
             cache_capacities=(), cache_head=None, cache_policies=())


def test_reproduce_quick_writes_the_page_with_plots(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    page = tmp_path / "results.md"
    r = subprocess.run([sys.executable, "-m", "sagacore", "reproduce", "--quick", "-o",
                        str(page)], capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stderr
    text = page.read_text()
    for heading in ("## Where agent-aware scheduling can win", "## Load curves by regime",
                    "## Cache table", "## Bound table", "## Published claims"):
        assert heading in text
    images = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert len(images) == 4
    for rel in images:
        assert (tmp_path / rel).read_bytes()[:4] == b"\x89PNG"
    # every load of the plan has a vllm-apc row with a TCT and ratios for the others
    assert re.search(r"\| vllm-apc \| [\d,]+ s \| [\d,]+ s \| [\d,]+ s \|", text)
    # the overload load pools seeds 0 and 1 (QUICK.overload_seeds from 2x), the others not
    assert re.search(r"\| 0\.5x \([\d.]+/min\) \| 1x \([\d.]+/min\) \| "
                     r"2x \(2 seeds, mean [\d.]+/min\) \|", text)
    rows = (tmp_path / "results-files" / "sweep" / "swe-trace-16" / "results.csv").read_text()
    assert {ln.split(",")[7] for ln in rows.splitlines()[1:]} == {"0", "1"}
    # which stack to run, at each of the three loads and over them
    verdicts = re.findall(r"^\| (0\.5x|1x|2x) \| [\w-]+ \| [\w-]+ \| [\d.]+ \[[\d.]+, [\d.]+\] "
                          r"\| (faster|tied) \|$", text, re.MULTILINE)
    assert [ld for ld, _ in verdicts] == ["0.5x", "1x", "2x"]
    assert re.search(r"^Over these loads: `[\w-]+` \(fastest at \d of 3;", text, re.MULTILINE)
    assert (tmp_path / "results-files" / "sweep" / "swe-trace-16" / "results.csv").exists()
    # a second run resumes: nothing is simulated again, the tables are the same
    again = subprocess.run([sys.executable, "-m", "sagacore", "reproduce", "--quick", "-o",
                            str(page)], capture_output=True, text=True, timeout=900, check=False)
    assert again.returncode == 0, again.stderr
    wall = re.compile(r"in [\d.]+ min of wall time")
    assert wall.sub("", page.read_text()) == wall.sub("", text)


def test_reproduce_refuses_a_missing_folder(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "sagacore", "reproduce", "--quick", "-o",
                        str(tmp_path / "no" / "page.md")], capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 2 and r.stderr.startswith("error:") and r.stderr.count("\n") == 1
