"""The prefix-cache store: block identity from segments, leases, eviction, invariants."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sagacore.cache.lru import LRU
from sagacore.cache.store import CacheEntry, Lease, PrefixStore, segment_key
from sagacore.errors import ConfigError
from sagacore.policy import CacheContext, CacheEntryView, CachePolicy
from sagacore.workload.model import Segment, TaskId

B = 4


def blocks_of(ids: Sequence[int], ends: Sequence[int], tokens: int) -> list[tuple[object, ...]]:
    """Identity of each full block of the first ``tokens`` tokens: the segments up to its end."""
    out: list[tuple[object, ...]] = []
    for b in range(tokens // B):
        end = (b + 1) * B
        j = next(i for i, e in enumerate(ends) if e >= end)
        out.append((tuple(ids[: j + 1]), end))
    return out


def tree_blocks(store: PrefixStore) -> set[tuple[object, ...]]:
    """The block identities the tree caches, recomputed from its nodes."""
    out: set[tuple[object, ...]] = set()

    def visit(n: CacheEntry, ids: tuple[int, ...]) -> None:
        path = ids + n.ids
        for k in range(n.cached):
            b = n.lo + k
            end = (b + 1) * B
            j = len(ids) + next(i for i, e in enumerate(n.ends) if e >= end)
            out.add((path[: j + 1], end))
        for c in n.children.values():
            visit(c, path)

    for c in store.root.children.values():
        visit(c, ())
    return out


def reference_match(store: PrefixStore, ids: Sequence[int], ends: Sequence[int], cap: int) -> int:
    cached = tree_blocks(store)
    hit = 0
    for blk in blocks_of(ids, ends, ends[-1]):
        if blk not in cached:
            break
        hit += B
    return min(hit, cap // B * B)


def test_segment_key() -> None:
    assert segment_key([Segment(3, 5), Segment(1, 2)]) == ((3, 1), (5, 7))


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="capacity_blocks must be a positive integer, got 0"):
        PrefixStore(0, LRU())
    with pytest.raises(ConfigError, match="block_size"):
        PrefixStore(10, LRU(), block_size=0)


def run(store: PrefixStore, ids: tuple[int, ...], ends: tuple[int, ...], now: float,
        owner: str = "t") -> int:
    lease = store.acquire(ids, ends, ends[-1] - 1, now, owner=TaskId(owner))
    hit = lease.hit_tokens
    assert store.grow(lease, ends[-1], now)
    store.commit(lease, ids, ends, ends[-1], now)
    store.release(lease, now)
    return hit


def test_session_extends_its_leaf_and_shares_system_prompt() -> None:
    store = PrefixStore(1000, LRU(), block_size=B, checked=True)
    # task a: system(10) + u(6) -> + out(3) + obs(5) ...
    run(store, (1, 2, 3), (10, 16, 19), 0.0, "a")
    assert run(store, (1, 2, 3, 4), (10, 16, 19, 24), 1.0, "a") == 16  # 19 -> 4 blocks
    # task b shares only the system prompt: 10 tokens -> 2 blocks
    assert run(store, (1, 5), (10, 20), 2.0, "b") == 8
    nodes = store.entries()
    assert [n.ids for n in nodes] == [(1,), (2, 3, 4), (5,)]
    assert [n.task_id for n in nodes] == [None, "a", "b"]
    assert store.cached_blocks == 2 + 4 + 3  # (1): blocks 0,1; (2,3,4): 2..5; (5): 2..4


def test_cap_keeps_last_token_computed() -> None:
    store = PrefixStore(100, LRU(), block_size=B, checked=True)
    run(store, (1,), (16,), 0.0)
    # the same prompt again: at most 15 tokens may be reused -> 3 blocks
    assert store.match((1,), (16,), 15) == 12


def test_lru_evicts_the_oldest_session_block_by_block() -> None:
    store = PrefixStore(10, LRU(), block_size=B, checked=True)
    run(store, (1,), (16,), 0.0, "a")  # 4 blocks
    run(store, (2,), (16,), 1.0, "b")  # 4 blocks
    assert store.free_blocks == 2
    lease = store.acquire((3,), (12,), 11, 2.0, owner=TaskId("c"))
    assert store.grow(lease, 12, 2.0)  # 3 blocks: 2 free + 1 reclaimed from a's tail
    assert store.stats.evicted_blocks == 1 and store.stats.victim_calls == 1
    assert store.match((1,), (16,), 16) == 12  # a keeps 3 of its 4 blocks
    # a decode block (no re-rank) takes the rest of the victim being reclaimed
    assert store.grow(lease, 16, 2.0, rerank=False)
    assert store.stats.victim_calls == 1
    assert store.match((1,), (16,), 16) == 8
    # a new allocation asks the policy again (LRU still picks a, the older)
    assert store.grow(lease, 20, 2.0)
    assert store.stats.victim_calls == 2
    assert store.match((1,), (16,), 16) == 4
    assert store.match((2,), (16,), 16) == 16
    assert not store.grow(lease, 80, 2.0)  # impossible: nothing changes
    assert store.used_blocks == 10


class _Largest(LRU):
    """Evicts the largest leaf (the newer on a tie): its choice moves as a leaf drains."""

    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        return max(range(len(candidates)),
                   key=lambda i: (candidates[i].tokens, candidates[i].last_access_s))


def test_each_new_allocation_asks_the_policy_but_decode_blocks_drain() -> None:
    def fill() -> tuple[PrefixStore, Lease]:
        store = PrefixStore(10, _Largest(), block_size=B, checked=True)
        run(store, (1,), (16,), 0.0, "a")  # 4 blocks
        run(store, (2,), (16,), 1.0, "b")  # 4 blocks, newer
        lease = store.acquire((3,), (12,), 11, 2.0, owner=TaskId("c"))
        assert store.grow(lease, 12, 2.0)  # 2 free + 1 from b (a tie: the newer)
        assert store.match((2,), (16,), 16) == 12
        return store, lease

    store, lease = fill()
    assert store.grow(lease, 16, 2.0, rerank=False)  # a decode block: b drains further
    assert store.match((2,), (16,), 16) == 8 and store.match((1,), (16,), 16) == 16
    assert store.stats.victim_calls == 1
    store, lease = fill()
    assert store.grow(lease, 16, 2.0)  # a new allocation: a (4 blocks) is now the largest
    assert store.match((2,), (16,), 16) == 12 and store.match((1,), (16,), 16) == 12
    assert store.stats.victim_calls == 2


def test_pinned_blocks_are_never_evicted() -> None:
    store = PrefixStore(8, LRU(), block_size=B, checked=True)
    run(store, (1,), (16,), 0.0, "a")
    keep = store.acquire((1, 2), (16, 20), 19, 1.0, owner=TaskId("a"))
    assert keep.hit_tokens == 16 and store.evictable_blocks == 0
    other = store.acquire((9,), (20,), 19, 1.0)
    assert not store.grow(other, 20, 1.0)  # 5 blocks > 4 free, 0 evictable
    assert store.grow(other, 16, 1.0)
    store.release(other, 2.0)
    store.release(keep, 2.0)
    assert store.evictable_blocks == 4


def test_caching_disabled_frees_everything_at_release() -> None:
    store = PrefixStore(10, LRU(), block_size=B, caching=False, checked=True)
    assert run(store, (1,), (16,), 0.0) == 0
    assert run(store, (1,), (16,), 1.0) == 0
    assert store.used_blocks == 0 and store.entries() == []


def test_detach_session_keeps_the_shared_prefix() -> None:
    store = PrefixStore(100, LRU(), block_size=B, checked=True)
    run(store, (1, 2), (8, 16), 0.0, "a")
    run(store, (1, 3), (8, 16), 0.0, "b")
    leaf = store.root.children[1].children[2]
    assert store.detach_session(leaf, TaskId("a"), 1.0) == 2
    assert store.match((1, 2), (8, 16), 16) == 8
    assert store.detach_session(store.root.children[1], TaskId("a"), 1.0) == 0  # shared


def test_hold_protects_until_unhold() -> None:
    store = PrefixStore(4, LRU(), block_size=B, checked=True)
    run(store, (1,), (16,), 0.0, "a")
    node = store.root.children[1]
    store.hold(node, 0.0)
    lease = store.acquire((2,), (4,), 3, 1.0)
    assert not store.grow(lease, 4, 1.0)
    store.unhold(node, 1.0)
    assert store.grow(lease, 4, 1.0)


def test_useful_utilisation_credits_reuse_only() -> None:
    store = PrefixStore(100, LRU(), block_size=B)
    run(store, (1,), (16,), 0.0, "a")  # 4 blocks cached at t=0
    run(store, (2,), (16,), 0.0, "b")  # never reused
    lease = store.acquire((1, 3), (16, 20), 19, 10.0, owner=TaskId("a"))
    assert lease.hit_tokens == 16
    store.release(lease, 10.0)
    assert store.useful_block_seconds(10.0) == pytest.approx(4 * 10.0)


class Spy(CachePolicy):
    name = "spy"

    def __init__(self) -> None:
        self.seen: list[list[int]] = []

    def victim(self, candidates: Sequence[CacheEntryView], ctx: CacheContext) -> int:
        self.seen.append([c.entry_id for c in candidates])
        assert ctx.used_tokens <= ctx.capacity_tokens
        return len(candidates) - 1


def test_policy_sees_only_unreferenced_leaves() -> None:
    spy = Spy()
    store = PrefixStore(12, spy, block_size=B, checked=True)
    run(store, (1, 2), (8, 16), 0.0, "a")
    run(store, (1, 3), (8, 16), 0.0, "b")
    leaf_b = store.root.children[1].children[3].entry_id
    lease = store.acquire((1, 2, 4), (8, 16, 20), 19, 1.0, owner=TaskId("a"))
    assert store.grow(lease, 24, 1.0)  # 2 more blocks: free has 6
    assert store.grow(lease, 48, 1.0)  # 6 more: 4 free, evict b's 2
    assert spy.seen == [[leaf_b]]
    assert 3 not in store.root.children[1].children


segment_trees = st.lists(
    st.tuples(st.integers(0, 6), st.integers(1, 9)), min_size=1, max_size=12
)


@st.composite
def sequences(draw: st.DrawFn) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Segment sequences that share prefixes: each extends or branches an earlier one."""
    specs = draw(segment_trees)
    seqs: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    lengths: dict[int, int] = {}
    next_id = 1
    for parent, tokens in specs:
        base: tuple[int, ...] = ()
        if seqs and parent < 6:
            ids0 = seqs[parent % len(seqs)][0]
            base = ids0[: draw(st.integers(0, len(ids0)))]
        k = draw(st.integers(1, 3))
        new = []
        for _ in range(k):
            lengths[next_id] = draw(st.integers(1, 3 * B))
            new.append(next_id)
            next_id += 1
        ids = base + tuple(new)
        total = 0
        ends = []
        for i in ids:
            total += lengths[i]
            ends.append(total)
        del tokens
        seqs.append((ids, tuple(ends)))
    return seqs


