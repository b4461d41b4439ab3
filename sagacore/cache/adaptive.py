"""Choosing between two eviction rankings online, by Belady's verdict on their disagreements.

An adaptive cache policy holds two *experts*, rankings that each nominate a victim at
every eviction (in :class:`~sagacore.cache.sagacore.SagacoreCache`: the predicted next
use of :class:`~sagacore.cache.next_use.NextUse` and LRU), and follows the one that has
been right more often lately. :class:`Duel` keeps the score.

**The verdict.** When the experts nominate different entries ``a`` (expert 0's) and
``b`` (expert 1's), Belady's MIN would evict the one whose next use is farther. The
trace tells, later and online, which that was: the first of the two that a request
needs again was the wrong victim, and the expert that nominated it loses the duel
(the other wins). A request *needs* an entry when its prompt contains the entry's last
content segment (the whole entry is a prefix of the prompt, so all of it would have
been a hit): the keys the two nominees carry, and what
:meth:`~sagacore.policy.CachePolicy.observe_lookup` reports. Every disagreement is a
test of both experts whichever is followed, so the selector needs no exploration
(LeCaR's random choice; ARC's ghost lists score only the evictions actually made), and
it is deterministic. This is the comparison that Hawkeye (Jain and Lin, ISCA 2016)
reconstructs from past accesses to train its predictor, used here to choose between
two rankings as set dueling (Qureshi et al., ISCA 2007) chooses between two insertion
policies, but with every disagreement as a sample instead of dedicated sets.

**The score.** A win is worth what the loser's nominee would have cost if evicted
(:meth:`Duel.record` takes both costs; the adaptive policy passes the nominees' tokens,
the prefill a wrong eviction brings back at most; 1 each by default). Each expert's
wins decay by half every ``half_life`` decided duels (the recent past decides; a trace
whose reuse changes shape changes the leader); the leader is the expert with more
decayed wins, expert 0 on a tie (and before any verdict).
Duels where neither entry is needed again stay open; at most ``max_open`` are kept (the
oldest is forgotten first), a memory bound, not a tuning knob: an open duel is
forgotten only when neither nominee has been needed for that many later duels.

Examples
--------
>>> d = Duel(half_life=4)
>>> d.record(10, 20)            # expert 0 nominated the entry keyed 10, expert 1 key 20
>>> d.leader, d.open_duels
(0, 1)
>>> d.observe([1, 2, 10])       # a request needs 10 first: expert 0 was wrong
>>> d.leader, d.open_duels, d.decided
(1, 0, 1)
>>> d.record(30, 40); d.record(50, 60)
>>> d.observe([1, 40]); d.observe([1, 60])   # expert 1 wrong twice
>>> d.leader, [round(w, 3) for w in d.wins]
(0, [1.841, 0.707])
"""

from __future__ import annotations

from collections.abc import Sequence

from sagacore.validate import at_least, check, positive_int

__all__ = ["Duel"]


class Duel:
    """Scores two experts by which of their disagreeing nominees is needed first.

    Parameters
    ----------
    half_life
        Decided duels after which a win counts half (``math.inf``: never forget).
    max_open
        Most undecided duels kept (the oldest is forgotten first).

    Raises
    ------
    ConfigError
        If ``half_life`` is not positive or ``max_open`` is not a positive integer.
    """

    __slots__ = ("_by_key", "_decay", "_duels", "_next", "decided", "max_open", "wins")

    def __init__(self, half_life: float, max_open: int = 65_536) -> None:
        check(at_least("half_life", half_life, 0) > 0, "half_life", half_life,
              "a number > 0 (math.inf: never forget)")  # fmt: skip
        positive_int("max_open", max_open)
        self._decay = 0.5 ** (1.0 / half_life)
        self.max_open = max_open
        self.wins = [0.0, 0.0]
        """Decayed wins of expert 0 and expert 1."""
        self.decided = 0
        """Duels decided so far."""
        self._duels: dict[int, tuple[int, int, float, float]] = {}
        self._by_key: dict[int, list[int]] = {}
        self._next = 0

    @property
    def leader(self) -> int:
        """The expert to follow: the one with more decayed wins (0 on a tie)."""
        return 1 if self.wins[1] > self.wins[0] else 0

    @property
    def open_duels(self) -> int:
        """Duels not decided yet."""
        return len(self._duels)

    def record(self, key0: int, key1: int, cost0: float = 1.0, cost1: float = 1.0) -> None:
        """The experts disagreed: expert 0 nominated the entry keyed ``key0``, expert 1
        the one keyed ``key1`` (equal keys, or a pair already open, record nothing).

        ``cost0`` is what evicting expert 0's nominee costs if it is needed first (its
        tokens, say), and the win it gives expert 1 then; ``cost1`` likewise."""
        if key0 == key1:
            return
        for d in self._by_key.get(key0, ()):
            if key1 in self._duels[d][:2]:
                return
        n = self._next
        self._next += 1
        self._duels[n] = (key0, key1, cost0, cost1)
        self._by_key.setdefault(key0, []).append(n)
        self._by_key.setdefault(key1, []).append(n)
        if len(self._duels) > self.max_open:
            self._forget(next(iter(self._duels)))

    def observe(self, segments: Sequence[int]) -> None:
        """A request needs the entries keyed by ``segments``: decide their open duels."""
        by_key = self._by_key
        if not by_key:
            return
        for s in segments:
            if s in by_key:
                for d in list(by_key.get(s, ())):
                    key0, _, cost0, cost1 = self._duels[d]
                    self._forget(d)
                    w = self.wins
                    w[0] *= self._decay
                    w[1] *= self._decay
                    if s == key0:
                        w[1] += cost0
                    else:
                        w[0] += cost1
                    self.decided += 1

    def _forget(self, d: int) -> None:
        keys = self._duels.pop(d)[:2]
        for k in keys:
            lst = self._by_key[k]
            lst.remove(d)
            if not lst:
                del self._by_key[k]
