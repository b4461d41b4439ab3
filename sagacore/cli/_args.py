"""Argument types and checks shared by the subcommands.

The types raise :class:`argparse.ArgumentTypeError`, so a bad value is reported by the
parser as one line naming the flag: ``error: argument --head: expected an integer >= 1,
got '0'``. The output checks run before any work, so that a long run is never lost to an
unwritable output path.

Examples
--------
>>> int_at_least(1)("3")
3
>>> int_at_least(1)("0")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: expected an integer >= 1, got '0'
>>> positive_float("nan")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: expected a finite number > 0, got 'nan'
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

from sagacore.errors import ConfigError

__all__ = [
    "ON_BAD_LINES",
    "add_on_bad_lines",
    "add_quiet",
    "check_output",
    "finite_float_at_least",
    "int_at_least",
    "positive_float",
]

ON_BAD_LINES = ("error", "warn", "skip")
"""Choices of ``--on-bad-lines`` (pandas' names)."""


def int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``[minimum, maximum]``."""
    rng = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer {rng}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected an integer {rng}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def finite_float_at_least(minimum: float) -> Callable[[str], float]:
    """An argparse type: a finite number ``>= minimum``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < minimum:
            raise argparse.ArgumentTypeError(
                f"expected a finite number >= {minimum:g}, got {text!r}"
            )
        return value

    parse.__name__ = "number"
    return parse


def positive_float(text: str) -> float:
    """An argparse type: a finite number ``> 0``."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def check_output(flag: str, path: str, *, dash: bool = False) -> None:
    """Refuse an output path that cannot be written, before any work is done.

    Raises
    ------
    ConfigError
        When ``path`` is empty, names a folder, lies in a missing folder, or the folder
        is not writable (``-`` is accepted when ``dash``: standard output).
    """
    if dash and path == "-":
        return
    if not path:
        raise ConfigError(f"{flag}: empty output path")
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{flag} {path}: is a folder, expected a file path")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"{flag} {path}: folder {parent} does not exist")
    if p.exists() and not os.access(p, os.W_OK):
        raise ConfigError(f"{flag} {path}: not writable")
    if not p.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: folder {parent} is not writable")


def add_quiet(p: argparse.ArgumentParser) -> None:
    """Add ``--quiet``: no progress bar (it is shown only on a terminal anyway)."""
    p.add_argument(
        "--quiet", action="store_true", help="no progress bar on stderr (shown only on a terminal)"
    )


def add_on_bad_lines(p: argparse.ArgumentParser) -> None:
    """Add ``--on-bad-lines {error,warn,skip}`` (see docs/traces.md)."""
    p.add_argument(
        "--on-bad-lines",
        choices=ON_BAD_LINES,
        default="error",
        help="an invalid line of a trace: error (stop, the default), warn (skip it with "
        "one stderr line naming file, line, field and reason, then a count) or skip "
        "(skip it silently, then a count)",
    )
