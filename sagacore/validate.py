"""Checks of configuration numbers and fields, shared by every config in the package.

One helper per shape of value, one keyword for one meaning (``zero_ok``: also accept
0; ``minimum``, ``lo``, ``hi``: the bounds), and one message: ``NAME must be WHAT, got
VALUE``, a ``ConfigError`` (one ``error:`` line from the CLI). ``NAME`` says where the
value came from (``"PoissonArrivals.rate_per_min"``, ``"profile shapes.heads"``).

=================  ==========================================  =========================
helper             accepts                                     says
=================  ==========================================  =========================
``positive``       a finite number > 0 (>= 0 with ``zero_ok``)  a finite number > 0
``positive_int``   an integer > 0 (>= 0 with ``zero_ok``)       a positive integer
``int_at_least``   an integer >= ``minimum``                    an integer >= 2
``finite_number``  a finite number in ``[lo, hi]``              a finite number in [0, 1]
``at_least``       a number >= ``minimum``, ``math.inf`` too    a number >= 1
``nonempty_str``   a non-empty string                           a non-empty string
``check``          any condition the caller computed            what the caller says
=================  ==========================================  =========================

A bool is never a number here (``True`` is refused where a number is asked for).

Examples
--------
>>> positive("epoch_s", 0.1)
0.1
>>> positive("aging", 0, zero_ok=True)
0.0
>>> positive("epoch_s", 0)
Traceback (most recent call last):
...
sagacore.errors.ConfigError: epoch_s must be a finite number > 0, got 0
>>> positive("boost", True)
Traceback (most recent call last):
...
sagacore.errors.ConfigError: boost must be a finite number > 0, got True
>>> positive_int("EngineConfig.block_size", 16)
16
>>> positive_int("seed", -1, zero_ok=True)
Traceback (most recent call last):
...
sagacore.errors.ConfigError: seed must be an integer >= 0, got -1
>>> int_at_least("LongContextConfig.min_calls", 1, 2)
Traceback (most recent call last):
...
sagacore.errors.ConfigError: LongContextConfig.min_calls must be an integer >= 2, got 1
>>> finite_number("q", 1.5, lo=0.0, hi=1.0)
Traceback (most recent call last):
...
sagacore.errors.ConfigError: q must be a finite number in [0, 1], got 1.5
>>> at_least("Preble.rebalance_ratio", math.inf, 1)
inf
>>> at_least("Preble.rebalance_ratio", 0.5, 1)
Traceback (most recent call last):
...
sagacore.errors.ConfigError: Preble.rebalance_ratio must be a number >= 1, got 0.5
>>> check(False, "times_s", (), "non-empty")
Traceback (most recent call last):
...
sagacore.errors.ConfigError: times_s must be non-empty, got ()
"""

from __future__ import annotations

import math

from sagacore.errors import ConfigError

__all__ = [
    "at_least",
    "check",
    "finite_number",
    "int_at_least",
    "nonempty_str",
    "positive",
    "positive_int",
]


def check(ok: bool, name: str, value: object, what: str) -> None:
    """``ConfigError`` ``name must be what, got value`` unless ``ok``: the family's message
    for a condition the helpers below do not name (a range, several fields at once)."""
    if not ok:
        raise ConfigError(f"{name} must be {what}, got {value!r}")


def positive(name: str, value: float, *, zero_ok: bool = False) -> float:
    """``float(value)`` when it is a finite number > 0 (>= 0 with ``zero_ok``), else
    ``ConfigError`` naming ``name`` and showing the value (a bool is not a number)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero_ok):
        raise ConfigError(
            f"{name} must be a finite number {'>=' if zero_ok else '>'} 0, got {value!r}"
        )
    return float(value)


def positive_int(name: str, value: int, *, zero_ok: bool = False) -> int:
    """``value`` when it is an integer > 0 (>= 0 with ``zero_ok``), else ``ConfigError``
    naming ``name`` and showing the value (a bool is not an integer)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if zero_ok else 1):
        what = "an integer >= 0" if zero_ok else "a positive integer"
        raise ConfigError(f"{name} must be {what}, got {value!r}")
    return value


def int_at_least(name: str, value: int, minimum: int) -> int:
    """``value`` when it is an integer >= ``minimum``, else ``ConfigError`` naming
    ``name`` and showing the value (a bool is not an integer)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def finite_number(name: str, value: float, *, lo: float = -math.inf, hi: float = math.inf) -> float:
    """``float(value)`` when it is a finite number in ``[lo, hi]``, else ``ConfigError``
    naming ``name`` and showing the value."""
    if value.__class__ is float and -math.inf < value < math.inf and lo <= value <= hi:
        return value  # the common case, without the checks below (same answer)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be {_range(lo, hi)}, got {value!r}")
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ConfigError(f"{name} must be {_range(lo, hi)}, got {value!r}")
    return float(value)


def _range(lo: float, hi: float) -> str:
    if hi == math.inf:
        return f"a finite number >= {lo:g}" if lo > -math.inf else "a finite number"
    if lo == -math.inf:
        return f"a finite number <= {hi:g}"
    return f"a finite number in [{lo:g}, {hi:g}]"


def at_least(name: str, value: float, minimum: float) -> float:
    """``float(value)`` when it is a number >= ``minimum`` (``math.inf`` included: a
    ratio or factor that is never reached), else ``ConfigError`` naming ``name`` and
    showing the value (NaN and bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= minimum:
        raise ConfigError(f"{name} must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def nonempty_str(name: str, value: str) -> str:
    """``value`` when it is a non-empty string, else ``ConfigError`` naming ``name``."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    return value
