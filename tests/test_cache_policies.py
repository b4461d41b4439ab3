"""Contract tests every cache policy passes, then each policy's own rule.

The contract (one shared mixin, as cachetools' policies share one): ``victim`` returns
a valid index, depends only on what it is shown (two fresh objects agree), never edits
the entries, works with and without a predictor; ``retention`` returns a
``RetentionDecision``; the hooks accept their calls.
"""

from __future__ import annotations

import doctest
import importlib
import math
from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sagacore.cache import CACHE_POLICIES, make_cache_policy
from sagacore.cache.astraea import AstraeaKV, AstraeaKVConfig
from sagacore.cache.continuum import (
    _GRID,
    ContinuumConfig,
    ContinuumTTL,
    _expected_min,
    _ttl_bounds,
    _ttl_table,
    best_ttl,
)
from sagacore.cache.infercept import InferCept, InferCeptConfig, waste
from sagacore.cache.kvflow import KVFlow, KVFlowConfig
from sagacore.cache.next_use import NextUse, NextUseConfig, ReuseModel
from sagacore.cache.radix_lru import RadixLRU
from sagacore.cache.saga_ttl import SagaTTL, SagaTTLConfig
from sagacore.cache.walru import WALRU, WALRUConfig
from sagacore.errors import ConfigError, UnknownNameError
from sagacore.policy import CacheContext, CachePolicy, Retention, RetentionDecision
from sagacore.workload.model import TaskId
from sagacore.workload.predictor import LogNormalFit, Predictor

MINE = [
    "radix-lru",
    "walru",
    "saga-ttl",
    "continuum-ttl",
    "kvflow",
    "infercept",
    "astraea",
    "next-use",
]
MODULES = [
    "walru",
    "saga_ttl",
    "continuum",
    "kvflow",
    "infercept",
    "astraea",
    "radix_lru",
    "next_use",
    "replay",
]


@dataclass(frozen=True)
class Entry:
    """A read-only CacheEntryView for tests."""

    entry_id: int
    tokens: int
    prefix_tokens: int
    last_access_s: float
    created_s: float
    hits: int
    task_id: TaskId | None
    step: int | None
    tool: str | None
    tool_started_s: float | None


@dataclass(frozen=True)
class Session:
    """A SessionView for tests."""

    task_id: TaskId
    agent_type: str
    step: int
    tool: str
    context_tokens: int
    has_successor: bool


def live_predictor() -> Predictor:
    """A predictor tracking tasks a (in a bash call) and b (in a slow tool), c ended."""
    p = Predictor()
    for t in ("a", "b", "c"):
        p.observe_task_start(TaskId(t), "swe")
        p.observe_llm_call(TaskId(t), 0, prompt_tokens=100, output_tokens=10, tool="bash")
    p.observe_llm_call(TaskId("b"), 1, prompt_tokens=200, output_tokens=10, tool="slow", deps=(0,))
    for _ in range(12):
        p.observe_tool_duration("slow", 60.0)
    p.observe_tool_call(TaskId("c"), 0, 1.0)
    p.observe_llm_call(TaskId("c"), 1, prompt_tokens=300, output_tokens=10, tool=None, deps=(0,))
    p.observe_task_end(TaskId("c"))
    return p


entries = st.builds(
    Entry,
    entry_id=st.integers(1, 50),
    tokens=st.integers(1, 1000),
    prefix_tokens=st.integers(1, 5000),
    last_access_s=st.floats(0, 100),
    created_s=st.floats(0, 100),
    hits=st.integers(0, 20),
    task_id=st.sampled_from([None, TaskId("a"), TaskId("b"), TaskId("c"), TaskId("x")]),
    step=st.sampled_from([None, 0, 1]),
    tool=st.sampled_from([None, "bash", "slow"]),
    tool_started_s=st.sampled_from([None, 10.0, 99.0]),
)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    mod = importlib.import_module(f"sagacore.cache.{name}")
    assert doctest.testmod(mod).failed == 0


