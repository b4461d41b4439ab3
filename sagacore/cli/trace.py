"""``sagacore trace``: statistics and conversion of agent traces.

``trace stats`` reads the whole file and reports every class of problem it finds, with
counts: with ``--on-bad-lines error`` (the default) as one ``error:`` line, exit status
2; with ``warn`` or ``skip`` the statistics of the valid lines, and the problems under
``problems`` in ``--json``. ``trace stats --json`` has no timing fields: identical runs
print identical bytes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from sagacore.cli._args import add_on_bad_lines, check_output
from sagacore.data import bundled_trace
from sagacore.errors import ConfigError, TraceFormatError
from sagacore.sim.config import ClusterConfig, get_cluster
from sagacore.workload.model import Workload
from sagacore.workload.native import iter_lines
from sagacore.workload.readers import FORMATS, BadLines, read_workload
from sagacore.workload.readers._common import problem_class
from sagacore.workload.stats import Distribution, trace_stats

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``trace stats`` and ``trace convert``."""
    p = sub.add_parser("trace", help="inspect and convert agent traces")
    tsub = p.add_subparsers(dest="trace_command", metavar="ACTION")
    tsub.required = True

    st = tsub.add_parser(
        "stats",
        help="summary statistics of a trace",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    st.add_argument(
        "path",
        nargs="?",
        help="trace file (default: the bundled mini-swe-agent SWE-bench trace)",
    )
    st.add_argument("--format", default="auto", choices=FORMATS)
    st.add_argument("--json", action="store_true", help="print a JSON object")
    add_on_bad_lines(st)
    st.set_defaults(func=_stats)

    cv = tsub.add_parser("convert", help="convert a trace to the native JSONL format")
    cv.add_argument("path", help="trace file")
    cv.add_argument("-o", "--output", required=True, help="output .jsonl path ('-': stdout)")
    cv.add_argument("--format", default="auto", choices=FORMATS)
    cv.add_argument(
        "--fit-cluster",
        metavar="SPEC",
        help="leave out every task with an LLM call whose context (prompt plus output) "
        "exceeds one instance's KV on this cluster (a preset or GPUS:TP:MODEL:GPU; "
        "stderr names how many and the first)",
    )
    add_on_bad_lines(cv)
    cv.set_defaults(func=_convert)


def _fmt(d: Distribution) -> str:
    return f"median {d.median:>10.4g}  p90 {d.p90:>10.4g}  p99 {d.p99:>10.4g}  max {d.max:>10.4g}"


def problems(bad: BadLines) -> list[dict[str, Any]]:
    """The problems ``bad`` collected, one entry per class: count and first location."""
    counts: Counter[tuple[str | None, str]] = Counter()
    first: dict[tuple[str | None, str], TraceFormatError] = {}
    for e in bad.skipped:
        key = (_field_class(e.field), problem_class(e.message))
        counts[key] += 1
        first.setdefault(key, e)
    return [
        {
            "field": key[0],
            "problem": key[1],
            "count": n,
            "first_line": first[key].line,
            "example": first[key].message,
        }
        for key, n in counts.most_common()
    ]


def _field_class(field: str | None) -> str | None:
    """``hash_ids[3]`` and ``hash_ids[7]`` are one field."""
    if field is None:
        return None
    return re.sub(r"\[\d+\]", "[]", field)


def _stats(args: argparse.Namespace) -> int:
    path = Path(args.path) if args.path else bundled_trace()
    # read every line, collecting every problem (and a missing step) to report them all
    bad = BadLines("skip", strict=args.on_bad_lines == "error")
    try:
        workload = read_workload(path, args.format, on_bad_lines=bad)
    except TraceFormatError:
        if not bad.skipped:
            raise
        workload = None  # every line was bad
    found = problems(bad)
    if found and (args.on_bad_lines == "error" or workload is None):
        total = sum(p["count"] for p in found)
        if total == 1:
            raise bad.skipped[0]
        parts = "; ".join(
            f"{p['count']} x {'field ' + p['field'] + ': ' if p['field'] else ''}"
            f"{p['example'] if p['count'] == 1 else p['problem']} (first on line "
            f"{p['first_line']})"
            for p in found
        )
        raise TraceFormatError(
            path, f"{total} invalid line{'s' if total != 1 else ''} in {len(found)} "
            f"class{'es' if len(found) != 1 else ''}: {parts}"
        )
    if args.on_bad_lines == "warn":
        for e in bad.skipped:
            sys.stderr.write(f"warning: skipped {e}\n")
    if bad.skipped:
        sys.stderr.write(bad.summary(path) + "\n")
    assert workload is not None
    st = trace_stats(workload)
    if args.json:
        doc = st.to_json()
        if args.on_bad_lines != "error":
            doc["problems"] = found
        json.dump(doc, sys.stdout, indent=2)
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
    for p in found:
        where = f"field {p['field']}: " if p["field"] else ""
        out.write(f"skipped {p['count']:>6} x {where}{p['problem']} (first on line "
                  f"{p['first_line']})\n")
    return 0


def _fit(workload: Workload, cluster: ClusterConfig, spec: str) -> Workload:
    """``workload`` without the tasks that cannot run on ``cluster``, said on stderr.

    Raises
    ------
    ConfigError
        If no task would be left.
    """
    big = cluster.oversized(workload)
    if not big:
        return workload
    task_id, index, need = big[0]
    what = (f"a call larger than an instance's KV on {spec} ({cluster.kv_room_tokens} "
            f"tokens; first: task {task_id} step {index}, {need} tokens)")
    if len(big) == len(workload):
        raise ConfigError(f"--fit-cluster: every task has {what}; nothing would be left")
    sys.stderr.write(f"left out {len(big)} of {len(workload)} tasks with {what}\n")
    drop = {t for t, _, _ in big}
    return Workload(tuple(t for t in workload.tasks if t.id not in drop),
                    workload.tenants, workload.name, workload.source)


def _convert(args: argparse.Namespace) -> int:
    check_output("--output", args.output, dash=True)
    cluster = get_cluster(args.fit_cluster) if args.fit_cluster is not None else None
    bad = BadLines(args.on_bad_lines)
    workload = read_workload(args.path, args.format, on_bad_lines=bad)
    if bad.skipped:
        sys.stderr.write(bad.summary(args.path) + "\n")
    if cluster is not None:
        workload = _fit(workload, cluster, args.fit_cluster)
    if args.output == "-":
        for line in iter_lines(workload):
            sys.stdout.write(line + "\n")
        return 0
    with open(args.output, "w", encoding="utf-8", newline="\n") as f:
        for line in iter_lines(workload):
            f.write(line + "\n")
    sys.stderr.write(
        f"wrote {args.output}: {len(workload)} tasks, {workload.llm_calls} LLM calls\n"
    )
    return 0
