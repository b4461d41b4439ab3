"""Mutation testing of the theorem checkers (``sagacore.testing.mutants``).

For each catalogued mutant: its recorded instance violates the theorem with the mutant
applied and satisfies it without (a regression test per killing instance); the default
kill check (``sagacore verify --mutants``) kills every mutant; applying a mutant leaves
the code as it was.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction as Q
from pathlib import Path
from typing import Any

import pytest

from sagacore.cli.verify import load_theorems
from sagacore.errors import ConfigError
from sagacore.testing.mutants import BY_NAME, CATALOGUE, Edit, Mutant, applied, kill
from sagacore.theory.fluid import GpsClock
from sagacore.theory.models import Request, serve_vtc
from sagacore.theory.theorems import violations

REPO = Path(__file__).resolve().parent.parent
THEOREMS = {t.name: t for _, t in load_theorems(REPO / "proofs")}


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_recorded_instance_kills_the_mutant_and_only_the_mutant(name: str) -> None:
    m = BY_NAME[name]
    theorem, instance = m.recorded
    th = THEOREMS[theorem]
    assert th.claim == "holds"
    assert theorem in m.theorems
    assert violations(th, instance) == [], f"{theorem} fails on {name}'s instance unmutated"
    with applied(m):
        assert violations(th, instance), f"{name} survives its recorded instance"
    assert violations(th, instance) == []  # restored


def test_default_kill_check_kills_every_mutant() -> None:
    theorems = list(THEOREMS.values())
    results = [kill(m, theorems) for m in CATALOGUE]
    survivors = [r.mutant.name for r in results if not r.killed]
    assert survivors == []
    for r in results:
        assert r.theorem in r.mutant.theorems
        assert r.violation is not None and r.violation.violated


def test_a_mutant_no_checker_looks_at_survives() -> None:
    # the VTC bug run against HRRN's checker only: nothing can see it
    blind = replace(BY_NAME["vtc-no-lift"], theorems=("hrrn-wait",))
    res = kill(blind, list(THEOREMS.values()))
    assert not res.killed and res.theorem is None
    assert res.to_json()["killed"] is False


def test_catalogue_covers_every_family_and_names_are_unique() -> None:
    assert len(BY_NAME) == len(CATALOGUE) >= 20
    assert {m.family for m in CATALOGUE} == {"vtc", "wfq", "hrrn", "afs", "justitia",
                                          "srpt-aging", "admission", "route"}
    # the policies that run, not only the models: AFS as implemented and SAGA's router
    targets = {e.target.split(":")[0] for m in CATALOGUE for e in m.edits}
    assert {"sagacore.sched.afs", "sagacore.route.saga", "sagacore.route.idle_steal",
            "sagacore.sched.srpt_aging", "sagacore.sched.admission",
            "sagacore.theory.models", "sagacore.theory.fluid"} <= targets
    for m in CATALOGUE:
        assert all(t in THEOREMS for t in m.theorems), m.name


def test_applied_restores_the_code_even_on_error() -> None:
    push = GpsClock.push
    code = push.__code__
    m = BY_NAME["wfq-tags-ignore-weights"]
    with pytest.raises(RuntimeError), applied(m):
        assert GpsClock.push.__code__ is not code
        raise RuntimeError("boom")
    assert GpsClock.push.__code__ is code
    vc: GpsClock[Q] = GpsClock(Q(1))
    assert vc.push("a", Q(2), weight=Q(2), now=Q(0)) == 1


def test_a_stale_mutant_fails_loudly() -> None:
    stale = Mutant("stale", "vtc", "targets code that is not there",
                   (Edit("sagacore.theory.models:serve_vtc", "no such line", "x"),),
                   ("vtc-2u",), ("vtc-2u", None))
    with pytest.raises(ConfigError, match="0 occurrences"), applied(stale):
        pass
    reqs = [Request(0, Q(0), Q(1)), Request(1, Q(0), Q(1))]
    assert [c for _, _, c in serve_vtc(reqs, 2).segments] == [0, 1]


def _verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagacore", "verify", *args],
        capture_output=True, text=True, cwd=REPO, timeout=300, check=False,
    )


def test_cli_mutants_json_is_pure_and_every_mutant_killed() -> None:
    res = _verify("--mutants", "--json", "--jobs", "1", "vtc")
    assert res.returncode == 0, res.stderr
    reports: list[dict[str, Any]] = json.loads(res.stdout)
    assert {r["mutant"] for r in reports} == {m.name for m in CATALOGUE if m.family == "vtc"}
    assert all(r["killed"] and r["instance"] and r["violated"] for r in reports)


def test_cli_mutants_text_names_the_killer_and_unknown_names_exit_2() -> None:
    res = _verify("--mutants", "--jobs", "1", "hrrn-no-ageing")
    assert res.returncode == 0, res.stderr
    assert "hrrn-no-ageing" in res.stdout and "killed    by hrrn-wait" in res.stdout
    assert "1 mutants: 1 killed, 0 survived" in res.stdout
    bad = _verify("--mutants", "no-such-mutant")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error:") and "no-such-mutant" in bad.stderr


def test_smt_with_symbolic_weights_kills_a_weight_bug() -> None:
    """z3 on a shape whose weights are symbolic as well as its sizes and arrivals (the
    thorough shape of ``wfq-agent``) finds a violating instance of the clock that ignores
    weights, by itself: no grid or targeted family is involved."""
    from sagacore.theory.symbolic import concrete, explore

    fq = THEOREMS["wfq-agent"]
    assert fq.smt is not None and fq.smt_logic == "QF_NRA"
    (build,) = [b for d, b in fq.smt(True) if d.startswith("agent(w=w0, 1 unit), agent(w=w1, 2")]
    with applied(BY_NAME["wfq-clock-ignores-weights"]):
        res = explore(build, fq.obligations, max_seconds=120, logic=fq.smt_logic)
        assert res.status == "counterexample" and res.counterexample is not None
        inst = build(concrete(res.counterexample))
        assert violations(fq, inst)
    assert violations(fq, inst) == []  # the same instance holds without the bug


_LOOP_FOR_EVER = """
import json, sys, time
from pathlib import Path
from sagacore.cli.verify import load_theorems
from sagacore.testing.mutants import Edit, Mutant, kill
from sagacore.theory.fluid import GpsClock
step = GpsClock._step.__code__
loops = Mutant("gps-live-includes-finished", "wfq", "a session at its tag stays live",
               (Edit("sagacore.theory.fluid:GpsClock._step", "if v < f]", "if v <= f]"),),
               ("wfq-agent",), ("wfq-agent", None))
