"""Continuum: pin a session's KV with a time-to-live while its tool runs.

Continuum (Li et al., 2025, arXiv:2511.02230) pins the KV of a request that ends in a
tool call for a TTL chosen by weighing the benefit of still holding it when the tool
returns (no reload or re-prefill, no extra queueing) against the memory it occupies
meanwhile, using the tool type's duration distribution; the pin expires on its own so a
long tool cannot hold memory indefinitely. Eviction of unpinned KV is vLLM's LRU.
Program-level FCFS is a scheduler concern (:mod:`sagacore.sched`), not part of this
policy.

The TTL here maximises, over a grid of the tool's duration quantiles (and 0),

    U(tau) = F(tau) * (n * recompute_s_per_token + queue_delay_s)
             - memory_weight * (n / capacity) * E[min(D, tau)]

with ``n`` the session's context tokens, ``F`` the CDF of the tool's duration ``D`` (the
predictor's log-normal fit) and ``E[min(D, tau)] = integral_0^tau (1 - F)``. Both terms
are in seconds of GPU time: the benefit is the prefill saved (and the queueing avoided),
the cost the time the GPU's memory is held at the session's share of it. The exact
utility of the paper was not available to us; this form, the grid and the parameters
are our choice (documented, each a :class:`ContinuumConfig` field). Without a predictor
or a successor the KV stays cached unpinned.

Examples
--------
>>> from types import SimpleNamespace as S
>>> from sagacore.policy import CacheContext
>>> from sagacore.workload.predictor import Predictor
>>> ctx = CacheContext(now=0.0, capacity_tokens=100_000, used_tokens=50_000,
...                    predictor=Predictor(), recompute_seconds_per_token=1e-4)
>>> s = S(task_id="t", agent_type="a", step=0, tool="bash", context_tokens=20_000,
...       has_successor=True)
>>> d = ContinuumTTL().retention(s, ctx)
>>> d.action.value, d.ttl_s is not None and d.ttl_s > 0.25
('keep', True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np
from scipy.special import ndtr, ndtri

from sagacore.cache.retention import RetentionPolicy
from sagacore.policy import (
    CacheContext,
    CachePolicy,
    Retention,
    RetentionDecision,
    SessionView,
)
from sagacore.validate import positive
from sagacore.workload.predictor import LogNormalFit

__all__ = ["ContinuumConfig", "ContinuumTTL", "best_ttl"]

_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99)


@dataclass(frozen=True, slots=True)
class ContinuumConfig:
    """Parameters of Continuum's TTL choice (our reading of the paper)."""

    recompute_s_per_token: float = 1e-4
    """Prefill seconds per token when the context does not say (``CacheContext``'s wins)."""
    queue_delay_s: float = 0.0
    """Extra queueing a session suffers when its KV is gone on return, seconds."""
    memory_weight: float = 1.0
    """Price of holding the whole cache for one second, in GPU seconds."""
    max_ttl_s: float = 300.0
    """Upper limit of a TTL, seconds."""

    def __post_init__(self) -> None:
        positive("recompute_s_per_token", self.recompute_s_per_token)
        positive("queue_delay_s", self.queue_delay_s, zero_ok=True)
        positive("memory_weight", self.memory_weight, zero_ok=True)
        positive("max_ttl_s", self.max_ttl_s)


def _expected_min(fit: LogNormalFit, tau: float, steps: int = 32) -> float:
    """``E[min(D, tau)] = integral_0^tau (1 - F(x)) dx`` (trapezoid rule)."""
    if tau <= 0:
        return 0.0
    h = tau / steps
    total = 0.0
    prev = 1.0 - fit.p_zero
    for k in range(1, steps + 1):
        cur = 1.0 - fit.cdf(k * h)
        total += 0.5 * (prev + cur) * h
        prev = cur
    return total