@given(sequences(), st.integers(3, 40), st.data())
def test_store_matches_block_identity_reference(
    seqs: list[tuple[tuple[int, ...], tuple[int, ...]]], capacity: int, data: st.DataObject
) -> None:
    store = PrefixStore(capacity, LRU(), block_size=B, checked=True)
    committed: set[tuple[object, ...]] = set()
    open_leases = []
    now = 0.0
    for i, (ids, ends) in enumerate(seqs):
        now += 1.0
        total = ends[-1]
        cap = total - 1
        expect = reference_match(store, ids, ends, cap)
        assert store.match(ids, ends, cap) == expect
        lease = store.acquire(ids, ends, cap, now, owner=TaskId(f"t{i % 3}"), step=i)
        assert lease.hit_tokens == expect
        kv = data.draw(st.integers(expect + 1, total))
        if not store.grow(lease, kv, now):
            store.release(lease, now)
            continue
        assert store.used_blocks <= capacity
        store.commit(lease, ids, ends, kv, now)
        committed.update(blocks_of(ids, ends, kv))
        assert tree_blocks(store) <= committed
        if data.draw(st.booleans()):
            store.release(lease, now)
        else:
            open_leases.append(lease)
        if len(open_leases) > 2:
            store.release(open_leases.pop(0), now)
    for lease in open_leases:
        store.release(lease, now)
    store.check()
    assert store.private_blocks == 0
    assert store.evictable_blocks == store.cached_blocks == len(tree_blocks(store))


