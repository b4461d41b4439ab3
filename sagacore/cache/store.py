"""The prefix-cache store: a paged KV cache with block-level prefix sharing.

This is the *mechanism* of a KV cache, shared by the cluster simulator
(:mod:`sagacore.sim`) and cache-only replay. What to evict is asked of a
:class:`~sagacore.policy.CachePolicy`; the store never decides it.

**Blocks.** Memory is ``capacity_blocks`` blocks of ``block_size`` tokens (vLLM's
paged KV cache). A running call holds the blocks of its KV; a block of a prompt is
*shared* with other calls only when the whole token prefix up to the block's end is
identical, which the store derives from the prompt's content segments
(:class:`~sagacore.workload.model.Segment`): tokens ``[0, end)`` of two prompts are
equal exactly when the segments covering them are.

**The tree.** Cached KV is a radix tree over segment ids. A node holds a run of whole
segments; the blocks it owns are those whose *last* token lies in its span, so block
``b`` of a path is owned by the node with ``start < (b + 1) * block_size <= end``. A
node caches a prefix of its blocks (``cached`` of ``owned``); cached blocks along any
root path are contiguous (a node with uncached blocks has no cached descendant). A
session's chain of calls extends its own leaf in place, so a session is typically one
node below the shared system prompt, and splitting happens only where prompts diverge.

**References and eviction.** A call *leases* the cached path it reuses (reference
counts along the path) and allocates *private* blocks for the rest; when it commits, its
computed blocks join the tree (deduplicated against what is already there), and when it
releases, its path becomes evictable. Only nodes no lease or hold references, with no
children, are offered to :meth:`CachePolicy.victim
<sagacore.policy.CachePolicy.victim>` (never one whose removal would orphan a cached
suffix). The chosen entry is reclaimed block by block from its tail (vLLM reclaims single
blocks; a partly reclaimed entry stays usable). Every allocation that must evict for a
new call (its admission) or a replayed request asks the policy afresh, so a victim is
not a commitment to a whole session; a running call's further blocks (a later prefill
chunk, a decode step's next block, a decode run advanced in closed form) first take the
rest of the victim last chosen, and the policy is asked again once that is used up or
in use again.

**Utilisation.** The store integrates, over time, the blocks that hold KV that is used:
private blocks of running calls, tree blocks while a call uses them, and the idle
stretch of a cached block that a later call reuses (credited at the reuse). Blocks
evicted without reuse, or still idle at the end, count as waste.

Examples
--------
>>> from sagacore.cache.lru import LRU
>>> store = PrefixStore(capacity_blocks=100, policy=LRU(), block_size=16)
>>> system, q1, q2 = (1, 2, 3), (40, 40), (24, 24)  # segment ids and their token counts
>>> ids, ends = (1, 2), (40, 80)
>>> lease = store.acquire(ids, ends, cap_tokens=79, now=0.0)
>>> lease.hit_tokens, store.grow(lease, 80, now=0.0), store.used_blocks
(0, True, 5)
>>> store.commit(lease, ids, ends, 80, now=1.0); store.release(lease, now=1.0)
>>> store.cached_blocks, store.evictable_blocks
(5, 5)
>>> store.match((1, 3), (40, 64), cap_tokens=63)  # shares segment 1: two whole blocks
32
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sagacore.errors import InvariantError
from sagacore.policy import (
    CacheContext,
    CacheEntryView,
    CachePolicy,
    Retention,
    RetentionDecision,
)
from sagacore.validate import positive_int
from sagacore.workload.model import Segment, TaskId

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.workload.predictor import Predictor

__all__ = ["CacheEntry", "Lease", "PrefixStore", "StoreStats", "segment_key"]


def segment_key(segments: Sequence[Segment]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The ``(ids, ends)`` form of a segment sequence that the store takes.

    ``ends[i]`` is the token offset where segment ``i`` ends.

    Examples
    --------
    >>> segment_key([Segment(7, 10), Segment(9, 5)])
    ((7, 9), (10, 15))
    """
    ids: list[int] = []
    ends: list[int] = []
    total = 0
    for s in segments:
        total += s.tokens
        ids.append(s.id)
        ends.append(total)
    return tuple(ids), tuple(ends)


