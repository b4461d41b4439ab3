"""A trie of segment sequences: which prefixes have been seen, and how long a match is.

Used for trace statistics (reusable-prefix fraction) and by the native writer to encode a
prompt as an earlier step's context plus new segments. Node 0 is the root; a node stands
for one segment sequence.

Examples
--------
>>> from sagacore.workload.model import Segment
>>> trie = PrefixTrie()
>>> trie.insert([Segment(1, 100), Segment(2, 50)])
>>> trie.longest_prefix([Segment(1, 100), Segment(3, 10)])
(1, 100)
"""

from __future__ import annotations

from collections.abc import Sequence

from sagacore.workload.model import Segment

__all__ = ["PrefixTrie"]


class PrefixTrie:
    """Set of segment sequences closed under prefixes, with longest-prefix lookup."""

    __slots__ = ("_children", "_size")

    def __init__(self) -> None:
        self._children: dict[tuple[int, int, int], int] = {}
        self._size = 1

    def __len__(self) -> int:
        """Number of distinct non-empty prefixes stored."""
        return self._size - 1

    def insert(self, segments: Sequence[Segment]) -> None:
        """Add a sequence and all of its prefixes."""
        node = 0
        children = self._children
        for seg in segments:
            key = (node, seg.id, seg.tokens)
            nxt = children.get(key)
            if nxt is None:
                nxt = self._size
                self._size += 1
                children[key] = nxt
            node = nxt

    def longest_prefix(self, segments: Sequence[Segment]) -> tuple[int, int]:
        """Length of the longest stored prefix of ``segments``: (segments, tokens)."""
        node = 0
        count = 0
        tokens = 0
        children = self._children
        for seg in segments:
            nxt = children.get((node, seg.id, seg.tokens))
            if nxt is None:
                break
            node = nxt
            count += 1
            tokens += seg.tokens
        return count, tokens