def test_registry_builds_every_policy() -> None:
    for name in MINE:
        assert name in CACHE_POLICIES
        pol = make_cache_policy(name)
        assert isinstance(pol, CachePolicy) and pol.name == name
    with pytest.raises(UnknownNameError):
        make_cache_policy("nope")


@pytest.mark.parametrize("name", sorted(CACHE_POLICIES))
@given(
    cands=st.lists(entries, min_size=1, max_size=8),
    with_pred=st.booleans(),
    used=st.integers(0, 2000),
)
def test_victim_contract(name: str, cands: list[Entry], with_pred: bool, used: int) -> None:
    cands = [replace(c, entry_id=i + 1) for i, c in enumerate(cands)]  # ids are unique
    ctx = CacheContext(
        now=100.0,
        capacity_tokens=1000,
        used_tokens=used,
        predictor=live_predictor() if with_pred else None,
        recompute_seconds_per_token=1e-4,
        swap_seconds_per_token=2e-5,
    )
    before = list(cands)
    a = make_cache_policy(name).victim(cands, ctx)
    b = make_cache_policy(name).victim(list(reversed(cands)), ctx)
    assert isinstance(a, int) and 0 <= a < len(cands)
    assert cands == before
    # the choice is the same entry whatever the order it is offered in
    assert cands[a].entry_id == list(reversed(cands))[b].entry_id


@pytest.mark.parametrize("name", sorted(CACHE_POLICIES))
@given(
    ctx_tokens=st.integers(1, 100_000),
    used=st.integers(0, 100_000),
    succ=st.booleans(),
    with_pred=st.booleans(),
    tool=st.sampled_from(["bash", "slow"]),
)
def test_retention_contract(
    name: str, ctx_tokens: int, used: int, succ: bool, with_pred: bool, tool: str
) -> None:
    pol = make_cache_policy(name)
    ctx = CacheContext(
        now=5.0,
        capacity_tokens=100_000,
        used_tokens=used,
        predictor=live_predictor() if with_pred else None,
    )
    d = pol.retention(Session(TaskId("a"), "swe", 0, tool, ctx_tokens, succ), ctx)
    assert isinstance(d, RetentionDecision)
    if d.ttl_s is not None:
        assert d.action is Retention.KEEP and 0 <= d.ttl_s <= 300
    if not succ:  # nothing will reuse it: no policy spends host memory or pins on it
        assert d.action is Retention.KEEP and d.ttl_s is None
    pol.observe_tool_end(TaskId("a"), tool, 1.5, 6.5)


# ---------------------------------------------------------------- each policy's rule
def entry(i: int, **kw: object) -> Entry:
    base = dict(
        entry_id=i,
        tokens=10,
        prefix_tokens=10,
        last_access_s=0.0,
        created_s=0.0,
        hits=0,
        task_id=None,
        step=None,
        tool=None,
        tool_started_s=None,
    )
    base.update(kw)
    return Entry(**base)  # type: ignore[arg-type]


def test_radix_lru_oldest_then_deepest() -> None:
    ctx = CacheContext(now=9.0, capacity_tokens=10, used_tokens=10)
    cands = [
        entry(1, last_access_s=2.0, prefix_tokens=5),
        entry(2, last_access_s=2.0, prefix_tokens=50),
        entry(3, last_access_s=3.0),
    ]
    assert RadixLRU().victim(cands, ctx) == 1


