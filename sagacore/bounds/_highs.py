"""Quiet HiGHS: the solver options that keep it off standard output.

HiGHS (the C++ library behind ``highspy``) writes a banner ("Running HiGHS ...") straight
to file descriptor 1 the first time a ``Highs`` object is built in a process, whatever
its options say, and then logs each solve to the console unless ``output_flag`` and
``log_to_console`` are off. Either would corrupt a command's ``--json`` output.
:func:`highs_options` builds that first ``Highs`` object once with file descriptor 1
pointed at the null device, and returns the options that silence every later solve.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["highs_options"]

_banner_shown = False


def _swallow_banner() -> None:
    global _banner_shown
    if _banner_shown:
        return
    _banner_shown = True
    try:
        import highspy
    except ImportError:  # pragma: no cover - cvxpy reports the missing solver
        return
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):  # no file descriptor 1 (embedded interpreters)
        highspy.Highs()  # type: ignore[no-untyped-call]
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            highspy.Highs()  # type: ignore[no-untyped-call]
        finally:
            os.dup2(saved, 1)
            os.close(null)
    finally:
        os.close(saved)


def highs_options() -> dict[str, Any]:
    """Keyword options for ``Problem.solve(solver=cp.HIGHS, ...)`` that print nothing.

    Examples
    --------
    >>> highs_options()
    {'output_flag': False, 'log_to_console': False}
    """
    _swallow_banner()
    return {"output_flag": False, "log_to_console": False}
