"""What the rumor clients return: plain, immutable data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple

__all__ = ["Object", "Member", "RingOwner", "RingInfo", "NodeStatus"]


@dataclass(frozen=True)
class Object:
    """A key's siblings and their causal context.

    `found` is False when the key was never written or every sibling was
    deleted; the context is still set then, and a put that carries it
    supersedes the tombstones. Pass `context` unchanged to the next put or
    delete of the key to replace exactly the values read.
    """

    found: bool
    values: Tuple[bytes, ...] = ()
    context: bytes = b""


@dataclass(frozen=True)
class Member:
    """A cluster member as the asked node sees it (Admin.Members).

    Node ids are 64-bit integers; f"{id:016x}" prints them as kvcli does.
    """

    id: int
    address: str
    status: str  # alive, suspect, dead or left
    incarnation: int
    tags: Dict[str, str] = field(default_factory=dict)
    tokens: int = 0
    # Claimed tokens but still pulling its ranges: takes writes for them,
    # serves them once it has them all.
    joining: bool = False


@dataclass(frozen=True)
class RingOwner:
    """A node's share of the ring (Admin.Ring)."""

    id: int
    address: str
    status: str
    tokens: int
    share: float  # of keys it owns as primary
    replica_share: float  # of keys it holds one of N replicas of


@dataclass(frozen=True)
class RingInfo:
    """Ring ownership; with a key, also its position and preference list."""

    replicas: int  # N
    owners: Tuple[RingOwner, ...]
    imbalance: float  # largest share / smallest share
    # Set when a key was given: its ring position, its preference list (the
    # first N distinct owners clockwise) and the fallbacks after it.
    position: int = 0
    preference_list: Tuple[RingOwner, ...] = ()
    fallbacks: Tuple[RingOwner, ...] = ()


@dataclass(frozen=True)
class NodeStatus:
    """A node's self-description (Admin.Status).

    `counters` holds the membership counters and the node's named counters
    and gauges (requests_get, requests_put, requests_forwarded, hints_held,
    storage_*, peer_*, ...), by name.
    """

    node_id: int
    address: str
    version: str
    uptime_seconds: int
    data_dir: str
    sync_writes: bool
    max_key_bytes: int
    max_value_bytes: int
    cluster: str
    incarnation: int
    members_alive: int
    members_total: int
    local_health: int  # Lifeguard's awareness score; 0 is healthy
    probe_interval_ms: int
    counters: Dict[str, int] = field(default_factory=dict)
