"""Replay speed: sagacore's cache-only replay against a plain-dict LRU, same run.

Replays the Mooncake conversation trace (one-step requests, 512-token hash blocks) with
the ``lru`` policy through :func:`sagacore.cache.replay.replay` (the prefix store, the
predictor, the policy interface) and through a 20-line ``OrderedDict`` block LRU that
only counts hits, both at the same capacity, and prints requests per second of each and
their ratio. The two agree on the hit tokens to within the store's eviction order (the
reference evicts whole 512-token blocks by recency; the store drains its LRU leaf).

Run::

    python benchmarks/replay_speed.py [TRACE] [--capacity-tokens N] [--policy NAME]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import OrderedDict
from pathlib import Path

from sagacore.bounds import load_cache_trace
from sagacore.cache.replay import ReplayConfig, replay

DEFAULT = (
    Path(__file__).resolve().parents[1].parent / "shared/data/mooncake/conversation_trace.jsonl"
)


def dict_lru(path: str, capacity_blocks: int) -> tuple[int, int, float]:
    """(requests, hit tokens, seconds) of a plain OrderedDict LRU over hash-id blocks."""
    t0 = time.perf_counter()
    cache: OrderedDict[int, None] = OrderedDict()
    hit_tokens = 0
    n = 0
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            ids = r["hash_ids"]
            length = r["input_length"]
            n += 1
            for j, h in enumerate(ids):
                if h not in cache:
                    break
                hit_tokens += min(512, length - 512 * j)
            full = length // 512
            for h in reversed(ids[:full]):  # leaf older than its prefix, as vLLM frees
                cache[h] = None
                cache.move_to_end(h)
            while len(cache) > capacity_blocks:
                cache.popitem(last=False)
    return n, hit_tokens, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace", nargs="?", default=str(DEFAULT))
    ap.add_argument("--capacity-tokens", type=int, default=1 << 20)
    ap.add_argument("--policy", default="lru")
    args = ap.parse_args()
    n, ref_hits, ref_s = dict_lru(args.trace, args.capacity_tokens // 512)
    t0 = time.perf_counter()
    _, workload = load_cache_trace(args.trace)
    read_s = time.perf_counter() - t0
    res = replay(
        workload,
        args.policy,
        ReplayConfig(capacity_tokens=args.capacity_tokens, block_tokens=512, cache_outputs=False),
    )
    ref_rps = n / ref_s
    print(f"trace {args.trace}, capacity {args.capacity_tokens} tokens")
    print(
        f"plain-dict LRU (reads JSON too): {n} requests in {ref_s:.2f} s = {ref_rps:,.0f} req/s, "
        f"hit tokens {ref_hits:,}"
    )
    print(
        f"sagacore replay ({args.policy}):  {res.requests} requests in {res.wall_seconds:.2f} s "
        f"= {res.requests_per_second:,.0f} req/s (+{read_s:.2f} s to read the trace), "
        f"hit tokens {res.hit_tokens:,}"
    )
    print(f"ratio sagacore / plain dict: {res.requests_per_second / ref_rps:.3f}")


if __name__ == "__main__":
    main()