def test_walru_formula_by_hand() -> None:
    p = live_predictor()
    ctx = CacheContext(now=10.0, capacity_tokens=100, used_tokens=90, predictor=p)
    a = entry(1, last_access_s=0.0, tokens=100, task_id=TaskId("a"))
    b = entry(2, last_access_s=5.0, tokens=50, task_id=TaskId("c"))  # ended: P_reuse 0
    pol = WALRU()
    pr = p.p_reuse(TaskId("a"))
    s = pol.scores([a, b], ctx)
    assert s[0] == pytest.approx(0.3 * 1 + 0.5 * (1 - pr) + 0.2 * 1)
    assert s[1] == pytest.approx(0.3 * 0.5 + 0.5 * 1 + 0.2 * 0.5)
    assert pol.victim([a, b], ctx) == (0 if s[0] > s[1] else 1)
    with pytest.raises(ConfigError, match="shared_reuse"):
        WALRUConfig(shared_reuse=2.0)


def test_saga_ttl_matches_the_predictor_and_shrinks_with_pressure() -> None:
    p = live_predictor()
    s = Session(TaskId("b"), "swe", 1, "slow", 1000, True)
    ttls = []
    for used in (50, 80, 95):
        ctx = CacheContext(now=0.0, capacity_tokens=100, used_tokens=used, predictor=p)
        d = SagaTTL().retention(s, ctx)
        want = SagaTTLConfig().ttl(p.tool_duration_percentile("slow", 0.95), used / 100)
        assert d.ttl_s == pytest.approx(want)
        ttls.append(d.ttl_s)
    assert ttls[0] > ttls[1] > ttls[2] > 0


def test_continuum_ttl_tradeoff() -> None:
    f = LogNormalFit.prior(2.0, 0.5)
    assert best_ttl(f, benefit_s=0.0, hold_cost_per_s=1.0, max_ttl_s=300) == 0.0
    long = best_ttl(f, benefit_s=100.0, hold_cost_per_s=0.01, max_ttl_s=300)
    short = best_ttl(f, benefit_s=1.0, hold_cost_per_s=0.5, max_ttl_s=300)
    assert long >= short and long == pytest.approx(f.ppf(0.99))
    assert best_ttl(f, benefit_s=100.0, hold_cost_per_s=0.0, max_ttl_s=1.0) <= 1.0
    p = live_predictor()
    big = Session(TaskId("a"), "swe", 0, "bash", 50_000, True)
    ctx = CacheContext(0.0, 100_000, 60_000, p, recompute_seconds_per_token=1e-4)
    assert ContinuumTTL().retention(big, ctx).ttl_s is not None
    with pytest.raises(ConfigError):
        ContinuumConfig(max_ttl_s=0)



@given(
    mu=st.floats(-6.0, 7.0),
    sigma=st.one_of(st.just(0.0), st.floats(1e-3, 3.0)),
    p_zero=st.one_of(st.just(0.0), st.floats(0.0, 0.999)),
    cap=st.sampled_from([300.0, 1.0, 1e-9]),
)
def test_continuum_table_is_the_scalar_code(mu: float, sigma: float, p_zero: float,
                                             cap: float) -> None:
    """best_ttl's per-fit table (array arithmetic) equals LogNormalFit.cdf and the
    scalar trapezoid to the bit, so the TTL chosen is the scalar rule's."""
    f = LogNormalFit(mu, sigma, p_zero, 5)
    taus = [t for t in (min(f.ppf(q), cap) for q in _GRID) if t > 0]
    table = _ttl_table(f, cap)
    assert [t for t, _, _ in table] == taus
    for tau, f_tau, e_min in table:
        assert f_tau == f.cdf(tau)
        assert e_min == _expected_min(f, tau)


def _table_rule(f: LogNormalFit, benefit: float, hold: float, cap: float) -> float:
    """best_ttl as the loop over the whole table (before its shortcut)."""
    best, best_u = 0.0, 0.0
    for tau, f_tau, e_min in _ttl_table(f, cap):
        u = f_tau * benefit - hold * e_min
        if u > best_u + 1e-12:
            best, best_u = tau, u
    return best


