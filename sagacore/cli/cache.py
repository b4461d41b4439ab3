"""``sagacore cache``: cache-only replay of a trace, and the policy-against-bound table.

``sagacore cache replay TRACE --policy NAME --capacity-tokens N [--json]`` replays a
trace (an agent trace with its tool gaps, or a Mooncake-style hash-id trace) through a
prefix-cache store run by one policy and reports ``miss_cost_tokens``, ``hit_tokens``,
``hits`` and ``misses`` (see :mod:`sagacore.cache.replay`).

``sagacore cache table TRACE [TRACE ...] --capacity-tokens N1,N2,...`` prints every
policy's cost divided by FOO-L (working-set model), with FOO-U and Belady's MIN as
references: the table of ``docs/caching.md``; ``--versus POLICY`` adds each other
policy's cost divided by that policy's (``--versus lru``: below 1 is better than LRU).

Timing fields (they differ between identical runs; every other field is the same for
the same arguments): ``requests_per_second`` and ``wall_seconds`` in ``cache replay
--json``; ``bound_seconds`` and each policy's ``seconds`` in ``cache table --json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sagacore.cache import CACHE_POLICIES
from sagacore.cache.replay import ReplayConfig, replay
from sagacore.cache.table import ratio_table
from sagacore.cli._args import (
    add_on_bad_lines,
    add_quiet,
    finite_float_at_least,
    int_at_least,
)
from sagacore.cli._progress import Progress
from sagacore.data import bundled_trace
from sagacore.errors import ConfigError, UnknownNameError
from sagacore.workload.readers import FORMATS, BadLines, detect_format

__all__ = ["markdown_table", "ratio_table", "register"]


def _capacities(text: str) -> list[int]:
    try:
        caps = [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise ConfigError(
            f"--capacity-tokens must be integers separated by commas, got {text!r}"
        ) from None
    if not caps or min(caps) < 1:
        raise ConfigError(f"--capacity-tokens must be integers >= 1, got {text!r}")
    return caps


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cache replay``, ``cache table`` and ``cache policies``."""
    p = sub.add_parser("cache", help="cache-only replay of KV cache policies")
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION")
    csub.required = True

    rp = csub.add_parser("replay", help="replay a trace through one cache policy")
    rp.add_argument("path", nargs="?", help="trace file (default: the bundled SWE-bench trace)")
    rp.add_argument("--policy", default="lru", help="cache policy (see 'cache policies')")
    rp.add_argument("--capacity-tokens", type=int_at_least(1), required=True,
                    help="cache capacity, tokens (>= 1)")
    _common(rp)
    rp.add_argument("--json", action="store_true", help="print a JSON object")
    rp.set_defaults(func=_replay)

    tb = csub.add_parser("table", help="every policy's cost over FOO-L at several capacities")
    tb.add_argument("paths", nargs="*", help="trace files (default: the bundled SWE-bench trace)")
    tb.add_argument("--capacity-tokens", required=True, help="capacities, comma separated")
    tb.add_argument("--policies", default=",".join(CACHE_POLICIES), help="comma separated")
    tb.add_argument("--versus", default=None, metavar="POLICY",
                    help="also each other policy's cost over this one's (a policy of "
                    "--policies; JSON: versus_ratio)")
    _common(tb)
    tb.add_argument("--json", action="store_true", help="print JSON rows instead of Markdown")
    add_quiet(tb)
    tb.set_defaults(func=_table)

    ls = csub.add_parser("policies", help="list the cache policies")
    ls.set_defaults(func=_policies)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default="auto", choices=FORMATS)
    p.add_argument("--head", type=int_at_least(1), default=None, metavar="N",
                   help="only the first N tasks (N >= 1)")
    p.add_argument(
        "--block-tokens",
        type=int_at_least(1),
        default=None,
        help="KV block size in tokens (default: 512 for Mooncake hash-id traces, whose "
        "reuse is per block; 1, token granularity, for agent traces)",
    )
    p.add_argument(
        "--timed-calls",
        action="store_true",
        help="hold a call's KV for its LLM latency (concurrent calls compete for memory)",
    )
    p.add_argument("--default-llm-seconds", type=finite_float_at_least(0.0), default=0.0,
                   help="LLM latency of calls whose trace has none (>= 0; default 0)")
    add_on_bad_lines(p)


