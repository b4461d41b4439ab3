"""Mutation testing of the fairness checkers: deliberate bugs that ``proofs/`` must catch.

A checker that passes a broken scheduler proves little. Each :class:`Mutant` is a
small, named, documented bug in the code the theorems are about (the exact models of
:mod:`sagacore.theory.models`, the GPS clock of :mod:`sagacore.theory.fluid`, and the
``sagacore`` stack's ordering policy :class:`~sagacore.sched.srpt_aging.SRPTAging`): a lift
removed, a clock frozen, weights ignored, a window off by one, a charge per request
instead of per token. :func:`applied` installs a mutant for the duration of a ``with``
block by swapping the code of the mutated functions in place (every reference to them,
imported names included, runs the mutant) and restores it on exit; no file is edited.
:func:`kill` runs the checkers of the mutant's theorems (:func:`first_violation`:
targeted families, the grid, Hypothesis, in default mode) until one of them breaks.
``sagacore verify --mutants`` runs the whole :data:`CATALOGUE` and exits non-zero if
any mutant survives; ``tests/test_mutants.py`` replays each mutant's recorded killing
instance (:attr:`Mutant.recorded`) and runs the kill check in CI.

A mutant is a list of :class:`Edit` s: in the source of one function, replace a snippet
(that must occur exactly ``count`` times, so a mutant whose target changed fails loudly
instead of silently testing nothing) by another, recompile in the function's module and
swap ``__code__``.

Examples
--------
>>> from fractions import Fraction as Q
>>> from sagacore.theory.models import Request, serve_vtc
>>> reqs = [Request(1, Q(0), Q(1))] * 3 + [Request(0, Q(2), Q(1))] * 3
>>> [c for _, _, c in serve_vtc(reqs, 2).segments]   # client 0 is lifted at t = 2
[1, 1, 0, 1, 0, 0]
>>> with applied(BY_NAME["vtc-no-lift"]):     # client 0 arrives with counter 0
...     [c for _, _, c in serve_vtc(reqs, 2).segments]
[1, 1, 0, 0, 0, 1]
>>> [c for _, _, c in serve_vtc(reqs, 2).segments]   # restored
[1, 1, 0, 1, 0, 0]
"""

from __future__ import annotations
import __future__

import importlib
import inspect
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction as Q
from types import FunctionType
from typing import Any, Literal

from sagacore.errors import ConfigError
from sagacore.testing.admission import Offers
from sagacore.testing.policy_models import PolicyInstance
from sagacore.testing.routing import IdleSim, IdleTicks, Placements, Ticks
from sagacore.theory.models import AfsTask, Agent, HrrnJob, Request
from sagacore.theory.theorems import Theorem, Violation, first_violation, to_json

__all__ = [
    "BY_NAME",
    "CATALOGUE",
    "TIMEOUT_S",
    "Edit",
    "KillResult",
    "Mutant",
    "applied",
    "kill",
]

Family = Literal["vtc", "wfq", "hrrn", "afs", "justitia", "srpt-aging", "admission",
                 "route"]


@dataclass(frozen=True)
class Edit:
    """One textual change in the source of one function."""

    target: str
    """``module:qualname`` of the function, e.g. ``sagacore.theory.fluid:GpsClock.push``."""
    old: str
    """Snippet of its source to replace."""
    new: str
    """Replacement."""
    count: int = 1
    """How many times ``old`` must occur (all are replaced)."""

    def __post_init__(self) -> None:
        if ":" not in self.target:
            raise ConfigError(f"Edit target must be 'module:qualname', got {self.target!r}")
        if self.count < 1:
            raise ConfigError(f"Edit count must be >= 1, got {self.count}")


@dataclass(frozen=True)
class Mutant:
    """A deliberate bug and the theorems whose checkers must catch it."""

    name: str
    """Short identifier (``verify --mutants`` reports it)."""
    family: Family
    """The discipline it breaks."""
    description: str
    """What the bug is, and why a theorem must notice."""
    edits: tuple[Edit, ...]
    """The changes (applied together)."""
    theorems: tuple[str, ...]
    """Holding theorems whose checkers are run against it, in order."""
    recorded: tuple[str, Any]
    """``(theorem, instance)``: a small instance that kills it, replayed as a regression
    test (it must violate the theorem with the mutant applied, and not without)."""

    def __post_init__(self) -> None:
        if not self.name or not self.edits or not self.theorems:
            raise ConfigError(
                f"mutant {self.name!r} needs a name, edits and theorems, got "
                f"{len(self.edits)} edits and theorems {self.theorems!r}"
            )


def _resolve(target: str) -> FunctionType:
    mod_name, qual = target.split(":")
    obj: Any = importlib.import_module(mod_name)
    for part in qual.split("."):
        obj = getattr(obj, part)
    if isinstance(obj, property) and obj.fget is not None:
        obj = obj.fget
    if not isinstance(obj, FunctionType):
        raise ConfigError(f"{target} is not a plain function")
    return obj


_FLAGS = __future__.annotations.compiler_flag


def _mutated_code(func: FunctionType, edits: Sequence[Edit], label: str) -> Any:
    src = textwrap.dedent(inspect.getsource(func))
    for e in edits:
        found = src.count(e.old)
        if found != e.count:
            raise ConfigError(
                f"mutant {label}: {e.target} has {found} occurrences of {e.old!r}, "
                f"expected {e.count} (the target changed: update the mutant)"
            )
        src = src.replace(e.old, e.new)
    code = compile(src, f"<mutant {label}: {func.__qualname__}>", "exec",
                   flags=_FLAGS, dont_inherit=True)
    ns: dict[str, Any] = {}
    exec(code, func.__globals__, ns)
    new = ns[func.__name__]
    if isinstance(new, property):
        new = new.fget
    if new.__code__.co_freevars != func.__code__.co_freevars:
        raise ConfigError(f"mutant {label}: {func.__qualname__} changed its closure")
    return new.__code__


@contextmanager
def applied(mutant: Mutant) -> Iterator[None]:
    """Install ``mutant`` for the ``with`` block; the original code is restored on exit."""
    by_target: dict[str, list[Edit]] = {}
    for e in mutant.edits:
        by_target.setdefault(e.target, []).append(e)
    swaps = []
    for target, edits in by_target.items():
        func = _resolve(target)
        swaps.append((func, func.__code__, _mutated_code(func, edits, mutant.name)))
    try:
        for func, _, new in swaps:
            func.__code__ = new
        yield
    finally:
        for func, old, _ in swaps:
            func.__code__ = old


@dataclass(frozen=True)
class KillResult:
    """Outcome of :func:`kill`."""

    mutant: Mutant
    """The mutant."""
    theorem: str | None
    """The theorem whose checker killed it (None: it survived)."""
    violation: Violation | None
    """The killing instance and what it violates."""
    seconds: float
    """Wall time of the search."""

    @property
    def killed(self) -> bool:
        """Whether a checker caught the mutant."""
        return self.violation is not None

    def to_json(self) -> dict[str, Any]:
        """As JSON-able data."""
        v = self.violation
        return {
            "mutant": self.mutant.name,
            "family": self.mutant.family,
            "description": self.mutant.description,
            "killed": self.killed,
            "theorem": self.theorem,
            "check": None if v is None else v.kind,
            "instance": None if v is None else to_json(v.instance),
            "violated": [] if v is None else list(v.violated[:3]),
            "seconds": round(self.seconds, 3),
        }


TIMEOUT_S = 120.0
"""Default wall-time limit of one mutant's kill check (:func:`kill`): about 30 times the
slowest catalogued mutant on a loaded 2-core machine."""


