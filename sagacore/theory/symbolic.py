"""Symbolic execution of exact scheduling models with z3: proofs for all real instances.

The exact models in :mod:`sagacore.theory.models` and :mod:`sagacore.theory.fluid` use only
``+ - * /`` and comparisons on their numbers. Run them on :class:`Sym` values (z3 real
terms) instead of :class:`~fractions.Fraction` and every comparison becomes a *branch*:
:func:`explore` asks z3 which outcomes are feasible under the path taken so far, follows
one and comes back for the other (depth-first, by re-execution). Each complete path is
a region of instance space on which the model runs the same way; at its end the
theorem's obligations ``lhs <= rhs`` are linear (or polynomial) facts about the
symbolic inputs, and z3 either proves them on the whole region or returns a point that
violates one. If every path is proved, the theorem holds for **every real-valued
instance** of that shape (number of jobs, units, weights given as constants).

This is a bounded proof: the shape is fixed, the values are not. It needs ``z3-solver``
(a test extra), imported on first use.

Examples
--------
>>> from fractions import Fraction
>>> def build(real):            # instance: two numbers x, y >= 0
...     return real("x", lo=0), real("y", lo=0)
>>> def obligations(inst):      # claim: max(x, y) <= x + y
...     x, y = inst
...     return [("max", max(x, y), x + y)]
>>> explore(build, obligations).status
'proved'
>>> def wrong(inst):            # claim: max(x, y) <= x   (false when y > x)
...     x, y = inst
...     return [("max", max(x, y), x)]
>>> out = explore(build, wrong)
>>> out.status, out.counterexample["y"] > out.counterexample["x"]
('counterexample', True)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal, TypeVar

__all__ = ["ExploreResult", "Sym", "concrete", "explore"]

InstT = TypeVar("InstT")

Obligation = tuple[str, Any, Any]
"""``(label, lhs, rhs)``: the claim ``lhs <= rhs``."""


def _z3() -> Any:
    import z3

    return z3


class _Budget(Exception):
    """Raised inside a path when the exploration budget is spent."""


@dataclass
class _Env:
    z3: Any
    timeout_ms: int
    forced: list[bool]
    model: Any = None
    logic: str | None = None
    solver: Any = None
    decisions: list[bool] = field(default_factory=list)
    alternatives: list[tuple[list[bool], Any]] = field(default_factory=list)
    checks: int = 0
    unknown: int = 0
    vars: dict[str, Any] = field(default_factory=dict)
    memo: dict[int, tuple[Any, bool]] = field(default_factory=dict)

    def start(self) -> None:
        self.solver = self.z3.SolverFor(self.logic) if self.logic else self.z3.Solver()
        self.solver.set("timeout", self.timeout_ms)

    def real(self, name: str, lo: int | Fraction | None = None, hi: int | Fraction | None = None,
             strict_lo: bool = False) -> Sym:
        z3 = self.z3
        v = z3.Real(name)
        self.vars[name] = v
        if lo is not None:
            c = _const(z3, lo)
            self.solver.add(v > c if strict_lo else v >= c)
        if hi is not None:
            self.solver.add(v <= _const(z3, hi))
        return Sym(v, self)

    def feasible(self, cond: Any) -> Any:
        """A model of the path and ``cond``, or None when there is none."""
        self.checks += 1
        res = self.solver.check(cond)
        model = self.solver.model() if res == self.z3.sat else None
        if res == self.z3.unknown:
            self.unknown += 1
        return model

    def current_model(self) -> Any:
        if self.model is None:
            self.model = self.feasible(self.z3.BoolVal(True))
        return self.model

    def decide(self, cond: Any) -> bool:
        z3 = self.z3
        cond = z3.simplify(cond)
        if z3.is_true(cond):
            return True
        if z3.is_false(cond):
            return False
        key = cond.get_id()
        known = self.memo.get(key)
        if known is not None:  # the stored term keeps its id from being reused
            return known[1]
        k = len(self.decisions)
        if k < len(self.forced):
            choice = self.forced[k]
        else:
            # follow the branch the path's current model takes; the other needs a check
            model = self.current_model()
            if model is None:  # unknown path feasibility: explore both, conservatively
                choice = True
                self.alternatives.append(([*self.decisions, False], None))
            else:
                choice = bool(z3.is_true(model.eval(cond, model_completion=True)))
                other = self.feasible(cond if not choice else z3.Not(cond))
                if other is not None:
                    self.alternatives.append(([*self.decisions, not choice], other))
        self.decisions.append(choice)
        self.memo[key] = (cond, choice)
        neg = z3.simplify(z3.Not(cond))
        self.memo[neg.get_id()] = (neg, not choice)
        self.solver.add(cond if choice else z3.Not(cond))
        return choice


def _const(z3: Any, x: int | Fraction) -> Any:
    q = Fraction(x)
    return z3.Q(q.numerator, q.denominator)


class Sym:
    """A symbolic real number: a z3 term whose comparisons branch the exploration."""

    __slots__ = ("e", "env")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, e: Any, env: _Env) -> None:
        self.e = e
        self.env = env

    def _lift(self, o: object) -> Any:
        if isinstance(o, Sym):
            return o.e
        if isinstance(o, int | Fraction):
            return _const(self.env.z3, o)
        return NotImplemented

    def _wrap(self, e: Any) -> Sym:
        return Sym(e, self.env)

    def __add__(self, o: object) -> Sym:
        x = self._lift(o)
        return NotImplemented if x is NotImplemented else self._wrap(self.e + x)

    def __radd__(self, o: object) -> Sym:
        x = self._lift(o)
        return NotImplemented if x is NotImplemented else self._wrap(x + self.e)

    def __sub__(self, o: object) -> Sym:
        x = self._lift(o)
        return NotImplemented if x is NotImplemented else self._wrap(self.e - x)

    def __rsub__(self, o: object) -> Sym:
        x = self._lift(o)
        return NotImplemented if x is NotImplemented else self._wrap(x - self.e)

    def __mul__(self, o: object) -> Sym:
        x = self._lift(o)
        return NotImplemented if x is NotImplemented else self._wrap(self.e * x)

    def __rmul__(self, o: object) -> Sym:
        x = self._lift(o)
        return NotImplemented if x is NotImplemented else self._wrap(x * self.e)

    def __truediv__(self, o: object) -> Sym:
        x = self._lift(o)
        return NotImplemented if x is NotImplemented else self._wrap(self.e / x)

    def __rtruediv__(self, o: object) -> Sym:
        x = self._lift(o)
        return NotImplemented if x is NotImplemented else self._wrap(x / self.e)

    def __neg__(self) -> Sym:
        return self._wrap(-self.e)

    def __pos__(self) -> Sym:
        return self

    def __abs__(self) -> Sym:
        return self if self >= 0 else -self

    def _cmp(self, o: object, op: str) -> bool:
        x = self._lift(o)
        if x is NotImplemented:
            return NotImplemented  # type: ignore[no-any-return]
        e = self.e
        cond = {"<": e < x, "<=": e <= x, ">": e > x, ">=": e >= x, "==": e == x, "!=": e != x}[op]
        return self.env.decide(cond)

    def __lt__(self, o: object) -> bool:
        return self._cmp(o, "<")

    def __le__(self, o: object) -> bool:
        return self._cmp(o, "<=")

    def __gt__(self, o: object) -> bool:
        return self._cmp(o, ">")

    def __ge__(self, o: object) -> bool:
        return self._cmp(o, ">=")

    def __eq__(self, o: object) -> bool:
        return self._cmp(o, "==")

    def __ne__(self, o: object) -> bool:
        return self._cmp(o, "!=")

    def __bool__(self) -> bool:
        raise TypeError("a symbolic number has no truth value; compare it")

    def __repr__(self) -> str:
        return f"Sym({self.e})"


@dataclass(frozen=True)
class ExploreResult:
    """Outcome of :func:`explore`."""

    status: Literal["proved", "counterexample", "unknown", "budget"]
    """``proved``: every path's obligations hold for all values; ``counterexample``:
    z3 found values violating one; ``unknown``: z3 gave up on some check;
    ``budget``: the path or time budget ran out first."""
    paths: int
    """Complete paths explored (regions of instance space)."""
    checks: int
    """Satisfiability checks made."""
    seconds: float
    """Wall time."""
    counterexample: dict[str, Fraction] | None = None
    """Input values violating an obligation (when ``status == 'counterexample'``)."""
    label: str | None = None
    """Label of the violated obligation."""


def _value(z3: Any, model: Any, var: Any) -> Fraction:
    val = model.eval(var, model_completion=True)
    if z3.is_rational_value(val):
        return Fraction(val.numerator_as_long(), val.denominator_as_long())
    # an algebraic number (from non-linear constraints): a close rational
    return Fraction(val.approx(30).as_fraction())


def explore(
    build: Callable[[Callable[..., Sym]], InstT],
    obligations: Callable[[InstT], Sequence[Obligation]],
    *,
    max_paths: int = 100_000,
    max_seconds: float = 60.0,
    timeout_ms: int = 10_000,
    logic: str | None = None,
) -> ExploreResult:
    """Prove ``obligations(build(real))`` for every real value of the symbols, or refute it.

    Parameters
    ----------
    build
        Makes a symbolic instance; it receives ``real(name, lo=None, hi=None,
        strict_lo=False)`` which declares a real variable with optional bounds and
        returns it as a :class:`Sym` (use it wherever the model takes a number).
    obligations
        Runs the model on the instance and returns ``(label, lhs, rhs)`` claims
        ``lhs <= rhs``; ``lhs``/``rhs`` may be :class:`Sym`, ``int`` or ``Fraction``.
    max_paths, max_seconds
        Exploration budget; when spent the result is ``"budget"``.
    timeout_ms
        Per-check z3 timeout.
    logic
        An SMT-LIB logic for z3's solver (``"QF_LRA"`` is fastest for linear models);
        None lets z3 choose (needed for non-linear ones).

    Returns
    -------
    ExploreResult
        ``proved`` when every path's obligations are valid.
    """
    z3 = _z3()
    t0 = time.perf_counter()
    stack: list[tuple[list[bool], Any]] = [([], None)]
    paths = checks = 0
    unknown = False
    while stack:
        if paths >= max_paths or time.perf_counter() - t0 > max_seconds:
            return ExploreResult("budget", paths, checks, time.perf_counter() - t0)
        forced, model = stack.pop()
        env = _Env(z3, timeout_ms, forced, model=model, logic=logic)
        env.start()

        def real(name: str, lo: int | Fraction | None = None, hi: int | Fraction | None = None,
                 strict_lo: bool = False, _env: _Env = env) -> Sym:
            return _env.real(name, lo, hi, strict_lo)

        inst = build(real)
        obs = obligations(inst)
        stack.extend(reversed(env.alternatives))
        checks += env.checks
        unknown = unknown or env.unknown > 0
        paths += 1
        for label, lhs, rhs in obs:
            lhs_e = lhs.e if isinstance(lhs, Sym) else _const(z3, lhs)
            rhs_e = rhs.e if isinstance(rhs, Sym) else _const(z3, rhs)
            env.solver.push()
            env.solver.add(lhs_e > rhs_e)
            checks += 1
            res = env.solver.check()
            if res == z3.sat:
                model = env.solver.model()
                cex = {name: _value(z3, model, v) for name, v in env.vars.items()}
                return ExploreResult(
                    "counterexample", paths, checks, time.perf_counter() - t0, cex, label
                )
            if res == z3.unknown:
                unknown = True
            env.solver.pop()
    status: Literal["proved", "unknown"] = "unknown" if unknown else "proved"
    return ExploreResult(status, paths, checks, time.perf_counter() - t0)


def concrete(values: dict[str, Fraction]) -> Callable[..., Fraction]:
    """A ``real`` for :func:`explore`'s ``build`` that returns recorded values instead.

    Use it to rebuild the concrete instance of a counterexample.
    """

    def real(name: str, lo: object = None, hi: object = None, strict_lo: bool = False) -> Fraction:
        return values.get(name, Fraction(0))

    return real



