"""Theorems with machine checkers: the common API of ``proofs/*/check.py`` and ``sagacore verify``.

A :class:`Theorem` states a guarantee about an exact model (or a claim the library
refutes), names its written proof, and says how to try to break it:

- **targeted** instances: families built to stress the claim where bugs hide (long
  backlogs, staggered arrivals, weights other than 1, clients returning after an idle
  period, rare urgency ratios), larger than the grid reaches;
- **enumeration** of every instance of a finite grid up to a small size;
- **Hypothesis** search with shrinking to a minimal counterexample;
- **SMT** (z3): symbolic execution of the same model code on real-valued inputs of a
  bounded shape (:mod:`sagacore.theory.symbolic`), proving the claim for *all* real
  instances of that shape or producing one that violates it;
- **witnesses**: instances showing where the bound is tight, re-checked every run;
- for a refuted claim, the **recorded counterexample**, re-checked every run.

The property is one function, ``obligations(instance)``, returning claims
``(label, lhs, rhs)`` meaning ``lhs <= rhs``; all three searches use it, so what is
proved is exactly what is tested.

Examples
--------
>>> from fractions import Fraction as Q
>>> from hypothesis import strategies as st
>>> th = Theorem(
...     name="toy", title="max is at most the sum", claim="holds",
...     statement="max(x, y) <= x + y for x, y >= 0", model="two non-negative rationals",
...     proof="docs/fairness.md",
...     obligations=lambda xy: [("max", max(xy), xy[0] + xy[1])],
...     enumerate=lambda thorough: ((Q(x), Q(y)) for x in range(3) for y in range(3)),
...     strategy=lambda: st.tuples(st.fractions(0, 5), st.fractions(0, 5)),
...     smt=lambda thorough: [("x, y", lambda real: (real("x", lo=0), real("y", lo=0)))],
... )
>>> report = run_theorem(th)
>>> report.verdict, [c.outcome for c in report.checks]
('holds', ['passed', 'passed', 'proved'])
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Generic, Literal, TypeVar

__all__ = [
    "CheckResult",
    "Theorem",
    "TheoremReport",
    "Violation",
    "Witness",
    "first_violation",
    "run_theorem",
    "to_json",
    "violations",
]

InstT = TypeVar("InstT")

Obligation = tuple[str, Any, Any]
"""``(label, lhs, rhs)``: the claim ``lhs <= rhs``."""

Outcome = Literal["passed", "proved", "counterexample", "unknown", "budget", "skipped"]


@dataclass(frozen=True)
class Witness(Generic[InstT]):
    """An instance showing how close the bound comes: ``measure(instance) == value``."""

    description: str
    """What the instance shows (for example 'reaches 15/8 U')."""
    instance: InstT
    """The instance."""
    measure: Callable[[InstT], Fraction]
    """Computes the quantity of interest on the instance."""
    value: Fraction
    """The value it must have."""


@dataclass(frozen=True)
class Theorem(Generic[InstT]):
    """A guarantee (or a refuted claim) with its model, proof and checkers."""

    name: str
    """Short identifier (``sagacore verify NAME``)."""
    title: str
    """One-line title."""
    claim: Literal["holds", "refuted"]
    """What the library states: the statement holds, or it is false (a published
    claim tested and refuted, with its counterexample recorded)."""
    statement: str
    """The precise statement."""
    model: str
    """The model in which it is stated (servers, preemption, batching, tool gaps)."""
    proof: str
    """Path of the written proof (or refutation) in the docs, relative to the repo."""
    obligations: Callable[[InstT], Sequence[Obligation]]
    """The property: claims ``lhs <= rhs`` about one instance."""
    enumerate: Callable[[bool], Iterable[InstT]] | None = None
    """Every instance of a finite grid, small first (argument: thorough)."""
    targeted: Callable[[bool], Iterable[InstT]] | None = None
    """Instances of families built to break the claim where bugs hide (argument:
    thorough); checked before the grid, and first in mutation testing."""
    strategy: Callable[[], Any] | None = None
    """A Hypothesis strategy of instances, shrinking towards small ones."""
    smt: Callable[[bool], Sequence[tuple[str, Callable[..., InstT]]]] | None = None
    """Shapes for the SMT proof: ``(description, build)`` with ``build(real)`` making a
    symbolic instance (argument: thorough)."""
    smt_logic: str | None = "QF_LRA"
    """z3 logic for the SMT check (None for non-linear models)."""
    counterexample: InstT | None = None
    """For a refuted claim: a minimal counterexample, re-checked every run."""
    witnesses: tuple[Witness[InstT], ...] = ()
    """Tightness witnesses, re-checked every run."""
    describe: Callable[[InstT], Any] = field(default=lambda inst: inst)
    """Renders an instance as JSON-able data."""
    hypothesis_examples: tuple[int, int] = (100, 2000)
    """Hypothesis examples in CI and thorough mode."""


def violations(theorem: Theorem[InstT], instance: InstT) -> list[str]:
    """Labels of the obligations ``instance`` violates (empty: it satisfies the theorem)."""
    return [label for label, lhs, rhs in theorem.obligations(instance) if lhs > rhs]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check of a theorem."""

    kind: Literal["targeted", "enumerate", "hypothesis", "smt", "witness", "recorded"]
    """Which check."""
    outcome: Outcome
    """``passed``: nothing found (searches) or reproduced (witnesses, recorded);
    ``proved``: SMT proved every shape; ``counterexample``: an instance violates the
    statement; ``unknown``/``budget``: SMT inconclusive; ``skipped``: not applicable."""
    count: int
    """Instances enumerated, examples tried, or SMT paths explored."""
    seconds: float
    """Wall time."""
    detail: str
    """Human-readable summary."""
    counterexample: Any = None
    """The (minimal) counterexample found, as JSON-able data, and what it violates."""


