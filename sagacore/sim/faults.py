"""Faults a cluster must survive: instances lost, instances slowed, KV migrations failing.

A :class:`FaultSchedule` says what goes wrong and when; the simulator
(:class:`~sagacore.sim.cluster.Simulation`, ``faults=``) makes it happen. Faults are
mechanism, never a policy's concern: policies see only their views, and a lost instance
simply disappears from the list of workers the router is given (see docs/faults.md for
the semantics of each fault, and for what happens to a call caught in one).

The one-line grammar of ``sagacore simulate --faults`` (:func:`parse_faults`)::

    SPEC   := ITEM ("," ITEM)*
    ITEM   := "lose:" INST "@" TIME                    instance INST lost at TIME
            | "slow:" INST "x" FACTOR "@" TIME ["-" TIME]
                                                       its step times x FACTOR from
                                                       TIME (until the second TIME)
            | "migrate-fail:" PROB                     each KV migration fails midway
                                                       with probability PROB
            | "seed:" INT                              seed of those draws (default 0)
    TIME   := NUMBER ["s" | "m" | "h"]                 simulated time (seconds by default)

Instances are numbered from 0, as ``WorkerView.worker_id``.

Examples
--------
>>> f = parse_faults("lose:3@120s, slow:2x4@1m-300s, migrate-fail:0.5")
>>> f.losses, f.slowdowns[0].end_s, f.migration
((InstanceLoss(instance=3, at_s=120.0),), 300.0, MigrationFailure(probability=0.5, midway=0.5))
>>> str(f)
'lose:3@120s,slow:2x4@60s-300s,migrate-fail:0.5'
>>> [str(x) for x in f.items()]
['lose:3@120s', 'slow:2x4@60s-300s', 'migrate-fail:0.5']
>>> parse_faults("slow:2x0.5@60s")
Traceback (most recent call last):
...
sagacore.errors.ConfigError: fault 'slow:2x0.5@60s': the factor must be a finite number >= 1, got '0.5'
>>> parse_faults("lose:0@1s,lose:1@2s").check(2)
Traceback (most recent call last):
...
sagacore.errors.ConfigError: faults lose all 2 instances of the cluster; at least one must remain
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from itertools import pairwise
from typing import Any

from sagacore.errors import ConfigError
from sagacore.validate import positive_int

__all__ = [
    "FaultSchedule",
    "FaultStats",
    "InstanceLoss",
    "MigrationFailure",
    "Slowdown",
    "parse_faults",
]


def _num(x: float) -> str:
    """A number as the grammar writes it (shortest round-trip form, no trailing .0)."""
    return f"{x:g}" if float(f"{x:g}") == x else repr(x)


def _check_instance(owner: str, value: int) -> None:
    positive_int(f"{owner}.instance", value, zero_ok=True)


def _check_time(owner: str, name: str, value: object) -> None:
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or value < 0):
        raise ConfigError(f"{owner}.{name} must be a finite number of seconds >= 0, got {value!r}")


@dataclass(frozen=True)
class InstanceLoss:
    """An engine instance lost for good (a crashed node).

    At ``at_s`` its running and waiting calls are placed again on the instances left
    (those that were running start over: their output so far and their KV are lost),
    and every KV it held (cached, pinned, swapped to its host) is gone.
    """

    instance: int
    """The instance lost (``worker_id``, from 0)."""
    at_s: float
    """When, simulated seconds."""

    def __post_init__(self) -> None:
        _check_instance("InstanceLoss", self.instance)
        _check_time("InstanceLoss", "at_s", self.at_s)

    def __str__(self) -> str:
        return f"lose:{self.instance}@{_num(self.at_s)}s"


@dataclass(frozen=True)
class Slowdown:
    """An instance that runs slower for a while (thermal throttling, a noisy neighbour).

    Every batch step that starts in ``[start_s, end_s)`` takes ``factor`` times the cost
    model's time; a step in flight at ``start_s`` or ``end_s`` keeps the time it was
    planned with. KV transfers (swaps, migrations) are not slowed.
    """

    instance: int
    """The instance slowed (``worker_id``, from 0)."""
    factor: float
    """Multiplier of its step times (>= 1)."""
    start_s: float
    """From when, simulated seconds."""
    end_s: float | None = None
    """Until when (None: to the end)."""

    def __post_init__(self) -> None:
        _check_instance("Slowdown", self.instance)
        f = self.factor
        if isinstance(f, bool) or not isinstance(f, int | float) or not (
                math.isfinite(f) and f >= 1):
            raise ConfigError(f"Slowdown.factor must be a finite number >= 1, got {f!r}")
        _check_time("Slowdown", "start_s", self.start_s)
        if self.end_s is not None:
            _check_time("Slowdown", "end_s", self.end_s)
            if self.end_s <= self.start_s:
                raise ConfigError(
                    f"Slowdown.end_s must be after start_s={self.start_s!r}, got {self.end_s!r}"
                )

    def __str__(self) -> str:
        end = "" if self.end_s is None else f"-{_num(self.end_s)}s"
        return f"slow:{self.instance}x{_num(self.factor)}@{_num(self.start_s)}s{end}"


@dataclass(frozen=True)
class MigrationFailure:
    """KV migrations (a router's work stealing) that fail midway.

    Each migration that copies KV fails with ``probability`` (a seeded draw per
    migration); a failed one aborts after ``midway`` of its transfer time: the call
    returns to the queue of the instance it was taken from and recomputes the KV that
    was being moved (shared prefixes still cached there are reused). It is never run
    twice: it is in exactly one queue or transfer at any time.
    """

    probability: float
    """Chance that a migration fails, in [0, 1]."""
    midway: float = 0.5
    """Share of the transfer time after which a failing migration aborts, in (0, 1]."""

    def __post_init__(self) -> None:
        p = self.probability
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
            raise ConfigError(f"MigrationFailure.probability must be in [0, 1], got {p!r}")
        m = self.midway
        if isinstance(m, bool) or not isinstance(m, int | float) or not 0 < m <= 1:
            raise ConfigError(f"MigrationFailure.midway must be in (0, 1], got {m!r}")

    def __str__(self) -> str:
        return f"migrate-fail:{_num(self.probability)}"


Fault = InstanceLoss | Slowdown | MigrationFailure


@dataclass(frozen=True)
class FaultSchedule:
    """Every fault of a run. Build it directly or with :func:`parse_faults`.

    Validated against a cluster by :meth:`check` (the simulator does it before running).
    """

    losses: tuple[InstanceLoss, ...] = ()
    """Instances lost (each at most once)."""
    slowdowns: tuple[Slowdown, ...] = ()
    """Instances slowed (the windows of one instance do not overlap)."""
    migration: MigrationFailure | None = None
    """Failing migrations (None: migrations never fail)."""
    seed: int = 0
    """Seed of the migration-failure draws."""

    def __post_init__(self) -> None:
        for name, kind in (("losses", InstanceLoss), ("slowdowns", Slowdown)):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(x, kind) for x in value):
                raise ConfigError(
                    f"FaultSchedule.{name} must be a tuple of {kind.__name__}, got {value!r}"
                )
        if self.migration is not None and not isinstance(self.migration, MigrationFailure):
            raise ConfigError(
                f"FaultSchedule.migration must be a MigrationFailure or None, got "
                f"{self.migration!r}"
            )
        positive_int("FaultSchedule.seed", self.seed, zero_ok=True)
        seen: set[int] = set()
        for loss in self.losses:
            if loss.instance in seen:
                raise ConfigError(f"faults lose instance {loss.instance} twice")
            seen.add(loss.instance)
        by_inst: dict[int, list[Slowdown]] = {}
        for s in self.slowdowns:
            by_inst.setdefault(s.instance, []).append(s)
        for inst, ws in by_inst.items():
            ws.sort(key=lambda s: s.start_s)
            for a, b in pairwise(ws):
                if a.end_s is None or a.end_s > b.start_s:
                    raise ConfigError(
                        f"faults slow instance {inst} in overlapping windows ({a} and {b})"
                    )

    @property
    def empty(self) -> bool:
        """No fault at all (a seed alone is no fault)."""
        return not (self.losses or self.slowdowns or self.migration is not None)

    def items(self) -> tuple[Fault, ...]:
        """Each fault alone, in the order :meth:`__str__` writes them."""
        mig: tuple[Fault, ...] = () if self.migration is None else (self.migration,)
        return (*self.losses, *self.slowdowns, *mig)

    def only(self, fault: Fault) -> FaultSchedule:
        """This schedule with ``fault`` alone (same seed): to price each fault by itself."""
        if isinstance(fault, InstanceLoss):
            return FaultSchedule(losses=(fault,), seed=self.seed)
        if isinstance(fault, Slowdown):
            return FaultSchedule(slowdowns=(fault,), seed=self.seed)
        return FaultSchedule(migration=fault, seed=self.seed)

    def check(self, instances: int) -> None:
        """Refuse faults that name a missing instance or lose every instance.

        Raises
        ------
        ConfigError
            Naming the fault and the cluster's size.
        """
        located: tuple[InstanceLoss | Slowdown, ...] = (*self.losses, *self.slowdowns)
        for f in located:
            if f.instance >= instances:
                raise ConfigError(
                    f"fault {str(f)!r}: instance {f.instance} does not exist (the cluster has "
                    f"{instances} instance{'s' if instances != 1 else ''}: "
                    f"{'0' if instances == 1 else f'0-{instances - 1}'})"
                )
        if len(self.losses) >= instances:
            raise ConfigError(
                f"faults lose all {instances} instance{'s' if instances != 1 else ''} of the "
                "cluster; at least one must remain"
            )

    def __str__(self) -> str:
        parts = [str(x) for x in self.items()]
        if self.seed:
            parts.append(f"seed:{self.seed}")
        return ",".join(parts)


@dataclass
class FaultStats:
    """What the faults of a run did (:attr:`Simulation.fault_stats`)."""

    instances_lost: int = 0
    """Instances lost."""
    calls_requeued: int = 0
    """Calls placed again because their instance was lost (running or waiting)."""
    calls_restarted: int = 0
    """Of those, calls that were running: they start over, their output lost."""
    kv_tokens_lost: int = 0
    """KV tokens the running calls held on lost instances (recomputed elsewhere)."""
    failovers: int = 0
    """Calls a router placed on a lost instance, redirected to a live one."""
    migrations_failed: int = 0
    """KV migrations that failed midway."""

    def as_dict(self) -> dict[str, Any]:
        """The counters by name (for JSON)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


_TIME = re.compile(r"^([0-9.eE+-]+)(s|m|h)?$")
_UNIT = {None: 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def _time(item: str, text: str, what: str) -> float:
    m = _TIME.match(text)
    value = math.nan
    if m:
        try:
            value = float(m.group(1)) * _UNIT[m.group(2)]
        except ValueError:
            pass
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(
            f"fault {item!r}: {what} must be a number of seconds >= 0 (or with the unit s, m "
            f"or h), got {text!r}"
        )
    return value


def _instance(item: str, text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise ConfigError(f"fault {item!r}: the instance must be an integer >= 0, got {text!r}")
    return int(text)


def _number(item: str, text: str, what: str, lo: float, hi: float | None = None) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    ok = math.isfinite(value) and value >= lo and (hi is None or value <= hi)
    if not ok:
        rng = f">= {lo:g}" if hi is None else f"in [{lo:g}, {hi:g}]"
        raise ConfigError(f"fault {item!r}: {what} must be a finite number {rng}, got {text!r}")
    return value


def _split(item: str, text: str, sep: str, expected: str) -> tuple[str, str]:
    if text.count(sep) != 1:
        raise ConfigError(f"fault {item!r}: expected {expected}")
    a, b = text.split(sep)
    return a, b


def parse_faults(spec: str) -> FaultSchedule:
    """Read a fault schedule from the one-line grammar of the module notes.

    Raises
    ------
    ConfigError
        Naming the bad item and what was wrong with it.

    Examples
    --------
    >>> parse_faults("lose:1@2m,seed:7")
    FaultSchedule(losses=(InstanceLoss(instance=1, at_s=120.0),), slowdowns=(), migration=None, seed=7)
    >>> parse_faults("lose:1@2m,crash:3")
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: fault 'crash:3': unknown kind 'crash' (known: lose, slow, migrate-fail, seed)
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"faults: empty specification {spec!r}")
    losses: list[InstanceLoss] = []
    slowdowns: list[Slowdown] = []
    migration: MigrationFailure | None = None
    seed: int | None = None
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            raise ConfigError(f"faults {spec!r}: an empty item (two commas, or one at an end)")
        kind, colon, body = item.partition(":")
        kind = kind.strip().lower()
        body = body.strip().lower()
        if not colon or not body:
            raise ConfigError(f"fault {item!r}: expected KIND:VALUE (lose, slow, migrate-fail, "
                              "seed)")
        if kind == "lose":
            inst, at = _split(item, body, "@", "lose:INSTANCE@TIME")
            losses.append(InstanceLoss(_instance(item, inst), _time(item, at, "the time")))
        elif kind == "slow":
            head, when = _split(item, body, "@", "slow:INSTANCExFACTOR@START[-END]")
            inst, fac = _split(item, head, "x", "slow:INSTANCExFACTOR@START[-END]")
            # the window's dash: the first not in an exponent (1e-3s)
            cut = next((i for i, ch in enumerate(when) if ch == "-" and i
                        and when[i - 1] not in "eE"), -1)
            start, end = (when, "") if cut < 0 else (when[:cut], when[cut + 1:])
            t0 = _time(item, start, "the start")
            t1 = _time(item, end, "the end") if cut >= 0 else None
            if t1 is not None and t1 <= t0:
                raise ConfigError(f"fault {item!r}: the end must be after the start")
            slowdowns.append(Slowdown(_instance(item, inst),
                                      _number(item, fac, "the factor", 1.0), t0, t1))
        elif kind == "migrate-fail":
            if migration is not None:
                raise ConfigError(f"fault {item!r}: migrate-fail given twice")
            migration = MigrationFailure(_number(item, body, "the probability", 0.0, 1.0))
        elif kind == "seed":
            if seed is not None:
                raise ConfigError(f"fault {item!r}: seed given twice")
            if not body.isascii() or not body.isdigit() or len(body) > 18:
                raise ConfigError(f"fault {item!r}: the seed must be an integer >= 0, got "
                                  f"{body!r}")
            seed = int(body)
        else:
            raise ConfigError(f"fault {item!r}: unknown kind {kind!r} (known: lose, slow, "
                              "migrate-fail, seed)")
    return FaultSchedule(tuple(losses), tuple(slowdowns), migration, seed or 0)
