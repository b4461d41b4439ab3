"""``sagacore generate``: seeded synthetic workloads in the native format.

``sagacore generate NAME --tasks N --seed S [--rate TASKS_PER_MIN]
[--arrivals poisson|replay:PATH] -o OUT.jsonl`` writes the same bytes for the same
arguments, in any process (the output has no timing fields). ``NAME`` is one of
``sagacore.workload.generators.GENERATORS``; ``-o -`` writes to standard output.
"""

from __future__ import annotations

import argparse
import sys

from sagacore.cli._args import check_output, int_at_least, positive_float
from sagacore.workload.generators import DEFAULT_RATE_PER_MIN, GENERATORS, generator
from sagacore.workload.generators.arrivals import parse_arrivals
from sagacore.workload.load import MAX_GENERATED_TASKS as MAX_TASKS
from sagacore.workload.native import iter_lines

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``generate``."""
    names = ", ".join(GENERATORS)
    p = sub.add_parser(
        "generate",
        help="generate a synthetic workload (native JSONL)",
        description=f"Generate a seeded synthetic workload. Generators: {names}.",
    )
    p.add_argument("generator", metavar="GENERATOR", help=f"one of: {names}")
    p.add_argument("--tasks", type=int_at_least(1, MAX_TASKS), required=True,
                   help=f"number of tasks (1 to {MAX_TASKS:,})")
    p.add_argument("--seed", type=int_at_least(0), default=0,
                   help="seed (integer >= 0; default 0)")
    p.add_argument(
        "--rate",
        type=positive_float,
        default=None,
        metavar="TASKS_PER_MIN",
        help=f"mean arrival rate in tasks per minute (Poisson default {DEFAULT_RATE_PER_MIN:g}; "
        "with replay, scales the trace's times to this rate)",
    )
    p.add_argument(
        "--arrivals",
        default="poisson",
        metavar="poisson|replay:PATH",
        help="Poisson arrivals, or the task arrival times of a trace of any supported "
        "format (cycled when it has fewer tasks)",
    )
    p.add_argument("-o", "--output", required=True, help="output .jsonl path ('-': stdout)")
    p.set_defaults(func=_generate)


def _generate(args: argparse.Namespace) -> int:
    func = generator(args.generator)
    check_output("--output", args.output, dash=True)
    arrivals = parse_arrivals(args.arrivals, rate_per_min=args.rate)
    workload = func(tasks=args.tasks, seed=args.seed, arrivals=arrivals)
    if args.output == "-":
        for line in iter_lines(workload):
            sys.stdout.write(line + "\n")
    else:
        with open(args.output, "w", encoding="utf-8", newline="\n") as f:
            for line in iter_lines(workload):
                f.write(line + "\n")
        sys.stderr.write(
            f"wrote {args.output}: {len(workload)} tasks, {workload.llm_calls} LLM calls\n"
        )
    return 0
