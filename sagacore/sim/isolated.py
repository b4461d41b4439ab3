"""A task's isolated completion time: the task alone on an idle instance.

The reference of the SLO (a task meets it when its TCT is at most ``slo_factor`` times
its isolated TCT). Each LLM call is priced as the simulator prices it when the call
runs alone: its prompt, less what is already cached, prefilled in chunks of at most
``max_num_batched_tokens`` tokens (one step each), then ``output_tokens - 1`` decode
steps of a batch of one, in closed form; then its tool. A step starts when its
dependencies (LLM and tool) have finished (the rule of
:class:`~sagacore.workload.progress.TaskProgress`, in closed form:
:func:`~sagacore.workload.progress.ready_time`), so the isolated TCT is the length of the
task's critical path. With ``prefix_caching`` the cache is unbounded and holds the
task's own earlier contexts (never another task's, so a shared system prompt is
computed once), as vLLM would reuse them (whole blocks, the last prompt token always
computed); without it every prompt is computed in full.

For a chain (every ReAct agent) this is exactly the time the simulator gives the task
alone on an idle cluster (``tests/test_sim_fidelity.py``). For a DAG, parallel calls
are priced as if each ran alone: a lower bound when they share an instance.

Examples
--------
>>> from sagacore.engine import CostModel
>>> from sagacore.sim.config import EngineConfig
>>> from sagacore.workload.model import Segment, Step, Task, TaskId
>>> cost = CostModel.from_presets("llama-3-8b", "a100-80gb")
>>> s0 = Step(0, (Segment(1, 1000),), 50, 2, tool="bash", tool_seconds=1.0)
>>> s1 = Step(1, (*s0.context, Segment(3, 200)), 20, 4, deps=(0,))
>>> task = Task(TaskId("t"), (s0, s1))
>>> cached = isolated_tct(task, cost, EngineConfig())
>>> cold = isolated_tct(task, cost, EngineConfig(), prefix_caching=False)
>>> 1.0 < cached < cold
True
"""

from __future__ import annotations

from sagacore.engine import CostModel
from sagacore.sim.config import EngineConfig, kv_overflow_error, kv_room_tokens
from sagacore.sim.keys import context_keys
from sagacore.sim.worker import run_seconds
from sagacore.workload.model import Task
from sagacore.workload.progress import ready_time

__all__ = ["call_seconds", "isolated_completion", "isolated_tct"]


def call_seconds(
    cost: CostModel,
    engine: EngineConfig,
    prompt_tokens: int,
    output_tokens: int,
    cached: int,
    *,
    decode: tuple[float, float] | None = None,
) -> tuple[float, ...]:
    """The step times of one call alone: each prefill chunk's, then the decode run's.

    ``cached`` prompt tokens are reused (block-aligned, below ``prompt_tokens``);
    ``decode``: the cost model's decode coefficients for a batch of one, if at hand.
    """
    budget = engine.max_num_batched_tokens
    times: list[float] = []
    kv = cached
    while kv < prompt_tokens:
        n = min(prompt_tokens - kv, budget)
        times.append(cost.step_seconds_trusted(n, kv, 0, 0, n * kv + n * (n + 1) / 2))
        kv += n
    if output_tokens > 1:
        icpt, slope = cost.decode_cost_coefficients(1) if decode is None else decode
        times.append(run_seconds(icpt, slope, 1, prompt_tokens, output_tokens - 1))
    return tuple(times)


