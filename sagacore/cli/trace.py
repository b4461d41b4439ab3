"""``sagacore trace``: statistics and conversion of agent traces."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sagacore.data import bundled_trace
from sagacore.workload.native import write_native
from sagacore.workload.readers import FORMATS, read_workload
from sagacore.workload.stats import Distribution, trace_stats

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``trace stats`` and ``trace convert``."""
    p = sub.add_parser("trace", help="inspect and convert agent traces")
    tsub = p.add_subparsers(dest="trace_command", metavar="ACTION")
    tsub.required = True

    st = tsub.add_parser("stats", help="summary statistics of a trace")
    st.add_argument(
        "path",
        nargs="?",
        help="trace file (default: the bundled mini-swe-agent SWE-bench trace)",
    )
    st.add_argument("--format", default="auto", choices=FORMATS)
    st.add_argument("--json", action="store_true", help="print a JSON object")
    st.set_defaults(func=_stats)

    cv = tsub.add_parser("convert", help="convert a trace to the native JSONL format")
    cv.add_argument("path", help="trace file")
    cv.add_argument("-o", "--output", required=True, help="output .jsonl path")
    cv.add_argument("--format", default="auto", choices=FORMATS)
    cv.set_defaults(func=_convert)


def _fmt(d: Distribution) -> str:
    return f"median {d.median:>10.4g}  p90 {d.p90:>10.4g}  p99 {d.p99:>10.4g}  max {d.max:>10.4g}"


def _stats(args: argparse.Namespace) -> int:
    path = Path(args.path) if args.path else bundled_trace()
    st = trace_stats(read_workload(path, args.format))
    if args.json:
        json.dump(st.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    out.write(f"trace: {path}\n")
    out.write(f"tasks {st.tasks}  llm_calls {st.llm_calls}  tool_calls {st.tool_calls}\n")
    for name in ("calls_per_task", "prompt_tokens", "output_tokens", "tool_seconds"):
        out.write(f"{name:<16}{_fmt(getattr(st, name))}\n")
    out.write(f"reusable prefix fraction (unbounded cache): {st.reusable_prefix_fraction:.4f}\n")
    if st.observed_cached_fraction is not None:
        out.write(
            f"provider-reported cached fraction:          {st.observed_cached_fraction:.4f}\n"
        )
    return 0


def _convert(args: argparse.Namespace) -> int:
    workload = read_workload(args.path, args.format)
    write_native(workload, args.output)
    sys.stderr.write(
        f"wrote {args.output}: {len(workload)} tasks, {workload.llm_calls} LLM calls\n"
    )
    return 0
