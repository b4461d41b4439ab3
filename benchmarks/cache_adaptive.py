"""The adaptive ``sagacore`` cache policy against its two experts, LRU and ``next-use``.

For each workload and capacity, a cache-only replay (configured as ``sagacore cache
table`` does: block size 1 and outputs cached for an agent trace, 512-token blocks and
prompts only for a Mooncake trace) of ``lru``, ``next-use`` and ``sagacore`` with each
``--half-life`` given, printing every policy's single-tier cost over LRU's and the
number of duels ``sagacore`` decided and how often it followed LRU. No bound is solved
(``sagacore cache table`` gives the ratios to FOO-L).

This is the script that chose :attr:`SagacoreCacheConfig.half_life
<sagacore.cache.sagacore.SagacoreCacheConfig.half_life>`, on workloads made by
``sagacore generate`` and on the bundled SWE-bench trace only (the tuning set)::

    python benchmarks/cache_adaptive.py --generated 150 --half-life 16,64,256,inf

``--generated N`` generates ``N`` tasks of every generator (seed 1) in memory and
replays each at four capacities: 2, 4, 8 and 16 times the median over tasks of the
largest context a task reaches (its working set: below it nothing fits, far above it
nothing is evicted). Trace files can be given instead, with ``--capacity-tokens``.

Usage::

    python benchmarks/cache_adaptive.py [TRACE ...] [--capacity-tokens N1,N2,...]
        [--generated N] [--half-life H1,H2,...]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

from sagacore.bounds.trace import load_cache_trace
from sagacore.cache.lru import LRU
from sagacore.cache.next_use import NextUse
from sagacore.cache.replay import ReplayConfig, replay
from sagacore.cache.sagacore import SagacoreCache, SagacoreCacheConfig
from sagacore.data import bundled_trace
from sagacore.policy import CacheContext, CacheEntryView
from sagacore.workload.generators import GENERATORS
from sagacore.workload.model import Workload
from sagacore.workload.readers import detect_format


class _Counting(SagacoreCache):
    """``sagacore`` that counts the evictions where it followed LRU against next-use."""

    def __init__(self, config: SagacoreCacheConfig) -> None:
        super().__init__(config)
        self.followed_lru = 0

    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        ranked = self.ranking.rank(candidates, ctx)
        i = super().victim(candidates, ctx)
        if i != ranked:
            self.followed_lru += 1
        return i


class _Backwards(NextUse):
    """A deliberately wrong expert: the most recently used entry first (``--expert mru``)."""

    def rank(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        return max(range(len(candidates)),
                   key=lambda i: (candidates[i].last_access_s, candidates[i].entry_id))


def _make(h: float, expert: str, adaptive: bool = True, tokens: bool = True) -> _Counting:
    pol = _Counting(SagacoreCacheConfig(half_life=h, adaptive=adaptive, weigh_tokens=tokens))
    if expert == "mru":
        pol.ranking = _Backwards()
    return pol


def _median_working_set(w: Workload) -> int:
    return int(statistics.median(max(s.prompt_tokens + s.output_tokens for s in t.steps) for t in w.tasks))


def _run(name: str, w: Workload, fmt: str, caps: list[int],
         half_lives: list[tuple[float, bool]],
         expert: str) -> None:
    for cap in caps:
        cfg = ReplayConfig(
            capacity_tokens=cap,
            block_tokens=512 if fmt == "mooncake" else 1,
            cache_outputs=fmt != "mooncake",
        )
        lru = replay(w, LRU(), cfg).single_tier_cost_tokens
        alone = replay(w, _make(1.0, expert, adaptive=False), cfg).single_tier_cost_tokens
        cells = [f"{name:<28}", f"{cap:>10,}", f"{lru:>14,}", f"{alone / lru:8.3f}"]
        for h, tokens in half_lives:
            pol = _make(h, expert, tokens=tokens)
            c = replay(w, pol, cfg).single_tier_cost_tokens
            cells.append(f"{c / lru:8.3f} ({pol.duel.decided:>5} d, {pol.followed_lru:>5} lru)")
        print("  ".join(cells), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="trace files (default: the bundled SWE-bench trace)")
    ap.add_argument("--capacity-tokens", default="65536,131072,196608,262144")
    ap.add_argument("--generated", type=int, default=0, metavar="N",
                    help="also N tasks of every generator (seed 1)")
    ap.add_argument("--generators", default=",".join(GENERATORS),
                    help="which generators --generated runs (comma separated)")
    ap.add_argument("--multiples", default="2,4,8,16",
                    help="capacities of a generated workload, in median working sets")
    ap.add_argument("--no-traces", action="store_true", help="only the generated workloads")
    ap.add_argument("--half-life", default="256",
                    help="comma separated; 'inf' never forgets; a trailing 'u' counts each "
                    "win as one instead of the wrong nominee's tokens")
    ap.add_argument("--expert", choices=("next-use", "mru"), default="next-use",
                    help="the ranking LRU duels: next-use's, or the most recently used "
                    "first (a deliberately wrong expert: how fast the selector leaves it)")
    args = ap.parse_args(argv)
    half_lives = [
        (math.inf if h.strip(" u") == "inf" else float(h.strip(" u")), not h.strip().endswith("u"))
        for h in args.half_life.split(",")
    ]
    caps = [int(c) for c in args.capacity_tokens.split(",")]
    head = ["workload", "capacity", "lru (tokens)", args.expert]
    head += [f"sagacore h={h:g}{'' if t else ' (unit wins)'}" for h, t in half_lives]
    print("  ".join(head))
    if not args.no_traces:
        for p in [Path(x) for x in args.paths] or [bundled_trace()]:
            fmt = detect_format(p)
            _, w = load_cache_trace(p, format=fmt)
            _run(p.name, w, fmt, caps, half_lives, args.expert)
    mult = [int(k) for k in args.multiples.split(",")]
    for g in args.generators.split(",") if args.generated else ():
        w = GENERATORS[g](tasks=args.generated, seed=1)
        m = _median_working_set(w)
        _run(f"generate {g}", w, "native", [m * k for k in mult], half_lives,
             args.expert)
    return 0


if __name__ == "__main__":
    sys.exit(main())
