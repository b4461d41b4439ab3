"""The exception families of sagacore: bad input apart from bugs.

Every error about its input that sagacore raises on purpose derives from
:class:`SagacoreError`; the CLI turns any of them into a single line on stderr starting
with ``error:`` and exit status 2. A violated internal invariant is a bug in sagacore,
never bad input: it derives from :class:`InternalError` (not from
:class:`SagacoreError`), and the CLI reports it in a few lines with a pointer to file an
issue, exit status 1.

Examples
--------
>>> from sagacore.errors import TraceFormatError
>>> str(TraceFormatError("steps.csv", "negative token count", line=7, field="prompt_tokens"))
'steps.csv:7: field prompt_tokens: negative token count'
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ConfigError",
    "InternalError",
    "InvariantError",
    "SagacoreError",
    "SolverError",
    "TraceFormatError",
    "UnknownNameError",
    "WorkloadError",
]


class SagacoreError(Exception):
    """Base class of every error about its input that sagacore raises deliberately."""


class InternalError(Exception):
    """Base class of the errors that mean a bug in sagacore, never bad input.

    Deliberately not a :class:`SagacoreError`: code that catches input errors to report
    them as such must not swallow a bug.

    Examples
    --------
    >>> issubclass(InvariantError, SagacoreError), issubclass(InvariantError, InternalError)
    (False, True)
    """


class ConfigError(SagacoreError, ValueError):
    """A configuration value is invalid; the message shows the bad value."""


class UnknownNameError(SagacoreError, KeyError):
    """A name looked up in a registry (stack, policy, preset, format) does not exist."""

    def __init__(self, kind: str, name: str, known: list[str] | tuple[str, ...]) -> None:
        self.kind = kind
        self.name = name
        self.known = tuple(sorted(known))
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(self.known)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class WorkloadError(SagacoreError, ValueError):
    """A workload, task or step violates the model (for example a dependency cycle)."""


class TraceFormatError(SagacoreError, ValueError):
    """A trace file is malformed. Names the file, the line (1-based) and the field.

    Parameters
    ----------
    path
        The file being read.
    message
        What was wrong.
    line
        1-based line number, when known.
    field
        The column or key at fault, when known.
    """

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        where = self.path if line is None else f"{self.path}:{line}"
        what = message if field is None else f"field {field}: {message}"
        super().__init__(f"{where}: {what}")


class SolverError(SagacoreError, RuntimeError):
    """An optimisation solver failed or returned a status other than optimal."""


class InvariantError(InternalError, AssertionError):
    """A checked-mode invariant of a mechanism was violated (a bug, never bad input)."""