def _cached_tokens(
    task: Task, keys: list[tuple[tuple[int, ...], tuple[int, ...]]], block_size: int
) -> list[int]:
    """Tokens of each step's prompt cached from the task's earlier (ancestor) calls.

    A call leaves its context cached up to the tokens it computed (its prompt and all
    its output but the last token); a later prompt reuses the longest such shared
    prefix, in whole blocks and one token short of its own length. For a chain, a trie
    of the earlier contexts answers: if the prompt's deepest match ``T`` is continued
    by some context, ``T`` tokens are cached, else ``T - 1`` (the context ended there).
    A DAG compares against its ancestors only.
    """
    out: list[int] = []
    chain = task.is_chain()
    children: list[dict[int, int]] = [{}]
    last_node = 0
    last_len = 0
    for step, (ids, ends) in zip(task.steps, keys, strict=True):
        n_prompt = len(ids) - 1
        p_tokens = ends[-2] if n_prompt > 0 else 0
        best = 0
        if chain:
            # deepest trie node matching the prompt; resume from the last context's node
            if last_len and ids[:last_len] == keys[step.index - 1][0]:
                node, d = last_node, last_len
            else:
                node, d = 0, 0
            while d < n_prompt:
                nxt = children[node].get(ids[d])
                if nxt is None:
                    break
                node = nxt
                d += 1
            if d:
                best = ends[d - 1] if children[node] else ends[d - 1] - 1
            # insert this context
            while d < len(ids):
                nxt = children[node].get(ids[d])
                if nxt is None:
                    nxt = len(children)
                    children.append({})
                    children[node][ids[d]] = nxt
                node = nxt
                d += 1
            last_node, last_len = node, len(ids)
        else:
            for j in task.ancestors(step.index):
                pids, pends = keys[j]
                shared = 0
                for k in range(min(len(pids), n_prompt)):
                    if pids[k] != ids[k]:
                        break
                    shared = pends[k]
                best = max(best, min(shared, pends[-1] - 1))
        cap = (p_tokens - 1) // block_size
        out.append(min(best // block_size, cap) * block_size)
    return out


def isolated_completion(
    task: Task,
    cost: CostModel,
    engine: EngineConfig,
    *,
    prefix_caching: bool = True,
    start: float | None = None,
    keys: list[tuple[tuple[int, ...], tuple[int, ...]]] | None = None,
) -> float:
    """When ``task`` would finish alone, starting at ``start`` (default: its arrival).

    Adds the step times in the order the simulator does, so that for a chain the result
    is the simulator's completion time to the last bit. ``keys``: the task's
    :func:`~sagacore.sim.keys.context_keys`, when already computed.
    """
    t0 = task.arrival_s if start is None else start
    finish: list[float] = []
    keys = context_keys(task) if keys is None else keys
    cached_all = _cached_tokens(task, keys, engine.block_size) if prefix_caching else None
    icpt, slope = cost.decode_cost_coefficients(1)
    budget = engine.max_num_batched_tokens
    price = cost.step_seconds_trusted
    # a call that no instance can hold never runs (the simulator refuses it when it is
    # ready); refuse it here first, so that a huge prompt is never priced chunk by chunk
    bs = engine.block_size
    capacity = engine.kv_capacity_tokens if engine.kv_capacity_tokens is not None else (
        cost.kv_capacity_tokens()
    )
    room = kv_room_tokens(capacity, bs)
    for step, (_ids, ends) in zip(task.steps, keys, strict=True):
        if ends[-1] > room:
            raise kv_overflow_error(task.id, step.index, ends[-1], room)
    # call_seconds inlined: the same step times, added in the same order
    for step, (_ids, ends) in zip(task.steps, keys, strict=True):
        t = ready_time(step, finish, t0)
        kv = cached_all[step.index] if cached_all is not None else 0
        p_tokens = ends[-2] if len(ends) > 1 else 0
        while kv < p_tokens:
            n = min(p_tokens - kv, budget)
            t = t + price(n, kv, 0, 0, n * kv + n * (n + 1) / 2)
            kv += n
        out = step.output_tokens
        if out > 1:
            t = t + run_seconds(icpt, slope, 1, p_tokens, out - 1)
        if step.tool is not None:
            t = t + step.tool_seconds
        finish.append(t)
    return max(finish)


def isolated_tct(
    task: Task,
    cost: CostModel,
    engine: EngineConfig,
    *,
    prefix_caching: bool = True,
    keys: list[tuple[tuple[int, ...], tuple[int, ...]]] | None = None,
) -> float:
    """The task's isolated TCT (see the module notes)."""
    done = isolated_completion(task, cost, engine, prefix_caching=prefix_caching, keys=keys)
    return done - task.arrival_s
