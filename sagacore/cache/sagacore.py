"""``sagacore``: the recommended cache policy: adaptive eviction, break-even retention.

**Eviction** follows one of two experts: :class:`~sagacore.cache.next_use.NextUse`'s
ranking (largest predicted time to next use; in LRU order wherever it has not learned
enough), the online policy closest to FOO-L on the agent traces (``docs/caching.md``,
Section 5), and plain LRU, the insurance where reuse is recency-shaped and the learned
ranking is wrong. Wherever the two nominate different victims the disagreement is a
*duel*, decided online by the trace: the nominee a later request needs first was the
wrong victim (Belady's MIN evicts the one needed last). Eviction follows the expert with
more recent wins (:class:`~sagacore.cache.adaptive.Duel`, wins halved every
:attr:`SagacoreCacheConfig.half_life` decided duels; ``next-use`` on a tie). The store
reports each request's prompt to :meth:`SagacoreCache.observe_lookup`, and its entries
carry the key a request needs (their last segment); where a cache offers no keys, no
duel is decided and eviction is ``next-use``'s.

**Retention across a tool call** (with :attr:`SagacoreCacheConfig.pin`, as in the
``sagacore`` stack) weighs holding the session's ``n`` tokens of KV against recomputing
them, with the shared predictor's distribution ``D`` of the tool's duration (its
log-normal fit):

- *keep, pinned for* ``tau``: the benefit is the prefill saved if the tool returns
  within the pin, ``F(tau) * n * r`` (``r`` seconds of prefill per token); the cost is
  the memory held meanwhile, priced at the memory pressure ``m`` (the fraction of KV
  occupied, by default): ``m * (n / C) * E[min(D, tau)]`` GPU-seconds (holding free
  memory costs nothing, holding a full cache's share costs that share of the GPU).
  ``tau`` maximises benefit minus cost over the quantiles of ``D``
  (:func:`break_even_ttl`, Continuum's utility in closed form): long tools and large
  pressure shorten the pin, down to none;
- *swap* to host memory (with :attr:`SagacoreCacheConfig.swap`), when pinning is not
  worth it, the KV is sure to be evicted otherwise (what is free, ``(1 - m) C``, cannot
  hold it) and the round trip costs less than recomputing (``s < r``);
- otherwise *keep, unpinned*: the KV stays cached and eviction decides (better than
  dropping it, which frees nothing that eviction would not).

By default (the registry's ``sagacore``, used by ``sagacore cache replay``) the policy
neither pins nor swaps: in cache-only replay a pin only overrides a ranking that already
keeps sessions about to return, and a swap-in costs as much as a prefill in replay's
single-tier cost (both measured in ``docs/stacks.md``). In the simulator the pins pay:
with admission control (:mod:`sagacore.sched.admission`) the memory they hold is
reserved for programs that will resume. Without a predictor, or for a session with no
later call, the KV stays cached unpinned. The learned state is per policy object (one
per cache).

Examples
--------
>>> from types import SimpleNamespace as S
>>> from sagacore.policy import CacheContext
>>> from sagacore.workload.predictor import Predictor
>>> s = S(task_id="t", agent_type="a", step=0, tool="bash", context_tokens=20_000,
...       has_successor=True)
>>> calm = CacheContext(now=0.0, capacity_tokens=400_000, used_tokens=40_000,
...                     predictor=Predictor(), recompute_seconds_per_token=1e-4)
>>> SagacoreCache().retention(s, calm).ttl_s is None      # the registry's: no pins
True
>>> pol = SagacoreCache(SagacoreCacheConfig(pin=True, swap=True))
>>> d = pol.retention(s, calm)
>>> d.action.value, d.ttl_s is not None and d.ttl_s > 1.0   # pinned through the tool
('keep', True)
>>> p = Predictor()
>>> for d in (400.0, 800.0) * 5:                       # a tool that runs ~10 minutes
...     p.observe_tool_duration("build", d)
>>> slow = S(task_id="t", agent_type="a", step=0, tool="build", context_tokens=20_000,
...          has_successor=True)
>>> full = CacheContext(now=0.0, capacity_tokens=400_000, used_tokens=390_000,
...                     predictor=p, recompute_seconds_per_token=1e-4,
...                     swap_seconds_per_token=2e-5)
>>> pol.retention(slow, full).action.value            # not worth pinning; would be evicted
'swap'
>>> pol.retention(s, full).ttl_s is not None          # a short tool is still worth a pin
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import TYPE_CHECKING, ClassVar, Self

from sagacore.cache.adaptive import Duel
from sagacore.cache.lru import lru_index
from sagacore.cache.next_use import NextUse, NextUseConfig
from sagacore.errors import ConfigError
from sagacore.policy import (
    CACHE_ONLY,
    CacheContext,
    CacheEntryView,
    CachePolicy,
    Retention,
    RetentionDecision,
    SessionView,
)
from sagacore.validate import at_least, check, positive
from sagacore.workload.model import TaskId
from sagacore.workload.predictor import LogNormalFit

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.build import BuildContext

__all__ = ["SagacoreCache", "SagacoreCacheConfig", "break_even_ttl"]

_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99)
_Z = tuple(NormalDist().inv_cdf(q) for q in _GRID)


_SQRT2 = math.sqrt(2.0)


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / _SQRT2)


def break_even_ttl(fit: LogNormalFit, *, benefit_s: float, hold_cost_per_s: float,
                   max_ttl_s: float) -> float:
    """The pin ``tau`` maximising ``F(tau) b - c E[min(D, tau)]`` (0: do not pin).

    ``tau`` ranges over 0 and the quantiles 0.1, ..., 0.99 of the positive part of ``D``
    (capped at ``max_ttl_s``), as :func:`~sagacore.cache.continuum.best_ttl`, but in
    closed form: for ``D`` = 0 with probability ``p0``, else ``LogNormal(mu, sigma)``,
    ``E[min(D, tau)] = (1 - p0) (exp(mu + sigma^2 / 2) Phi(z - sigma) + tau (1 - Phi(z)))``
    with ``z = (ln tau - mu) / sigma``.

    Examples
    --------
    >>> f = LogNormalFit.prior(1.0, 1.0)
    >>> break_even_ttl(f, benefit_s=0.0, hold_cost_per_s=1.0, max_ttl_s=300.0)
    0.0
    >>> round(break_even_ttl(f, benefit_s=10.0, hold_cost_per_s=0.0, max_ttl_s=300.0), 3)
    10.24
    >>> from sagacore.cache.continuum import best_ttl       # the numerical version agrees
    >>> best_ttl(f, benefit_s=10.0, hold_cost_per_s=0.5, max_ttl_s=300.0) == break_even_ttl(
    ...     f, benefit_s=10.0, hold_cost_per_s=0.5, max_ttl_s=300.0)
    True
    """
    p0 = fit.p_zero
    if p0 >= 1.0 or benefit_s <= 0:
        return 0.0
    cost = hold_cost_per_s * (1.0 - p0)  # the same product as c * pos * emin, evaluated left first
    hit_last = _LAST.get(id(fit))
    if hit_last is not None and hit_last[0] is fit and hit_last[1] == max_ttl_s:
        last = hit_last[2]
    else:
        last = _last_row(fit, max_ttl_s)
    if last is not None and cost >= 0 and benefit_s < math.inf:
        # the loop's answer is the last TTL when its value beats every other row's by the
        # rule's 1e-12: each is at most F(tau) b with F(tau) below the bound (module notes)
        tau, f_all, emin, f_bound = last
        if f_all * benefit_s - cost * emin > f_bound * benefit_s * (1.0 + 1e-9) + 1e-12:
            return tau
    hit = _TABLES.get(id(fit))
    if hit is not None and hit[0] is fit and hit[1] == max_ttl_s:
        table = hit[2]
    else:
        table = _ttl_table(fit, max_ttl_s)
    best, best_u = 0.0, 0.0
    for tau, f_all, emin in table:
        u = f_all * benefit_s - cost * emin
        if u > best_u + 1e-12:
            best, best_u = tau, u
    return best


_LAST: dict[int, tuple[LogNormalFit, float, tuple[float, float, float, float] | None]] = {}
"""The last row of each fit's table and the bound of the others (:func:`_last_row`), by
the identity of the fit, as :data:`_TABLES`."""


def _last_row(fit: LogNormalFit, max_ttl_s: float) -> tuple[float, float, float, float] | None:
    """The last row of :func:`_ttl_table` (the 0.99 quantile), computed as the table
    computes it, and a bound above every other row's ``F(tau)`` (None: no such row).

    The other rows' TTLs are at most the 0.975 quantile ``exp(mu + sigma z)``, whose
    ``F`` is ``Phi(zt)`` with ``zt = (ln tau - mu) / sigma``: ``z`` up to the rounding of
    ``exp``, ``log``, the sum and the quotient (at most ``(|mu| + 3 sigma + 1) 1e-14 /
    sigma + 1e-14`` with ``|z| < 3``, generously), and ``Phi`` rises at most 0.4 per
    unit: ``F <= 0.975 + 0.4 err + 1e-12`` (the last term for ``erfc``'s rounding and
    the grid's ``z``). A capped row's TTL is smaller still.
    """
    p0, mu, sigma = fit.p_zero, fit.mu, fit.sigma
    row: tuple[float, float, float, float] | None = None
    if sigma > 0:
        pos = 1.0 - p0
        tau = math.exp(mu + sigma * _Z[-1])
        if max_ttl_s < tau:
            tau = max_ttl_s
        if tau > 0:
            mean_pos = math.exp(mu + sigma * sigma / 2.0)
            zt = (math.log(tau) - mu) / sigma
            f = 0.5 * math.erfc(-zt / _SQRT2)
            emin = mean_pos * (0.5 * math.erfc(-(zt - sigma) / _SQRT2)) + tau * (1.0 - f)
            err = (abs(mu) + 3.0 * sigma + 1.0) * 1e-14 / sigma + 1e-14
            row = (tau, p0 + pos * f, emin, p0 + pos * (_GRID[-2] + 0.4 * err + 1e-12))
    if len(_LAST) >= 256:
        _LAST.clear()
    _LAST[id(fit)] = (fit, max_ttl_s, row)
    return row


_TABLES: dict[int, tuple[LogNormalFit, float, tuple[tuple[float, float, float], ...]]] = {}
"""The latest tables by the identity of their fit (the fit held, so its id stays its
own): the predictor's fit of a tool is one object until the tool's next sample, and
hashing a fit's four fields costs more than the lookup."""


def _ttl_table(fit: LogNormalFit, max_ttl_s: float) -> tuple[tuple[float, float, float], ...]:
    """``(tau, F(tau), E[min(D, tau) | D > 0])`` for each TTL :func:`break_even_ttl`
    weighs: they depend on the fit and the cap alone, so they are computed once per fit
    (kept in :data:`_TABLES`), with the same operations as when they were computed per
    call."""
    p0, mu, sigma = fit.p_zero, fit.mu, fit.sigma
    pos = 1.0 - p0
    mean_pos = math.exp(mu + sigma * sigma / 2.0)
    out = []
    if sigma > 0:
        exp, log, erfc = math.exp, math.log, math.erfc
        for z in _Z:
            tau = exp(mu + sigma * z)
            if max_ttl_s < tau:
                tau = max_ttl_s  # min(tau, max_ttl_s)
            if tau <= 0:
                continue
            zt = (log(tau) - mu) / sigma
            f = 0.5 * erfc(-zt / _SQRT2)  # _phi, inlined
            out.append((tau, p0 + pos * f,
                        mean_pos * (0.5 * erfc(-(zt - sigma) / _SQRT2)) + tau * (1.0 - f)))
    else:
        tau = min(math.exp(mu), max_ttl_s)
        if tau > 0:
            f = 1.0 if tau >= math.exp(mu) else 0.0
            out.append((tau, p0 + pos * f, min(math.exp(mu), tau)))
    table = tuple(out)
    if len(_TABLES) >= 256:
        _TABLES.clear()
    _TABLES[id(fit)] = (fit, max_ttl_s, table)
    return table


@dataclass(frozen=True, slots=True)
class SagacoreCacheConfig:
    """Parameters of :class:`SagacoreCache` (fallbacks only: the context's costs win)."""

    recompute_s_per_token: float = 1e-4
    """Prefill seconds per token when the context gives none."""
    swap_s_per_token: float = 2.6e-5
    """Host round trip seconds per token when the context gives none."""
    max_ttl_s: float = 300.0
    """Longest pin, seconds (SAGA's and Continuum's cap)."""
    pin: bool = False
    """Whether to pin sessions' KV through their tools (the stack does; cache-only replay,
    where a pin only overrides the ranking, does not: see the module notes)."""
    swap: bool = False
    """Whether to swap KV that would surely be evicted (see the module notes)."""
    pressure: str = "occupied"
    """How memory pressure ``m`` is read: ``"occupied"``, the fraction of KV holding
    anything (in use or cached), or ``"in-use"``, only what calls, pins and transfers
    hold (:attr:`~sagacore.policy.CacheContext.used_fraction`)."""
    next_use: NextUseConfig = field(default_factory=NextUseConfig)
    """The eviction ranking's parameters."""
    adaptive: bool = True
    """Whether eviction follows whichever of ``next-use``'s ranking and LRU has lately
    been right more often where they disagreed (:class:`~sagacore.cache.adaptive.Duel`);
    False: ``next-use``'s ranking always."""
    half_life: float = 256.0
    """Decided duels after which a win counts half (:class:`~sagacore.cache.adaptive.Duel`)."""
    weigh_tokens: bool = True
    """Whether a duel's win is the wrong nominee's tokens (what evicting it cost) rather
    than one."""

    def __post_init__(self) -> None:
        positive("recompute_s_per_token", self.recompute_s_per_token)
        positive("swap_s_per_token", self.swap_s_per_token)
        positive("max_ttl_s", self.max_ttl_s)
        check(at_least("half_life", self.half_life, 0) > 0, "half_life", self.half_life,
              "a number > 0 (math.inf: never forget)")  # fmt: skip
        if self.pressure not in ("occupied", "in-use"):
            raise ConfigError(f"pressure must be 'occupied' or 'in-use', got {self.pressure!r}")


class SagacoreCache(CachePolicy):
    """Adaptive eviction (next-use or LRU, by their duels) and break-even keep/swap
    retention (module docs)."""

    name: ClassVar[str] = "sagacore"
    needs_predictor: ClassVar[bool] = True

    def __init__(self, config: SagacoreCacheConfig | None = None) -> None:
        self.config = config if config is not None else SagacoreCacheConfig()
        self.ranking = NextUse(self.config.next_use)
        self.duel = Duel(self.config.half_life)
        """The score of ``next-use`` (expert 0) against LRU (expert 1)."""

    @classmethod
    def from_context(cls, ctx: BuildContext, config: SagacoreCacheConfig | None = None) -> Self:
        """The policy with ``config`` (a stack passes its own: the ``sagacore`` stack
        pins, :class:`~sagacore.build.Configured`)."""
        return cls(config)

    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        """The leading expert's nominee; a disagreement is recorded as a duel.

        Without :attr:`SagacoreCacheConfig.adaptive`, or where the entries carry no
        ``last_segment`` key (an engine whose cache does not offer it), no duel is ever
        decided and this is :class:`~sagacore.cache.next_use.NextUse`'s victim.
        """
        best = self.ranking.rank(candidates, ctx)
        if self.config.adaptive:
            lru = lru_index(candidates)
            if lru != best:
                k0 = getattr(candidates[best], "last_segment", None)
                k1 = getattr(candidates[lru], "last_segment", None)
                if isinstance(k0, int) and isinstance(k1, int):
                    if self.config.weigh_tokens:
                        self.duel.record(k0, k1, candidates[best].tokens, candidates[lru].tokens)
                    else:
                        self.duel.record(k0, k1)
                if self.duel.leader == 1:
                    best = lru
        self.ranking.evicted(candidates[best], ctx)
        return best

    def observe_lookup(self, segments: Sequence[int], now: float) -> None:
        """Decides the duels whose nominees the request needs."""
        if self.config.adaptive:
            self.duel.observe(segments)

    def observe_access(self, entry: CacheEntryView, now: float) -> None:
        """Feeds the ranking's reuse model."""
        self.ranking.observe_access(entry, now)

    def observe_tool_end(self, task_id: TaskId, tool: str, seconds: float, now: float) -> None:
        """Feeds the ranking's gap model."""
        self.ranking.observe_tool_end(task_id, tool, seconds, now)

    def retention(self, session: SessionView, ctx: CacheContext) -> RetentionDecision:
        """Pin for the break-even TTL, else swap what would surely be evicted, else keep."""
        self.ranking.retention(session, ctx)  # the ranking records the session's features
        c = self.config
        if (not (c.pin or c.swap) or ctx.predictor is None or not session.has_successor
                or ctx.capacity_tokens <= 0):
            return CACHE_ONLY
        n = float(session.context_tokens)
        cap = float(ctx.capacity_tokens)
        held = ctx.used_tokens + (ctx.cached_free_tokens if c.pressure == "occupied" else 0)
        m = min(1.0, max(0.0, held / cap))
        r = ctx.recompute_seconds_per_token or c.recompute_s_per_token
        ttl = break_even_ttl(
            ctx.predictor.tool_duration(session.tool),
            benefit_s=n * r,
            hold_cost_per_s=m * n / cap,
            max_ttl_s=c.max_ttl_s,
        )
        if ttl > 0 and c.pin:
            return RetentionDecision(Retention.KEEP, ttl)
        s = ctx.swap_seconds_per_token or c.swap_s_per_token
        if c.swap and s < r and n > (1.0 - m) * cap:
            return RetentionDecision(Retention.SWAP)
        return CACHE_ONLY