@given(
    mu=st.floats(-6.0, 7.0),
    sigma=st.one_of(st.just(0.0), st.floats(1e-3, 3.0)),
    p_zero=st.one_of(st.just(0.0), st.floats(0.0, 0.999)),
    cap=st.sampled_from([300.0, 1.0, 1e-9]),
    benefit=st.one_of(st.floats(0.0, 1e3), st.sampled_from([0.0, math.inf])),
    hold=st.one_of(st.floats(0.0, 10.0), st.floats(0.0, 1e-3), st.just(0.0)),
)
def test_continuum_shortcut_is_the_table_rule(mu: float, sigma: float, p_zero: float,
                                               cap: float, benefit: float,
                                               hold: float) -> None:
    """best_ttl's shortcut (the last TTL against the others' upper bounds) chooses what
    the loop over the whole table chooses; its last row is the table's, its bounds are
    below the table's E[min(D, tau)]."""
    f = LogNormalFit(mu, sigma, p_zero, 5)
    assert best_ttl(f, benefit_s=benefit, hold_cost_per_s=hold, max_ttl_s=cap) == (
        _table_rule(f, benefit, hold, cap)
    )
    bounds = _ttl_bounds(f, cap)
    if bounds is not None:
        table = _ttl_table(f, cap)
        assert bounds[:3] == table[-1]
        assert [x for x, _ in bounds[3]] == [x for _, x, _ in table[:-1]]
        assert all(low <= e for (_, low), (_, _, e) in zip(bounds[3], table[:-1], strict=True))


def test_continuum_shortcut_near_ties() -> None:
    """Where the last TTL's value is within a hair of an earlier one's, the shortcut
    leaves the choice to the table's rule (a grid of hold costs around the crossings)."""
    f = LogNormalFit(1.0, 1.2, 0.1, 5)
    table = _ttl_table(f, 300.0)
    benefit = 10.0
    (_, f_n, e_n), shortcut = table[-1], 0
    for _, f_j, e_j in table[:-1]:
        if e_n > e_j:  # hold at which the last TTL and this one are worth the same
            c = (f_n - f_j) * benefit / (e_n - e_j)
            for hold in (c * (1 - 1e-9), c, c * (1 + 1e-9), math.nextafter(c, 0.0)):
                got = best_ttl(f, benefit_s=benefit, hold_cost_per_s=hold, max_ttl_s=300.0)
                assert got == _table_rule(f, benefit, hold, 300.0)
                shortcut += got == table[-1][0]
    assert shortcut > 0


def test_infercept_least_waste() -> None:
    w = waste(1000, 0, tool_seconds=0.01, recompute_s=1.0, swap_s=0.5)
    assert min(w, key=w.__getitem__) is Retention.KEEP
    w = waste(1000, 0, tool_seconds=100.0, recompute_s=0.1, swap_s=0.5)
    assert min(w, key=w.__getitem__) is Retention.DROP
    p = live_predictor()
    slow = Session(TaskId("b"), "swe", 1, "slow", 10_000, True)
    ctx = CacheContext(0.0, 100_000, 50_000, p, 2e-5, 1e-4)
    assert InferCept().retention(slow, ctx).action is Retention.SWAP
    no_swap = InferCept(InferCeptConfig(swap_s_per_token=1.0))
    assert no_swap.retention(slow, replace(ctx, swap_seconds_per_token=0.0)).action is (
        Retention.DROP
    )


def test_astraea_keeps_at_low_pressure_and_prices_high_pressure() -> None:
    p = live_predictor()
    s = Session(TaskId("b"), "swe", 1, "slow", 50_000, True)
    low = CacheContext(0.0, 100_000, 10_000, p)
    assert AstraeaKV().retention(s, low).action is Retention.KEEP
    high = CacheContext(0.0, 100_000, 99_000, p)
    assert AstraeaKV().retention(s, high).action is Retention.SWAP
    no_host = AstraeaKV(AstraeaKVConfig(allow_swap=False))
    assert no_host.retention(s, high).action is Retention.DROP
    with pytest.raises(ConfigError):
        AstraeaKVConfig(low_pressure=1.0)


