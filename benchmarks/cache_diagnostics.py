"""Diagnostics of ``docs/caching.md`` section 5: why the policies miss 1.15x of FOO-L.

Every figure is a cache-only replay's single-tier cost (prefill plus swap-in tokens)
divided by FOO-L of the working-set model, with the replay configured and FOO-L computed
exactly as ``sagacore cache table`` does (block size 1 and outputs cached for an agent
trace; 512-token blocks, prompts only, for a Mooncake trace). The oracles below read the
trace's future: they are diagnostics defined here, never registered cache policies.

Experiments (the first argument):

``agent``
    On an agent trace (default: the bundled SWE-bench trace), ``lru``, ``walru``,
    ``next-use`` and ``next-use (oracle)`` -- ``next-use`` fed the exact time of each
    live session's next LLM call, everything else unchanged -- each with the library's
    store (the policy is asked for a victim at every request that must evict) and
    with a store that drains a chosen victim block by block until it is gone, in use
    or has a child, asking the policy again only then (``drain``: the library's rule
    for every allocation before commit 92dc20d; a running call's later prefill chunks
    and decode blocks still follow it in the simulator).
    ``--policies`` also takes ``lookup``, the ``exact next lookup`` ranking below. Also
    prints ``next-use``'s gap model after the replay (its coefficients ``theta`` and the
    residual spread ``sigma`` of the log gap).
``mooncake``
    On a Mooncake-style trace, ``next-use``; ``next-use`` without its size classes
    (``no size``); ``next-use (trained)``, whose reuse models start from those a first
    replay of the whole trace at the same capacity learned (what better estimates of
    the same classes would give); and two rankings that read the future: by the exact
    time of each entry's next lookup (``exact next lookup``), and by whether the entry
    is looked up again at all, never-again first, then least recently used (``whether
    reused``). Then the share of ``next-use``'s victims that a later request looks up
    again, overall and by size class (how well the size separates them).
``variant``
    ``next-use`` with :class:`~sagacore.cache.next_use.NextUseConfig` fields changed
    (each ``--set NAME=VALUE[,NAME=VALUE...]`` is one variant) against its defaults, on
    any trace.

Usage::

    python benchmarks/cache_diagnostics.py agent [--capacity-tokens 65536,131072,196608]
    python benchmarks/cache_diagnostics.py mooncake ../shared/data/mooncake/conversation_trace.jsonl \\
        [--capacity-tokens 524288,1048576,4194304]
    python benchmarks/cache_diagnostics.py variant [TRACE] --set size_classes=true \\
        [--set bins=24 ...] [--capacity-tokens ...]

Each replay's wall time is printed to stderr.
"""

from __future__ import annotations

import argparse
import bisect
import copy
import dataclasses
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import sagacore.cache.replay as replay_module
from sagacore.bounds import FooSolver, load_cache_trace
from sagacore.cache import make_cache_policy
from sagacore.cache._common import next_call
from sagacore.cache.next_use import NextUse, NextUseConfig, _size_class
from sagacore.cache.replay import ReplayConfig, replay
from sagacore.cache.store import Lease, PrefixStore
from sagacore.data import bundled_trace
from sagacore.policy import CacheContext, CacheEntryView, CachePolicy
from sagacore.workload.model import TaskId, Workload
from sagacore.workload.readers import detect_format

PolicyFactory = Callable[[], CachePolicy]


# --- the trace's future --------------------------------------------------------------------
def step_starts(
    workload: Workload, default_llm_seconds: float = 0.0
) -> dict[TaskId, dict[int, float]]:
    """Start time of every LLM call (step index -> seconds) of each task.

    Timed as cache-only replay times them (``ReplayConfig(timed_calls=False)``): a step
    starts when all its dependencies are done, a dependency being done its LLM latency
    (the trace's, else ``default_llm_seconds``) plus its tool time after it started.
    """
    out: dict[TaskId, dict[int, float]] = {}
    for task in workload.tasks:
        start: dict[int, float] = {}
        for s in task.steps:  # steps are in topological order (deps precede)
            if not s.deps:
                start[s.index] = task.arrival_s
                continue
            done = []
            for d in s.deps:
                dep = task.steps[d]
                llm = dep.observed_llm_seconds
                lag = default_llm_seconds if llm is None else llm
                done.append(start[d] + lag + (dep.tool_seconds if dep.tool is not None else 0.0))
            start[s.index] = max(done)
        out[task.id] = start
    return out


def call_starts(starts: dict[TaskId, dict[int, float]]) -> dict[TaskId, list[float]]:
    """Each task's call start times, sorted."""
    return {t: sorted(v.values()) for t, v in starts.items()}


