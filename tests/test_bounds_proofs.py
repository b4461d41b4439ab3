"""The KV-caching theorems of proofs/kv_caching: statements, proofs, quick checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sagacore.cli.verify import load_theorems
from sagacore.theory.theorems import run_theorem, violations

REPO = Path(__file__).resolve().parent.parent
THEOREMS = [t for f, t in load_theorems(REPO / "proofs") if f == "kv_caching"]
BY_NAME = {t.name: t for t in THEOREMS}


def _slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_statements_and_proofs_exist() -> None:
    assert len(THEOREMS) == 10
    statement = (REPO / "proofs" / "kv_caching" / "STATEMENT.md").read_text()
    for th in THEOREMS:
        path, _, anchor = th.proof.partition("#")
        doc = (REPO / path).read_text()
        slugs = {_slug(line.lstrip("#")) for line in doc.splitlines() if line.startswith("#")}
        assert anchor in slugs, th.proof
        assert th.statement in statement, f"STATEMENT.md is stale for {th.name}"


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_quick_check_agrees_with_the_claim(name: str) -> None:
    th = BY_NAME[name]
    report = run_theorem(th, smt=False, max_instances=60, hypothesis_examples=8)
    assert report.verdict == th.claim, report.to_json()
    if th.claim == "refuted":
        assert th.counterexample is not None and violations(th, th.counterexample)