def _grid_ttls(fit: LogNormalFit, max_ttl_s: float) -> list[float]:
    """The positive ``min(fit.ppf(q), max_ttl_s)`` over the grid's quantiles ``q``, in
    order: :meth:`LogNormalFit.ppf`'s operations, with one ``ndtri`` call on the array
    of ``r`` (elementwise, the scalar function's values) instead of one per quantile."""
    p0, mu, sigma = fit.p_zero, fit.mu, fit.sigma
    rs = [(q - p0) / (1.0 - p0) for q in _GRID if not q <= p0]  # q <= p0: ppf 0, dropped
    if sigma == 0:
        tau = min(math.exp(mu), max_ttl_s)
        return [tau] * len(rs) if tau > 0 else []
    finite = [r for r in rs if not r >= 1.0]  # r >= 1: ppf inf (rs increase with q)
    z = iter(ndtri(np.array(finite)).tolist()) if finite else iter(())
    exp = math.exp
    out = []
    for r in rs:
        tau = min(exp(mu + sigma * next(z)) if not r >= 1.0 else math.inf, max_ttl_s)
        if tau > 0:
            out.append(tau)
    return out


@lru_cache(maxsize=256)
def _ttl_table(fit: LogNormalFit, max_ttl_s: float) -> tuple[tuple[float, float, float], ...]:
    """``(tau, F(tau), E[min(D, tau)])`` for each positive TTL of the grid.

    What :func:`best_ttl` weighs depends on the fit and the cap alone, not on the
    session, so it is computed once per fit (the predictor's fit of a tool stays the
    same object until the tool's next sample). The values are those of
    :meth:`LogNormalFit.cdf` and :func:`_expected_min`, to the bit: the same operations
    on arrays (elementwise IEEE arithmetic, one ``ndtr`` call, ``math.log`` per point,
    the trapezoid summed in order by ``add.accumulate``).
    """
    taus = _grid_ttls(fit, max_ttl_s)
    if not _on_arrays(fit, taus):
        return tuple((t, fit.cdf(t), _expected_min(fit, t, _STEPS)) for t in taus)
    f, e_min = _trapezoids(fit, taus)
    return tuple(zip(taus, f, e_min, strict=True))


_STEPS = 32
"""Trapezoid steps of :func:`_expected_min` (and of the tables)."""


def _on_arrays(fit: LogNormalFit, taus: list[float]) -> bool:
    """Whether :func:`_trapezoids` gives these TTLs' values (else the scalar rules do)."""
    return not (fit.sigma == 0 or not taus or taus[0] / _STEPS <= 0 or math.isinf(taus[-1]))


def _trapezoids(fit: LogNormalFit, taus: list[float]) -> tuple[list[float], list[float]]:
    """``F(tau)`` and ``E[min(D, tau)]`` of each TTL (:func:`_on_arrays`): the operations
    of :meth:`LogNormalFit.cdf` and :func:`_expected_min` on arrays, each row on its own
    (elementwise arithmetic, ``math.log`` per point, the row's running sum in order), so
    a TTL's values do not depend on the others computed with it."""
    steps = _STEPS
    p0, mu, sigma = fit.p_zero, fit.mu, fit.sigma
    q0 = 1.0 - p0
    h = np.array(taus) / steps
    # every point k h (k = 1..steps) of each TTL's trapezoid, then the TTL itself
    x = np.empty((len(taus), steps + 1))
    x[:, :steps] = np.arange(1, steps + 1) * h[:, None]
    x[:, steps] = taus
    logs = np.fromiter(map(math.log, x.ravel().tolist()), float, x.size).reshape(x.shape)
    f = p0 + q0 * ndtr((logs - mu) / sigma)
    cur = 1.0 - f[:, :steps]
    prev = np.empty_like(cur)
    prev[:, 0] = q0
    prev[:, 1:] = cur[:, :-1]
    # the trapezoid's running sum, term by term in order (accumulate, not a reduction)
    e_min = np.add.accumulate(0.5 * (prev + cur) * h[:, None], axis=1)[:, -1]
    return f[:, steps].tolist(), e_min.tolist()


