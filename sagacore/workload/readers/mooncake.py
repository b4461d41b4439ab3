"""Reader of Mooncake request traces (JSON lines with prefix-block hashes).

The Mooncake traces (Qin et al., FAST'25; ``FAST25-release/traces/*.jsonl`` of
github.com/kvcache-ai/Mooncake) hold one request per line::

    {"timestamp": 0, "input_length": 6758, "output_length": 500, "hash_ids": [0, 1, ...]}

``timestamp`` is the arrival in milliseconds from the start of the trace,
``input_length`` and ``output_length`` are token counts, and ``hash_ids`` are the
remapped hashes of the prompt's consecutive 512-token blocks. The hashes are chained
(a block's hash covers every token before it), so two requests with the same ``k``-th
hash id share their first ``k`` blocks exactly.

Mapping to the model: every request is a one-step task (agent type ``mooncake``,
tenant ``default``, no tool) arriving at ``timestamp / 1000`` seconds. Its prompt is one
:class:`~sagacore.workload.model.Segment` per hash id, with segment id
``HASH_ID_OFFSET + hash_id`` (so hash segments never collide with the reader's other
ids, which count up from 1) and ``block_size`` tokens, except the last block, which
holds what is left of ``input_length`` (the trace hashes a partial last block too).
When ``input_length`` exceeds ``block_size * len(hash_ids)`` the rest is one more
segment unique to the request.

Zero counts: an LLM call reads at least one token and produces at least one, so an
``input_length`` or ``output_length`` of 0 is read as 1.

Errors (:class:`~sagacore.errors.TraceFormatError`, naming file, line and field):
missing key, a count that is not a non-negative integer (a JSON number; ``"12"`` is
refused) at most :data:`~sagacore.workload.readers._common.MAX_TOKENS`, ``hash_ids`` that is not a
list of integers in ``[0, 2**48)``, an ``input_length`` too short for its blocks
(at most ``block_size * (len(hash_ids) - 1)``), and one hash id used with two
different block lengths (a partial last block elsewhere used as a full block).

Examples
--------
>>> import pathlib, tempfile
>>> p = pathlib.Path(tempfile.mkdtemp()) / "trace.jsonl"
>>> _ = p.write_text(
...     '{"timestamp": 0, "input_length": 700, "output_length": 10, "hash_ids": [0, 1]}\\n'
...     '{"timestamp": 1500, "input_length": 1200, "output_length": 0, "hash_ids": [0, 2]}\\n')
>>> w = read_mooncake(p)
>>> prompt = w.tasks[1].steps[0].prompt
>>> [s.tokens for s in prompt], prompt[0] == w.tasks[0].steps[0].prompt[0]
([512, 512, 176], True)
>>> w.tasks[1].arrival_s, w.tasks[1].steps[0].output_tokens
(1.5, 1)
"""

from __future__ import annotations

from pathlib import Path

from sagacore.errors import TraceFormatError
from sagacore.validate import positive_int
from sagacore.workload.model import Segment, Step, Task, TaskId, Workload
from sagacore.workload.readers._common import (
    BadLines,
    OnBadLines,
    as_bad_lines,
    iter_json_lines,
    req_float,
    req_tokens,
)

__all__ = ["BLOCK_SIZE", "HASH_ID_OFFSET", "MAX_HASH_ID", "read_mooncake"]

BLOCK_SIZE = 512
"""Tokens per hashed prefix block in the published Mooncake traces."""

HASH_ID_OFFSET = 1 << 48
"""Added to a hash id to form its segment id (the reader's other ids are below it)."""

MAX_HASH_ID = (1 << 48) - 1
"""Largest hash id accepted."""


def read_mooncake(
    path: str | Path,
    *,
    block_size: int = BLOCK_SIZE,
    on_bad_lines: OnBadLines | BadLines = "error",
) -> Workload:
    """Read a Mooncake JSONL trace into a :class:`~sagacore.workload.model.Workload`.

    Parameters
    ----------
    path
        The ``.jsonl`` file.
    block_size
        Tokens per hashed block (512 in the published traces).
    on_bad_lines
        ``error``, ``warn`` or ``skip`` an invalid line (a request), or a
        :class:`~sagacore.workload.readers.BadLines` recording what was skipped.

    Returns
    -------
    Workload
        One single-step task per request, named after the file.

    Raises
    ------
    TraceFormatError
        Naming the file, the line and the field of the first problem.
    """
    p = Path(path)
    positive_int("block_size", block_size)
    next_id = 1
    blocks: dict[int, tuple[Segment, int]] = {}  # hash id -> (segment, first line)
    raw: list[tuple[float, tuple[Segment, ...], int, int]] = []
    bad = as_bad_lines(on_bad_lines)
    for line, obj in iter_json_lines(p, on_bad_lines=bad):
        fresh: dict[int, tuple[Segment, int]] = {}  # blocks first seen on this line
        try:
            if not isinstance(obj, dict):
                raise TraceFormatError(p, "expected a JSON object", line=line)
            ms = req_float(obj, "timestamp", p, line)
            input_length = max(1, req_tokens(obj, "input_length", p, line))
            output_length = max(1, req_tokens(obj, "output_length", p, line))
            hashes = obj.get("hash_ids")
            if "hash_ids" not in obj:
                raise TraceFormatError(p, "missing", line=line, field="hash_ids")
            if not isinstance(hashes, list):
                raise TraceFormatError(
                    p,
                    f"expected a list of integers, found {hashes!r}",
                    line=line,
                    field="hash_ids",
                )
            n = len(hashes)
            if n and input_length <= block_size * (n - 1):
                raise TraceFormatError(
                    p,
                    f"{input_length} tokens cannot fill {n} blocks of {block_size}",
                    line=line,
                    field="input_length",
                )
            prompt: list[Segment] = []
            for k, h in enumerate(hashes):
                if type(h) is not int or not 0 <= h <= MAX_HASH_ID:
                    raise TraceFormatError(
                        p,
                        f"expected an integer in [0, {MAX_HASH_ID}], found {h!r}",
                        line=line,
                        field=f"hash_ids[{k}]",
                    )
                tokens = min(block_size, input_length - block_size * k)
                known = blocks.get(h)
                if known is None:
                    known = fresh.get(h)
                if known is None:
                    known = fresh[h] = (Segment(HASH_ID_OFFSET + h, tokens), line)
                elif known[0].tokens != tokens:
                    raise TraceFormatError(
                        p,
                        f"hash id {h} is a block of {tokens} tokens here but of "
                        f"{known[0].tokens} on line {known[1]}",
                        line=line,
                        field=f"hash_ids[{k}]",
                    )
                prompt.append(known[0])
        except TraceFormatError as exc:
            bad.handle(exc)
            continue
        blocks.update(fresh)
        rest = input_length - block_size * n
        if rest > 0:
            prompt.append(Segment(next_id, rest))
            next_id += 1
        raw.append((ms / 1000.0, tuple(prompt), output_length, next_id))
        next_id += 1
    if not raw:
        raise TraceFormatError(p, "no requests")
    width = len(str(len(raw) - 1))
    tasks = tuple(
        Task(
            id=TaskId(f"{i:0{width}d}"),
            steps=(Step(index=0, prompt=prompt, output_tokens=out, output_id=out_id),),
            arrival_s=arrival,
            agent_type="mooncake",
        )
        for i, (arrival, prompt, out, out_id) in enumerate(raw)
    )
    return Workload(tasks, name=p.stem, source=str(p))