def test_kvflow_steps_to_execution_order() -> None:
    p = live_predictor()
    ctx = CacheContext(now=20.0, capacity_tokens=100, used_tokens=100, predictor=p)
    shared = entry(1, task_id=None)
    waiting = entry(2, task_id=TaskId("a"))  # tracked, not in a tool: 0 steps
    bash = entry(3, task_id=TaskId("a"), tool="bash", tool_started_s=19.0)
    slow = entry(4, task_id=TaskId("b"), tool="slow", tool_started_s=19.0)
    ended = entry(5, task_id=TaskId("c"))
    pol = KVFlow()
    order = []
    cands = [shared, waiting, bash, slow, ended]
    while cands:
        i = pol.victim(cands, ctx)
        order.append(cands.pop(i).entry_id)
    assert order[:3] == [5, 4, 3]
    with pytest.raises(ConfigError):
        KVFlowConfig(continue_threshold=2)


def test_next_use_live_sessions_by_predicted_return() -> None:
    p = live_predictor()
    ctx = CacheContext(now=20.0, capacity_tokens=100, used_tokens=100, predictor=p)
    bash = entry(3, task_id=TaskId("a"), tool="bash", tool_started_s=19.0)
    slow = entry(4, task_id=TaskId("b"), tool="slow", tool_started_s=19.0)
    pol = NextUse()
    assert pol.victim([bash, slow], ctx) == 1
    # the session's own history overrides the type's: a's bash calls take a minute
    for _ in range(5):
        pol.observe_tool_end(TaskId("a"), "bash", 600.0, 0.0)
    assert pol.victim([bash, slow], ctx) == 0


def test_next_use_learns_which_class_is_reused() -> None:
    pol = NextUse(NextUseConfig(min_samples=5, refresh_every=1))
    ctx = CacheContext(now=0.0, capacity_tokens=100, used_tokens=100)
    # shared hot entries come back after about a second; fresh ones are evicted unused
    for k in range(20):
        hot = entry(100 + k, hits=3, task_id=None, created_s=0.0)
        pol.observe_access(hot, 1.0)
        fresh = entry(200 + k, hits=0, task_id=TaskId("gone"), last_access_s=0.0)
        pol.victim([fresh], replace(ctx, now=5.0))
    a = entry(1, hits=3, last_access_s=9.0)
    b = entry(2, hits=0, task_id=TaskId("gone"), last_access_s=9.5)
    assert pol.victim([a, b], replace(ctx, now=10.0)) == 1
    assert math.isinf(pol.predicted_wait(b, replace(ctx, now=10.0)))


def test_reuse_model_kaplan_meier() -> None:
    m = ReuseModel(NextUseConfig(refresh_every=1000))
    for _ in range(10):
        m.add(1.0, reused=True)
        m.add(100.0, reused=False)
    m.refresh()
    assert m.expected_wait(0.0) < m.expected_wait(2.0)  # survivors past 1 s rarely return
    assert math.isinf(m.expected_wait(200.0))
    with pytest.raises(ConfigError):
        NextUseConfig(horizon_s=0.0)


_OBS = st.lists(
    st.tuples(st.floats(0.0, 5000.0, allow_nan=False), st.booleans()), min_size=1, max_size=60
)


