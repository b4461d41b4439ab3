"""The ``sagacore`` command line: one entry point with subcommands.

Each subcommand lives in its own module of this package, exposing
``register(subparsers)`` which adds its parser and sets ``func`` (a callable taking the
parsed namespace and returning an exit status). What the user sees:

- an input error (any :class:`~sagacore.errors.SagacoreError`, a bad flag or argument,
  an unreadable or unwritable file) is one line on stderr starting with ``error:``, exit
  status 2;
- a bug (an :class:`~sagacore.errors.InternalError` or any other unexpected exception)
  is a short report on stderr ending with how to report it, exit status 1
  (``SAGACORE_DEBUG=1`` adds the traceback);
- ``--json`` output on stdout is JSON and nothing else.

Help texts are built from module docstrings; their Sphinx markup (roles such as
``:data:`...```, double backquotes) is removed for the terminal.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence

from sagacore.errors import InternalError, SagacoreError

__all__ = ["clean_markup", "main", "report_bug"]

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

_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`(~?)([^`<]*?)\s*(?:<([^`>]*)>)?`")
_LITERAL = re.compile(r"``([^`]+)``")


def _role(m: re.Match[str]) -> str:
    tilde, text, target = m.group(1), m.group(2), m.group(3)
    if target is not None and text:
        return text
    name = text or (target or "")
    return name.rsplit(".", 1)[-1] if tilde else name


def clean_markup(text: str) -> str:
    """``text`` without Sphinx roles and double backquotes (for ``--help``).

    Examples
    --------
    >>> clean_markup("rate :data:`DEFAULT_RATE`; see :class:`~sagacore.errors.ConfigError`")
    'rate DEFAULT_RATE; see ConfigError'
    >>> clean_markup("``-o -`` writes to stdout")
    '-o - writes to stdout'
    """
    return _LITERAL.sub(r"\1", _ROLE.sub(_role, text))


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``error: ...``, exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.help:
                    choice.help = clean_markup(choice.help)
            for child in dict.fromkeys(action.choices.values()):
                yield from _parsers(child)


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
    for p in _parsers(parser):
        if p.description:
            p.description = clean_markup(p.description)
        if p.epilog:
            p.epilog = clean_markup(p.epilog)
        for action in p._actions:
            if isinstance(action.help, str):
                action.help = clean_markup(action.help)
    return parser


def report_bug(exc: BaseException) -> None:
    """A few lines on stderr: what failed, where, and how to report it."""
    kind = "internal error" if isinstance(exc, InternalError) else "unexpected error"
    text = str(exc).splitlines()[0] if str(exc) else ""
    sys.stderr.write(f"{kind}: {type(exc).__name__}: {text}\n")
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        sys.stderr.write(f"  at {last.filename}:{last.lineno} in {last.name}\n")
    if os.environ.get("SAGACORE_DEBUG"):
        traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.write(
        "this is a bug in sagacore, not a problem with your input: please file an issue "
        "on sagacore's tracker with the command line and these lines "
        "(SAGACORE_DEBUG=1 adds the traceback)\n"
    )


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
        # the reader went away (``| head``): silence the flush at exit too
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except OSError as exc:  # the environment (a full disk, a permission), not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(f"error: {where}{exc.strerror or exc}\n")
        return 2
    except Exception as exc:
        report_bug(exc)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
