"""PrefixTrie against a brute-force reference, and trace statistics."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sagacore.workload.model import Segment, Step, Task, TaskId, Workload, shared_prefix_tokens
from sagacore.workload.prefix import PrefixTrie
from sagacore.workload.stats import Distribution, reusable_prefix_tokens, trace_stats

seqs = st.lists(
    st.lists(st.sampled_from([Segment(1, 4), Segment(2, 8), Segment(3, 1)]), max_size=5), max_size=6
)


@given(seqs, st.lists(st.sampled_from([Segment(1, 4), Segment(2, 8), Segment(3, 1)]), max_size=5))
def test_trie_longest_prefix_matches_brute_force(
    stored: list[list[Segment]], query: list[Segment]
) -> None:
    trie = PrefixTrie()
    for s in stored:
        trie.insert(s)
    best = max((shared_prefix_tokens(s, query) for s in stored), default=0)
    assert trie.longest_prefix(query)[1] == best
    prefixes = {tuple(s[:k]) for s in stored for k in range(1, len(s) + 1)}
    assert len(trie) == len(prefixes)


def test_reusable_prefix_counts_cross_task_sharing() -> None:
    sys_seg = Segment(1, 100)
    a = Task(TaskId("a"), (Step(0, (sys_seg, Segment(2, 50)), 10, 3),), arrival_s=0.0)
    b = Task(TaskId("b"), (Step(0, (sys_seg, Segment(4, 30)), 10, 5),), arrival_s=1.0)
    reusable, total = reusable_prefix_tokens(Workload((a, b)))
    assert (reusable, total) == (100, 280)


def test_distribution_of() -> None:
    d = Distribution.of(list(range(1, 101)))
    assert d.median == 50.5 and d.max == 100 and abs(d.p90 - 90.1) < 1e-9
    assert Distribution.of([]) == Distribution(0.0, 0.0, 0.0, 0.0)


def test_trace_stats_json_keys() -> None:
    s0 = Step(0, (Segment(1, 100),), 10, 2, tool="bash", tool_seconds=1.0)
    st_ = trace_stats(Workload((Task(TaskId("a"), (s0,)),)))
    keys = set(st_.to_json())
    assert {
        "tasks",
        "llm_calls",
        "tool_calls",
        "calls_per_task",
        "prompt_tokens",
        "output_tokens",
        "tool_seconds",
        "reusable_prefix_fraction",
    } <= keys
    assert set(st_.to_json()["prompt_tokens"]) == {"median", "p90", "p99", "max"}