t0 = time.perf_counter()
res = kill(loops, [t for _, t in load_theorems(Path(sys.argv[1]))], timeout_s=2.0)
v = res.violation
print(json.dumps({"s": time.perf_counter() - t0, "killed": res.killed,
                  "kind": v and v.kind, "instance": v is not None and v.instance is not None,
                  "says": v and v.violated[0], "restored": GpsClock._step.__code__ is step}))
"""


def test_a_mutant_that_makes_the_model_loop_for_ever_is_caught_by_the_time_limit() -> None:
    """A GPS clock that counts finished sessions as live never advances: the checks
    would run for ever. The kill check's time limit stops them and reports the mutant
    caught, with the instance being checked (and the code is restored). Run in a fresh
    interpreter, as ``verify --mutants`` runs each mutant in a worker process: in the
    whole suite's process the alarm once went unanswered after earlier tests, and the
    loop ran for 15 minutes (an outer limit keeps CI from hanging)."""
    out = subprocess.run([sys.executable, "-c", _LOOP_FOR_EVER, str(REPO / "proofs")],
                         capture_output=True,
                         text=True, timeout=120, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["s"] < 30.0
    assert res["killed"] and res["kind"] == "timeout" and res["instance"]
    assert "does not terminate" in res["says"]
    assert res["restored"]