class CacheEntry:
    """A node of the store's radix tree; as a policy sees it, a :class:`CacheEntryView`.

    Attributes are the mechanism's; a policy reads only the view's properties.
    """

    __slots__ = (
        "_store",
        "busy_since",
        "cached",
        "calls",
        "children",
        "created_s",
        "end",
        "ends",
        "entry_id",
        "hits",
        "idle_since",
        "ids",
        "last_access_s",
        "lo",
        "owned",
        "parent",
        "ref",
        "removed",
        "start",
        "step",
        "task_id",
    )

    def __init__(
        self,
        store: PrefixStore,
        entry_id: int,
        parent: CacheEntry | None,
        ids: tuple[int, ...],
        ends: tuple[int, ...],
        start: int,
        now: float,
    ) -> None:
        self._store = store
        self.entry_id = entry_id
        self.parent = parent
        self.children: dict[int, CacheEntry] = {}
        self.ids = ids
        self.ends = ends
        self.start = start
        self.end = ends[-1] if ends else start
        bs = store.block_size
        self.lo = start // bs
        self.owned = self.end // bs - self.lo
        self.cached = 0
        self.ref = 0
        self.calls = 0
        self.created_s = now
        self.last_access_s = now
        self.hits = 0
        self.task_id: TaskId | None = None
        self.step: int | None = None
        self.busy_since = now
        self.idle_since = now
        self.removed = False

    # --- CacheEntryView ---------------------------------------------------------------
    @property
    def tokens(self) -> int:
        """Tokens the entry holds in GPU memory (what evicting it frees)."""
        return self.cached * self._store.block_size

    @property
    def prefix_tokens(self) -> int:
        """Tokens of the whole cached prefix ending with this entry."""
        return (self.lo + self.cached) * self._store.block_size

    @property
    def last_segment(self) -> int | None:
        """Id of the entry's last content segment (None for the root): a later prompt
        containing it needs the whole entry. Not part of
        :class:`~sagacore.policy.CacheEntryView`; a policy that keeps ghosts of evicted
        entries reads it where the mechanism offers it."""
        return self.ids[-1] if self.ids else None

    @property
    def tool(self) -> str | None:
        """Tool the owning session is running now (None when not in a tool)."""
        if self.task_id is None:
            return None
        t = self._store.tools.get(self.task_id)
        return None if t is None else t[0]

    @property
    def tool_started_s(self) -> float | None:
        """When the owning session's current tool started."""
        if self.task_id is None:
            return None
        t = self._store.tools.get(self.task_id)
        return None if t is None else t[1]

    def __repr__(self) -> str:
        return (
            f"CacheEntry(id={self.entry_id}, tokens=[{self.start}, {self.end}), "
            f"cached={self.cached}/{self.owned}, ref={self.ref})"
        )


class Lease:
    """A call's hold on the store: its pinned cached path and its private blocks."""

    __slots__ = ("hit_tokens", "node", "owner", "pos", "private", "step", "tree_blocks")

    def __init__(self, node: CacheEntry, pos: int, tree_blocks: int, owner: TaskId | None,
                 step: int | None, block_size: int) -> None:
        self.node = node
        """Deepest node of the pinned path (the root when nothing is pinned)."""
        self.pos = pos
        """Segments of the call's sequence covered through ``node``."""
        self.tree_blocks = tree_blocks
        """Leading blocks of the call's KV that are tree blocks it pins."""
        self.private = 0
        """Blocks the call holds outside the tree."""
        self.hit_tokens = tree_blocks * block_size
        """Tokens reused from the cache when the lease was taken."""
        self.owner = owner
        self.step = step


@dataclass
class StoreStats:
    """Counters of a store's activity."""

    lookups: int = 0
    """Leases taken."""
    hit_tokens: int = 0
    """Tokens reused at lease time, summed."""
    evicted_blocks: int = 0
    """Blocks reclaimed from the tree."""
    victim_calls: int = 0
    """Times the cache policy was asked for a victim."""
    dropped_blocks: int = 0
    """Blocks freed by explicit drop or swap of a session's KV."""