def _config(args: argparse.Namespace, capacity: int, fmt: str) -> ReplayConfig:
    return ReplayConfig(
        capacity_tokens=capacity,
        block_tokens=args.block_tokens or (512 if fmt == "mooncake" else 1),
        cache_outputs=fmt != "mooncake",
        default_llm_seconds=args.default_llm_seconds,
        timed_calls=args.timed_calls,
    )


def _replay(args: argparse.Namespace) -> int:
    path = Path(args.path) if args.path else bundled_trace()
    if args.policy not in CACHE_POLICIES:
        raise UnknownNameError("cache policy", args.policy, list(CACHE_POLICIES))
    from sagacore.bounds.trace import load_cache_trace

    fmt = detect_format(path) if args.format == "auto" else args.format
    bad = BadLines(args.on_bad_lines)
    _, workload = load_cache_trace(path, format=fmt, head=args.head, on_bad_lines=bad)
    if bad.skipped:
        sys.stderr.write(bad.summary(path) + "\n")
    res = replay(workload, args.policy, _config(args, args.capacity_tokens, fmt))
    out = res.to_json()
    out["trace"] = str(path)
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    w = sys.stdout
    w.write(f"trace: {path}\npolicy {res.policy}  capacity {res.capacity_tokens} tokens\n")
    w.write(f"calls {res.requests}  hits {res.hits}  misses {res.misses}\n")
    w.write(f"prompt tokens {res.lookup_tokens:,}  hit {res.hit_tokens:,}  ")
    w.write(f"prefilled (miss cost) {res.miss_cost_tokens:,}  swapped in {res.swap_in_tokens:,}\n")
    w.write(f"{res.requests_per_second:,.0f} calls/s\n")
    return 0


def _table(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths] or [bundled_trace()]
    caps = _capacities(args.capacity_tokens)
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    for name in policies:
        if name not in CACHE_POLICIES:
            raise UnknownNameError("cache policy", name, list(CACHE_POLICIES))
    vs = args.versus
    if vs is not None and vs not in policies:
        raise ConfigError(f"--versus must be one of --policies {','.join(policies)}, got {vs!r}")
    bar = Progress("cache table", quiet=args.quiet, unit="solves and replays")
    try:
        rows = ratio_table(
            paths,
            caps,
            policies,
            lambda cap, fmt: _config(args, cap, fmt),
            head=args.head,
            format=args.format,
            on_bad_lines=args.on_bad_lines,
            progress=bar,
        )
    finally:
        bar.close()
    others = [n for n in policies if n != vs] if vs is not None else []
    for row in rows:
        if vs is not None:
            base = row["policies"][vs]["cost_tokens"]
            for n in others:
                c = row["policies"][n]["cost_tokens"]
                row["policies"][n]["versus_ratio"] = c / base if base else 1.0
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    sys.stdout.write(markdown_table(rows, policies, vs))
    return 0


def markdown_table(rows: list[dict[str, Any]], policies: list[str], versus: str | None) -> str:
    """The Markdown of ``cache table`` from its JSON rows (``versus``: as ``--versus``)."""
    others = [n for n in policies if n != versus] if versus is not None else []
    head = ["trace", "capacity", "FOO-L (tokens)", "FOO-U", "Belady", *policies]
    head += [f"{n} / {versus}" for n in others]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in rows:
        lo = row["foo_lower"]
        cells = [
            row["trace"],
            f"{row['capacity_tokens']:,}",
            f"{lo:,.0f}",
            f"{row['foo_upper'] / lo:.3f}",
            f"{row['belady'] / lo:.3f}",
        ]
        ratios = {n: row["policies"][n]["ratio"] for n in policies}
        best = min(ratios.values())
        for n in policies:
            text = f"{ratios[n]:.3f}"
            if row["policies"][n]["swap_in_tokens"]:
                share = row["policies"][n]["swap_in_tokens"] / row["policies"][n]["cost_tokens"]
                text += f" ({share:.0%} swap)"
            cells.append(f"**{text}**" if ratios[n] == best else text)
        cells += [f"{row['policies'][n]['versus_ratio']:.3f}" for n in others]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def _policies(args: argparse.Namespace) -> int:
    for name, target in CACHE_POLICIES.items():
        sys.stdout.write(f"{name:<16}{target}\n")
    return 0
