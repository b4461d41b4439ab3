"""Write a stand-in for TraceLab's coding-agent trace, in TraceLab's own format.

TraceLab's released trace (4,265 Claude Code and Codex sessions, 357,161 rounds) is a
GitHub release asset that ``../shared/data`` does not hold; only one example session
(19 rounds) is there, too few to load a cluster. This script writes sessions of the
same JSON-lines schema (``provider``, ``session_id``, ``round_index``,
``input_tokens_total``, ``prefix_tokens``, ``newly_append_tokens``, ``output_tokens``,
``timing_events``, ``tools``), so that the TraceLab reader and the stacks can be run on
a coding-agent workload of that shape at scale. It is a held-out check, not data: its
statistics are round numbers read off the example session (Claude rounds start near
32K tokens with a 27K cached system prompt, Codex near 9K with 7K; a round appends its
output and its tools' results; tool latencies from a tenth of a second (Read, Edit) to
tens of seconds (WebSearch)) plus a context compaction at 160K tokens, and no stack's
parameter was chosen on it.

Per session (seeded, independent): the provider (Claude with probability 0.6), the
number of rounds (lognormal, median 35, 2 to 250), the first prompt (system prompt
plus a lognormal task of median 3,000 tokens); per round: the output (lognormal, median
350 tokens for Claude, 200 for Codex), 0 tools (15%), 1 (70% of the rest) or 2-4, each
with a latency (lognormal, sigma 1.2; median 0.4 s for Read/Grep/Edit, 40 s for web
tools, 1.5 s otherwise) and a result (lognormal, median 900 tokens); a round without
tools is followed by a user message (median 200 tokens). The provider's cache serves
the previous round's whole input (``prefix_tokens``) but for 5% of rounds, where it
serves 20-90% of it.

Usage::

    python benchmarks/tracelab_standin.py OUT.jsonl [--sessions 400] [--seed 7]
    sagacore sweep --workload OUT.jsonl --cluster a100-16 --stack vllm-apc \\
        --stack continuum --stack sagacore --rates 0.5x,1x,1.5x,2x,3x
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

_CLAUDE_TOOLS = ("Bash", "Read", "Edit", "Grep", "WebSearch", "Write")
_CODEX_TOOLS = ("exec_command", "write_stdin", "apply_patch")
_COMPACT_AT = 160_000


def _tool_median_s(name: str) -> float:
    if name.startswith("Web"):
        return 40.0
    return 0.4 if name in ("Read", "Grep", "Edit") else 1.5


def session_rows(index: int, rng: random.Random) -> list[dict[str, object]]:
    """The rounds of one session, as TraceLab rows."""
    claude = rng.random() < 0.6
    provider = "claude" if claude else "codex"
    model = "claude-opus-4-8" if claude else "gpt-5-codex"
    system = 27_217 if claude else 6_912
    rounds = max(2, min(250, int(rng.lognormvariate(math.log(35), 0.9))))
    total = system + int(rng.lognormvariate(math.log(3_000), 0.8))
    prefix = system
    t = 1_780_000_000.0 + rng.uniform(0, 86_400)
    rows: list[dict[str, object]] = []
    for k in range(rounds):
        out = max(1, int(rng.lognormvariate(math.log(350 if claude else 200), 1.0)))
        if rng.random() < 0.15:
            n_tools = 0
        else:
            n_tools = 1 if rng.random() < 0.7 else rng.randint(2, 4)
        tools: list[dict[str, object]] = []
        latency_s = 0.0
        for i in range(n_tools):
            name = rng.choice(_CLAUDE_TOOLS if claude else _CODEX_TOOLS)
            ms = int(1000 * rng.lognormvariate(math.log(_tool_median_s(name)), 1.2))
            latency_s += ms / 1000
            tools.append({"tool_index": i, "tool_name": name, "tool_wall_latency_ms": ms})
        stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        rows.append({
            "provider": provider, "session_id": f"{provider}:{index:05d}", "round_index": k,
            "model": model, "input_tokens_total": total, "prefix_tokens": prefix,
            "newly_append_tokens": total - prefix, "output_tokens": out,
            "reasoning_output_tokens": None,
            "timing_events": [{"event_type": "user_message" if k == 0 else "text",
                               "timestamp": stamp}],
            "tools": tools,
        })
        results = sum(int(rng.lognormvariate(math.log(900), 1.1)) for _ in tools)
        user = 0 if tools else int(rng.lognormvariate(math.log(200), 1.0))
        prefix = total if rng.random() > 0.05 else int(total * rng.uniform(0.2, 0.9))
        total += out + results + user
        if total > _COMPACT_AT:
            total = system + int(rng.lognormvariate(math.log(20_000), 0.3))
            prefix = system
        t += 5.0 + latency_s
    return rows


def write(path: Path, sessions: int, seed: int) -> int:
    """Write ``sessions`` sessions to ``path``; return the number of rounds."""
    rng = random.Random(seed)
    n = 0
    with path.open("w") as f:
        for s in range(sessions):
            for row in session_rows(s, rng):
                f.write(json.dumps(row) + "\n")
                n += 1
    return n


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--sessions", type=int, default=400)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    if a.sessions < 1:
        print(f"tracelab_standin.py: error: --sessions must be >= 1, got {a.sessions}",
              file=sys.stderr)
        return 2
    try:
        n = write(a.out, a.sessions, a.seed)
    except OSError as e:
        print(f"tracelab_standin.py: error: {a.out}: {e.strerror}", file=sys.stderr)
        return 2
    print(f"{a.out}: {a.sessions} sessions, {n} rounds", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
