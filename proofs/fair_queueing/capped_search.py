"""Local search for per-call WFQ's worst lateness against the one-server-per-agent GPS.

Measures how far ``wfq-unit-multi-server-capped`` fails: random instances (``m``
servers, ``m`` to ``m + 3`` agents of one to six units of 1 to 4, weights 1 to 8, tool
gaps on half of them, arrivals up to 8), each improved by hill climbing (add or change a
unit, change a weight or an arrival, add or drop an agent; a change is kept when the
lateness does not decrease). Prints every new worst ``max_u (f_u - g_u) / L_max``
(``capped_lateness`` in ``check.py``: ``f_u`` the unit's finish in the per-call WFQ on
``m`` servers, ``g_u`` in the capped GPS fed the same units) and the instance.
Deterministic for a seed. Run::

    python proofs/fair_queueing/capped_search.py --servers 2 --restarts 200 --seed 1
    python proofs/fair_queueing/capped_search.py --restarts 20 --steps 300 --max-units 60 --seed 5
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
from fractions import Fraction as Q
from pathlib import Path

from sagacore.theory.models import Agent
from sagacore.theory.theorems import to_json

_spec = importlib.util.spec_from_file_location("fq_check", Path(__file__).with_name("check.py"))
assert _spec is not None and _spec.loader is not None
check = importlib.util.module_from_spec(_spec)
sys.modules["fq_check"] = check
_spec.loader.exec_module(check)

Instance = tuple[int, list[Agent]]


def _random(rng: random.Random, m: int) -> Instance:
    agents = []
    for _ in range(rng.randint(m, m + 3)):
        n = rng.randint(1, 6)
        units = tuple(Q(rng.choice((1, 1, 2, 3, 4))) for _ in range(n))
        gaps = (tuple(Q(rng.choice((0, 0, 0, 1, 2, 5))) for _ in range(n - 1))
                if rng.random() < 0.5 else ())
        agents.append(Agent(Q(rng.choice((0, 0, 0, 1, 2, 3, 5, 8))), units, gaps,
                            Q(rng.choice((1, 1, 2, 3, 5, 8)))))
    return (m, agents)


def _mutate(rng: random.Random, inst: Instance) -> Instance:
    m, agents = inst
    agents = list(agents)
    j = rng.randrange(len(agents))
    a = agents[j]
    r = rng.random()
    if r < 0.25:
        gap = (Q(rng.choice((0, 1, 2, 5))),) if a.gaps else ()
        agents[j] = Agent(a.arrival, (*a.units, Q(rng.choice((1, 2, 3, 4)))), a.gaps + gap,
                          a.weight)
    elif r < 0.45:
        agents[j] = Agent(a.arrival, a.units, a.gaps, Q(rng.choice((1, 2, 3, 5, 8, 13))))
    elif r < 0.6:
        agents[j] = Agent(Q(rng.choice((0, 1, 2, 3, 5, 8, 13))), a.units, a.gaps, a.weight)
    elif r < 0.75 and len(agents) < 8:
        agents.append(Agent(Q(rng.choice((0, 1, 2, 4, 8))), (Q(1),) * rng.randint(1, 4), (),
                            Q(rng.choice((1, 2, 3)))))
    elif r < 0.85 and len(agents) > m:
        agents.pop(j)
    else:
        units = list(a.units)
        units[rng.randrange(len(units))] = Q(rng.choice((1, 2, 3, 4)))
        agents[j] = Agent(a.arrival, tuple(units), a.gaps, a.weight)
    return (m, agents)


def main() -> int:
    """Run the search; print each new worst instance."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--servers", type=int, default=2)
    p.add_argument("--restarts", type=int, default=200)
    p.add_argument("--steps", type=int, default=60, help="hill-climbing steps per restart")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-units", type=int, default=None,
                   help="skip changes that make the instance larger (units in all)")
    args = p.parse_args()
    rng = random.Random(args.seed)
    worst: Q | None = None
    for _ in range(args.restarts):
        inst = _random(rng, args.servers)
        value = check.capped_lateness(inst)
        for _ in range(args.steps):
            cand = _mutate(rng, inst)
            if args.max_units is not None and sum(len(a.units) for a in cand[1]) > args.max_units:
                continue
            v = check.capped_lateness(cand)
            if v >= value:
                inst, value = cand, v
        if worst is None or value > worst:
            worst = value
            print(f"{float(value):.4f} L_max ({value}): "
                  f"{to_json(check.describe(inst[1]))}", flush=True)
    print(f"worst over {args.restarts} restarts on {args.servers} servers: "
          f"{float(worst or 0):.4f} L_max")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