@lru_cache(maxsize=256)
def _ttl_bounds(
    fit: LogNormalFit, max_ttl_s: float
) -> tuple[float, float, float, tuple[tuple[float, float], ...]] | None:
    """The last TTL's ``(tau, F(tau), E[min(D, tau)])`` as :func:`_ttl_table` has them,
    and for each other TTL its ``F(tau)`` as the table has it and a lower bound of its
    ``E[min(D, tau)]``; None where the table is not computed on arrays.

    The bound: the table's trapezoid of the decreasing ``1 - F`` is at least its right
    Riemann sum, which is at least the coarser right sum over the points ``8 h``,
    ``16 h``, ``24 h``, ``32 h = tau``; less ``1e-9`` of itself and ``1e-12 tau`` for the
    rounding of the sums and of ``1 - F`` at each point (a few units in the last place of
    numbers at most 1, over 32 terms of width ``h``).
    """
    taus = _grid_ttls(fit, max_ttl_s)
    if len(taus) < 2 or not _on_arrays(fit, taus):
        return None
    f_last, e_last = _trapezoids(fit, taus[-1:])
    p0, mu, sigma = fit.p_zero, fit.mu, fit.sigma
    q0 = 1.0 - p0
    rest = taus[:-1]
    h = np.array(rest) / _STEPS
    x = np.empty((len(rest), 4))
    x[:, :3] = np.array([8.0, 16.0, 24.0]) * h[:, None]
    x[:, 3] = rest
    logs = np.fromiter(map(math.log, x.ravel().tolist()), float, x.size).reshape(x.shape)
    f = p0 + q0 * ndtr((logs - mu) / sigma)
    coarse = (8.0 * h) * (1.0 - f).sum(axis=1)
    low = coarse * (1.0 - 1e-9) - 1e-12 * np.array(rest)
    return (taus[-1], f_last[0], e_last[0],
            tuple(zip(f[:, 3].tolist(), low.tolist(), strict=True)))


def best_ttl(
    fit: LogNormalFit,
    *,
    benefit_s: float,
    hold_cost_per_s: float,
    max_ttl_s: float,
) -> float:
    """The TTL in ``{0} U {quantiles of D}`` maximising ``F(tau) b - c E[min(D, tau)]``.

    Examples
    --------
    >>> f = LogNormalFit.prior(1.0, 1.0)
    >>> best_ttl(f, benefit_s=0.0, hold_cost_per_s=1.0, max_ttl_s=300.0)
    0.0
    >>> best_ttl(f, benefit_s=10.0, hold_cost_per_s=0.0, max_ttl_s=300.0) == f.ppf(0.99)
    True
    """
    if hold_cost_per_s >= 0:
        # the last TTL wins where its value beats every other's upper bound (a lower
        # bound of E[min(D, tau)], _ttl_bounds): on the bundled trace it always does,
        # and the other TTLs' trapezoids are never computed
        bounds = _ttl_bounds(fit, max_ttl_s)
        if bounds is not None:
            tau_n, f_n, e_n, rest = bounds
            u_n = f_n * benefit_s - hold_cost_per_s * e_n
            top = 0.0
            for f_tau, e_low in rest:
                u = f_tau * benefit_s - hold_cost_per_s * e_low
                if u > top:
                    top = u
            if u_n > top + 1e-12:
                return tau_n
    best, best_u = 0.0, 0.0
    for tau, f_tau, e_min in _ttl_table(fit, max_ttl_s):
        u = f_tau * benefit_s - hold_cost_per_s * e_min
        if u > best_u + 1e-12:
            best, best_u = tau, u
    return best


class ContinuumTTL(RetentionPolicy):
    """LRU eviction plus a cost-benefit TTL pin while a tool runs."""

    name: ClassVar[str] = "continuum-ttl"
    needs_predictor: ClassVar[bool] = True

    def __init__(self, config: ContinuumConfig | None = None, *, eviction: CachePolicy | None = None) -> None:
        super().__init__(eviction)
        self.config = config if config is not None else ContinuumConfig()

    def retention(self, session: SessionView, ctx: CacheContext) -> RetentionDecision:
        """``KEEP`` pinned for :func:`best_ttl` (unpinned when that is 0)."""
        c = self.config
        if ctx.predictor is None or not session.has_successor or ctx.capacity_tokens <= 0:
            return RetentionDecision(Retention.KEEP)
        per_token = ctx.recompute_seconds_per_token or c.recompute_s_per_token
        n = session.context_tokens
        ttl = best_ttl(
            ctx.predictor.tool_duration(session.tool),
            benefit_s=n * per_token + c.queue_delay_s,
            hold_cost_per_s=c.memory_weight * n / ctx.capacity_tokens,
            max_ttl_s=c.max_ttl_s,
        )
        return RetentionDecision(Retention.KEEP, ttl if ttl > 0 else None)