@given(obs=_OBS)
def test_reuse_model_size_classes_with_equal_data_keep_the_pooled_estimate(
    obs: list[tuple[float, bool]],
) -> None:
    """Proportional hazards: size classes that saw the same observations have hazard
    ratio exactly 1 (the Nelson-Aalen identity: observed = expected reuses), so each
    gets the pooled Kaplan-Meier estimate, whatever the prior."""
    cfg = NextUseConfig(refresh_every=10_000, size_prior=0.5)
    pooled, split = ReuseModel(cfg), ReuseModel(cfg, size_classes=3)
    for secs, reused in obs:
        pooled.add(secs, reused=reused)
        pooled.add(secs, reused=reused)
        split.add(secs, reused=reused, size_class=0)
        split.add(secs, reused=reused, size_class=2)
    pooled.refresh()
    split.refresh()
    idle = np.array([0.0, 0.01, 0.5, 3.0, 40.0, 900.0, 4000.0])
    want = pooled.expected_waits(idle)
    for c in (0, 1, 2):  # class 1 has no data: ratio (0 + prior) / (0 + prior) = 1
        got = split.expected_waits(idle, np.full(idle.size, c))
        np.testing.assert_allclose(got, want, rtol=1e-9)


def test_reuse_model_size_class_reused_more_often_waits_less() -> None:
    cfg = NextUseConfig(refresh_every=10_000, size_prior=1.0)
    m = ReuseModel(cfg, size_classes=2)
    for k in range(200):
        secs = 1.0 + k % 10
        m.add(secs, reused=k % 5 != 0, size_class=0)  # 80% reused
        m.add(secs, reused=k % 5 == 0, size_class=1)  # 20% reused, at the same times
    m.refresh()
    for idle in (0.0, 2.0, 5.0):
        assert m.expected_wait(idle, size_class=0) < m.expected_wait(idle, size_class=1)
    with pytest.raises(ConfigError):
        ReuseModel(cfg, size_classes=0)
    with pytest.raises(ConfigError):
        NextUseConfig(size_prior=0.0)


@pytest.mark.parametrize("cls", [AstraeaKV, InferCept, ContinuumTTL])
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 50)), min_size=1, max_size=12,
                unique_by=lambda t: t[1]))
def test_retention_policies_evict_as_the_eviction_policy_they_compose(
        cls: type[CachePolicy], stamps: list[tuple[int, int]]) -> None:
    """A retention policy's eviction decision is its eviction policy's (LRU by default)."""
    from sagacore.cache.lru import LRU
    from sagacore.cache.retention import RetentionPolicy

    cands = [entry(i, last_access_s=float(t)) for t, i in stamps]
    ctx = CacheContext(now=60.0, capacity_tokens=100, used_tokens=100, predictor=live_predictor())
    pol = cls()
    assert isinstance(pol, RetentionPolicy) and type(pol).victim is RetentionPolicy.victim
    assert pol.victim(cands, ctx) == LRU().victim(cands, ctx)
    by_walru = cls(eviction=WALRU())  # type: ignore[call-arg]
    assert by_walru.victim(cands, ctx) == WALRU().victim(cands, ctx)


def test_astraea_cache_old_names_warn() -> None:
    import sagacore.cache.astraea as mod

    with pytest.warns(DeprecationWarning, match="use AstraeaKV"):
        assert mod.Astraea is AstraeaKV
    with pytest.warns(DeprecationWarning, match="use AstraeaKVConfig"):
        assert mod.AstraeaConfig is AstraeaKVConfig
    with pytest.raises(AttributeError):
        mod.Nope  # noqa: B018


def _break_even_reference(fit: LogNormalFit, benefit_s: float, hold_cost_per_s: float,
                          max_ttl_s: float) -> float:
    """break_even_ttl's rule evaluated per call, term by term (no per-fit table)."""
    from sagacore.cache.sagacore import _Z, _phi

    p0, mu, sigma = fit.p_zero, fit.mu, fit.sigma
    if p0 >= 1.0 or benefit_s <= 0:
        return 0.0
    pos = 1.0 - p0
    mean_pos = math.exp(mu + sigma * sigma / 2.0)
    best, best_u = 0.0, 0.0
    for z in _Z if sigma > 0 else (0.0,):
        tau = min(math.exp(mu + sigma * z), max_ttl_s)
        if tau <= 0:
            continue
        if sigma > 0:
            zt = (math.log(tau) - mu) / sigma
            f = _phi(zt)
            emin = mean_pos * _phi(zt - sigma) + tau * (1.0 - f)
        else:
            f = 1.0 if tau >= math.exp(mu) else 0.0
            emin = min(math.exp(mu), tau)
        u = (p0 + pos * f) * benefit_s - hold_cost_per_s * pos * emin
        if u > best_u + 1e-12:
            best, best_u = tau, u
    return best