@dataclass(frozen=True)
class TheoremReport:
    """All checks of one theorem and the verdict."""

    theorem: Theorem[Any]
    """The theorem."""
    checks: tuple[CheckResult, ...]
    """Results in order."""

    @property
    def verdict(self) -> Literal["holds", "refuted", "FAILED"]:
        """``holds``/``refuted`` when the checks agree with :attr:`Theorem.claim`;
        ``FAILED`` when a holding theorem got a counterexample, or a refuted claim's
        recorded counterexample no longer violates it."""
        th = self.theorem
        if th.claim == "holds":
            bad = any(c.outcome == "counterexample" for c in self.checks)
            bad = bad or any(c.kind == "witness" and c.outcome != "passed" for c in self.checks)
            return "FAILED" if bad else "holds"
        rec = [c for c in self.checks if c.kind == "recorded"]
        ok = all(c.outcome == "counterexample" for c in rec) and bool(rec)
        return "refuted" if ok else "FAILED"

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-able data."""
        th = self.theorem
        return {
            "name": th.name,
            "title": th.title,
            "claim": th.claim,
            "verdict": self.verdict,
            "statement": th.statement,
            "model": th.model,
            "proof": th.proof,
            "checks": [
                {
                    "kind": c.kind,
                    "outcome": c.outcome,
                    "count": c.count,
                    "seconds": round(c.seconds, 3),
                    "detail": c.detail,
                    "counterexample": c.counterexample,
                }
                for c in self.checks
            ],
        }


def to_json(x: Any) -> Any:
    """JSON-able rendering: Fractions as strings (``'3/2'``), dataclasses as dicts."""
    if isinstance(x, Fraction):
        return str(x)
    if isinstance(x, bool | int | float | str) or x is None:
        return x
    if isinstance(x, dict):
        return {str(k): to_json(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [to_json(v) for v in x]
    if hasattr(x, "__dataclass_fields__"):
        return {k: to_json(getattr(x, k)) for k in x.__dataclass_fields__}
    return repr(x)


def _cex(theorem: Theorem[InstT], inst: InstT) -> dict[str, Any]:
    obs = theorem.obligations(inst)
    bad = [(label, lhs, rhs) for label, lhs, rhs in obs if lhs > rhs]
    return {
        "instance": to_json(theorem.describe(inst)),
        "violated": [f"{label}: {lhs} > {rhs}" for label, lhs, rhs in bad],
    }


def _enumerate(
    theorem: Theorem[InstT], thorough: bool, limit: int | None,
    kind: Literal["targeted", "enumerate"] = "enumerate",
) -> CheckResult:
    t0 = time.perf_counter()
    gen = theorem.enumerate if kind == "enumerate" else theorem.targeted
    if gen is None:
        return CheckResult(kind, "skipped", 0, 0.0,
                           "no finite grid" if kind == "enumerate" else "no targeted family")
    n = 0
    for inst in gen(thorough):
        if limit is not None and n >= limit:
            break
        n += 1
        if violations(theorem, inst):
            dt = time.perf_counter() - t0
            where = "(smallest first)" if kind == "enumerate" else "(targeted families)"
            return CheckResult(
                kind, "counterexample", n, dt,
                f"counterexample at instance {n} {where}", _cex(theorem, inst),
            )
    dt = time.perf_counter() - t0
    return CheckResult(kind, "passed", n, dt, f"{n} instances, no counterexample")


def _hypothesis(theorem: Theorem[InstT], thorough: bool, examples: int | None) -> CheckResult:
    t0 = time.perf_counter()
    if theorem.strategy is None:
        return CheckResult("hypothesis", "skipped", 0, 0.0, "no strategy")
    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis.errors import NoSuchExample

    tried = 0

    def bad(inst: InstT) -> bool:
        nonlocal tried
        tried += 1
        return bool(violations(theorem, inst))

    n = examples if examples is not None else theorem.hypothesis_examples[1 if thorough else 0]
    if n <= 0:
        return CheckResult("hypothesis", "skipped", 0, 0.0, "no examples requested")
    cfg = settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink],
    )
    try:
        inst = find(theorem.strategy(), bad, settings=cfg)
    except NoSuchExample:
        dt = time.perf_counter() - t0
        return CheckResult("hypothesis", "passed", tried, dt, f"{tried} examples, no counterexample")
    dt = time.perf_counter() - t0
    return CheckResult(
        "hypothesis", "counterexample", tried, dt,
        f"counterexample after {tried} examples (shrunk)", _cex(theorem, inst),
    )


def _smt(theorem: Theorem[InstT], thorough: bool, max_seconds: float) -> CheckResult:
    t0 = time.perf_counter()
    if theorem.smt is None:
        return CheckResult("smt", "skipped", 0, 0.0, "no SMT model")
    try:
        from sagacore.theory.symbolic import concrete, explore
    except ImportError:  # pragma: no cover
        return CheckResult("smt", "skipped", 0, 0.0, "z3-solver is not installed")
    shapes = theorem.smt(thorough)
    paths = checks = 0
    parts: list[str] = []
    outcome: Outcome = "proved"
    for desc, build in shapes:
        left = max_seconds - (time.perf_counter() - t0)
        res = explore(build, theorem.obligations, max_seconds=left, logic=theorem.smt_logic)
        paths += res.paths
        checks += res.checks
        if res.status == "counterexample":
            assert res.counterexample is not None
            inst = build(concrete(res.counterexample))
            dt = time.perf_counter() - t0
            cex = _cex(theorem, inst)
            cex["z3_values"] = to_json(res.counterexample)
            return CheckResult(
                "smt", "counterexample", paths, dt,
                f"z3 found a violating real instance of shape [{desc}] ({res.label})", cex,
            )
        if res.status != "proved":
            outcome = res.status
            parts.append(f"[{desc}] {res.status}")
        else:
            parts.append(f"[{desc}] {res.paths} paths")
    dt = time.perf_counter() - t0
    word = "proved for all real instances of" if outcome == "proved" else "inconclusive on"
    return CheckResult(
        "smt", outcome, paths, dt, f"{word} {len(shapes)} shapes: " + "; ".join(parts)
        + f" ({checks} z3 checks)",
    )


def _witnesses(theorem: Theorem[InstT]) -> list[CheckResult]:
    out = []
    for w in theorem.witnesses:
        t0 = time.perf_counter()
        got = w.measure(w.instance)
        ok = got == w.value and not violations(theorem, w.instance)
        out.append(
            CheckResult(
                "witness", "passed" if ok else "counterexample", 1, time.perf_counter() - t0,
                f"{w.description}: measured {got}" + ("" if ok else f", expected {w.value}"),
                {"instance": to_json(theorem.describe(w.instance))},
            )
        )
    return out


def _recorded(theorem: Theorem[InstT]) -> CheckResult:
    t0 = time.perf_counter()
    inst = theorem.counterexample
    if inst is None:
        return CheckResult("recorded", "skipped", 0, 0.0, "no recorded counterexample")
    bad = violations(theorem, inst)
    dt = time.perf_counter() - t0
    if bad:
        return CheckResult(
            "recorded", "counterexample", 1, dt,
            "recorded counterexample reproduced", _cex(theorem, inst),
        )
    return CheckResult("recorded", "passed", 1, dt, "recorded counterexample NO LONGER violates")


def run_theorem(
    theorem: Theorem[Any],
    *,
    thorough: bool = False,
    smt: bool = True,
    smt_seconds: float = 30.0,
    max_instances: int | None = None,
    hypothesis_examples: int | None = None,
) -> TheoremReport:
    """Run every check of ``theorem`` and return the report.

    Parameters
    ----------
    theorem
        The theorem.
    thorough
        Larger grids, more Hypothesis examples, larger SMT shapes.
    smt
        Run the SMT proof (needs ``z3-solver``).
    smt_seconds
        Time budget of the SMT check; when spent the result is ``budget``.
    max_instances, hypothesis_examples
        Caps on the enumeration and on Hypothesis (None: the theorem's own sizes), for
        quick smoke runs.
    """
    checks: list[CheckResult] = []
    if theorem.claim == "refuted":
        checks.append(_recorded(theorem))
    if theorem.targeted is not None:
        checks.append(_enumerate(theorem, thorough, max_instances, "targeted"))
    checks.append(_enumerate(theorem, thorough, max_instances))
    checks.append(_hypothesis(theorem, thorough, hypothesis_examples))
    if smt:
        checks.append(_smt(theorem, thorough, smt_seconds))
    checks.extend(_witnesses(theorem))
    return TheoremReport(theorem, tuple(checks))


@dataclass(frozen=True)
class Violation:
    """An instance that breaks a theorem, found by :func:`first_violation`."""

    kind: Literal["targeted", "enumerate", "hypothesis", "smt", "witness", "timeout"]
    """The check that found it (``timeout``: the checks ran past their deadline)."""
    instance: Any
    """The instance as JSON-able data (:attr:`Theorem.describe`)."""
    violated: tuple[str, ...]
    """What it violates (``label: lhs > rhs``), or the exception the model raised."""
    raw: Any = field(default=None, compare=False, repr=False)
    """The instance itself (None when Hypothesis found it: only its rendering is kept)."""


class _OutOfTime(BaseException):
    """The alarm of :func:`first_violation`'s ``deadline_s`` (not an ``Exception``, so the
    searches, which catch what a model raises, let it through)."""


@contextmanager
def _alarm(seconds: float | None) -> Iterator[None]:
    """Raise :class:`_OutOfTime` after ``seconds`` of wall time (where POSIX interval
    timers work: the main thread of a process; elsewhere, no limit)."""
    if (seconds is None or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def fire(signum: int, frame: Any) -> None:
        raise _OutOfTime()

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def first_violation(
    theorem: Theorem[Any], *, smt: bool = False, smt_seconds: float = 30.0,
    deadline_s: float | None = None,
) -> Violation | None:
    """The first instance that breaks ``theorem`` in default mode, or None.

    Runs the checks of :func:`run_theorem` (not thorough) in the order that finds bugs
    fastest: targeted families, the grid, Hypothesis, SMT (when ``smt``), then the
    witnesses' instances (only as instances: a changed witness *value* is not a
    violation). Stops at the first instance whose obligations fail or whose model
    raises; mutation testing (:mod:`sagacore.testing.mutants`) calls it with a mutant
    applied. With ``deadline_s``, checks still running after that many seconds stop and
    count as a violation of kind ``"timeout"`` naming the instance being checked (a
    model that no longer terminates); the limit needs POSIX timers and the main thread.
    """
    where: dict[str, Any] = {"kind": "targeted", "inst": None}
    try:
        with _alarm(deadline_s):
            return _first_violation(theorem, smt, smt_seconds, where)
    except _OutOfTime:
        inst = where["inst"]
        return Violation(
            "timeout", None if inst is None else to_json(theorem.describe(inst)),
            (f"the {where['kind']} check ran past {deadline_s:.3g} s: the model does not "
             "terminate (or is far slower)",), inst)


def _first_violation(theorem: Theorem[Any], smt: bool, smt_seconds: float,
                     where: dict[str, Any]) -> Violation | None:
    def check(kind: Any, res: CheckResult) -> Violation | None:
        if res.outcome != "counterexample" or res.counterexample is None:
            return None
        return Violation(kind, res.counterexample["instance"],
                         tuple(res.counterexample["violated"]))

    def crashed(kind: Any, inst: Any, exc: Exception) -> Violation:
        return Violation(kind, to_json(theorem.describe(inst)),
                         (f"the model raised {type(exc).__name__}: {exc}",), inst)

    searches: tuple[tuple[Literal["targeted", "enumerate"], Any], ...] = (
        ("targeted", theorem.targeted), ("enumerate", theorem.enumerate))
    for kind, gen in searches:
        if gen is None:
            continue
        for inst in gen(False):
            where["kind"], where["inst"] = kind, inst
            try:
                bad = violations(theorem, inst)
            except Exception as exc:  # a mutant may crash the model: that kills it
                return crashed(kind, inst, exc)
            if bad:
                return Violation(kind, to_json(theorem.describe(inst)),
                                 tuple(_cex(theorem, inst)["violated"]), inst)
    where["kind"], where["inst"] = "hypothesis", None
    try:
        hit = check("hypothesis", _hypothesis(theorem, False, None))
    except Exception as exc:
        return Violation("hypothesis", None, (f"the model raised {type(exc).__name__}: {exc}",))
    if hit is not None:
        return hit
    if smt:
        hit = check("smt", _smt(theorem, False, smt_seconds))
        if hit is not None:
            return hit
    for w in theorem.witnesses:
        try:
            bad = violations(theorem, w.instance)
        except Exception as exc:
            return crashed("witness", w.instance, exc)
        if bad:
            return Violation("witness", to_json(theorem.describe(w.instance)),
                             tuple(_cex(theorem, w.instance)["violated"]), w.instance)
    return None