@given(sequences())
def test_without_pressure_everything_committed_stays(
    seqs: list[tuple[tuple[int, ...], tuple[int, ...]]],
) -> None:
    store = PrefixStore(10_000, LRU(), block_size=B, checked=True)
    committed: set[tuple[object, ...]] = set()
    for ids, ends in seqs:
        run(store, ids, ends, 0.0)
        committed.update(blocks_of(ids, ends, ends[-1]))
        assert tree_blocks(store) == committed
    assert store.stats.evicted_blocks == 0


@pytest.mark.parametrize(
    "module", ["sagacore.cache.store", "sagacore.cache.lru", "sagacore.sched.fcfs"]
)
def test_doctests(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("action", ["keep", "pin", "drop", "swap", "swap-transit"])
def test_apply_retention_does_what_each_decision_says(action: str) -> None:
    """One method applies a retention decision for the simulator and replay alike: keep
    leaves the session's KV evictable, a TTL pins its whole path, drop and swap free the
    blocks only the session uses (never the shared system prompt), and a swap in transit
    keeps them in use until the copy ends."""
    from sagacore.policy import Retention, RetentionDecision

    store = PrefixStore(100, LRU(), block_size=B, checked=True)
    system = (1,), (16,)
    shared = store.acquire(*system, 16, 0.0, owner=TaskId("other"))
    assert store.grow(shared, 16, 0.0)
    store.commit(shared, *system, 16, 0.0)
    store.release(shared, 0.0)
    ids, ends = (1, 2), (16, 40)
    lease = store.acquire(ids, ends, 39, 1.0, owner=TaskId("s"), step=0)
    assert lease.hit_tokens == 16 and store.grow(lease, 40, 1.0)
    store.commit(lease, ids, ends, 40, 1.0)
    node = lease.node
    store.release(lease, 1.0)
    assert store.evictable_blocks == 10
    decision = {
        "keep": RetentionDecision(Retention.KEEP),
        "pin": RetentionDecision(Retention.KEEP, ttl_s=5.0),
        "drop": RetentionDecision(Retention.DROP),
        "swap": RetentionDecision(Retention.SWAP),
        "swap-transit": RetentionDecision(Retention.SWAP),
    }[action]
    assert store.will_hold(decision, node) == (action == "pin")
    assert not store.will_hold(decision, store.root)
    freed = store.apply_retention(decision, node, TaskId("s"), 2.0,
                                  transit=action == "swap-transit")
    if action in ("keep", "pin"):
        assert freed == 0 and store.cached_blocks == 10
        assert store.evictable_blocks == (0 if action == "pin" else 10)
        if action == "pin":
            store.unhold(node, 3.0)
            assert store.evictable_blocks == 10
    else:
        assert freed == 6  # tokens 16..40: the session's own blocks
        assert store.cached_blocks == 4 and store.match(*system, 16) == 16
        assert store.used_blocks == (10 if action == "swap-transit" else 4)
        if action == "swap-transit":
            store.release_transit(freed)
            assert store.used_blocks == 4
    assert store.apply_retention(decision, store.root, TaskId("s"), 4.0) == 0
    store.check()
