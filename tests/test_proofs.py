"""The theorem checkers in proofs/ and ``sagacore verify``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sagacore.cli import main
from sagacore.cli.verify import find_proofs, load_theorems
from sagacore.theory.theorems import run_theorem, violations

REPO = Path(__file__).resolve().parent.parent
FAIRNESS = {"fair_queueing", "justitia_delay", "vtc", "hrrn", "saga_afs", "saga_walru",
            "srpt_aging", "work_stealing"}
"""The folders these tests cover (proofs/kv_caching is tested with the bounds)."""
THEOREMS = [(f, t) for f, t in load_theorems(REPO / "proofs") if f in FAIRNESS]
BY_NAME = {t.name: t for _, t in THEOREMS}


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_theorem_names_an_existing_proof_and_statement() -> None:
    assert len(THEOREMS) >= 11
    for folder, th in THEOREMS:
        path, _, anchor = th.proof.partition("#")
        doc = REPO / path
        assert doc.is_file(), th.proof
        slugs = {_slug(line.lstrip("#")) for line in doc.read_text().splitlines()
                 if line.startswith("#")}
        assert not anchor or anchor in slugs, (th.proof, sorted(slugs))
        statement = (REPO / "proofs" / folder / "STATEMENT.md").read_text()
        assert th.statement in statement, f"proofs/{folder}/STATEMENT.md is stale for {th.name}"


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_quick_check_agrees_with_the_claim(name: str) -> None:
    th = BY_NAME[name]
    # refuted claims: the recorded counterexample is what matters (shrinking is slow)
    examples = 25 if th.claim == "holds" else 0
    report = run_theorem(th, smt=False, max_instances=300, hypothesis_examples=examples)
    assert report.verdict == th.claim
    if th.claim == "refuted":
        assert violations(th, th.counterexample)
    for check in report.checks:
        if th.claim == "holds":
            assert check.outcome != "counterexample"


@pytest.mark.parametrize("name", ["vtc-2u", "hrrn-wait"])
def test_smt_proves_small_shapes(name: str) -> None:
    report = run_theorem(BY_NAME[name], max_instances=1, hypothesis_examples=1)
    smt = next(c for c in report.checks if c.kind == "smt")
    assert smt.outcome == "proved" and smt.count > 0


def test_verify_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "saga_afs", "--no-smt", "--json"]) == 0
    reports: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    verdicts = {r["name"]: r["verdict"] for r in reports}
    assert verdicts == {"saga-afs-claim": "refuted", "saga-afs-claim-within-capacity": "holds",
                        "saga-afs-capacity": "holds", "saga-afs-wf": "holds",
                        "saga-afs-policy-rule": "holds", "saga-afs-policy-isolation": "refuted"}
    claim = next(r for r in reports if r["name"] == "saga-afs-claim")
    recorded = next(c for c in claim["checks"] if c["kind"] == "recorded")
    assert recorded["counterexample"]["violated"]


def test_verify_lists_and_rejects_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--list"]) == 0
    assert "wfq-agent" in capsys.readouterr().out
    assert main(["verify", "no-such-theorem"]) == 2
    assert "unknown theorem" in capsys.readouterr().err


def test_verify_exits_1_when_a_holding_theorem_breaks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "check.py").write_text(
        "from fractions import Fraction as Q\n"
        "from sagacore.theory.theorems import Theorem\n"
        "THEOREMS = (Theorem(name='false', title='x <= 1', claim='holds', statement='',\n"
        "    model='', proof='docs/fairness.md', obligations=lambda x: [('x<=1', x, 1)],\n"
        "    enumerate=lambda thorough: [Q(0), Q(2)]),)\n"
    )
    assert main(["verify", "--proofs", str(tmp_path), "--no-smt"]) == 1
    out = capsys.readouterr().out
    assert "[FAILED]" in out and "violates: x<=1: 2 > 1" in out


def test_find_proofs_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SAGACORE_PROOFS", str(REPO / "proofs"))
    assert find_proofs() == REPO / "proofs"
    monkeypatch.setenv("SAGACORE_PROOFS", str(tmp_path))
    with pytest.raises(Exception, match="no <name>/check.py"):
        find_proofs()


def test_doctests_of_the_theorem_machinery() -> None:
    import doctest

    import sagacore.theory.symbolic as symbolic
    import sagacore.theory.theorems as theorems

    for module in (symbolic, theorems):
        res = doctest.testmod(module)
        assert res.failed == 0 and res.attempted > 0


def test_symbolic_explorer_finds_and_rebuilds_counterexamples() -> None:
    from fractions import Fraction as Q

    from sagacore.theory.models import HrrnJob, serve_hrrn
    from sagacore.theory.symbolic import concrete, explore

    def build(real: Any) -> list[HrrnJob]:
        return [HrrnJob(real("a0", lo=0), real("s0", lo=0, strict_lo=True), Q(1)),
                HrrnJob(real("a1", lo=0), real("s1", lo=0, strict_lo=True), Q(2))]

    def fcfs_claim(jobs: list[HrrnJob]) -> list[tuple[str, Any, Any]]:
        # false claim: the later arrival (job 0) always starts first
        run = serve_hrrn(jobs)
        return [("fcfs", run.start[0] - run.start[1], Q(0))] if jobs[0].arrival > jobs[1].arrival else []

    out = explore(build, fcfs_claim, logic="QF_LRA")
    assert out.status == "counterexample" and out.counterexample is not None
    jobs = build(concrete(out.counterexample))
    run = serve_hrrn(jobs)
    assert jobs[0].arrival > jobs[1].arrival and run.start[0] > run.start[1]
    budget = explore(build, lambda j: [("x", serve_hrrn(j).start[0], Q(0))], max_paths=1)
    assert budget.status in ("budget", "counterexample")


def test_verify_reports_a_broken_checker_and_runs_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "check.py").write_text("raise RuntimeError('oops')\n")
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "check.py").write_text(
        "from sagacore.theory.theorems import Theorem\n"
        "THEOREMS = (Theorem(name='ok', title='t', claim='holds', statement='', model='',\n"
        "    proof='docs/fairness.md', obligations=lambda x: [('x', x, 1)],\n"
        "    enumerate=lambda thorough: [0, 1]),)\n"
    )
    assert main(["verify", "--proofs", str(tmp_path), "--no-smt"]) == 1
    captured = capsys.readouterr()
    assert "cannot load bad/check.py: RuntimeError: oops" in captured.err
    assert "ok  [HOLDS]" in captured.out


def test_every_targeted_instance_of_the_capped_claim_breaks_it() -> None:
    """The refuted one-server-per-agent bound: each instance of its targeted family (the
    recorded counterexample, its translates, and a search's worst, more than 11 L_max
    late) violates it; ``verify`` stops at the first, so the others are checked here."""
    import importlib.util
    import sys

    th = BY_NAME["wfq-unit-multi-server-capped"]
    assert th.targeted is not None
    insts = list(th.targeted(False))
    assert len(insts) == 7 and all(violations(th, inst) for inst in insts)
    spec = importlib.util.spec_from_file_location("fq_check_t", REPO / "proofs/fair_queueing/check.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fq_check_t"] = mod
    spec.loader.exec_module(mod)
    assert mod.capped_lateness(insts[-1]) > 11
