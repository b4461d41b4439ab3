"""A one-line progress bar on stderr for long commands.

Shown only on a terminal, only once a run passes two seconds, and never with
``--quiet``; it erases itself when done, so it never mixes with the output.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Call with ``(done, total)`` as work advances; :meth:`close` when finished.

    Examples
    --------
    >>> import io
    >>> bar = Progress("run", io.StringIO())  # not a terminal: prints nothing
    >>> bar(1, 2); bar.close(); bar.shown
    False
    """

    def __init__(
        self, label: str, stream: TextIO | None = None, *, quiet: bool = False, unit: str = "tasks"
    ) -> None:
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.enabled = not quiet and self.stream.isatty()
        self.unit = unit
        self.t0 = time.perf_counter()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.t0
        if elapsed < 2.0:
            return
        width = 30
        filled = width * min(done, total) // max(total, 1)
        self.stream.write(
            f"\r{self.label[:16]:<16} [{'#' * filled}{'.' * (width - filled)}] "
            f"{done}/{total} {self.unit} {elapsed:5.1f}s"
        )
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        """Erase the bar, if it was shown."""
        if self.shown:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()
            self.shown = False
