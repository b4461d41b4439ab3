"""The ``sagacore`` stack with its cache's adaptive eviction on and off.

Runs ``sagacore simulate --cluster a100-16 --rate R --stack sagacore --json OUT`` (the
bundled SWE-bench trace, its default workload) once as the library builds the stack and
once with :attr:`SagacoreCacheConfig.adaptive
<sagacore.cache.sagacore.SagacoreCacheConfig.adaptive>` forced to False (eviction by
``next-use``'s ranking alone, the stack's cache before the adaptive selector), and
prints the mean and geometric-mean TCT of each and their ratio::

    python benchmarks/cache_stack_adaptive.py [--rate 5.66,11.3] [SIMULATE ARGS ...]

Extra arguments are passed to ``sagacore simulate`` (for example ``--tasks 100``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import sagacore.cache.sagacore as sc
from sagacore.cli import main as cli


def _run(rate: float, adaptive: bool, extra: list[str]) -> dict[str, Any]:
    real = sc.SagacoreCacheConfig

    def forced(**kw: Any) -> sc.SagacoreCacheConfig:
        return dataclasses.replace(real(**kw), adaptive=adaptive)

    sc.SagacoreCacheConfig = forced  # type: ignore[misc, assignment]
    try:
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "run.json"
            rc = cli(["simulate", "--cluster", "a100-16", "--rate", str(rate), "--stack",
                      "sagacore", "--quiet", "--json", str(out), *extra])
            if rc != 0:
                raise SystemExit(rc)
            data: dict[str, Any] = json.loads(out.read_text())
    finally:
        sc.SagacoreCacheConfig = real  # type: ignore[misc]
    return data


def _tcts(data: dict[str, Any]) -> tuple[float, float, int]:
    s = data["stacks"]["sagacore"]
    return float(s["tct"]["mean"]), float(s["tct"]["geomean"]), int(s["tasks_completed"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", default="5.66,11.3", help="tasks per minute, comma separated")
    args, extra = ap.parse_known_args(argv)
    print("rate  eviction   done  mean TCT s  geomean TCT s")
    for rate in (float(r) for r in args.rate.split(",")):
        res = {}
        for adaptive in (False, True):
            mean, geo, n = _tcts(_run(rate, adaptive, extra))
            res[adaptive] = (mean, geo)
            label = "adaptive " if adaptive else "next-use "
            print(f"{rate:5.2f} {label} {n:5d} {mean:11.1f} {geo:14.1f}", flush=True)
        print(f"{rate:5.2f} ratio adaptive/next-use: mean {res[True][0] / res[False][0]:.4f}, "
              f"geomean {res[True][1] / res[False][1]:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
