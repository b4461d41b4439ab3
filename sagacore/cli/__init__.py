"""The ``sagacore`` command line: one entry point with subcommands.

Each subcommand lives in its own module of this package, exposing
``register(subparsers)`` which adds its parser and sets ``func`` (a callable taking the
parsed namespace and returning an exit status). Any :class:`~sagacore.errors.SagacoreError`
becomes one line on stderr starting with ``error:`` and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from sagacore.errors import SagacoreError

__all__ = ["main"]

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "sagacore.cli.trace",
    "sagacore.cli.simulate",
    "sagacore.cli.cache",
    "sagacore.cli.bound",
    "sagacore.cli.generate",
    "sagacore.cli.cost",
    "sagacore.cli.verify",
    "sagacore.cli.sweep",
    "sagacore.cli.plot",
    "sagacore.cli.reproduce",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered subcommand."""
    parser: argparse.ArgumentParser = _Parser(
        prog="sagacore", description=__doc__.splitlines()[0] if __doc__ else None
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] = (
            module.register
        )
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status (also the process's when run as a script)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except SagacoreError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