def lookup_times(
    workload: Workload, starts: dict[TaskId, dict[int, float]]
) -> dict[int, list[float]]:
    """For each segment id, the sorted start times of the calls whose prompt holds it."""
    out: dict[int, list[float]] = {}
    for task in workload.tasks:
        st = starts[task.id]
        for s in task.steps:
            t = st[s.index]
            for g in s.prompt:
                out.setdefault(g.id, []).append(t)
    for v in out.values():
        v.sort()
    return out


def _after(times: Sequence[float], now: float) -> float:
    """Seconds from ``now`` to the first time in ``times`` after it (inf when none)."""
    j = bisect.bisect_right(times, now)
    return times[j] - now if j < len(times) else math.inf


# --- oracles -------------------------------------------------------------------------------
class NextUseOracle(NextUse):
    """``next-use`` with the exact time to each live session's next call (diagnostic).

    Only the prediction for entries of sessions the predictor tracks changes: instead of
    ``r / p`` it is the time until the session's next LLM call starts (inf when it makes
    none). Shared entries and entries of ended sessions keep the learned reuse model.
    """

    name = "next-use (oracle)"

    def __init__(self, starts: dict[TaskId, list[float]]) -> None:
        super().__init__()
        self._starts = starts

    def predicted_wait(
        self,
        entry: CacheEntryView,
        ctx: CacheContext,
        active: frozenset[TaskId] | None = None,
    ) -> float:
        """Exact seconds to the owning live session's next call, else ``next-use``'s."""
        if entry.task_id is not None and next_call(ctx, entry, active) is not None:
            return _after(self._starts.get(entry.task_id, ()), ctx.now)
        return super().predicted_wait(entry, ctx, active)


class LookupOracle(CachePolicy):
    """Evict the entry whose first segment is looked up again last (diagnostic).

    Never-again entries first; ties go to the least recently used, then the smallest id.
    """

    name = "exact next lookup"
    _exact = True

    def __init__(self, times: dict[int, list[float]]) -> None:
        self._times = times

    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        """Index of the candidate to evict."""
        now = ctx.now
        best = 0
        best_key: tuple[float, float, int] | None = None
        for i, e in enumerate(candidates):
            ids = getattr(e, "ids", ())
            t = _after(self._times.get(ids[0], ()), now) if ids else math.inf
            if not self._exact and math.isfinite(t):
                t = now - e.last_access_s
            key = (t, -e.last_access_s, -e.entry_id)
            if best_key is None or key > best_key:
                best, best_key = i, key
        return best


class ReuseOracle(LookupOracle):
    """:class:`LookupOracle` knowing only whether an entry is looked up again."""

    name = "whether reused"
    _exact = False


class AuditedNextUse(NextUse):
    """``next-use`` unchanged, counting its victims that the trace looks up again later."""

    def __init__(self, times: dict[int, list[float]]) -> None:
        super().__init__()
        self._times = times
        self.evicted = {"fresh": 0, "shared": 0}
        self.reused = {"fresh": 0, "shared": 0}
        self.fresh_by_size: dict[int, list[int]] = {}  # size class -> [evicted, reused]

    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        """``next-use``'s victim, recorded."""
        i = super().victim(candidates, ctx)
        e = candidates[i]
        kind = "fresh" if e.task_id is not None else "shared"
        ids = getattr(e, "ids", ())
        self.evicted[kind] += 1
        again = bool(ids) and math.isfinite(_after(self._times.get(ids[0], ()), ctx.now))
        self.reused[kind] += again
        if kind == "fresh":
            tally = self.fresh_by_size.setdefault(_size_class(e.tokens), [0, 0])
            tally[0] += 1
            tally[1] += again
        return i


# --- a store that drains its victim across allocations ----------------------------------
class DrainingStore(PrefixStore):
    """:class:`PrefixStore` whose every allocation drains the victim last chosen.

    The library's store asks the policy for a victim at every allocation that must
    evict (``rerank=True``, the default of :meth:`PrefixStore.grow`); this one treats
    every allocation as a decode block (``rerank=False``): a chosen entry is reclaimed
    until it is gone, in use or has grown a child, and only then is the policy asked
    again.
    """

    def grow(self, lease: Lease, kv_tokens: int, now: float, *, rerank: bool = True) -> bool:
        return super().grow(lease, kv_tokens, now, rerank=False)


@contextmanager
def store_class(cls: type[PrefixStore], module: ModuleType = replay_module) -> Iterator[None]:
    """Make ``module`` (default: :mod:`sagacore.cache.replay`) build its stores from ``cls``.

    :mod:`sagacore.sim.cluster` is the other module that instantiates ``PrefixStore``.
    """
    name = PrefixStore.__name__  # the global that the module instantiates
    saved = getattr(module, name)
    setattr(module, name, cls)
    try:
        yield
    finally:
        setattr(module, name, saved)


