"""``sagacore bound``: offline bounds on the prefill a KV prefix cache must pay.

With ``--json`` prints one object with the keys ``foo_lower``, ``foo_upper``,
``belady``, ``exact`` (``null`` when not computed or the trace is too large for the
integer program), all in prefill tokens, and ``solve_seconds`` (total), plus
``capacity_tokens``, ``working_set``, ``lookup_tokens``, ``cold_tokens``, ``requests``,
``blocks`` and the LP size. The timing fields, which differ between identical runs, are
``solve_seconds``, ``foo_seconds``, ``belady_seconds`` and ``exact_seconds``; every
other field is the same for the same arguments (and ``exact`` is ``null`` when the
integer program hits ``--exact-time-limit``, which depends on the machine). The problem is defined in ``docs/caching.md``; by default a
running request's context must fit beside what the cache keeps (``--no-working-set``:
the classical model without that constraint).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sagacore.bounds.limits import IP_MAX_VARIABLES
from sagacore.bounds.report import METHODS, run_bounds
from sagacore.cli._args import add_on_bad_lines, int_at_least, positive_float
from sagacore.data import bundled_trace
from sagacore.workload.readers import FORMATS, BadLines

__all__ = ["register", "run_bounds"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bound``."""
    p = sub.add_parser("bound", help="offline bounds (FOO-L/FOO-U, Belady, exact OPT)")
    p.add_argument(
        "path", nargs="?", help="trace file (default: the bundled SWE-bench agent trace)"
    )
    p.add_argument("--capacity-tokens", type=int_at_least(1), required=True,
                   help="cache capacity, tokens (>= 1)")
    p.add_argument("--method", choices=METHODS, default="all")
    p.add_argument("--format", default="auto", choices=FORMATS)
    p.add_argument("--head", type=int_at_least(1), default=None, metavar="N",
                   help="only the first N tasks (N >= 1)")
    p.add_argument(
        "--exact-max-variables",
        type=int_at_least(0),
        default=IP_MAX_VARIABLES,
        help="largest integer program attempted (0: none; default %(default)s)",
    )
    p.add_argument("--exact-time-limit", type=positive_float, default=60.0,
                   help="seconds (> 0; default 60)")
    p.add_argument(
        "--working-set",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a running request's whole context must fit beside what is kept (default); "
        "--no-working-set gives the classical bypass model, whose bounds are weaker",
    )
    p.add_argument("--json", action="store_true", help="print a JSON object")
    add_on_bad_lines(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    path = Path(args.path) if args.path else bundled_trace()
    bad = BadLines(args.on_bad_lines)
    res = run_bounds(
        path,
        args.capacity_tokens,
        method=args.method,
        format=args.format,
        head=args.head,
        exact_max_variables=args.exact_max_variables,
        exact_time_limit_s=args.exact_time_limit,
        working_set=args.working_set,
        on_bad_lines=bad,
    )
    if bad.skipped:
        sys.stderr.write(bad.summary(path) + "\n")
    if args.json:
        json.dump(res, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    out.write(f"trace: {path}\n")
    out.write(
        f"requests {res['requests']}  blocks {res['blocks']}  "
        f"prompt tokens {res['lookup_tokens']}  capacity {res['capacity_tokens']} tokens\n"
    )
    rows = [
        ("FOO-L (lower bound)", "foo_lower"),
        ("exact OPT", "exact"),
        ("FOO-U (upper bound)", "foo_upper"),
        ("Belady MIN", "belady"),
    ]
    for label, key in rows:
        v = res[key]
        text = "-" if v is None else f"{v:,.1f}" if isinstance(v, float) else f"{v:,}"
        out.write(f"{label:<22}{text:>18} prefill tokens\n")
    out.write(f"solve seconds {res['solve_seconds']:.2f}\n")
    return 0
