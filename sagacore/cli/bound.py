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
import math
import sys
import time
from pathlib import Path
from typing import Any

from sagacore.bounds.limits import IP_MAX_VARIABLES
from sagacore.cli._args import add_on_bad_lines, int_at_least, positive_float
from sagacore.data import bundled_trace
from sagacore.errors import ConfigError
from sagacore.workload.readers import FORMATS, BadLines

__all__ = ["register", "run_bounds"]

METHODS = ("foo", "belady", "exact", "all")


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


def run_bounds(
    path: str | Path,
    capacity_tokens: int,
    *,
    method: str = "all",
    format: str = "auto",
    head: int | None = None,
    exact_max_variables: int = IP_MAX_VARIABLES,
    exact_time_limit_s: float = 60.0,
    working_set: bool = True,
    on_bad_lines: BadLines | str = "error",
) -> dict[str, Any]:
    """What ``sagacore bound --json`` prints, as a dict."""
    from sagacore.bounds import FooSolver, belady, exact, load_cache_trace

    if capacity_tokens < 1:
        raise ConfigError(f"--capacity-tokens must be >= 1, got {capacity_tokens}")
    if method not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if head is not None and head < 1:
        raise ConfigError(f"--head must be >= 1, got {head}")
    if exact_max_variables < 0:
        raise ConfigError(f"--exact-max-variables must be >= 0, got {exact_max_variables}")
    if not (math.isfinite(exact_time_limit_s) and exact_time_limit_s > 0):
        raise ConfigError(f"--exact-time-limit must be a number > 0, got {exact_time_limit_s}")
    trace, _ = load_cache_trace(path, format=format, head=head, on_bad_lines=on_bad_lines)
    out: dict[str, Any] = {
        "trace": str(path),
        "capacity_tokens": capacity_tokens,
        "working_set": working_set,
        "requests": trace.n_requests,
        "blocks": trace.n_nodes,
        "lookup_tokens": trace.lookup_tokens,
        "foo_lower": None,
        "foo_upper": None,
        "belady": None,
        "exact": None,
    }
    t0 = time.perf_counter()
    if method in ("foo", "all"):
        r = FooSolver(trace, working_set=working_set).solve(capacity_tokens)
        out.update(
            foo_lower=r.lower,
            foo_lower_certified=r.lower_certified,
            foo_upper=r.upper,
            cold_tokens=r.cold_tokens,
            lp_variables=r.lp_variables,
            lp_constraints=r.lp_constraints,
            lp_nonzeros=r.lp_nonzeros,
            foo_seconds=r.build_seconds + r.solve_seconds,
        )
    if method in ("belady", "all"):
        tb = time.perf_counter()
        out["belady"] = belady(trace, capacity_tokens, working_set=working_set)
        out["belady_seconds"] = time.perf_counter() - tb
    if method in ("exact", "all"):
        value, secs = exact(
            trace,
            capacity_tokens,
            working_set=working_set,
            max_variables=exact_max_variables,
            time_limit_s=exact_time_limit_s,
        )
        out["exact"] = value
        out["exact_seconds"] = secs
    out["solve_seconds"] = time.perf_counter() - t0
    return out


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