# --- running -------------------------------------------------------------------------------
class Trace:
    """A trace loaded once: its workload, format, FOO solver and replay settings."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.format = detect_format(path)
        trace, self.workload = load_cache_trace(path, format=self.format)
        self._solver = FooSolver(trace, working_set=True)
        self._foo: dict[int, float] = {}

    def config(self, capacity: int) -> ReplayConfig:
        """The replay configuration of ``sagacore cache table`` (its defaults)."""
        moon = self.format == "mooncake"
        return ReplayConfig(
            capacity_tokens=capacity, block_tokens=512 if moon else 1, cache_outputs=not moon
        )

    def foo_lower(self, capacity: int) -> float:
        """FOO-L of the working-set model at ``capacity`` tokens."""
        if capacity not in self._foo:
            self._foo[capacity] = self._solver.solve(capacity).lower
        return self._foo[capacity]

    def trained_next_use(self, capacity: int) -> NextUse:
        """``next-use`` whose reuse models are those learned by a replay of the whole
        trace at ``capacity`` (a diagnostic: it has seen the trace)."""
        first = NextUse()
        replay(self.workload, first, self.config(capacity))
        second = NextUse()
        second._models = copy.deepcopy(first._models)
        for m in second._models.values():
            m.refresh()
        return second

    def ratio(
        self, capacity: int, make: PolicyFactory, store: type[PrefixStore] = PrefixStore
    ) -> float:
        """Single-tier cost of one replay divided by FOO-L."""
        t0 = time.perf_counter()
        with store_class(store):
            res = replay(self.workload, make(), self.config(capacity))
        print(
            f"  [{res.policy} at {capacity:,}: {time.perf_counter() - t0:.1f} s]",
            file=sys.stderr,
            flush=True,
        )
        lo = self.foo_lower(capacity)
        return res.single_tier_cost_tokens / lo if lo else 1.0


def _table(title: str, caps: list[int], trace: Trace, cols: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    names = list(cols)
    print("| capacity | FOO-L (tokens) | " + " | ".join(names) + " |")
    print("|" + "---|" * (len(names) + 2))
    for k, cap in enumerate(caps):
        cells = [f"{cols[n][k]:.3f}" for n in names]
        print(f"| {cap:,} | {trace.foo_lower(cap):,.0f} | " + " | ".join(cells) + " |")
    sys.stdout.flush()


def _named(name: str) -> PolicyFactory:
    return lambda: make_cache_policy(name)


def run_agent(trace: Trace, caps: list[int], policies: list[str]) -> None:
    """Experiments (a) and (b): the oracle, and the store draining its victim."""
    per_step = step_starts(trace.workload)
    starts = call_starts(per_step)
    times = lookup_times(trace.workload, per_step) if "lookup" in policies else {}
    made: list[NextUse] = []

    def next_use() -> NextUse:
        made.append(NextUse())
        return made[-1]

    makers: dict[str, PolicyFactory] = {}
    for name in policies:
        if name == "oracle":
            makers[NextUseOracle.name] = lambda: NextUseOracle(starts)
        elif name == "lookup":
            makers[LookupOracle.name] = lambda: LookupOracle(times)
        elif name == "next-use":
            makers[name] = next_use
        else:
            makers[name] = _named(name)
    rerank: dict[str, list[float]] = {n: [] for n in makers}
    drain: dict[str, list[float]] = {n: [] for n in makers}
    for cap in caps:
        for n, make in makers.items():
            rerank[n].append(trace.ratio(cap, make))
            drain[n].append(trace.ratio(cap, make, DrainingStore))
    _table(
        f"{trace.path.name}: cost / FOO-L, the library's store (asks the policy at "
        "every request that evicts)",
        caps,
        trace,
        rerank,
    )
    _table(
        f"{trace.path.name}: cost / FOO-L, a store that drains its victim across allocations",
        caps,
        trace,
        drain,
    )
    if made:
        g = made[-1].gaps
        theta = "n/a" if g.theta is None else ", ".join(f"{x:.2f}" for x in g.theta)
        print(
            f"\nnext-use's gap model after the replay: {g.samples:,} gaps, theta ({theta}), "
            f"residual standard deviation sigma {g.sigma:.3f} (natural log of seconds)"
        )


def run_mooncake(trace: Trace, caps: list[int]) -> None:
    """Experiment (c): the lookup oracles against ``next-use``."""
    times = lookup_times(trace.workload, step_starts(trace.workload))
    audits: list[AuditedNextUse] = []

    def audited() -> AuditedNextUse:
        audits.append(AuditedNextUse(times))
        return audits[-1]

    makers: dict[str, Callable[[int], CachePolicy]] = {
        "next-use": lambda cap: audited(),
        "next-use (no size)": lambda cap: NextUse(NextUseConfig(size_classes=False)),
        "next-use (trained)": trace.trained_next_use,
        "exact next lookup": lambda cap: LookupOracle(times),
        "whether reused": lambda cap: ReuseOracle(times),
    }
    cols: dict[str, list[float]] = {n: [] for n in makers}
    for cap in caps:
        for n, make in makers.items():
            cols[n].append(trace.ratio(cap, lambda make=make, cap=cap: make(cap)))  # type: ignore[misc]
    _table(f"{trace.path.name}: cost / FOO-L", caps, trace, cols)
    print("\nnext-use's victims that a later request looks up again:")
    for cap, audit in zip(caps, audits, strict=True):
        parts = []
        for kind in ("fresh", "shared"):
            count = audit.evicted[kind]
            share = f"{audit.reused[kind] / count:.0%}" if count else "-"
            parts.append(f"{kind} entries {count:,} evicted, {share} reused later")
        print(f"  {cap:,} tokens: " + "; ".join(parts))
        sizes = []
        for c, (count, again) in sorted(audit.fresh_by_size.items()):
            lo = 0 if c == 0 else 256 << c
            sizes.append(f">= {lo:,}: {count:,} ({again / count:.0%})")
        print("    fresh by size (tokens): " + ", ".join(sizes))
    print("  (fresh: owned by the one request that created it; shared: by several)")


def parse_variant(text: str) -> dict[str, object]:
    """``NAME=VALUE[,NAME=VALUE...]`` as :class:`NextUseConfig` keyword arguments."""
    fields = {f.name for f in dataclasses.fields(NextUseConfig)}
    defaults = NextUseConfig()
    out: dict[str, object] = {}
    for item in text.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or name not in fields:
            raise SystemExit(f"--set wants NAME=VALUE with NAME in {sorted(fields)}, got {item!r}")
        default = getattr(defaults, name)
        if isinstance(default, bool):
            if value.lower() not in ("true", "false"):
                raise SystemExit(f"--set {name}: true or false, got {value!r}")
            out[name] = value.lower() == "true"
        elif isinstance(default, int):
            out[name] = int(value)
        else:
            out[name] = float(value)
    return out


def variant_configs(variants: list[str]) -> dict[str, NextUseConfig]:
    """The defaults, then one configuration per ``--set`` (checked before any replay)."""
    configs = {"next-use": NextUseConfig()}
    for text in variants:
        configs[f"next-use ({text})"] = NextUseConfig(**parse_variant(text))  # type: ignore[arg-type]
    return configs


def run_variant(trace: Trace, caps: list[int], configs: dict[str, NextUseConfig]) -> None:
    """``next-use`` with changed configuration fields, each variant against the defaults."""
    cols: dict[str, list[float]] = {n: [] for n in configs}
    for cap in caps:
        for n, cfg in configs.items():
            cols[n].append(trace.ratio(cap, lambda cfg=cfg: NextUse(cfg)))  # type: ignore[misc]
    _table(f"{trace.path.name}: cost / FOO-L", caps, trace, cols)


def _caps(text: str) -> list[int]:
    return [int(c) for c in text.split(",") if c.strip()]


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run one experiment."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = p.add_subparsers(dest="experiment", required=True)
    a = sub.add_parser("agent", help="the next-call oracle, with the store re-ranking and draining")
    a.add_argument("path", nargs="?", help="agent trace (default: the bundled SWE-bench trace)")
    a.add_argument("--capacity-tokens", default="65536,131072,196608")
    a.add_argument(
        "--policies",
        default="lru,walru,next-use,oracle",
        help="comma separated cache policies; 'oracle' is next-use with each live "
        "session's exact next call, 'lookup' the exact-next-lookup ranking",
    )
    m = sub.add_parser("mooncake", help="the lookup oracles on a Mooncake-style trace")
    m.add_argument("path", help="Mooncake trace (JSON lines with hash_ids)")
    m.add_argument("--capacity-tokens", default="524288,1048576,4194304")
    v = sub.add_parser("variant", help="next-use with NextUseConfig fields changed")
    v.add_argument("path", nargs="?", help="trace (default: the bundled SWE-bench trace)")
    v.add_argument("--capacity-tokens", default="65536,131072,196608")
    v.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE[,...]",
        help="one variant (repeat for more), e.g. size_classes=true or bins=24",
    )
    args = p.parse_args(argv)
    configs = variant_configs(args.set) if args.experiment == "variant" else {}
    trace = Trace(Path(args.path) if args.path else bundled_trace())
    caps = _caps(args.capacity_tokens)
    if args.experiment == "agent":
        run_agent(trace, caps, [s.strip() for s in args.policies.split(",") if s.strip()])
    elif args.experiment == "mooncake":
        run_mooncake(trace, caps)
    else:
        run_variant(trace, caps, configs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
