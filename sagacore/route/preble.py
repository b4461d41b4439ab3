"""Preble's prefix-aware routing that trades cache hits against load (``preble``).

Preble (Srivatsa et al., ICLR 2025, "Preble: Efficient Distributed Prompt Scheduling
for LLM Serving") places each request with its **E2** rule, *exploit* or *explore*:

- **exploit**: when some worker caches more than ``exploit_ratio`` of the prompt (the
  paper: more cached than uncached tokens, i.e. 0.5), send it to the worker with the
  longest cached prefix, reusing the KV;
- **explore**: otherwise send it to the worker of least *load cost*
  ``L + M + P``: the load already there ``L``, the cost ``M`` of what it must evict to
  make room, and the prefill ``P`` of the part of the prompt it does not cache.

Preble also rebalances: when the load of the worker a prefix is exploiting grows far
above the others', new requests of that prefix are spread to lighter workers. Here an
exploit choice is dropped for explore when the chosen worker's load exceeds
``rebalance_ratio`` times the lightest worker's load plus ``rebalance_slack``.

Where we depart from the paper or it is silent (our choices, each a parameter):

- every term of the cost is in **tokens** from the engine-agnostic views, not in
  profiled GPU seconds: ``L = load * pool_tokens`` (KV tokens in use and queued),
  ``M = max(0, P - free_tokens)`` (tokens to evict; Preble prices the recomputation of
  evicted prefixes by their hit rates, which a router does not see here) and
  ``P = prompt_tokens - cached_prefix_tokens``; ``L`` is the current load, not Preble's
  windowed history of prefill and decode time;
- ties go to the lower load, then the lower worker id;
- Preble's global radix tree is replaced by each worker's own cache
  (:meth:`~sagacore.policy.WorkerView.cached_prefix_tokens`), and its prefill/decode
  balancing and per-worker local scheduler are not part of the router.

The router keeps no per-session state (it routes by what the caches hold), so
:meth:`Preble.observe_task_end` has nothing to forget beyond the default.

Examples
--------
>>> from types import SimpleNamespace as NS
>>> def w(i, load, cached):
...     return NS(worker_id=i, load=load, queued_calls=0, pool_tokens=10_000,
...               free_tokens=int(10_000 * (1 - load)),
...               cached_prefix_tokens=lambda c, n=cached: n)
>>> call = NS(task_id="t", prompt_tokens=1000)
>>> Preble().route(call, [w(0, 0.2, 0), w(1, 0.25, 900), w(2, 0.1, 100)], 0.0)  # exploit
1
>>> Preble().route(call, [w(0, 0.2, 0), w(1, 0.5, 300), w(2, 0.1, 100)], 0.0)  # explore
2
>>> Preble().route(call, [w(0, 0.01, 0), w(1, 0.9, 900)], 0.0)  # rebalance: too loaded
0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from sagacore.errors import ConfigError
from sagacore.policy import CallView, Router, WorkerView
from sagacore.validate import at_least

__all__ = ["Preble"]


class Preble(Router):
    """Preble's E2 (exploit/explore) routing with load rebalancing (see the module notes).

    Parameters
    ----------
    exploit_ratio
        Exploit when the best cached fraction of the prompt exceeds this (Preble: 0.5).
    rebalance_ratio, rebalance_slack
        Explore instead when the exploited worker's load exceeds
        ``rebalance_ratio * min_load + rebalance_slack`` (our choice: 2.0 and 0.1).
    """

    name: ClassVar[str] = "preble"

    def __init__(
        self,
        exploit_ratio: float = 0.5,
        rebalance_ratio: float = 2.0,
        rebalance_slack: float = 0.1,
    ) -> None:
        if not 0 <= exploit_ratio <= 1:
            raise ConfigError(f"Preble.exploit_ratio must be in [0, 1], got {exploit_ratio}")
        at_least("Preble.rebalance_ratio", rebalance_ratio, 1)
        at_least("Preble.rebalance_slack", rebalance_slack, 0)
        self.exploit_ratio = exploit_ratio
        self.rebalance_ratio = rebalance_ratio
        self.rebalance_slack = rebalance_slack

    @staticmethod
    def load_cost(call: CallView, worker: WorkerView, cached: int) -> float:
        """Preble's ``L + M + P`` in tokens (see the module notes)."""
        missing = max(0, call.prompt_tokens - cached)
        evict = max(0, missing - worker.free_tokens)
        return worker.load * worker.pool_tokens + evict + missing

    def route(self, call: CallView, workers: Sequence[WorkerView], now: float) -> int:
        """Exploit the longest cached prefix when it is long enough, else least load cost."""
        cached = [w.cached_prefix_tokens(call) for w in workers]
        min_load = min(w.load for w in workers)
        best = max(range(len(workers)), key=lambda i: (cached[i], -workers[i].load,
                                                        -workers[i].worker_id))
        bw = workers[best]
        if (
            cached[best] > self.exploit_ratio * call.prompt_tokens
            and bw.load <= self.rebalance_ratio * min_load + self.rebalance_slack
        ):
            return bw.worker_id
        i = min(range(len(workers)), key=lambda i: (self.load_cost(call, workers[i], cached[i]),
                                                     workers[i].load, workers[i].worker_id))
        return workers[i].worker_id