class PrefixStore:
    """A paged KV cache of fixed capacity with block-level prefix caching.

    Parameters
    ----------
    capacity_blocks
        Blocks of KV memory (at least 1).
    policy
        The cache policy asked for victims.
    block_size
        Tokens per block (vLLM: 16).
    caching
        False disables prefix caching: nothing is shared or kept after release (vLLM
        with ``enable_prefix_caching=False``).
    predictor
        Passed to the policy in :class:`~sagacore.policy.CacheContext`.
    swap_seconds_per_token, recompute_seconds_per_token
        Passed to the policy in :class:`~sagacore.policy.CacheContext`.
    checked
        Verify the store's invariants after every mutation (slow; for tests).

    Raises
    ------
    ConfigError
        If ``capacity_blocks`` or ``block_size`` is not a positive integer.
    """

    def __init__(
        self,
        capacity_blocks: int,
        policy: CachePolicy,
        *,
        block_size: int = 16,
        caching: bool = True,
        predictor: Predictor | None = None,
        swap_seconds_per_token: float = 0.0,
        recompute_seconds_per_token: float = 0.0,
        checked: bool = False,
    ) -> None:
        positive_int("PrefixStore.capacity_blocks", capacity_blocks)
        positive_int("PrefixStore.block_size", block_size)
        self.capacity_blocks = capacity_blocks
        self.block_size = block_size
        self.policy = policy
        self.caching = caching
        self.predictor = predictor
        self.swap_seconds_per_token = swap_seconds_per_token
        self.recompute_seconds_per_token = recompute_seconds_per_token
        self.checked = checked
        self._observes_lookups = (
            type(policy).observe_lookup is not CachePolicy.observe_lookup
        )
        self._observe_access = (
            policy.observe_access
            if type(policy).observe_access is not CachePolicy.observe_access else None
        )
        """The policy's ``observe_access`` hook (None: a no-op, not called)."""
        self.stats = StoreStats()
        self.tools: dict[TaskId, tuple[str, float]] = {}
        """Sessions in a tool call: task -> (tool, start). Set by the mechanism."""
        self._next_id = 1
        self.root = CacheEntry(self, 0, None, (), (), 0, 0.0)
        self._tree = 0
        self._private = 0
        self._transit = 0
        self._evictable = 0
        self._leaves: dict[CacheEntry, None] = {}
        self._draining: CacheEntry | None = None
        self._t = 0.0
        self._private_area = 0.0
        self._useful_tree_area = 0.0
        self._leases: dict[int, Lease] = {}

    # --- state ---------------------------------------------------------------------------
    @property
    def used_blocks(self) -> int:
        """Blocks holding KV (tree, private and in transit to the host)."""
        return self._tree + self._private + self._transit

    def context(self, now: float) -> CacheContext:
        """What this cache's policy may read at ``now`` (:class:`~sagacore.policy.CacheContext`)."""
        bs = self.block_size
        return CacheContext(
            now=now,
            capacity_tokens=self.capacity_blocks * bs,
            used_tokens=self.in_use_blocks * bs,
            cached_free_tokens=self._evictable * bs,
            predictor=self.predictor,
            swap_seconds_per_token=self.swap_seconds_per_token,
            recompute_seconds_per_token=self.recompute_seconds_per_token,
        )

    @property
    def in_use_blocks(self) -> int:
        """Blocks a lease, a hold or a transfer references: used but not evictable."""
        return self._tree + self._private + self._transit - self._evictable

    @property
    def free_blocks(self) -> int:
        """Blocks holding nothing."""
        return self.capacity_blocks - self._tree - self._private - self._transit

    @property
    def cached_blocks(self) -> int:
        """Blocks in the tree."""
        return self._tree

    @property
    def private_blocks(self) -> int:
        """Blocks held by leases outside the tree."""
        return self._private

    @property
    def evictable_blocks(self) -> int:
        """Tree blocks no lease or hold references (reclaimable)."""
        return self._evictable

    @property
    def available_blocks(self) -> int:
        """Blocks an allocation can get: free plus evictable."""
        return self.free_blocks + self._evictable

    @property
    def draining_blocks(self) -> int:
        """Blocks left in the victim being reclaimed (usable without asking the policy)."""
        d = self._draining
        if d is None or d.removed or d.ref or d.children:
            return 0
        return d.cached

    def entries(self) -> list[CacheEntry]:
        """All nodes but the root, in depth-first order (for inspection and tests)."""
        out: list[CacheEntry] = []
        stack = list(reversed(self.root.children.values()))
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(reversed(n.children.values()))
        return out

    def candidates(self) -> list[CacheEntry]:
        """The evictable leaves, in the order the policy would see them."""
        return list(self._leaves)

    # --- accounting ----------------------------------------------------------------------
    def _account(self, now: float) -> None:
        dt = now - self._t
        if dt > 0:
            self._private_area += self._private * dt
            self._t = now

    def useful_block_seconds(self, now: float) -> float:
        """Integral of blocks holding KV that is used (see the module notes) up to ``now``.

        Busy tree blocks are credited up to ``now``; idle ones only if reused later.
        """
        self._account(now)
        busy = 0.0
        for n in self.entries():
            if n.calls:
                busy += n.cached * (now - n.busy_since)
        return self._private_area + self._useful_tree_area + busy

    # --- tree helpers --------------------------------------------------------------------
    def _new_node(
        self,
        parent: CacheEntry,
        ids: tuple[int, ...],
        ends: tuple[int, ...],
        now: float,
    ) -> CacheEntry:
        node = CacheEntry(self, self._next_id, parent, ids, ends, parent.end, now)
        self._next_id += 1
        parent.children[ids[0]] = node
        return node

    def _update_leaf(self, node: CacheEntry) -> None:
        """Recompute whether ``node`` is an eviction candidate; prune it if it is empty."""
        if node is self.root or node.removed:
            return
        if node.ref == 0 and not node.children:
            if node.cached > 0:
                self._leaves[node] = None
            else:
                self._remove(node)
        else:
            self._leaves.pop(node, None)

    def _remove(self, node: CacheEntry) -> None:
        """Detach an unreferenced childless node whose blocks are gone."""
        parent = node.parent
        assert parent is not None
        node.removed = True
        self._leaves.pop(node, None)
        if self._draining is node:
            self._draining = None
        del parent.children[node.ids[0]]
        self._update_leaf(parent)

    def _split(self, node: CacheEntry, m: int, now: float) -> CacheEntry:
        """Split ``node`` after its first ``m`` segments; return the new upper node."""
        parent = node.parent
        assert parent is not None and 0 < m < len(node.ids)
        upper = CacheEntry(self, self._next_id, parent, node.ids[:m], node.ends[:m],
                           node.start, node.created_s)
        self._next_id += 1
        parent.children[upper.ids[0]] = upper
        upper.cached = min(node.cached, upper.owned)
        upper.ref = node.ref
        upper.calls = node.calls
        upper.last_access_s = node.last_access_s
        upper.hits = node.hits
        upper.task_id = node.task_id
        upper.step = node.step
        upper.busy_since = node.busy_since
        upper.idle_since = node.idle_since
        rest = node.cached - upper.cached
        node.parent = upper
        node.ids = node.ids[m:]
        node.ends = node.ends[m:]
        node.start = upper.end
        node.lo = node.start // self.block_size
        node.owned = node.end // self.block_size - node.lo
        node.cached = rest
        upper.children[node.ids[0]] = node
        self._update_leaf(node)
        self._update_leaf(upper)
        return upper

    def _set_cached(self, node: CacheEntry, cached: int, now: float) -> None:
        delta = cached - node.cached
        if delta == 0:
            return
        if node.calls:
            self._useful_tree_area += node.cached * (now - node.busy_since)
            node.busy_since = now
        node.cached = cached
        self._tree += delta
        if node.ref == 0:
            self._evictable += delta
        self._update_leaf(node)

    def _pin_one(self, n: CacheEntry, now: float, call: bool, reuse: bool,
                 owner: TaskId | None) -> None:
        if n.ref == 0:
            self._evictable -= n.cached
            self._leaves.pop(n, None)
        n.ref += 1
        if call:
            if n.calls == 0:
                if reuse:
                    self._useful_tree_area += n.cached * (now - n.idle_since)
                n.busy_since = now
            n.calls += 1
            n.last_access_s = now
            if reuse:
                n.hits += 1
                if self._observe_access is not None:
                    self._observe_access(n, now)
            if n.task_id != owner:
                n.task_id = None
                n.step = None

    def _pin(self, node: CacheEntry, now: float, *, call: bool, reuse: bool,
             owner: TaskId | None) -> None:
        """Reference ``node`` and its ancestors (a call's lease or a hold)."""
        n: CacheEntry | None = node
        root = self.root
        while n is not None and n is not root:
            self._pin_one(n, now, call, reuse, owner)
            n = n.parent

    def _unpin(self, node: CacheEntry, now: float, *, call: bool) -> None:
        n: CacheEntry | None = node
        root = self.root
        while n is not None and n is not root:
            parent = n.parent
            n.ref -= 1
            if call:
                n.calls -= 1
                n.last_access_s = now
                if n.calls == 0:
                    self._useful_tree_area += n.cached * (now - n.busy_since)
                    n.idle_since = now
            if n.ref == 0:
                self._evictable += n.cached
                self._update_leaf(n)
            n = parent

    # --- lookups -------------------------------------------------------------------------
    def _walk(
        self, ids: Sequence[int], ends: Sequence[int]
    ) -> tuple[list[CacheEntry], int, CacheEntry | None, int, int]:
        """Longest cached match: (full nodes, segments, partial child, its segments, blocks)."""
        bs = self.block_size
        node = self.root
        path: list[CacheEntry] = []
        pos = 0
        h = 0
        n = len(ids)
        while pos < n:
            child = node.children.get(ids[pos])
            if child is None:
                break
            cids = child.ids
            length = len(cids)
            if tuple(ids[pos:pos + length]) == cids:
                m = length
            else:
                m = 1
                lim = min(length, n - pos)
                while m < lim and cids[m] == ids[pos + m]:
                    m += 1
            if m == length and child.cached == child.owned:
                path.append(child)
                node = child
                pos += length
                h = child.lo + child.owned
                continue
            usable = min(ends[pos + m - 1] // bs, child.lo + child.cached)
            if usable > h:
                return path, pos, child, m, usable
            break
        return path, pos, None, 0, h

    def match(self, ids: Sequence[int], ends: Sequence[int], cap_tokens: int) -> int:
        """Tokens of the sequence a lease would reuse now (block-aligned, at most ``cap_tokens``).

        Read-only. With caching disabled, 0.
        """
        if not self.caching:
            return 0
        h = self._walk(ids, ends)[4]
        bs = self.block_size
        return min(h, cap_tokens // bs) * bs

    def deepest_node(self, ids: Sequence[int], ends: Sequence[int]) -> CacheEntry:
        """The deepest node whose whole span the sequence matches, cached (root if none).

        Read-only: for a session's waiting call it is the node of the session's cached
        context (see :meth:`detach_session`).
        """
        if not self.caching:
            return self.root
        path = self._walk(ids, ends)[0]
        return path[-1] if path else self.root

    def lease_cost(self, ids: Sequence[int], ends: Sequence[int], cap_tokens: int) -> tuple[int, int]:
        """What :meth:`acquire` would do now, read-only: ``(hit_tokens, pinned_evictable)``.

        ``pinned_evictable`` is the number of evictable blocks the lease would pin (they
        stop being available to the lease's own allocation), so a lease of ``kv`` tokens
        fits exactly when ``ceil(kv / block_size) - hit_tokens / block_size <=
        free_blocks + evictable_blocks - pinned_evictable``.
        """
        if not self.caching:
            return 0, 0
        bs = self.block_size
        path, _pos, child, m, h = self._walk(ids, ends)
        h = min(h, cap_tokens // bs)
        if h == 0:
            return 0, 0
        pinned = 0
        if child is not None and child.lo < h:
            if child.ref == 0:
                if m < len(child.ids):
                    pinned += min(child.cached, child.ends[m - 1] // bs - child.lo)
                else:
                    pinned += child.cached
        k = len(path) - 1
        while k >= 0 and path[k].lo >= h:
            k -= 1
        for j in range(k + 1):
            if path[j].ref == 0:
                pinned += path[j].cached
        if child is not None and child.lo < h and k < len(path) - 1:
            raise InvariantError("lease_cost: inconsistent pin node")  # pragma: no cover
        return h * bs, pinned

    # --- leases --------------------------------------------------------------------------
    def acquire(
        self,
        ids: Sequence[int],
        ends: Sequence[int],
        cap_tokens: int,
        now: float,
        *,
        owner: TaskId | None = None,
        step: int | None = None,
    ) -> Lease:
        """Lease the longest cached prefix of the sequence, at most ``cap_tokens`` tokens.

        vLLM caps a hit one token short of the prompt (the last token is always
        computed): pass ``cap_tokens = prompt_tokens - 1``. The lease pins the reused
        path; it holds no private blocks yet (see :meth:`grow`).
        """
        self.stats.lookups += 1
        bs = self.block_size
        if not self.caching:
            return Lease(self.root, 0, 0, owner, step, bs)
        if self._observes_lookups:
            self.policy.observe_lookup(ids, now)
        path, pos, child, m, h = self._walk(ids, ends)
        h = min(h, cap_tokens // bs)
        if h == 0:
            return Lease(self.root, 0, 0, owner, step, bs)
        if child is not None and child.lo < h:
            if m < len(child.ids):
                child = self._split(child, m, now)
            path.append(child)
            pos += len(child.ids)
        # the pin node: the deepest node whose first owned block is below h
        k = len(path) - 1
        while path[k].lo >= h:
            pos -= len(path[k].ids)
            k -= 1
        node = path[k]
        self._pin(node, now, call=True, reuse=True, owner=owner)
        lease = Lease(node, pos, h, owner, step, bs)
        self.stats.hit_tokens += lease.hit_tokens
        if self.checked:
            self._leases[id(lease)] = lease
            self.check()
        return lease

    def grow(self, lease: Lease, kv_tokens: int, now: float, *, rerank: bool = True) -> bool:
        """Make the lease hold blocks for ``kv_tokens`` tokens, evicting as needed.

        Returns False, changing nothing, when even evicting every evictable block
        would not make room (vLLM's ``allocate_slots`` returning None).

        With ``rerank`` (the default: a call's admission, a replayed request) an
        allocation that must evict asks the policy for a victim afresh; without it (a
        running call's later prefill chunk or next decode block) it first takes the rest
        of the victim last chosen, as a decode run jumped over in closed form does
        (:meth:`grow_bulk`).
        """
        bs = self.block_size
        need = -(-kv_tokens // bs) - lease.tree_blocks - lease.private
        if need <= 0:
            return True
        free = self.capacity_blocks - self._tree - self._private - self._transit
        if need > free + self._evictable:
            return False
        if need > free:
            if rerank:
                self._draining = None
            self._reclaim(need - free, now)
        dt = now - self._t  # _account(now), inlined
        if dt > 0:
            self._private_area += self._private * dt
            self._t = now
        lease.private += need
        self._private += need
        if self.checked:
            self.check()
        return True

    def grow_bulk(self, blocks: int, now: float) -> None:
        """Allocate ``blocks`` private blocks for leases that :meth:`adopt` them later.

        Used to advance a decode run in closed form: the blocks come from the free pool
        and then from the victim being reclaimed, never asking the policy (the caller
        planned the run so that they suffice); see :meth:`backdate` for the time they
        held before ``now``.
        """
        if blocks <= 0:
            return
        free = self.capacity_blocks - self._tree - self._private - self._transit
        if blocks > free:
            rest = blocks - free
            if rest > self.draining_blocks:
                raise InvariantError(
                    f"grow_bulk: {blocks} blocks needed, {free} free and "
                    f"{self.draining_blocks} in the victim being reclaimed"
                )
            self._reclaim(rest, now)
        dt = now - self._t  # _account(now), inlined
        if dt > 0:
            self._private_area += self._private * dt
            self._t = now
        self._private += blocks

    def backdate(self, block_seconds: float) -> None:
        """Add ``block_seconds`` of private blocks held before they were accounted."""
        self._private_area += block_seconds

    def adopt(self, lease: Lease, blocks: int) -> None:
        """Attribute ``blocks`` of the blocks allocated by :meth:`grow_bulk` to ``lease``."""
        lease.private += blocks

    def _reclaim(self, blocks: int, now: float) -> None:
        while blocks > 0:
            d = self._draining
            if d is None or d.removed or d.ref or d.children:
                cands = list(self._leaves)
                if not cands:
                    raise InvariantError(f"reclaim: {blocks} blocks short, nothing evictable")
                i = self.policy.victim(cands, self.context(now))
                self.stats.victim_calls += 1
                if not isinstance(i, int) or not 0 <= i < len(cands):
                    raise InvariantError(
                        f"cache policy {self.policy.name!r} returned victim index {i!r} "
                        f"for {len(cands)} candidates"
                    )
                d = cands[i]
                self._draining = d
            k = min(blocks, d.cached)
            d.cached -= k
            self._tree -= k
            self._evictable -= k
            self.stats.evicted_blocks += k
            blocks -= k
            if d.cached == 0:
                self._remove(d)

    def commit(
        self, lease: Lease, ids: Sequence[int], ends: Sequence[int], kv_tokens: int, now: float
    ) -> None:
        """Insert the lease's computed KV (the first ``kv_tokens`` tokens) into the tree.

        The lease then pins the whole committed path; blocks already cached are
        deduplicated (freed from the lease). A no-op with caching disabled.
        """
        if not self.caching:
            return
        bs = self.block_size
        limit = kv_tokens // bs
        if limit <= lease.tree_blocks:
            return
        # 1. fill the pinned path's partial nodes up to the limit (a full node with blocks
        #    has only full ancestors: cached blocks are contiguous from the root)
        top = lease.node
        if not (top.owned and top.cached == top.owned):
            chain: list[CacheEntry] = []
            n: CacheEntry | None = top
            while n is not None and n is not self.root:
                chain.append(n)
                n = n.parent
            for x in reversed(chain):
                want = min(x.owned, limit - x.lo)
                if want > x.cached:
                    self._set_cached(x, want, now)
        # 2. extend below the pinned node with the segments that hold computed blocks
        q = min(bisect_left(ends, limit * bs) + 1, len(ids))
        node = lease.node
        pos = lease.pos
        while pos < q:
            child = node.children.get(ids[pos])
            if child is None:
                if (
                    node is not self.root
                    and node.ref == 1
                    and not node.children
                    and node.cached == node.owned
                    and node.task_id is not None
                    and node.task_id == lease.owner
                ):
                    # the session extends its own leaf in place (the common case):
                    # _set_cached inlined: the node stays referenced, so
                    # it is no eviction candidate and nothing becomes evictable
                    node.ids = node.ids + tuple(ids[pos:q])
                    node.ends = e = node.ends + tuple(ends[pos:q])
                    node.end = e[-1]
                    owned = node.owned = e[-1] // bs - node.lo
                    node.step = lease.step
                    want = limit - node.lo
                    if want > owned:
                        want = owned
                    delta = want - node.cached
                    if delta:
                        if node.calls:
                            self._useful_tree_area += node.cached * (now - node.busy_since)
                            node.busy_since = now
                        node.cached = want
                        self._tree += delta
                    pos = q
                    break
                else:
                    child = self._new_node(node, tuple(ids[pos:q]), tuple(ends[pos:q]), now)
                    child.task_id = lease.owner
                    self._pin_one(child, now, True, False, lease.owner)
                    node = child
                node.step = lease.step if node.task_id is not None else None
                self._set_cached(node, min(node.owned, limit - node.lo), now)
                pos = q
                break
            length = len(child.ids)
            m = 1
            lim = min(length, q - pos)
            while m < lim and child.ids[m] == ids[pos + m]:
                m += 1
            if m < length:
                child = self._split(child, m, now)
            self._pin_one(child, now, True, False, lease.owner)
            want = min(child.owned, limit - child.lo)
            if want > child.cached:
                self._set_cached(child, want, now)
            node = child
            pos += len(child.ids)
        lease.node = node
        lease.pos = pos
        dt = now - self._t  # _account(now), inlined
        if dt > 0:
            self._private_area += self._private * dt
            self._t = now
        freed = limit - lease.tree_blocks
        lease.tree_blocks = limit
        lease.private -= freed
        self._private -= freed
        if self.checked:
            self.check()

    def release(self, lease: Lease, now: float) -> None:
        """End the lease: free its private blocks, unpin its path (now evictable)."""
        dt = now - self._t  # _account(now), inlined
        if dt > 0:
            self._private_area += self._private * dt
            self._t = now
        self._private -= lease.private
        lease.private = 0
        root = self.root
        n: CacheEntry | None = lease.node
        # _unpin(lease.node, now, call=True), inlined
        while n is not None and n is not root:
            parent = n.parent
            n.ref -= 1
            n.calls -= 1
            n.last_access_s = now
            if n.calls == 0:
                self._useful_tree_area += n.cached * (now - n.busy_since)
                n.idle_since = now
            if n.ref == 0:
                self._evictable += n.cached
                self._update_leaf(n)
            n = parent
        lease.node = root
        if self.checked:
            self._leases.pop(id(lease), None)
            self.check()

    # --- retention -----------------------------------------------------------------------
    def hold(self, node: CacheEntry, now: float) -> None:
        """Protect ``node``'s path from eviction (a TTL pin) until :meth:`unhold`."""
        if node is not self.root:
            self._pin(node, now, call=False, reuse=False, owner=None)

    def unhold(self, node: CacheEntry, now: float, *, most_recent: bool = False) -> None:
        """Undo one :meth:`hold`.

        With ``most_recent``, the entries of ``node``'s path that this leaves unreferenced
        become the most recently used (``last_access_s = now``), as vLLM returns a pin's
        blocks to the most recently used end of its free queue; otherwise they keep the
        time their last call released them.
        """
        if node is self.root:
            return
        if most_recent:
            n: CacheEntry | None = node
            while n is not None and n is not self.root:
                if n.ref == 1 and n.last_access_s < now:
                    n.last_access_s = now  # before _unpin offers it as a candidate
                n = n.parent
        self._unpin(node, now, call=False)

    def detach_session(self, node: CacheEntry, task_id: TaskId, now: float) -> int:
        """Free the KV only ``task_id`` uses at the end of ``node``'s path; return blocks freed.

        Frees ``node`` and its ancestors while they belong to ``task_id`` alone, are not
        referenced and have no other children: what dropping or swapping out a session's
        context frees (shared prefixes stay).
        """
        freed = 0
        n: CacheEntry | None = node
        while (
            n is not None
            and n is not self.root
            and not n.removed
            and n.task_id == task_id
            and n.ref == 0
            and not n.children
        ):
            parent = n.parent
            freed += n.cached
            self._tree -= n.cached
            self._evictable -= n.cached
            n.cached = 0
            self._remove(n)
            n = parent
        self.stats.dropped_blocks += freed
        if self.checked:
            self.check()
        return freed

    def will_hold(self, decision: RetentionDecision, node: CacheEntry) -> bool:
        """Whether :meth:`apply_retention` holds ``node``'s path for ``decision``: KEEP with
        a TTL, and a path that caches something (not the root).

        A mechanism that keeps one hold per session ends the session's earlier hold first
        (the simulator does, before the new hold is taken).
        """
        return decision.ttl_s is not None and node is not self.root

    def apply_retention(self, decision: RetentionDecision, node: CacheEntry,
                        task_id: TaskId, now: float, *, transit: bool = False) -> int:
        """Apply a cache policy's retention decision to a session entering a tool call.

        ``node`` ends the session's context (its call's lease already released). KEEP
        with a TTL holds ``node``'s path (:meth:`hold`; the mechanism ends it with
        :meth:`unhold` when the TTL ends or the session's next call starts); KEEP without
        one leaves the KV cached and evictable; DROP and SWAP free the blocks the session
        alone uses (:meth:`detach_session`). With ``transit`` a SWAP's freed blocks stay
        in use while they are copied to the host (:meth:`reserve_transit`; the mechanism
        calls :meth:`release_transit` when the copy ends).

        Used by the cluster simulator and cache-only replay alike, so that a decision
        means the same in both.

        Returns
        -------
        int
            Blocks DROP or SWAP took from the tree (0 for KEEP).
        """
        action = decision.action
        if action is Retention.KEEP:
            if self.will_hold(decision, node):
                self.hold(node, now)
            return 0
        if node is self.root:
            return 0
        freed = self.detach_session(node, task_id, now)
        if transit and freed and action is Retention.SWAP:
            self.reserve_transit(freed)
        return freed

    def reserve_transit(self, blocks: int) -> None:
        """Hold ``blocks`` blocks for KV being copied out to the host."""
        self._transit += blocks

    def release_transit(self, blocks: int) -> None:
        """Free blocks whose copy to the host finished."""
        self._transit -= blocks

    # --- checked mode --------------------------------------------------------------------
    def check(self) -> None:
        """Verify the invariants (raises :class:`~sagacore.errors.InvariantError`)."""
        tree = evictable = 0
        leaves: set[int] = set()
        for n in self.entries():
            if n.removed:
                raise InvariantError(f"removed node {n!r} still in the tree")
            if not 0 <= n.cached <= n.owned:
                raise InvariantError(f"node {n!r}: cached outside [0, owned]")
            if n.cached < n.owned:
                for c in n.children.values():
                    if c.cached:
                        raise InvariantError(f"node {n!r} is partial but child {c!r} is cached")
            if n.ref < 0 or n.calls < 0 or n.calls > n.ref:
                raise InvariantError(f"node {n!r}: bad references ({n.ref}, {n.calls})")
            if n.parent is not None and n.parent is not self.root and n.parent.ref < n.ref:
                raise InvariantError(f"node {n!r} has more references than its parent")
            if n.start != (n.parent.end if n.parent is not None else 0):
                raise InvariantError(f"node {n!r} does not start where its parent ends")
            tree += n.cached
            if n.ref == 0:
                evictable += n.cached
                if not n.children:
                    leaves.add(n.entry_id)
        if tree != self._tree or evictable != self._evictable:
            raise InvariantError(
                f"store counters: tree {self._tree} (recount {tree}), "
                f"evictable {self._evictable} (recount {evictable})"
            )
        if leaves != {n.entry_id for n in self._leaves}:
            raise InvariantError("store: eviction candidates out of date")
        if self._leases:
            private = sum(lease.private for lease in self._leases.values())
            if private > self._private:
                raise InvariantError(f"store: leases hold {private} > {self._private} private")
        if self.used_blocks > self.capacity_blocks or min(self._private, self._transit) < 0:
            raise InvariantError(
                f"KV blocks used {self.used_blocks} exceed capacity {self.capacity_blocks}"
            )


def _protocol_check(e: CacheEntry) -> CacheEntryView:  # pragma: no cover - typing only
    return e