def kill(mutant: Mutant, theorems: Sequence[Theorem[Any]], *, smt: bool = False,
         timeout_s: float | None = TIMEOUT_S) -> KillResult:
    """Run the checkers of ``theorems`` (those named by the mutant, in its order) with
    ``mutant`` applied; stop at the first that finds a violating instance.

    Parameters
    ----------
    mutant
        The bug.
    theorems
        Theorems to look the mutant's up in (all of ``proofs/``, for example).
    smt
        Also run the SMT proofs (off: the default kill check needs none).
    timeout_s
        Wall-time limit of the whole check (None: none). Checks still running then stop,
        and the mutant counts as caught with check ``timeout`` and the instance being
        checked: a mutated model that no longer terminates is a bug the checker found
        (mutation testing tools count timeouts the same way). Needs POSIX timers and the
        main thread (``verify --mutants`` runs each mutant in a worker's main thread).

    Raises
    ------
    ConfigError
        A theorem the mutant names is not among ``theorems``, or its edit's target text
        is gone.
    """
    t0 = time.perf_counter()
    by_name = {t.name: t for t in theorems}
    missing = [n for n in mutant.theorems if n not in by_name]
    if missing:
        raise ConfigError(f"mutant {mutant.name}: unknown theorems {missing}")
    with applied(mutant):
        for name in mutant.theorems:
            left = None if timeout_s is None else timeout_s - (time.perf_counter() - t0)
            v = first_violation(by_name[name], smt=smt,
                                deadline_s=None if left is None else max(left, 1e-3))
            if v is not None:
                return KillResult(mutant, name, v, time.perf_counter() - t0)
    return KillResult(mutant, None, None, time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------
# the catalogue
# ---------------------------------------------------------------------------------------

_M = "sagacore.theory.models"
_F = "sagacore.theory.fluid"
_S = "sagacore.sched.srpt_aging"
_A = "sagacore.sched.afs"
_V = "sagacore.sched.vtc"
_R = "sagacore.route.saga"
_I = "sagacore.route.idle_steal:IdleSteal"
_W = "sagacore.sched.admission:WorkingSetAdmission"

def _e(target: str, old: str, new: str, count: int = 1) -> Edit:
    return Edit(target, old, new, count)


def _q(x: int | str) -> Q:
    return Q(x)


def _req(client: int, arrival: int | str, size: int | str, times: int = 1) -> list[Request]:
    return [Request(client, _q(arrival), _q(size))] * times


def _agent(arrival: int, units: Sequence[int], gaps: Sequence[int] = (), weight: int = 1,
           mis: int | str | None = None) -> Agent:
    return Agent(_q(arrival), tuple(_q(u) for u in units), tuple(_q(g) for g in gaps),
                 _q(weight), None if mis is None else _q(mis))


def _jobs(*spec: tuple[int | str, int | str]) -> list[HrrnJob]:
    return [HrrnJob(_q(a), _q(s)) for a, s in spec]


def _task(tenant: int, arrival: int, work: int | str, deadline: int) -> AfsTask:
    return AfsTask(tenant, _q(arrival), _q(work), _q(deadline))


def _pi(tasks: tuple[tuple[int, ...], tuple[int, ...], str], *, wf: bool,
        tool: float = 0.0) -> PolicyInstance:
    """Short calls on two servers, tenants A (weight 3) and B: tasks A and B with the
    given calls and a third task of two 4-token calls of the named tenant."""
    a, b, third = tasks
    return PolicyInstance((("A", 0.0, a), ("B", 0.0, b), (third, 0.0, (4, 4))),
                          (("A", 3.0), ("B", 1.0)), 2.5, tool, 2, wf)


_PI_STAGGERED = PolicyInstance(
    (("A", 0.0, (16, 4, 8)), ("B", 0.0, (32,)), ("C", 0.25, (8, 8)), ("B", 1.0, (16,)),
     ("C", 3.0, (4,)), ("A", 6.0, (8,))), (("A", 1.0), ("B", 2.0), ("C", 3.0)), 0.5, 0.5, 1, True)


_IDLE = ("idle-steal-bounds",)
_ADM = ("sagacore-admission-rule",)


def _offer(task: str, w: int, running: int, cap: int, now: float, step: int = 0,
           prompt: int = 1_600) -> tuple[Any, ...]:
    return ("offer", task, step, prompt, w, running, cap, now)

_BUSY = (0.9, 100, (50, 40))
_IDLE_W = (0.1, 900, ())
_GOT = ((0.9, 100, (40,)), (0.3, 800, (50, 5, 5)), (0.0, 900, ()))
_SETTLING = IdleTicks(((_BUSY, _IDLE_W, (0.95, 100, (5,))),
                       (_BUSY, _IDLE_W, (0.95, 100, (5,))), _GOT, _GOT), settle_s=0.5)
"""Worker 1 steals at tick 1 and queues what it got; worker 2 idles from tick 2: at tick 3
it may take only from worker 0 (worker 1 settles until tick 5)."""

_WFQ = ("wfq-agent", "wfq-unit-tool-gaps", "justitia-delay")
_VC = f"{_F}:GpsClock"
_PVC = "sagacore.sched.fluid:VirtualClock"
_TAG_START = "start = v if prev is None or prev[0] < v else prev[0]"
_HRRN_RATIO = "(t - x.arrival) * y.estimate > (t - y.arrival) * x.estimate"

CATALOGUE: tuple[Mutant, ...] = (
    # ----- VTC (proofs/vtc: vtc-2u)
    Mutant(
        "vtc-no-lift", "vtc",
        "A client that becomes backlogged keeps its old counter instead of being lifted "
        "to the backlogged minimum: returning after an idle period (or arriving late), "
        "it holds the server until its counter catches up, and the other client, "
        "backlogged all along, falls behind by more than 2U.",
        (_e(f"{_M}:serve_vtc", "counter[c] = low\n", "pass\n"),),
        ("vtc-2u",),
        ("vtc-2u", (2, _req(1, 0, 1, 3) + _req(0, 2, 1, 3))),
    ),
    Mutant(
        "vtc-lift-without-max", "vtc",
        "Missing clamp: the lift sets the counter to the backlogged minimum even when "
        "the returning client's own counter is higher (``c = low`` instead of "
        "``c = max(c, low)``), so a client that was served ahead is served again.",
        (_e(f"{_M}:serve_vtc", "if counter[c] < low:", "if True:"),),
        ("vtc-2u",),
        ("vtc-2u", (2, [*_req(0, 0, 1), *_req(0, 1, 1), *_req(0, 2, 1), *_req(1, 0, 1)])),
    ),
    Mutant(
        "vtc-stale-after-idle", "vtc",
        "Stale state after an idle period: when no client is backlogged, a returning "
        "client keeps its own (old, low) counter instead of being lifted to the counter "
        "of the last client to leave; after the server idles, a client that was never "
        "served takes the server from one that was.",
        (_e(f"{_M}:serve_vtc", "low = counter[last_left]", "low = counter[c]"),),
        ("vtc-2u",),
        ("vtc-2u", (2, _req(0, 0, 1, 3) + _req(1, 4, 1, 3) + _req(0, 4, 1, 3))),
    ),
    Mutant(
        "vtc-per-request-charge", "vtc",
        "Counters charged one per request instead of the request's tokens: a client of "
        "large requests gets as many turns as one of small requests, so as much as "
        "U/u_min times the service.",
        (_e(f"{_M}:serve_vtc", "counter[c] = counter[c] + (e - s)",
            "counter[c] = counter[c] + (e - s) / (e - s)"),),
        ("vtc-2u",),
        ("vtc-2u", (2, _req(0, 0, 1, 4) + _req(1, 0, 3, 4))),
    ),
    Mutant(
        "vtc-lift-over-all-clients", "vtc",
        "The lift takes the minimum over every other client, idle ones included: a "
        "client that never sends keeps the minimum at 0, so nobody is ever lifted.",
        (_e(f"{_M}:serve_vtc", "if k != c and is_backlogged(k)]", "if k != c]"),),
        ("vtc-2u",),
        ("vtc-2u", (3, _req(1, 0, 1, 3) + _req(0, 2, 1, 3))),
    ),
    Mutant(
        "vtc-counter-reset-when-idle", "vtc",
        "Stale state the other way: a client's counter is reset to 0 when its queue "
        "empties, so a client with a gap between requests starts from scratch each "
        "time and overtakes one that stayed backlogged.",
        (_e(f"{_M}:serve_vtc", "                last_left = c\n",
            "                last_left = c\n                counter[c] = zero\n"),),
        ("vtc-2u",),
        ("vtc-2u", (2, [*_req(0, 0, 1), *_req(0, 1, 1), *_req(0, 2, 1), *_req(1, 0, 1)])),
    ),
    # ----- the VTC policy as it runs (proofs/vtc: vtc-policy-2u)
    Mutant(
        "vtc-policy-no-lift", "vtc",
        "The policy never commits the lift: a tenant that becomes active keeps its old "
        "counter, and a late tenant holds the server until it catches up.",
        (_e(f"{_V}:VTC._activate", "self.counters[tenant] = self._effective(tenant)",
            "pass"),),
        ("vtc-policy-2u",),
        ("vtc-policy-2u", ("call", [("B", _q(0), 8)] * 8 + [("A", _q(2), 8)] * 4)),
    ),
    Mutant(
        "vtc-policy-waiting-not-active", "vtc",
        "The bug this policy had: in 'call' activity only a running call makes its tenant "
        "active, so a waiting tenant is re-lifted at every decision, the keys tie and the "
        "earlier ready call wins (first come first served).",
        (_e(f"{_V}:VTC.key", "if k not in self._waiting and k not in self._served:",
            "if False:"),),
        ("vtc-policy-2u",),
        ("vtc-policy-2u", ("call", [("A", _q(0), 9)] * 8 + [("B", _q("1/2"), 9)] * 8)),
    ),
    Mutant(
        "vtc-policy-stale-after-idle", "vtc",
        "Stale state after an idle period: the counter of the last tenant to leave is not "
        "recorded, so when the server idled a returning tenant is lifted to an old level "
        "and overtakes one that was served.",
        (_e(f"{_V}:VTC._deactivate", "self._last_left = self.counters.get(tenant, 0.0)",
            "pass"),),
        ("vtc-policy-2u",),
        ("vtc-policy-2u", ("call", [("A", _q(0), 8)] * 3 + [("B", _q(4), 8)] * 4
                           + [("A", _q("17/4"), 8)] * 4)),
    ),
    Mutant(
        "vtc-policy-per-request-charge", "vtc",
        "A call charged 1 at its end instead of its tokens: a tenant of large calls gets "
        "as many turns as one of small calls.",
        (_e(f"{_V}:VTC.observe_call_end", "+ exact - charged", "+ 1.0 - charged"),),
        ("vtc-policy-2u",),
        ("vtc-policy-2u", ("call", [("A", _q(0), 2)] * 6 + [("B", _q(0), 16)] * 4)),
    ),
    Mutant(
        "vtc-policy-ignores-weights", "vtc",
        "The tenant weights ignored: a call's charge is its tokens whatever its tenant's "
        "weight, so a tenant of weight 2 gets the same service as one of weight 1.",
        (_e(f"{_V}:VTC.observe_call_end", ") / self._weight(call.tenant)", ")"),),
        ("vtc-policy-weighted",),
        ("vtc-policy-weighted", ("call", [("A", _q(0), 8)] * 8 + [("B", _q(0), 8)] * 8,
                                 {"A": 1, "B": 2})),
    ),
    # ----- WFQ / virtual clock (proofs/fair_queueing, proofs/justitia_delay)
    Mutant(
        "wfq-frozen-virtual-time", "wfq",
        "Agent-level WFQ with a frozen virtual time: every agent's tag is computed as if "
        "it arrived at time 0 (``F = C / w``), so a late agent with a smaller cost "
        "overtakes one the fluid system has been serving since long before.",
        (_e(f"{_M}:serve_agents", "weight=a.weight, now=a.arrival)",
            "weight=a.weight, now=zero)"),),
        _WFQ,
        ("wfq-agent", [_agent(0, [1] * 4), _agent(2, [1] * 8, weight=3)]),
    ),
    Mutant(
        "wfq-clock-ignores-weights", "wfq",
        "The virtual clock grows at capacity / (number of active sessions) instead of "
        "capacity / (sum of their weights): V runs at the wrong speed whenever weights "
        "differ from 1, and late arrivals get tags that do not match the GPS.",
        (_e(f"{_VC}._step", "weight = live[0][1]\n", "weight = live[0][1] / live[0][1]\n"),
         _e(f"{_VC}._step", "weight = weight + w\n", "weight = weight + w / w\n")),
        _WFQ,
        ("wfq-agent", [_agent(0, [1] * 6, weight=2), _agent(2, [1] * 2, weight=2)]),
    ),
    Mutant(
        "wfq-clock-inverted-rate", "wfq",
        "The virtual time grows at (sum of weights) / capacity instead of its inverse: "
        "V runs fast when many agents are active, so late arrivals get tags behind "
        "agents the fluid system is still serving.",
        (_e(f"{_VC}._step", "v + (until - t) * self.capacity / weight",
            "v + (until - t) * weight / self.capacity"),),
        _WFQ,
        ("wfq-agent", [_agent(0, [1] * 6, weight=2), _agent(2, [1] * 2, weight=2)]),
    ),
    Mutant(
        "wfq-tags-ignore-weights", "wfq",
        "Tags ``F = S + C`` instead of ``S + C / w``: a heavy agent is ordered as if its "
        "weight were 1.",
        (_e(f"{_VC}.push", "tag = start + work / weight", "tag = start + work"),),
        _WFQ,
        ("wfq-agent", [_agent(0, [1] * 4), _agent(2, [1] * 2, weight=3)]),
    ),
    Mutant(
        "wfq-stale-tag-after-idle", "wfq",
        "Missing clamp / stale state after an idle period: a unit's tag starts from the "
        "session's previous tag even when the virtual time has passed it "
        "(``S = F_prev`` instead of ``max(V, F_prev)``); an agent back from a long tool "
        "call jumps ahead of everyone with the credit of its idle time.",
        (_e(f"{_VC}.push", _TAG_START, "start = v if prev is None else prev[0]"),),
        ("wfq-unit-tool-gaps", "wfq-agent", "justitia-delay"),
        ("wfq-unit-tool-gaps", [_agent(0, [1] * 4, [5, 0, 0]), _agent(0, [1] * 6, [0] * 5)]),
    ),
    Mutant(
        "justitia-tags-true-cost", "justitia",
        "Tags from the true cost while the bound is stated on the predicted fluid "
        "system (the scheduler cannot know true costs): an over-predicted agent is "
        "served as if exact, and the bound's g_hat no longer describes the order.",
        (_e(f"{_M}:serve_agents", "fclock.push(j, a.predicted,", "fclock.push(j, a.cost,"),),
        ("justitia-delay",),
        ("justitia-delay", [_agent(0, [1] * 4, mis="1/2"), _agent(2, [1] * 2, weight=3,
                                                                  mis="1/2")]),
    ),
    Mutant(
        "wfq-start-tags", "wfq",
        "Start tags instead of finish tags (``F = S``, the cost left out): agents are "
        "served in order of virtual arrival, first come first served.",
        (_e(f"{_VC}.push", "tag = start + work / weight", "tag = start"),),
        _WFQ,
        ("wfq-agent", [_agent(0, [1] * 2), _agent(0, [1] * 6, weight=2),
                       _agent(6, [1], weight=3)]),
    ),
    Mutant(
        "wfq-real-clock", "wfq",
        "Justitia's agent tags on the real system's active set instead of the fluid "
        "system's (the refuted wfq-agent-real-clock, shipped as the policy).",
        (_e(f"{_M}:serve_agents", 'if tags == "real":', 'if tags != "unit":', 2),),
        _WFQ,
        ("wfq-agent", [_agent(0, [1] * 2), _agent(0, [1] * 6, weight=2),
                       _agent(6, [1], weight=3)]),
    ),
    Mutant(
        "justitia-inverted-prediction", "justitia",
        "The predicted cost computed as true / ratio instead of true * ratio: an agent "
        "predicted at twice its cost is tagged at half of it, an under-prediction the "
        "eps term of the bound does not account for.",
        (_e(f"{_M}:Agent.predicted", "self.cost * self.misprediction",
            "self.cost / self.misprediction"),),
        ("justitia-delay",),
        ("justitia-delay", [_agent(0, [1] * 4, mis=2), _agent(2, [1] * 2, mis=1)]),
    ),
    # ----- the policy's own clock (sagacore.sched.fluid, which Justitia runs; the models
    # use the separate GpsClock): proofs/justitia_delay's policy-versus-model check
    Mutant(
        "justitia-policy-clock-ignores-weights", "justitia",
        "The policy's virtual clock grows at capacity / (number of active sessions) "
        "instead of capacity / (sum of their weights): Justitia's tags drift from the "
        "fluid system whenever weights differ from 1.",
        (_e(f"{_PVC}.advance", "total_w = active[0][1]\n",
            "total_w = active[0][1] / active[0][1]\n"),
         _e(f"{_PVC}.advance", "total_w = total_w + w\n", "total_w = total_w + w / w\n")),
        ("justitia-policy-model",),
        ("justitia-policy-model", [_agent(0, [1] * 4, weight=2), _agent(2, [1] * 2, weight=3)]),
    ),
    Mutant(
        "justitia-policy-clock-frozen", "justitia",
        "The policy's virtual time never advances between events (``V`` stays at its "
        "value): every agent is tagged as if it arrived at time 0.",
        (_e(f"{_PVC}.advance", "v = v + (now - t) * self.capacity / total_w", "v = v"),),
        ("justitia-policy-model",),
        ("justitia-policy-model", [_agent(0, [1] * 4, weight=2), _agent(2, [1] * 4, weight=3)]),
    ),
    Mutant(
        "justitia-policy-tags-ignore-weights", "justitia",
        "The policy's tags ``F = S + C`` instead of ``S + C / w``: a heavy agent is served "
        "as if its weight were 1.",
        (_e(f"{_PVC}.push", "tag = start + work / weight", "tag = start + work"),),
        ("justitia-policy-model",),
        ("justitia-policy-model", [_agent(0, [1] * 4), _agent(2, [1] * 2, weight=3)]),
    ),
    # ----- HRRN (proofs/hrrn: hrrn-wait)
    Mutant(
        "hrrn-wait-over-size-squared", "hrrn",
        "Ageing by wait / size^2 instead of wait / size: a long job ages too slowly, and "
        "short jobs arriving in overload overtake it beyond the window theta W.",
        (_e(f"{_M}:_ratio_gt", _HRRN_RATIO,
            "(t - x.arrival) * y.estimate * y.estimate > "
            "(t - y.arrival) * x.estimate * x.estimate"),),
        ("hrrn-wait",),
        ("hrrn-wait", _jobs((0, 1), (0, 2), ("2/3", 1), ("4/3", 1), (2, 1), ("8/3", 1))),
    ),
    Mutant(
        "hrrn-no-ageing", "hrrn",
        "Shortest job first (the ratio without the wait): a long job starves behind a "
        "stream of short ones.",
        (_e(f"{_M}:_ratio_gt", _HRRN_RATIO, "y.estimate > x.estimate"),),
        ("hrrn-wait",),
        ("hrrn-wait", _jobs((0, 1), (0, 2), ("4/5", 1), ("8/5", 1), ("12/5", 1), ("16/5", 1))),
    ),
    Mutant(
        "hrrn-off-by-one-wait", "hrrn",
        "Off by one: the wait counted as W + 1 second in the ratio, ``(W + 1) / S``: a "
        "constant bonus that favours jobs shorter than a second beyond the window "
        "theta W (the right ratio ``(W + S) / S`` orders as ``W / S``).",
        (_e(f"{_M}:_ratio_gt", _HRRN_RATIO,
            "(t - x.arrival + 1) * y.estimate > (t - y.arrival + 1) * x.estimate"),),
        ("hrrn-wait",),
        ("hrrn-wait", _jobs((0, "1/2"), (0, 2), ("1/2", "1/2"), (1, "1/2"), ("3/2", "1/2"),
                            (2, "1/2"))),
    ),
    Mutant(
        "hrrn-true-size-in-ratio", "hrrn",
        "The ratio computed with the true size while the theorem's window uses the "
        "believed one (what the scheduler can know): a job believed short but long "
        "delays others beyond the bound.",
        (_e(f"{_M}:_ratio_gt", _HRRN_RATIO, "(t - x.arrival) * y.size > (t - y.arrival) * x.size"),),
        ("hrrn-wait",),
        ("hrrn-wait", [HrrnJob(Q(0), Q(2)), HrrnJob(Q(0), Q(3), Q(1)), HrrnJob(Q(1), Q(1))]),
    ),
    Mutant(
        "hrrn-ratio-operands-swapped", "hrrn",
        "The cross-multiplied comparison with its operands mixed up "
        "(``W_y S_y > W_x S_x``): the order no longer follows the response ratio.",
        (_e(f"{_M}:_ratio_gt", _HRRN_RATIO,
            "(t - y.arrival) * y.estimate > (t - x.arrival) * x.estimate"),),
        ("hrrn-wait",),
        ("hrrn-wait", _jobs((0, 1), (0, 2), ("4/5", 1), ("8/5", 1), ("12/5", 1), ("16/5", 1))),
    ),
    # ----- the sagacore stack's ordering (proofs/srpt_aging: srpt-aging-wait), on the policy
    Mutant(
        "srpt-aging-removed", "srpt-aging",
        "SRPTAging without ageing (key R): predicted-SRPT, under which a program with a "
        "large predicted remainder starves behind a stream of shorter ones.",
        (_e(f"{_S}:SRPTAging.key", "self.config.aging * a,", "0.0 * a,"),),
        ("srpt-aging-wait",),
        ("srpt-aging-wait", (1.0, [(0.0, 1.0, 1), (0.0, 1.0, 4)]
                             + [(i / 2, 1.0, 1) for i in range(1, 17)])),
    ),
    Mutant(
        "srpt-aging-ignores-rate", "srpt-aging",
        "The key ages at one second per second whatever the configured rate: with "
        "``aging`` 2 a program is overtaken for twice as long as the policy promises.",
        (_e(f"{_S}:SRPTAging.key", "self.config.aging * a,", "a,"),),
        ("srpt-aging-wait",),
        ("srpt-aging-wait", (2.0, [(0.0, 1.0, 1), (0.0, 1.0, 4)]
                             + [(i / 2, 1.0, 1) for i in range(1, 9)])),
    ),
    Mutant(
        "srpt-aging-by-wait-squared", "srpt-aging",
        "The key ages by ``aging W^2``, ``W`` the program's age (as HRRN's ``W / S^2`` "
        "bug): slower than promised "
        "below one second of waiting, so with a short window ``R / aging`` programs "
        "arriving after it still overtake.",
        (_e(f"{_S}:SRPTAging.key", "self.config.aging * a,",
            "-self.config.aging * (now - a) ** 2,"),),
        ("srpt-aging-wait",),
        ("srpt-aging-wait", (8.0, [(0.0, 1 / 16, 1), (0.0, 1 / 16, 2)]
                             + [(i / 16, 1 / 16, 1) for i in range(1, 17)])),
    ),
    Mutant(
        "srpt-aging-wrong-sign", "srpt-aging",
        "Age raises the key instead of lowering it (``R + aging W``): the longer a "
        "program waits the further back it goes.",
        (_e(f"{_S}:SRPTAging.key", "self.remaining_seconds(call) + self.config.aging * a,",
            "self.remaining_seconds(call) - self.config.aging * a,"),),
        ("srpt-aging-wait",),
        ("srpt-aging-wait", (1.0, [(0.0, 1.0, 1), (0.0, 1.0, 4)]
                             + [(i / 2, 1.0, 1) for i in range(1, 17)])),
    ),
    Mutant(
        "srpt-aging-call-wait-only", "srpt-aging",
        "The key ages by the current call's wait only (from its ready time), not by the "
        "program's age: a program loses its place at every tool call, and a later "
        "program with a shorter remainder overtakes it.",
        (_e(f"{_S}:SRPTAging.key", "a = call.task_arrival_s", "a = call.ready_s"),),
        ("srpt-aging-multi-call",),
        ("srpt-aging-multi-call", (1.0, [(0.0, (0.5,), 0.0, 1), (0.0, (0.5, 0.5), 0.0, 3),
                                         (0.0, (2.0, 0.5), 0.0, 1), (3.5, (0.5,), 0.0, 1)])),
    ),
    # ----- AFS (proofs/saga_afs: saga-afs-wf, saga-afs-capacity)
    Mutant(
        "afs-split-ignores-urgency", "afs",
        "Capacity split equally among the active tenants instead of in proportion to "
        "their urgency (AFS without the AFS): an urgent tenant gets the same as a lax "
        "one although the total demand fits.",
        (_e(f"{_M}:serve_afs", "alloc[i] = capacity * tenant_u[i] / total",
            "alloc[i] = capacity / len(act)"),),
        ("saga-afs-capacity", "saga-afs-wf"),
        ("saga-afs-capacity", ((1, 1), [_task(0, 0, "2/3", 2), _task(1, 0, "2/3", 1),
                                        _task(1, 1, "2/3", 2)])),
    ),
    Mutant(
        "afs-stale-urgency", "afs",
        "Stale state: urgency computed from the work at arrival instead of the "
        "remaining work, so a task that made progress keeps asking for its first "
        "epoch's rate and crowds out a newcomer the capacity had room for.",
        (_e(f"{_M}:serve_afs", "urg[j] = rem[j] / (", "urg[j] = tasks[j].work / ("),),
        ("saga-afs-capacity", "saga-afs-wf"),
        ("saga-afs-capacity", ((1, 1), [_task(0, 0, 1, 2), _task(1, 0, "1/2", 1),
                                        _task(1, 1, "1/2", 2)])),
    ),
    Mutant(
        "afs-arrival-off-by-one", "afs",
        "Off by one epoch: a task arriving exactly at an epoch boundary waits for the "
        "next one (``arrival < t_k`` instead of ``<=``).",
        (_e(f"{_M}:serve_afs", "and tasks[j].arrival <= tk]", "and tasks[j].arrival < tk]"),),
        ("saga-afs-wf", "saga-afs-capacity"),
        ("saga-afs-wf", ((1, 2), [_task(1, 0, "2/3", 1), _task(0, 0, 1, 1)])),
    ),
    Mutant(
        "afs-wf-ignores-weights", "afs",
        "AFS-WF water-fills with every weight 1: a heavy tenant within its weighted "
        "share is capped at the equal share and misses its deadline.",
        (_e(f"{_M}:serve_afs", "[w[i] for i in act]", "[w[i] / w[i] for i in act]"),),
        ("saga-afs-wf",),
        ("saga-afs-wf", ((1, 2), [_task(1, 0, "2/3", 1), _task(0, 0, 1, 1)])),
    ),
    Mutant(
        "afs-equal-split-within-tenant", "afs",
        "A tenant's allocation split equally among its live tasks instead of in "
        "proportion to their urgency: an urgent task beside a lax one misses its "
        "deadline although the tenant is within its share.",
        (_e(f"{_M}:serve_afs", "rate = alloc[i] * urg[j] / tenant_u[i]",
            "rate = alloc[i] / len([x for x in live if tasks[x].tenant == i])"),),
        ("saga-afs-wf", "saga-afs-capacity"),
        ("saga-afs-wf", ((1, 2), [_task(1, 0, "1/2", 3), _task(1, 0, "1/2", 1),
                                  _task(0, 0, 1, 1)])),
    ),
    Mutant(
        "afs-window-off-by-one", "afs",
        "Off-by-one window: urgency divides the remaining work by the time to deadline "
        "plus one epoch, so a task asks for less than it needs and is capped there.",
        (_e(f"{_M}:serve_afs", "urg[j] = rem[j] / (left if epoch < left else epoch)",
            "urg[j] = rem[j] / ((left if epoch < left else epoch) + epoch)"),),
        ("saga-afs-wf", "saga-afs-capacity"),
        ("saga-afs-wf", ((1, 2), [_task(1, 0, "2/3", 1), _task(0, 0, 1, 1)])),
    ),
    Mutant(
        "afs-wf-uncapped", "afs",
        "AFS-WF without the water-filling cap (always the proportional split): SAGA's "
        "own AFS, which has no isolation (saga-afs-claim).",
        (_e(f"{_M}:serve_afs", 'if allocation == "proportional" or not capacity < total:',
            "if True:"),),
        ("saga-afs-wf",),
        ("saga-afs-wf", ((1, 2), [_task(1, 0, "2/3", 1), _task(0, 0, 1, 1)])),
    ),
    # ----- the AFS policy as it runs (proofs/saga_afs: saga-afs-policy-rule, against the
    # documented rule of sagacore.theory.afs_rule, which shares no code with the policy)
    Mutant(
        "afs-policy-shares-ignore-weights", "afs",
        "The implemented AFS-WF water-fills the tenants' urgencies with every weight 1: a "
        "heavy tenant's calls are ordered as if it had the equal share.",
        (_e(f"{_A}:afs_shares", "w = [(weights or {}).get(t, 1.0) for t in names]",
            "w = [1.0 for t in names]"),),
        ("saga-afs-policy-rule",),
        ("saga-afs-policy-rule", _pi(((4, 4, 4), (4, 4, 4), "A"), wf=True)),
    ),
    Mutant(
        "afs-policy-waterfill-never-caps", "afs",
        "The implemented AFS-WF splits capacity in proportion to urgency even in overload "
        "(the water-filling branch never taken): SAGA's own AFS shipped as AFS-WF.",
        (_e(f"{_A}:afs_shares", 'if allocation == "proportional" or total <= capacity:',
            "if True:"),),
        ("saga-afs-policy-rule",),
        ("saga-afs-policy-rule", _pi(((4, 4, 4), (4, 4, 4), "A"), wf=True)),
    ),
    Mutant(
        "afs-policy-no-urgent-tier", "afs",
        "The urgent tier never entered (a call that has waited more than preempt_after_s "
        "is ordered by the service counters like any other): a task the rule would serve "
        "first waits behind counters reset every epoch.",
        (_e(f"{_A}:SagaAFS.key", "now - ready > self._preempt_after_s",
            "now - ready > self._preempt_after_s + 1e9"),),
        ("saga-afs-policy-rule",),
        ("saga-afs-policy-rule", _PI_STAGGERED),
    ),
    Mutant(
        "afs-policy-urgent-tier-least-urgent-first", "afs",
        "The urgent tier ordered least urgent task first (the sign of the urgency dropped).",
        (_e(f"{_A}:SagaAFS.key", "return (0.0, -(0.0 if i is None else self._u[i]), ready,",
            "return (0.0, (0.0 if i is None else self._u[i]), ready,"),),
        ("saga-afs-policy-rule",),
        ("saga-afs-policy-rule", _PI_STAGGERED),
    ),
    Mutant(
        "afs-policy-counters-not-reset", "afs",
        "Stale state: the per-epoch service counters are never reset at a recomputation, so "
        "a task served early in the run stays behind for ever.",
        (_e(f"{_A}:SagaAFS._refresh", "self.served = {}", "self.served = self.served"),),
        ("saga-afs-policy-rule",),
        ("saga-afs-policy-rule", _pi(((4, 4, 4), (4, 4, 4), "A"), wf=True)),
    ),
    Mutant(
        "afs-policy-per-request-charge", "afs",
        "Service counted one per call instead of per token: a task of long calls is "
        "charged as little as one of short calls.",
        (_e(f"{_A}:SagaAFS.observe_service_run", "served.get(tid, 0.0) + tokens",
            "served.get(tid, 0.0) + 1.0"),),
        ("saga-afs-policy-rule",),
        ("saga-afs-policy-rule", _pi(((4, 4, 4), (8, 8), "A"), wf=False)),
    ),
    Mutant(
        "afs-policy-deadline-without-tools", "afs",
        "The deadline set from the expected LLM time only, the tool time left out: tasks "
        "with tool calls get deadlines too early and urgencies too high.",
        (_e(f"{_A}:SagaAFS.observe_task_arrival", "+ r.tool_seconds", "+ 0.0 * r.tool_seconds"),),
        ("saga-afs-policy-rule",),
        ("saga-afs-policy-rule", _pi(((8, 4, 4), (4, 4, 4), "A"), wf=True, tool=0.25)),
    ),
    Mutant(
        "afs-policy-stale-remaining-work", "afs",
        "Stale state: a task's remaining work is never recomputed after its calls end, so "
        "its urgency stays at its arrival value.",
        (_e(f"{_A}:SagaAFS._refresh", "if self._dirty:", "if False:"),),
        ("saga-afs-policy-rule",),
        ("saga-afs-policy-rule", _pi(((4, 4, 4), (4, 4, 4), "B"), wf=True)),
    ),
    Mutant(
        "afs-policy-urgency-window-unclamped", "afs",
        "Missing clamp: urgency divides by the time to the deadline without the floor of "
        "one epoch, so a task near or past its deadline asks for (almost) unbounded rate.",
        (_e(f"{_A}:SagaAFS._urgencies", "np.maximum(x, c.epoch_s, out=x)",
            "np.maximum(x, 1e-9, out=x)"),),
        ("saga-afs-policy-rule",),
        ("saga-afs-policy-rule", _pi(((4, 4, 4), (4, 4, 4), "B"), wf=True)),
    ),
    Mutant(
        "afs-policy-no-split-within-tenant", "afs",
        "Each task gets its whole tenant's share instead of the part in proportion to its "
        "urgency: a tenant with many tasks gets that many times its share.",
        (_e(f"{_A}:SagaAFS._task_share", "self._tenant_share[tenant] * u / total if",
            "self._tenant_share[tenant] if"),),
        ("saga-afs-policy-rule",),
        ("saga-afs-policy-rule", _pi(((4, 4, 4), (4, 4, 4), "A"), wf=False)),
    ),
    # ----- SAGA's router (proofs/work_stealing: saga-affinity-rule, work-stealing-bounds;
    # references in sagacore.theory.routing)
    Mutant(
        "affinity-threshold-non-strict", "route",
        "Off by one at the threshold: a session stays on its worker while the load is at "
        "most the threshold (``<=``), so a worker exactly at 0.8 keeps taking calls.",
        (_e(f"{_R}:SagaAffinity.route", "if w.load < self.load_threshold:",
            "if w.load <= self.load_threshold:"),),
        ("saga-affinity-rule",),
        ("saga-affinity-rule", Placements((("a", ((0.0, 0), (0.0, 0))),
                                            ("b", ((0.0, 0), (0.0, 0))),
                                            ("a", ((0.8, 0), (0.0, 0)))))),
    ),
    Mutant(
        "affinity-never-moves", "route",
        "Stale state: a session's affinity is set at its first call and never moves, so "
        "after one overloaded placement its calls keep going to the old worker.",
        (_e(f"{_R}:SagaAffinity.route", "self.homes[call.task_id] = target",
            "self.homes.setdefault(call.task_id, target)"),),
        ("saga-affinity-rule",),
        ("saga-affinity-rule", Placements((("a", ((0.0, 0), (0.0, 0))),
                                            ("a", ((0.8, 0), (0.0, 0))),
                                            ("a", ((0.0, 0), (0.0, 0)))))),
    ),
    Mutant(
        "affinity-ignores-migration", "route",
        "Stale state after a migration: the session's affinity stays on the old worker "
        "when work stealing moved its KV, so its next call goes back to where its cache "
        "no longer is.",
        (_e(f"{_R}:SagaAffinity.observe_migration", "self.homes[task_id] = dst",
            "self.homes.get(task_id)"),),
        ("saga-affinity-rule",),
        ("saga-affinity-rule", Placements((("a", ((0.0, 0), (0.1, 0), (0.2, 0))),
                                            ("a>2", ((0.0, 0), (0.1, 0), (0.2, 0))),
                                            ("a", ((0.0, 0), (0.1, 0), (0.2, 0)))))),
    ),
    Mutant(
        "steal-idle-above-threshold", "route",
        "The idle-thief condition without its load test: a worker with an empty queue "
        "but a load above the threshold steals, moving calls onto a loaded worker.",
        (_e(f"{_R}:SagaAffinity.rebalance",
            "self.idle_s - 1e-9 and loads[wid] < self.load_threshold",
            "self.idle_s - 1e-9"),),
        ("work-stealing-bounds",),
        ("work-stealing-bounds", Ticks((((0.9, 1), (0.85, 0)),) * 2)),
    ),
    Mutant(
        "steal-interval-off-by-one-tick", "route",
        "Off by one tick: a queue counts as idle after two ticks instead of one interval, "
        "so an idle worker waits 2 idle_s before stealing.",
        (_e(f"{_R}:SagaAffinity.rebalance", "now - since[wid] >= self.idle_s - 1e-9",
            "now - since[wid] >= 2 * self.idle_s - 1e-9"),),
        ("work-stealing-bounds",),
        ("work-stealing-bounds", Ticks((((0.9, 1), (0.5, 0)),) * 2)),
    ),
    Mutant(
        "steal-interval-ignored", "route",
        "No idle interval: a worker steals at the first tick its queue is empty.",
        (_e(f"{_R}:SagaAffinity.rebalance", "now - since[wid] >= self.idle_s - 1e-9",
            "now - since[wid] >= 0.0"),),
        ("work-stealing-bounds",),
        ("work-stealing-bounds", Ticks((((0.9, 1), (0.5, 0)),))),
    ),
    Mutant(
        "steal-skew-ignores-ratio", "route",
        "The skew test without its ratio (``max > min`` instead of ``max > ratio x min``): "
        "the least-loaded worker steals whenever loads differ at all.",
        (_e(f"{_R}:SagaAffinity.rebalance", "skewed = hi > self.steal_ratio * lo",
            "skewed = hi > lo"),),
        ("work-stealing-bounds",),
        ("work-stealing-bounds", Ticks((((0.9, 1), (0.5, 0)),))),
    ),
    Mutant(
        "steal-victim-threshold-strict", "route",
        "Off by one at the threshold: a worker gives calls only above the threshold, so a "
        "worker exactly at 0.8 with a queue keeps it while another idles.",
        (_e(f"{_R}:SagaAffinity.rebalance", "loads[v] >= self.load_threshold",
            "loads[v] > self.load_threshold"),),
        ("work-stealing-bounds",),
        ("work-stealing-bounds", Ticks((((0.8, 1), (0.5, 0)),) * 2)),
    ),
    Mutant(
        "steal-no-give-cap", "route",
        "Missing clamp: a worker's waiting calls are not counted down as thieves take "
        "them, so it gives more calls than it has waiting.",
        (_e(f"{_R}:SagaAffinity.rebalance", "left[src] -= 1", "left[src] -= 0"),),
        ("work-stealing-bounds",),
        ("work-stealing-bounds", Ticks((((0.9, 1), (0.1, 0), (0.2, 0)),) * 2)),
    ),
    Mutant(
        "steal-stale-idle-clock", "route",
        "Stale state after a busy period: a worker's empty-since time is not cleared when "
        "its queue fills, so it steals at once the next time its queue empties.",
        (_e(f"{_R}:SagaAffinity.rebalance", "since.pop(w.worker_id, None)", "pass"),),
        ("work-stealing-bounds",),
        ("work-stealing-bounds", Ticks((((0.9, 1), (0.5, 0)), ((0.9, 1), (0.5, 1)),
                                         ((0.9, 1), (0.5, 0))))),
    ),
    # ----- the sagacore stack's idle stealing (proofs/work_stealing: idle-steal-bounds)
    Mutant(
        "idle-steal-settle-ignored", "route",
        "Settling ignored: a worker that has just received a stolen call gives calls away "
        "at once, so a call can bounce between idle workers (282 times in a long-context "
        "run before settling was added).",
        (_e(f"{_I}.rebalance", "self._received.get(v, -math.inf) >= self.settle_s",
            "self._received.get(v, -math.inf) >= 0.0"),),
        _IDLE,
        ("idle-steal-bounds", _SETTLING),
    ),
    Mutant(
        "idle-steal-settle-on-thief", "route",
        "Settling read on the wrong worker: a thief that has just received a call may "
        "not steal again, while a receiver gives its calls away at once.",
        (_e(f"{_I}.rebalance", "self._received.get(v, -math.inf)",
            "self._received.get(wid, -math.inf)"),),
        _IDLE,
        ("idle-steal-bounds", _SETTLING),
    ),
    Mutant(
        "idle-steal-half-free-off-by-one", "route",
        "Off by one in the size rule: a call of exactly half the thief's free KV may not "
        "move (``2 n < free``).",
        (_e(f"{_I}.stealable", "2 * n <= dst.free_tokens", "2 * n < dst.free_tokens"),),
        _IDLE,
        ("idle-steal-bounds", IdleTicks((((0.9, 100, (125,)), (0.1, 250, ())),) * 2, 0.75)),
    ),
    Mutant(
        "idle-steal-headroom-off-by-one", "route",
        "Off by one in the size rule: a call of exactly the thief's headroom "
        "``(1 - idle_load) C`` may not move.",
        (_e(f"{_I}.stealable", "n <= (1.0 - self.idle_load) * dst.pool_tokens",
            "n < (1.0 - self.idle_load) * dst.pool_tokens"),),
        _IDLE,
        ("idle-steal-bounds", IdleTicks((((0.9, 100, (250,)), (0.1, 500, ())),) * 2, 0.75)),
    ),
    Mutant(
        "idle-steal-headroom-ignored", "route",
        "Missing clamp: a call moves if it fits half the thief's free KV, however large "
        "(the long-context regime's 6% loss).",
        (_e(f"{_I}.stealable", " and n <= (1.0 - self.idle_load) * dst.pool_tokens", ""),),
        _IDLE,
        ("idle-steal-bounds", IdleTicks((((0.9, 100, (300,)), (0.1, 900, ())),) * 2)),
    ),
    Mutant(
        "idle-steal-thief-load-inverted", "route",
        "The thief's load test inverted: only workers at or above ``idle_load`` steal.",
        (_e(f"{_I}.rebalance", "if x < self.idle_load:",
            "if x >= self.idle_load:"),),
        _IDLE,
        ("idle-steal-bounds", IdleTicks((((0.95, 100, (10,)), (0.85, 900, ())),) * 2)),
    ),
    Mutant(
        "idle-steal-thief-free-ignored", "route",
        "The thief's free-KV test dropped: a worker with little free KV steals.",
        (_e(f"{_I}.rebalance",
            "w.free_tokens < (1.0 - self.idle_load) * w.pool_tokens",
            "w.free_tokens < 0"),),
        _IDLE,
        ("idle-steal-bounds", IdleTicks((((0.95, 100, (10,)), (0.3, 199, ())),) * 2)),
    ),
    Mutant(
        "idle-steal-interval-ignored", "route",
        "No idle interval: a worker steals at the first tick its queue is empty.",
        (_e(f"{_I}.rebalance", "now - since[wid] >= self.idle_s - 1e-9",
            "now - since[wid] >= 0.0"),),
        _IDLE,
        ("idle-steal-bounds", IdleTicks((((0.95, 100, (10,)), (0.1, 900, ())),))),
    ),
    Mutant(
        "idle-steal-stale-idle-clock", "route",
        "Stale state after a busy period: the empty-since time is not cleared when a "
        "queue fills, so a worker steals at once when its queue empties again.",
        (_e(f"{_I}.rebalance", "since.pop(w.worker_id, None)", "pass"),),
        _IDLE,
        ("idle-steal-bounds", IdleTicks(((_BUSY, _IDLE_W), (_BUSY, (0.1, 900, (5,))),
                                         (_BUSY, _IDLE_W)))),
    ),
    Mutant(
        "idle-steal-no-give-cap", "route",
        "Missing clamp: a source's waiting calls are not counted down, so it gives more "
        "calls than it has.",
        (_e(f"{_I}.rebalance", "left[src] -= 1", "left[src] -= 0"),),
        _IDLE,
        ("idle-steal-bounds", IdleTicks((((0.9, 100, (10,)), (0.0, 900, ()), (0.1, 900, ())),)
                                        * 2)),
    ),
    Mutant(
        "idle-steal-source-load-non-strict", "route",
        "Off by one at the load comparison: a thief takes from a worker exactly as loaded "
        "as itself.",
        (_e(f"{_I}.rebalance", "load[v] > load[wid]", "load[v] >= load[wid]"),),
        _IDLE,
        ("idle-steal-bounds", IdleTicks((((0.3, 900, ()), (0.3, 100, (10,)), (0.3, 900, ())),)
                                        * 2)),
    ),
    Mutant(
        "idle-steal-fewest-waiting-source", "route",
        "The wrong tie rule for sources: the thief takes from the worker with the fewest "
        "waiting calls.",
        (_e(f"{_I}.rebalance", "max(sources, key=lambda v: (left[v], load[v], -v))",
            "min(sources, key=lambda v: (left[v], load[v], -v))"),),
        _IDLE,
        ("idle-steal-bounds", IdleTicks((((0.9, 100, (10, 10)), (0.85, 100, (10,)),
                                          (0.1, 900, ())),) * 2)),
    ),
    Mutant(
        "idle-steal-most-loaded-thief-first", "route",
        "Thieves visited from the most loaded: the first finds no source and the loop "
        "stops, so a less loaded idle worker beside a queue steals nothing.",
        (_e(f"{_I}.rebalance", "key=lambda w: (load[w.worker_id], w.worker_id)",
            "key=lambda w: (-load[w.worker_id], w.worker_id)"),),
        _IDLE,
        ("idle-steal-bounds", IdleTicks((((0.5, 900, ()), (0.4, 100, (10,)), (0.2, 900, ())),)
                                        * 2)),
    ),
    Mutant(
        "idle-steal-lost-worker-remembered", "route",
        "Stale state after a worker is lost: its empty-since time is kept, so the count of "
        "idle workers includes it and the router can decide that nothing waits anywhere "
        "while a live worker has a queue.",
        (_e(f"{_I}.rebalance", "del since[wid]", "pass"),),
        _IDLE,
        ("idle-steal-bounds", IdleTicks((((0.9, 100, (10,)), (0.1, 900, ()),
                                          (0.2, 900, ())),) * 3, lost=((1, 2),))),
    ),
    Mutant(
        "migrate-newest-first", "route",
        "The mechanism moves the most recently queued call that fits the thief instead of "
        "the longest-waiting one (the wrong tie rule in the simulator's _migrate).",
        (_e("sagacore.sim.cluster:Simulation._migrate",
            "call = min(movable, key=_enqueue_order)",
            "call = max(movable, key=_enqueue_order)"),),
        ("idle-steal-simulator",),
        ("idle-steal-simulator", IdleSim(rate=12.0)),
    ),
    Mutant(
        "idle-steal-copy-rule-ignored", "route",
        "Missing rule: a call moves as soon as a thief idles, however briefly it has waited "
        "(the copy of its KV not weighed against its wait).",
        (_e(f"{_I}.stealable", "and self.worth_the_copy(call)", "and True"),),
        ("idle-steal-simulator",),
        ("idle-steal-simulator", IdleSim(rate=12.0)),
    ),
    Mutant(
        "idle-steal-copy-rule-inverted", "route",
        "The copy rule inverted: a call moves only while it has waited less than its copy "
        "takes.",
        (_e(f"{_I}.worth_the_copy", "self._tick_s - call.ready_s >= copy(call.cached_tokens)",
            "self._tick_s - call.ready_s < copy(call.cached_tokens)"),),
        ("idle-steal-simulator",),
        ("idle-steal-simulator", IdleSim(rate=12.0)),
    ),
    # ----- the sagacore stack's admission control (proofs/srpt_aging: sagacore-admission-rule)
    Mutant(
        "admission-no-deferral-point", "admission",
        "Rule (ii) removed: after a new program is deferred, a later new program offered at "
        "the same scheduling point (lower in the order, smaller) is admitted past it, so a "
        "large program first in the order can be overtaken for ever.",
        (_e(f"{_W}.admit", "if self._deferred_at == (now, w):", "if False:"),),
        _ADM,
        ("sagacore-admission-rule", Offers((_offer("p", 0, 1, 30_000, 0.0),
                                            _offer("q", 0, 1, 30_000, 1.0),
                                            _offer("r", 0, 1, 10**9, 1.0)))),
    ),
    Mutant(
        "admission-deferral-across-workers", "admission",
        "Stale state: a deferral at one worker is read at every worker at the same time, so "
        "a new program is deferred on an idle worker.",
        (_e(f"{_W}.admit", "if self._deferred_at == (now, w):",
            "if self._deferred_at is not None and self._deferred_at[0] == now:"),),
        _ADM,
        ("sagacore-admission-rule", Offers((_offer("p", 0, 1, 30_000, 0.0),
                                            _offer("q", 0, 1, 30_000, 1.0),
                                            _offer("t", 1, 0, 30_000, 1.0)))),
    ),
    Mutant(
        "admission-defers-on-idle-worker", "admission",
        "Rule (i) removed: a new program is deferred on a worker with nothing running when "
        "its reservation does not fit, so a program larger than a worker never starts.",
        (_e(f"{_W}.admit",
            "if worker.running_calls and self.working_set(w) + need > worker.pool_tokens:",
            "if self.working_set(w) + need > worker.pool_tokens:"),),
        _ADM,
        ("sagacore-admission-rule", Offers((_offer("p", 0, 0, 1_000, 0.0, prompt=5_000),))),
    ),
    Mutant(
        "admission-gates-started-programs", "admission",
        "A started program is checked like a new one when its worker is over-reserved: its "
        "next call waits behind new programs' reservations (the thrash the rule avoids).",
        (_e(f"{_W}.admit", "if tid in self._where:",
            "if tid in self._where and self.working_set(w) <= worker.pool_tokens:"),),
        _ADM,
        ("sagacore-admission-rule", Offers((_offer("p", 0, 0, 1_000, 0.0, prompt=5_000),
                                            _offer("p", 0, 1, 1_000, 2.0, step=1,
                                                   prompt=5_500)))),
    ),
    Mutant(
        "admission-full-at-capacity", "admission",
        "Off by one at the capacity: a new program whose reservation fills the worker "
        "exactly is deferred (``>=`` for ``>``).",
        (_e(f"{_W}.admit", "self.working_set(w) + need > worker.pool_tokens",
            "self.working_set(w) + need >= worker.pool_tokens", 2),),
        _ADM,
        ("sagacore-admission-rule", Offers((_offer("p", 0, 1, 3_200, 0.0),
                                            _offer("q", 0, 1, 3_200, 1.0)), growth_share=0.0)),
    ),
    Mutant(
        "admission-reservation-kept-at-end", "admission",
        "Stale state after a program ends: its reservation is not released, so new "
        "programs are deferred for memory nobody holds.",
        (_e(f"{_W}.observe_task_end", "self._sum[w] -= self._need.pop(task_id)",
            "self._need.pop(task_id)"),),
        _ADM,
        ("sagacore-admission-rule", Offers((_offer("p", 0, 1, 30_000, 0.0), ("end", "p", 1.0),
                                            _offer("q", 0, 1, 30_000, 2.0)))),
    ),
    Mutant(
        "admission-dropped-kv-still-reserved", "admission",
        "A program between calls whose KV the worker dropped keeps its reservation: new "
        "programs are deferred to protect nothing.",
        (_e(f"{_W}.admit", "self._release_dropped(worker)", "pass"),),
        _ADM,
        ("sagacore-admission-rule", Offers((_offer("p", 0, 1, 30_000, 0.0),
                                            ("call_end", "p", 0, 1_600, 100, 1.0),
                                            _offer("q", 0, 1, 30_000, 2.0)), cached_share=0.4)),
    ),
)
"""Every catalogued mutant; each must be killed in default mode (``verify --mutants``)."""

BY_NAME: dict[str, Mutant] = {m.name: m for m in CATALOGUE}
"""The catalogue by name."""
