"""``next-use``: approximate Belady's MIN with predicted times of next use.

Belady's MIN evicts the block used again farthest in the future, and on the real traces
it comes within about 1% of the LP lower bound FOO-L (``docs/caching.md``,
section 5). This policy evicts the candidate whose **predicted time until next use**,
``T``, is largest, predicting ``T`` from what an online policy can know:

1. **A live session's own context** (the entry belongs to one task the predictor tracks):
   the execution graph says whether the task calls the LLM again (``p``, from
   :meth:`~sagacore.workload.predictor.Predictor.next_step`) and the policy predicts
   when. ``T = r / p`` with ``r`` the expected time left before the next call:

   - once :class:`GapModel` has ``min_gap_samples`` observations, ``r`` is the expected
     residual ``E[G - e | G > e]`` of a log-normal gap ``G`` whose log-mean is a
     regression, learned online, on what the session showed when it entered its tool
     (:meth:`NextUse.retention`): the output and prompt lengths of the LLM call that
     just ended (from the predictor: a long output means a long LLM call, which the gap
     includes in cache-only replay) and its own mean gap so far; ``e`` is the time
     since the tool started;
   - before that, the session's own EMA of its gaps minus the elapsed time, else the
     tool's expected residual (:meth:`~sagacore.workload.predictor.Predictor.next_step`);
   - a session not in a tool (its last step called none: in a ReAct agent, the final
     answer) has ``r`` = its mean gap, so a small ``p`` makes ``T`` large.
2. **Everything else** (prefixes shared by several sessions, contexts of sessions that
   ended, requests of traces without sessions): a reuse model learned online. Entries
   are classed by owner (shared or ended) and by hit count (0, 1, 2, 3-4, 5-9, 10+).
   For each class the policy keeps a histogram, over log-spaced time bins, of the gaps
   after which entries were reused (from :meth:`observe_access`) and of the idle times
   at which entries were evicted unreused (censored observations, from
   :meth:`victim`). A Kaplan-Meier estimate gives the reuse-time distribution ``F``
   within ``horizon_s``, and the entry's size (by doublings from 512 tokens) scales its
   hazard: proportional hazards, :class:`ReuseModel`. For an entry idle for ``a``
   seconds,

       T(a) = E[G - a | a < G <= H] / P(G <= H | G > a),

   the expected wait until reuse divided by the chance that it comes at all. A class
   with no reuse observed has ``T = inf``; one with fewer than ``min_samples``
   observations falls back to the idle time (LRU order).

Ties go to the least recently used entry. The policy keeps KV cached unpinned while
tools run (pins would only restrict the ranking); :meth:`NextUse.retention` only
records the session's features. The learned state is per policy object: use one
object per cache.

**Why the session-gap models are this policy's, not the predictor's.** The workflow
knowledge it needs it asks the shared predictor: whether a session continues
(``next_step``), a tool's expected residual and mean (the fallbacks), the tokens of the
step that just ended (``step_tokens``). What it learns itself is another quantity, kept
per cache: the gap before a session next uses *this cache*, as the mechanism reports it
to :meth:`NextUse.observe_tool_end` (the tool's duration in the simulator; in cache-only
replay the whole gap between the session's requests, LLM time included, which the
predictor, fed tool durations, never sees), learned only from the sessions this cache
served (a session's EMA restarts when it moves to another instance; the regression
pools one instance's sessions, not the cluster's). Answering these from the shared
predictor would change what every ``next-use`` and ``sagacore`` run evicts, so they stay
here.

Examples
--------
>>> from types import SimpleNamespace as E
>>> from sagacore.policy import CacheContext
>>> pol = NextUse(NextUseConfig(min_samples=1))
>>> hot = E(entry_id=1, hits=3, created_s=0.0, last_access_s=0.0, task_id=None, tokens=9,
...         tool=None, tool_started_s=None)
>>> for t in (1.0, 2.0, 3.0):  # reused every second
...     hot.last_access_s = t
...     pol.observe_access(hot, t)
>>> cold = E(entry_id=2, hits=0, created_s=2.0, last_access_s=2.0, task_id="ended", tokens=9,
...          tool=None, tool_started_s=None)
>>> pol.victim([hot, cold], CacheContext(now=3.5, capacity_tokens=10, used_tokens=10))
1
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from sagacore.cache._common import active_tasks, next_call
from sagacore.errors import ConfigError
from sagacore.policy import (
    CACHE_ONLY,
    CacheContext,
    CacheEntryView,
    CachePolicy,
    RetentionDecision,
    SessionView,
)
from sagacore.validate import positive, positive_int
from sagacore.workload.model import TaskId
from sagacore.workload.predictor import LogNormalFit, Predictor

__all__ = ["GapModel", "NextUse", "NextUseConfig", "ReuseModel"]

_HIT_CLASSES = (0, 1, 2, 3, 3, 4, 4, 4, 4, 4)  # hits -> class; 10+ -> 5


def _hit_class(hits: int) -> int:
    return _HIT_CLASSES[hits] if hits < 10 else 5


_SIZE_CLASSES = 7


def _size_class(tokens: int) -> int:
    """0 below 512 tokens, then one class per doubling, 6 from 16,384 tokens."""
    return min(max(int(tokens).bit_length() - 9, 0), _SIZE_CLASSES - 1)


@dataclass(frozen=True, slots=True)
class NextUseConfig:
    """Parameters of :class:`NextUse`."""

    horizon_s: float = 3600.0
    """Reuse later than this counts as never (the Kaplan-Meier window), seconds."""
    min_time_s: float = 1e-3
    """Smallest time bin edge, seconds (shorter gaps fall in the first bin)."""
    bins: int = 48
    """Log-spaced time bins between ``min_time_s`` and ``horizon_s``."""
    min_samples: int = 20
    """Observations a class needs before its model replaces the idle time."""
    refresh_every: int = 64
    """Observations between recomputations of a class's estimate."""
    min_continue: float = 1e-3
    """Floor of a live session's continuation probability (``T = r / p``)."""
    session_alpha: float = 0.3
    """Weight of the newest tool time in a session's own gap estimate (EMA)."""
    size_classes: bool = True
    """Let an entry's size scale its class's reuse hazard (:class:`ReuseModel`; sizes by
    doublings from 512 tokens) instead of ignoring it."""
    size_prior: float = 20.0
    """Pseudo-observations that pull a size class's hazard ratio towards 1."""
    gap_model: bool = True
    """Predict a live session's gap with :class:`GapModel` once it has enough samples
    (False: the session's EMA, as before the model)."""
    min_gap_samples: int = 30
    """Gaps :class:`GapModel` needs before its prediction is used."""
    gap_ridge: float = 1.0
    """Ridge weight of :class:`GapModel`'s least squares (keeps it solvable early)."""
    default_gap_s: float = 1.0
    """A session's mean gap before any is observed and without a predictor, seconds."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.horizon_s) and self.horizon_s > self.min_time_s > 0):
            raise ConfigError(
                f"need horizon_s > min_time_s > 0, got {self.horizon_s!r}, {self.min_time_s!r}"
            )
        for name in ("bins", "min_samples", "refresh_every", "min_gap_samples"):
            positive_int(name, getattr(self, name))
        if not 0 < self.session_alpha <= 1:
            raise ConfigError(f"session_alpha must be in (0, 1], got {self.session_alpha!r}")
        if not 0 < self.min_continue <= 1:
            raise ConfigError(f"min_continue must be in (0, 1], got {self.min_continue!r}")
        for name in ("gap_ridge", "default_gap_s", "size_prior"):
            positive(name, getattr(self, name))


class ReuseModel:
    """Reuse-time model of one class of entries, by size (see :class:`NextUse`).

    A Kaplan-Meier estimate of the class's reuse-time distribution over log-spaced time
    bins, from reuse gaps and censored idle times (entries evicted unreused). With
    ``size_classes`` sub-classes (entries by size), the sub-classes share the
    distribution's shape under proportional hazards: sub-class ``c`` has survival
    ``S(t) ** r_c``, with ``r_c`` its observed reuses over the reuses the class's
    Nelson-Aalen cumulative hazard expects at its observation times, both plus
    ``size_prior`` (so a sub-class with few observations keeps the class's shape; with
    one sub-class ``r = 1`` exactly and the estimate is plain Kaplan-Meier).

    Examples
    --------
    >>> m = ReuseModel(NextUseConfig())
    >>> for g in (1.0, 1.0, 2.0):
    ...     m.add(g, reused=True)
    >>> m.add(10.0, reused=False)
    >>> m.refresh()
    >>> 0 < m.expected_wait(0.0) < m.expected_wait(5.0)
    True

    Two sizes, one reused three times as often at the same times as the other:

    >>> m = ReuseModel(NextUseConfig(size_prior=1.0), size_classes=2)
    >>> for k in range(40):
    ...     m.add(1.0 + k % 4, reused=k % 4 != 0, size_class=0)
    ...     m.add(1.0 + k % 4, reused=k % 4 == 0, size_class=1)
    >>> m.refresh()
    >>> m.expected_wait(0.5, size_class=0) < m.expected_wait(0.5, size_class=1)
    True
    """

    def __init__(self, config: NextUseConfig, size_classes: int = 1) -> None:
        positive_int("size_classes", size_classes)
        self.config = config
        n = config.bins
        self._log_lo = math.log(config.min_time_s)
        self._scale = n / (math.log(config.horizon_s) - self._log_lo)
        edges = np.exp(self._log_lo + np.arange(n + 1) / self._scale)
        self._mid = np.sqrt(edges[:-1] * edges[1:])
        self._mid[0] = edges[1] / 2
        self._lower = np.concatenate([[0.0], edges[1:-1]])  # a bin's lower end (first: 0)
        # rows: size classes; last column: beyond the horizon
        self.reused = np.zeros((size_classes, n + 1))
        self.censored = np.zeros((size_classes, n + 1))
        self.samples = 0
        self._pending = 0
        self._wait = np.full((size_classes, n + 1), math.inf)
        # the histograms of a refresh not yet computed: a refresh is computed when its
        # waits are first read (most are not: the next one comes first), from the
        # histograms as they were at its time
        self._due: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None

    def bin(self, seconds: float) -> int:
        """Time bin of ``seconds`` (``bins`` for beyond the horizon)."""
        if seconds <= self.config.min_time_s:
            return 0
        if seconds >= self.config.horizon_s:
            return self.config.bins
        return min(int((math.log(seconds) - self._log_lo) * self._scale), self.config.bins - 1)

    def add(self, seconds: float, *, reused: bool, size_class: int = 0) -> None:
        """One observation: reused after ``seconds`` idle, or evicted unreused then."""
        b = self.bin(seconds)
        if reused:
            self.reused[size_class, b] += 1
        else:
            self.censored[size_class, b] += 1
        self.samples += 1
        self._pending += 1
        if self._pending >= self.config.refresh_every:
            self._pending = 0
            self._due = (self.reused.copy(), self.censored.copy())  # refreshed when read

    def refresh(self) -> None:
        """Recompute the expected waits from the histograms."""
        self._pending = 0
        self._due = None
        self._refresh(self.reused, self.censored)

    def _waits(self) -> npt.NDArray[np.float64]:
        """The expected waits of the latest refresh."""
        due = self._due
        if due is not None:
            self._due = None
            self._refresh(*due)
        return self._wait

    def _refresh(self, hist_reused: npt.NDArray[np.float64],
                 hist_censored: npt.NDArray[np.float64]) -> None:
        n = self.config.bins
        reused = hist_reused.sum(axis=0)
        seen = reused + hist_censored.sum(axis=0)
        at_risk = np.cumsum(seen[::-1])[::-1][:n]
        with np.errstate(invalid="ignore", divide="ignore"):
            hazard = np.where(at_risk > 0, reused[:n] / at_risk, 0.0)
        surv = np.cumprod(1.0 - hazard)  # S after bin j
        if hist_reused.shape[0] > 1:
            # proportional hazards: observed over expected reuses of each size class
            cum = np.cumsum(hazard)  # Nelson-Aalen, through bin j
            at_obs = np.concatenate([cum, cum[-1:]])
            obs = hist_reused[:, :n].sum(axis=1)
            expected = (hist_reused + hist_censored) @ at_obs
            prior = self.config.size_prior
            rate = (obs + prior) / (expected + prior)
            with np.errstate(divide="ignore"):
                surv = np.exp(rate[:, None] * np.log(surv)[None, :])
        else:
            surv = surv[None, :]
        before = np.concatenate([np.ones((surv.shape[0], 1)), surv[:, :-1]], axis=1)
        mass = before - surv  # P(reuse in bin j)
        tail_mass = np.cumsum(mass[:, ::-1], axis=1)[:, ::-1]  # P(reuse in bins >= b)
        tail_time = np.cumsum((mass * self._mid)[:, ::-1], axis=1)[:, ::-1]
        ok = tail_mass > 1e-12
        # E[G - a | reuse at >= b] / P(reuse at >= b | survived to b), a = bin's lower end
        cond_p = np.where(before > 0, tail_mass / np.maximum(before, 1e-300), 0.0)
        resid = np.where(ok, tail_time / np.where(ok, tail_mass, 1.0) - self._lower, math.inf)
        wait = np.full(self._wait.shape, math.inf)
        wait[:, :n] = np.where(
            ok & (cond_p > 0), np.maximum(resid, 0.0) / np.maximum(cond_p, 1e-300), math.inf
        )
        self._wait = wait

    def expected_waits(
        self,
        idle_s: npt.NDArray[np.float64],
        size_class: npt.NDArray[np.int64] | None = None,
    ) -> npt.NDArray[np.float64]:
        """:meth:`expected_wait` of many idle times (and size classes) at once."""
        c = self.config
        with np.errstate(divide="ignore"):
            b = np.floor((np.log(np.maximum(idle_s, 1e-300)) - self._log_lo) * self._scale)
        b = np.clip(b, 0, c.bins - 1).astype(np.int64)
        b[idle_s <= c.min_time_s] = 0
        b[idle_s >= c.horizon_s] = c.bins
        rows = np.zeros_like(b) if size_class is None else size_class
        return np.asarray(self._waits()[rows, b], dtype=np.float64)

    def expected_wait(self, idle_s: float, size_class: int = 0) -> float:
        """``T`` for an entry idle for ``idle_s`` seconds (``inf`` when reuse is unseen)."""
        return float(self._waits()[size_class, self.bin(idle_s)])


class GapModel:
    """Online log-linear model of a live session's gap before its next LLM call.

    ``log G = theta . x + N(0, sigma^2)`` with features
    ``x = (1, log(1 + output), log(1 + prompt), log(mean gap))``: the output and prompt
    tokens of the session's LLM call that just ended and its own mean gap so far (all
    known when the session enters its tool). ``theta`` is the ridge
    least-squares fit of all observations so far, ``sigma`` its residual standard
    deviation; both are refitted every ``refresh_every`` observations from running sums.

    Examples
    --------
    >>> m = GapModel(NextUseConfig(min_gap_samples=10, refresh_every=1))
    >>> for output in (10, 100, 1000) * 20:  # the gap grows with the output
    ...     m.add(GapModel.features(output, 5000, 2.0), output / 50)
    >>> short = m.fit(GapModel.features(10, 5000, 2.0))
    >>> long = m.fit(GapModel.features(1000, 5000, 2.0))
    >>> short is not None and long is not None and short.mean() < 1.0 < 10.0 < long.mean()
    True
    """

    FEATURES: ClassVar[int] = 4

    def __init__(self, config: NextUseConfig) -> None:
        self.config = config
        k = self.FEATURES
        # running sums as Python floats (NumPy per observation costs more than these
        # products; the sums are the same floats in the same order): X'X's upper triangle
        # row by row (x_i x_j and x_j x_i are the same float, so the lower one is the
        # same sums: _gram mirrors it)
        r = float(config.gap_ridge)
        self._xtx = [r if i == j else 0.0 for i in range(k) for j in range(i, k)]
        self._xty = [0.0] * k
        self._yty = 0.0
        self.samples = 0
        self._pending = 0
        self._theta: npt.NDArray[np.float64] | None = None
        self._sigma = 1.0
        self._fitted = False
        # the sums of a refit not yet computed (computed when theta or sigma is first
        # read: most refits are not, the next one comes first), as they were at its time
        self._due: tuple[list[float], list[float], float, int] | None = None

    @property
    def theta(self) -> npt.NDArray[np.float64] | None:
        """The fitted coefficients (None before the first fit)."""
        if self._due is not None:
            self._refit(*self._due)
        return self._theta

    @property
    def sigma(self) -> float:
        """The residual standard deviation of the fit (1 before the first)."""
        if self._due is not None:
            self._refit(*self._due)
        return self._sigma

    @staticmethod
    def features(output: float, prompt: float, mean_gap: float) -> npt.NDArray[np.float64]:
        """The feature vector of a session (negative token counts count as 0)."""
        return np.array(GapModel.feature_list(output, prompt, mean_gap))

    @staticmethod
    def feature_list(output: float, prompt: float, mean_gap: float) -> list[float]:
        """:meth:`features` as a list (what :meth:`add` reads)."""
        return [
            1.0,
            math.log1p(max(output, 0.0)),
            math.log1p(max(prompt, 0.0)),
            math.log(max(mean_gap, 1e-6)),
        ]

    def add(self, x: npt.NDArray[np.float64] | list[float], seconds: float) -> None:
        """One observed gap of a session whose features were ``x``."""
        if not seconds > 0 or not math.isfinite(seconds):
            return
        y = math.log(seconds)
        xs = x if isinstance(x, list) else x.tolist()
        xtx, xty = self._xtx, self._xty
        if len(xs) == 4:  # FEATURES, written out
            x0, x1, x2, x3 = xs
            xtx[0] += x0 * x0
            xtx[1] += x0 * x1
            xtx[2] += x0 * x2
            xtx[3] += x0 * x3
            xtx[4] += x1 * x1
            xtx[5] += x1 * x2
            xtx[6] += x1 * x3
            xtx[7] += x2 * x2
            xtx[8] += x2 * x3
            xtx[9] += x3 * x3
            xty[0] += x0 * y
            xty[1] += x1 * y
            xty[2] += x2 * y
            xty[3] += x3 * y
        else:
            k = 0
            for i, a in enumerate(xs):
                for b in xs[i:]:
                    xtx[k] += a * b
                    k += 1
                xty[i] += a * y
        self._yty += y * y
        self.samples += 1
        self._pending += 1
        if self.samples >= self.config.min_gap_samples and (
            not self._fitted or self._pending >= self.config.refresh_every
        ):
            self._pending = 0
            self._fitted = True
            self._due = (list(self._xtx), list(self._xty), self._yty, self.samples)

    def refresh(self) -> None:
        """Refit ``theta`` and ``sigma`` from the running sums."""
        self._pending = 0
        self._fitted = True
        self._refit(self._xtx, self._xty, self._yty, self.samples)

    def _refit(self, up: list[float], sums_xy: list[float], yty: float, samples: int) -> None:
        self._due = None
        k = self.FEATURES
        xtx = np.array(self._gram(up), dtype=np.float64).reshape(k, k)
        xty = np.array(sums_xy, dtype=np.float64)
        th = np.asarray(np.linalg.solve(xtx, xty), dtype=np.float64)
        sse = yty - 2.0 * float(th @ xty) + float(th @ xtx @ th)
        self._theta = th
        self._sigma = math.sqrt(max(sse / max(samples, 1), 1e-4))

    def _gram(self, up: list[float] | None = None) -> list[float]:
        """X'X (with the ridge), row-major: the upper triangle ``up`` (default: the sums
        so far) kept, mirrored."""
        k = self.FEATURES
        if up is None:
            up = self._xtx
        row = [0] * k  # where row i's entries (j >= i) start in up
        for i in range(1, k):
            row[i] = row[i - 1] + k - (i - 1)
        return [up[row[i] + j - i] if j >= i else up[row[j] + i - j]
                for i in range(k) for j in range(k)]

    def fit(self, x: npt.NDArray[np.float64]) -> LogNormalFit | None:
        """The predicted gap distribution for features ``x`` (None before enough samples)."""
        if not self._fitted or self.samples < self.config.min_gap_samples:
            return None
        theta = self.theta
        assert theta is not None
        return LogNormalFit(float(theta @ x), self.sigma)


class NextUse(CachePolicy):
    """Evict the entry with the largest predicted time until next use.

    Parameters
    ----------
    config
        Parameters (:class:`NextUseConfig`).

    Notes
    -----
    With exact next-use times instead of predictions this is Belady's MIN, which is
    optimal for unit-size blocks even with the prefix constraint (Theorem 3 of
    ``docs/caching.md``); the predictions are what make it an online policy, so it has
    no optimality guarantee. Its measured ratio to FOO-L is in ``docs/caching.md``.
    """

    name: ClassVar[str] = "next-use"
    needs_predictor: ClassVar[bool] = True

    def __init__(self, config: NextUseConfig | None = None) -> None:
        self.config = config if config is not None else NextUseConfig()
        self._models: dict[tuple[bool, int], ReuseModel] = {}
        self._last: dict[int, float] = {}
        self._gap: dict[TaskId, float] = {}
        self.gaps = GapModel(self.config)
        self._context: dict[TaskId, int] = {}
        self._features: dict[TaskId, tuple[int, list[float]]] = {}
        self._predictor: Predictor | None = None

    def _model(self, shared: bool, hits: int) -> ReuseModel:
        key = (shared, _hit_class(hits))
        m = self._models.get(key)
        if m is None:
            sizes = _SIZE_CLASSES if self.config.size_classes else 1
            m = self._models[key] = ReuseModel(self.config, sizes)
        return m

    def _size(self, tokens: int) -> int:
        return _size_class(tokens) if self.config.size_classes else 0

    def observe_access(self, entry: CacheEntryView, now: float) -> None:
        """Record the gap since the entry's previous use in the class it had before.

        Reuse of an entry whose owning session is live is not recorded (the owner reuses
        it, and the execution graph predicts that); reuse of a shared entry, or of one
        whose owner has ended (another session's, as in a Mooncake trace, where every
        request is a session of one call), is. Liveness is read from the predictor of
        the last :class:`~sagacore.policy.CacheContext` seen; without one, every owned
        entry counts as live.
        """
        prev = self._last.get(entry.entry_id, entry.created_s)
        self._last[entry.entry_id] = now
        if entry.task_id is not None and self._owner_live(entry.task_id):
            return  # a session reusing its own context: the live model covers it
        before = max(entry.hits - 1, 0)
        # the class it was in: owned (by a session now gone) when fresh, else shared
        self._model(before > 0, before).add(
            max(0.0, now - prev), reused=True, size_class=self._size(entry.tokens)
        )

    def _owner_live(self, task: TaskId) -> bool:
        """Whether ``task`` has started and not ended, by the predictor last seen (True
        without a predictor)."""
        p = self._predictor
        return p is None or p.is_active(task)

    def retention(self, session: SessionView, ctx: CacheContext) -> RetentionDecision:
        """Keep the KV, unpinned; record the session's features for :class:`GapModel`."""
        self._predictor = ctx.predictor
        task = session.task_id
        context = session.context_tokens
        growth = context - self._context.get(task, 0)
        self._context[task] = context
        p = ctx.predictor
        seen = p.step_tokens(task, session.step) if p is not None else None
        # without the predictor's record, the context's growth stands in for the output
        prompt, output = seen if seen is not None else (context - growth, growth)
        mean_gap = self._gap.get(task)
        if mean_gap is None:
            mean_gap = p.tool_duration(session.tool).mean() if p is not None else 0.0
            if not mean_gap > 0:
                mean_gap = self.config.default_gap_s
        self._features[task] = (session.step, GapModel.feature_list(output, prompt, mean_gap))
        return CACHE_ONLY

    def observe_tool_end(self, task_id: TaskId, tool: str, seconds: float, now: float) -> None:
        """Update the session's own gap estimate (an EMA of its tool calls) and the
        :class:`GapModel` (the gap paired with the features of the session's last step)."""
        feats = self._features.get(task_id)
        if feats is not None:
            self.gaps.add(feats[1], seconds)
        a = self.config.session_alpha
        old = self._gap.get(task_id)
        self._gap[task_id] = seconds if old is None else old + a * (seconds - old)

    def predicted_wait(
        self,
        entry: CacheEntryView,
        ctx: CacheContext,
        active: frozenset[TaskId] | None = None,
    ) -> float:
        """``T`` of one candidate (see the module notes)."""
        live = next_call(ctx, entry, active)
        if live is not None:
            p, secs = live
            task = entry.task_id
            own = self._gap.get(task) if task is not None else None
            if entry.tool is None:
                # not in a tool: it runs next if it continues (p), else never
                secs = own if own is not None else 0.0
            else:
                started = entry.tool_started_s
                elapsed = max(0.0, ctx.now - started) if started is not None else 0.0
                fit = self._gap_fit(entry)
                if fit is not None:
                    secs = fit.expected_residual(elapsed)
                elif own is not None and own > elapsed:
                    secs = own - elapsed
            return secs / max(p, self.config.min_continue)
        idle = max(0.0, ctx.now - entry.last_access_s)
        m = self._model(entry.task_id is None, entry.hits)
        if m.samples < self.config.min_samples:
            return idle
        return m.expected_wait(idle, self._size(entry.tokens))

    def _gap_fit(self, entry: CacheEntryView) -> LogNormalFit | None:
        """:class:`GapModel`'s gap distribution for the entry's session, if it applies."""
        if not self.config.gap_model or entry.task_id is None:
            return None
        feats = self._features.get(entry.task_id)
        if feats is None or feats[0] != entry.step:
            return None
        return self.gaps.fit(np.array(feats[1]))

    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        """Index of the candidate predicted to be used last; records it as censored
        (:meth:`rank`, then :meth:`evicted`)."""
        best = self.rank(candidates, ctx)
        self.evicted(candidates[best], ctx)
        return best

    def rank(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        """Index of the candidate predicted to be used last, recording nothing.

        Scores each learned class's candidates at once (NumPy); only entries of live
        sessions are scored one by one. Ties: least recently used, then the
        smallest ``entry_id``.
        """
        now = ctx.now
        self._predictor = ctx.predictor
        active = active_tasks(ctx)
        # a few candidates (about a dozen on the bundled trace): their keys in Python, the
        # learned classes' waits in NumPy over each class's candidates, as one array over
        # all of them with a mask would select them (the same values, the same order)
        last = [e.last_access_s for e in candidates]
        idle = [max(now - x, 0.0) for x in last]
        wait = idle.copy()
        sized = self.config.size_classes
        classes = [(e.task_id is None, _hit_class(e.hits), _size_class(e.tokens) if sized else 0)
                   for e in candidates]
        for key, m in self._models.items():
            if m.samples < self.config.min_samples:
                continue
            sel = [i for i, (sh, k, _) in enumerate(classes) if sh == key[0] and k == key[1]]
            if sel:
                ws = m.expected_waits(np.array([idle[i] for i in sel], dtype=np.float64),
                                      np.array([classes[i][2] for i in sel], dtype=np.int64))
                for i, x in zip(sel, ws.tolist(), strict=True):
                    wait[i] = x
        if active:
            for i, e in enumerate(candidates):
                t = e.task_id
                if t is not None and t in active:
                    wait[i] = self.predicted_wait(candidates[i], ctx, active)
        # largest wait, then least recently used, then the smallest id (the first on a tie)
        return min(range(len(candidates)),
                   key=lambda i: (-wait[i], last[i], candidates[i].entry_id))

    def evicted(self, entry: CacheEntryView, ctx: CacheContext) -> None:
        """Record that ``entry`` (chosen by this ranking or another) is being evicted.

        Unless it belongs to a live session, its idle time is a censored observation of
        its class's reuse time (it was not reused within it).
        """
        self._predictor = ctx.predictor
        task = entry.task_id
        active = active_tasks(ctx)
        if task is None or not active or task not in active:
            idle = max(0.0, ctx.now - entry.last_access_s)
            self._model(task is None, entry.hits).add(
                idle, reused=False, size_class=self._size(entry.tokens)
            )
        self._last.pop(entry.entry_id, None)
