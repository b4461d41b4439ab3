"""Checks of configuration numbers, shared by every policy's config dataclass.

One helper per shape of number, one keyword for one meaning, and a message that names
the field and shows the bad value (``ConfigError``, one ``error:`` line from the CLI).

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
"""

from __future__ import annotations

import math

from sagacore.errors import ConfigError

__all__ = ["positive", "positive_int"]


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
