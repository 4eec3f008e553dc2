"""Ring positions and preference lists, computed exactly as rumor's nodes do.

A key's position on the consistent-hashing ring is XXH64 of its bytes with
seed 0 (common/hash.h). The ring (Admin.RingLayout) lists every node's
tokens; a key belongs to the first token at or after its position (wrapping
to the first token; ties between nodes broken by lower node id), and its
preference list is the first N distinct nodes met walking clockwise from
there, the nodes after those its fallbacks. RingView answers that as
client/ring_view.h does for the C++ client.

Immutable once built; safe to share between threads.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Tuple

__all__ = ["xxh64", "ring_position", "RingNode", "RingLayout", "RingView"]

_M = (1 << 64) - 1
_P1 = 11400714785074694791
_P2 = 14029467366897019727
_P3 = 1609587929392839161
_P4 = 9650029242287828579
_P5 = 2870177450012600261


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M


def _round(acc: int, lane: int) -> int:
    acc = (acc + lane * _P2) & _M
    return (_rotl(acc, 31) * _P1) & _M


def _merge(acc: int, val: int) -> int:
    acc ^= _round(0, val)
    return (acc * _P1 + _P4) & _M


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64 of `data` (pure Python; equal to libxxhash's XXH64)."""
    n = len(data)
    i = 0
    if n >= 32:
        v1 = (seed + _P1 + _P2) & _M
        v2 = (seed + _P2) & _M
        v3 = seed & _M
        v4 = (seed - _P1) & _M
        while i + 32 <= n:
            a, b, c, d = struct.unpack_from("<4Q", data, i)
            v1 = _round(v1, a)
            v2 = _round(v2, b)
            v3 = _round(v3, c)
            v4 = _round(v4, d)
            i += 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _M
        for v in (v1, v2, v3, v4):
            h = _merge(h, v)
    else:
        h = (seed + _P5) & _M
    h = (h + n) & _M
    while i + 8 <= n:
        (lane,) = struct.unpack_from("<Q", data, i)
        h ^= _round(0, lane)
        h = (_rotl(h, 27) * _P1 + _P4) & _M
        i += 8
    if i + 4 <= n:
        (lane,) = struct.unpack_from("<I", data, i)
        h ^= (lane * _P1) & _M
        h = (_rotl(h, 23) * _P2 + _P3) & _M
        i += 4
    while i < n:
        h ^= (data[i] * _P5) & _M
        h = (_rotl(h, 11) * _P1) & _M
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M
    h ^= h >> 29
    h = (h * _P3) & _M
    h ^= h >> 32
    return h


def ring_position(key: bytes) -> int:
    """The position of `key` on the ring, as the nodes compute it."""
    return xxh64(key, 0)


@dataclass(frozen=True)
class RingNode:
    """One node of the ring (Admin.RingLayout)."""

    id: int
    address: str  # host:port clients reach it at
    status: str  # alive, suspect or dead (dead nodes keep their ranges)
    tokens: Tuple[int, ...] = ()


@dataclass(frozen=True)
class RingLayout:
    """The ring as a client routes by it: every ring member's tokens.

    The version changes whenever ownership changes; KV responses carry the
    answering node's current version.
    """

    version: int
    replicas: int  # N
    nodes: Tuple[RingNode, ...] = field(default_factory=tuple)


class RingView:
    """Which nodes hold a key, for a RingLayout.

    Every node with at least one token is on the ring (a node listed twice
    contributes the union of its tokens; its first listing with tokens
    names its address and status). Tokens are ordered by (token, node id);
    a duplicate (token, node) pair counts once.
    """

    def __init__(self, layout: RingLayout) -> None:
        self._layout = layout
        self._nodes: List[RingNode] = []  # distinct nodes with tokens
        by_id = {}
        pairs = set()
        for node in layout.nodes:
            if not node.tokens:
                continue
            index = by_id.get(node.id)
            if index is None:
                index = by_id[node.id] = len(self._nodes)
                self._nodes.append(node)
            for token in node.tokens:
                pairs.add((token, node.id, index))
        self._by_id = by_id
        ordered = sorted(pairs)
        self._tokens = [t for t, _, _ in ordered]
        self._owners = [index for _, _, index in ordered]

    @property
    def layout(self) -> RingLayout:
        return self._layout

    @property
    def version(self) -> int:
        return self._layout.version

    @property
    def replicas(self) -> int:
        """N, as the layout said."""
        return self._layout.replicas

    @property
    def empty(self) -> bool:
        """True when no node has a token: nothing can be routed."""
        return not self._tokens

    @property
    def num_nodes(self) -> int:
        """Distinct nodes on the ring."""
        return len(self._nodes)

    def walk(self, position: int) -> Iterator[RingNode]:
        """Every distinct node in clockwise order from `position`.

        The first is the key's owner; the first N are its preference list,
        the rest its fallbacks.
        """
        if not self._tokens:
            return
        start = bisect.bisect_left(self._tokens, position)
        seen = set()
        count = len(self._tokens)
        for i in range(count):
            index = self._owners[(start + i) % count]
            if index in seen:
                continue
            seen.add(index)
            yield self._nodes[index]
            if len(seen) == len(self._nodes):
                return

    def preference_list(self, position: int, n: Optional[int] = None) -> List[RingNode]:
        """The first `n` (default N) distinct nodes clockwise from `position`."""
        if n is None:
            n = self.replicas
        out: List[RingNode] = []
        if n <= 0:
            return out
        for node in self.walk(position):
            out.append(node)
            if len(out) == n:
                break
        return out

    def preference_list_of(self, key: bytes) -> List[RingNode]:
        """The preference list of `key`: preference_list(ring_position(key))."""
        return self.preference_list(ring_position(key))

    def find(self, node_id: int) -> Optional[RingNode]:
        """The node with `node_id`, or None when it has no token on the ring."""
        index = self._by_id.get(node_id)
        return None if index is None else self._nodes[index]

