"""Wall time of ``sagacore verify`` (every theorem, default mode) and of ``--mutants``.

The goal (issue 16): the default ``sagacore verify`` checks every theorem of ``proofs/``
in at most 90 s of wall time on 2 cores, and ``sagacore verify --mutants`` kills every
catalogued mutant. This script runs both as a user would, each in a fresh subprocess
with ``--jobs`` checker processes (default 2), and prints the wall time of each, the
slowest theorems with the time of each check, and whether the 90 s goal is met. The
exit status is 1 when a theorem FAILED, a mutant survived, or the goal is missed.

Wall time depends on what else runs on the machine: the script also prints the CPU
seconds of the checker processes (user + system of the children), which do not.

Run::

    python benchmarks/verify_speed.py [--jobs 2] [--goal 90] [--no-mutants] [--thorough]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _run(args: list[str]) -> tuple[float, float, Any, int]:
    """(wall seconds, children's CPU seconds, parsed JSON, exit status) of one run."""
    before = os.times()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "sagacore", "verify", *args, "--json", "--quiet"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    wall = time.perf_counter() - t0
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"sagacore verify {' '.join(args)}: exit {proc.returncode}")
    return wall, cpu, json.loads(proc.stdout), proc.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--jobs", type=int, default=2, help="checker processes (default 2)")
    ap.add_argument("--goal", type=float, default=90.0,
                    help="wall-time goal of the default verify, seconds (default 90)")
    ap.add_argument("--thorough", action="store_true",
                    help="time --thorough instead (no goal: informational)")
    ap.add_argument("--no-mutants", action="store_true", help="skip --mutants")
    ap.add_argument("--top", type=int, default=8, help="slowest theorems to list")
    ap.add_argument("name", nargs="?", help="one theorem or proofs/ folder (default: all)")
    args = ap.parse_args(argv)

    load0 = os.getloadavg()[0]
    flags = ["--jobs", str(args.jobs)] + (["--thorough"] if args.thorough else [])
    flags += [args.name] if args.name else []
    wall, cpu, reports, rc = _run(flags)
    failed = [r["name"] for r in reports if r["verdict"] == "FAILED"]
    mode = "--thorough" if args.thorough else "default"
    print(f"sagacore verify ({mode}, --jobs {args.jobs}): {len(reports)} theorems, "
          f"{len(failed)} FAILED; wall {wall:.1f} s, checker CPU {cpu:.1f} s")
    total_cpu = sum(r.get("cpu_seconds", 0.0) for r in reports)
    print(f"  machine: {os.cpu_count()} cores, load average {load0:.1f} before and "
          f"{os.getloadavg()[0]:.1f} after (other work slows the wall time, not the CPU)")
    print(f"  theorems' own CPU: {total_cpu:.1f} s in all (an idle 2-core machine needs about "
          f"{total_cpu / 2:.0f} s of wall time for them)")
    print("  slowest theorems (wall s, CPU s in their process; checks: kind=wall s):")
    for r in sorted(reports, key=lambda r: -r.get("cpu_seconds", r["seconds"]))[: args.top]:
        checks = " ".join(f"{c['kind']}={c['seconds']:.1f}" for c in r["checks"])
        print(f"    {r['name']:<26} {r['seconds']:7.1f} {r.get('cpu_seconds', 0):7.1f}  {checks}")
    ok = not failed and rc == 0
    if not args.thorough:
        met = wall <= args.goal
        print(f"  goal: wall <= {args.goal:.0f} s: {'met' if met else 'MISSED'}")
        ok = ok and met
    if not args.no_mutants:
        mwall, mcpu, mreps, mrc = _run(["--mutants", "--jobs", str(args.jobs)])
        survived = [m["mutant"] for m in mreps if not m["killed"]]
        print(f"sagacore verify --mutants (--jobs {args.jobs}): {len(mreps)} mutants, "
              f"{len(mreps) - len(survived)} killed, {len(survived)} survived; "
              f"wall {mwall:.1f} s, checker CPU {mcpu:.1f} s")
        for name in survived:
            print(f"  SURVIVED: {name}")
        ok = ok and not survived and mrc == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