@given(
    mu=st.floats(-6.0, 7.0),
    sigma=st.one_of(st.just(0.0), st.floats(1e-3, 3.0)),
    p_zero=st.one_of(st.just(0.0), st.just(1.0), st.floats(0.0, 0.999)),
    benefit=st.one_of(st.just(0.0), st.floats(1e-3, 1e3)),
    cost=st.floats(0.0, 10.0),
    cap=st.sampled_from([300.0, 1.0, 1e-9]),
)
def test_break_even_ttl_table_is_the_per_call_rule(mu: float, sigma: float, p_zero: float,
                                                    benefit: float, cost: float,
                                                    cap: float) -> None:
    """The sagacore cache's per-fit table gives the per-call rule's TTL to the bit."""
    from sagacore.cache.sagacore import break_even_ttl

    f = LogNormalFit(mu, sigma, p_zero, 5)
    got = break_even_ttl(f, benefit_s=benefit, hold_cost_per_s=cost, max_ttl_s=cap)
    assert got == _break_even_reference(f, benefit, cost, cap)


@given(
    mu=st.floats(-6.0, 7.0),
    sigma=st.one_of(st.floats(1e-9, 1e-3), st.floats(1e-3, 3.0)),
    p_zero=st.one_of(st.just(0.0), st.floats(0.0, 0.999)),
    cap=st.sampled_from([300.0, 1.0, 1e-9]),
    benefit=st.floats(1e-3, 1e3),
    cost=st.one_of(st.floats(0.0, 1e-3), st.floats(0.0, 10.0)),
)
def test_break_even_ttl_shortcut(mu: float, sigma: float, p_zero: float, cap: float,
                                 benefit: float, cost: float) -> None:
    """break_even_ttl's shortcut: its last row is the table's, its bound is above every
    other row's F(tau), and the TTL it returns is the per-call rule's (costs near zero,
    where the shortcut answers, and up to 10, where the table does)."""
    from sagacore.cache.sagacore import _last_row, _ttl_table, break_even_ttl

    f = LogNormalFit(mu, sigma, p_zero, 5)
    table = _ttl_table(f, cap)
    last = _last_row(f, cap)
    if last is None:
        assert not table  # the 0.99 quantile's TTL is the largest: none, no row
    else:
        assert last[:3] == table[-1]
        assert all(f_all <= last[3] for _, f_all, _ in table[:-1])
    got = break_even_ttl(f, benefit_s=benefit, hold_cost_per_s=cost, max_ttl_s=cap)
    assert got == _break_even_reference(f, benefit, cost, cap)


def test_break_even_ttl_shortcut_near_ties() -> None:
    """Where the last TTL is worth about what an earlier one is, the table decides: hold
    costs around each crossing give the per-call rule's TTL."""
    from sagacore.cache.sagacore import _ttl_table, break_even_ttl

    f = LogNormalFit(1.0, 1.2, 0.1, 5)
    table = _ttl_table(f, 300.0)
    benefit = 10.0
    pos = 1.0 - f.p_zero
    _, f_n, e_n = table[-1]
    for _, f_j, e_j in table[:-1]:
        if e_n > e_j:
            c = (f_n - f_j) * benefit / ((e_n - e_j) * pos)
            for hold in (c * (1 - 1e-9), c, c * (1 + 1e-9), math.nextafter(c, 0.0)):
                got = break_even_ttl(f, benefit_s=benefit, hold_cost_per_s=hold, max_ttl_s=300.0)
                assert got == _break_even_reference(f, benefit, hold, 300.0)
