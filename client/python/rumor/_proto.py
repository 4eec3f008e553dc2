"""The wire side of the clients: the generated modules, request building
and the conversions from responses to rumor's own types. Shared by the
blocking and the asyncio client; no I/O here."""

from __future__ import annotations

import math
from typing import Any, Iterable, List, Optional, Tuple, Union

try:
    from rumor_pb import admin_pb2, admin_pb2_grpc, kv_pb2, kv_pb2_grpc
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "rumor: the generated protobuf modules (package rumor_pb) cannot be "
        f"imported ({error}). The build generates them into build/python "
        "(ninja builds them by default): put that directory on PYTHONPATH "
        "next to client/python, e.g. PYTHONPATH=client/python:build/python"
    ) from error

from rumor.errors import InvalidArgument
from rumor.model import Member, NodeStatus, Object, RingInfo, RingOwner
from rumor.ring import RingLayout, RingNode

__all__ = [
    "admin_pb2",
    "admin_pb2_grpc",
    "kv_pb2",
    "kv_pb2_grpc",
    "CHANNEL_OPTIONS",
    "RING_VERSION_HEADER",
]

# The initial-metadata header of every KV response: the answering node's
# ring version, in decimal.
RING_VERSION_HEADER = "rumor-ring-version"

# As the C++ client's channels: responses carry every sibling, which can
# exceed gRPC's 4 MiB default; a node that comes back is reconnected to
# within a second.
CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_reconnect_backoff_ms", 1000),
)

BytesLike = Union[bytes, bytearray, memoryview, str]

_UINT32_MAX = (1 << 32) - 1


def to_bytes(what: str, value: Any) -> bytes:
    """`value` as bytes: bytes-like as is, str encoded as UTF-8."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes or str, not {type(value).__name__}")


def context_bytes(context: Any) -> bytes:
    """A causal context as sent: None is "no context"."""
    if context is None:
        return b""
    if isinstance(context, (bytes, bytearray, memoryview)):
        return bytes(context)
    raise TypeError(
        "context must be the bytes returned by get (Object.context) or None, "
        f"not {type(context).__name__}"
    )


def _quorum(name: str, value: Optional[int]) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0 or value > _UINT32_MAX:
        raise InvalidArgument(
            f"{name}={value} is out of range: give 1..N, or None for the node's default"
        )
    return value


def check_timeout(timeout: Any, what: str = "timeout") -> float:
    """A timeout in seconds, validated: a positive, finite number."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(timeout).__name__}")
    try:
        seconds = float(timeout)
    except OverflowError:  # an int beyond any float
        seconds = math.inf
    if not math.isfinite(seconds):
        raise InvalidArgument(f"{what} must be a finite number of seconds, not {timeout}")
    if not seconds > 0:
        raise InvalidArgument(f"{what} must be more than 0 seconds, not {timeout}")
    return seconds


def request_options(
    r: Optional[int] = None, w: Optional[int] = None, timeout: Optional[float] = None
) -> kv_pb2.RequestOptions:
    """RequestOptions: r and w (0: the node's default) and the server-side
    budget, set only when the call gives its own timeout (as the C++
    client does)."""
    options = kv_pb2.RequestOptions(r=_quorum("r", r), w=_quorum("w", w))
    if timeout is not None:
        # At least 1 ms: 0 would mean "no budget given" (the node's default).
        options.timeout_ms = min(_UINT32_MAX, max(1, int(check_timeout(timeout) * 1000)))
    return options


def object_from(found: bool, values: Iterable[bytes], context: bytes) -> Object:
    return Object(found=found, values=tuple(values), context=bytes(context))


def ring_version_of(*metadata: Optional[Iterable[Tuple[str, Any]]]) -> Optional[int]:
    """The ring version a node reported in its headers (initial or trailing
    metadata: a node that fails a call at once may send them together)."""
    for md in metadata:
        for key, value in md or ():
            if key == RING_VERSION_HEADER:
                try:
                    return int(value)
                except (TypeError, ValueError):
                    return None
    return None


def layout_from(resp: admin_pb2.RingLayoutResponse) -> RingLayout:
    return RingLayout(
        version=resp.version,
        replicas=resp.replicas,
        nodes=tuple(
            RingNode(id=n.id, address=n.address, status=n.status, tokens=tuple(n.tokens))
            for n in resp.nodes
        ),
    )


def members_from(resp: admin_pb2.MembersResponse) -> List[Member]:
    return [
        Member(
            id=m.id,
            address=m.address,
            status=m.status,
            incarnation=m.incarnation,
            tags={kv.key: kv.value for kv in m.tags},
            tokens=m.tokens,
            joining=m.joining,
        )
        for m in resp.members
    ]


def _owner(o: admin_pb2.RingOwner) -> RingOwner:
    return RingOwner(
        id=o.id,
        address=o.address,
        status=o.status,
        tokens=o.tokens,
        share=o.share,
        replica_share=o.replica_share,
    )


def ring_info_from(resp: admin_pb2.RingResponse) -> RingInfo:
    return RingInfo(
        replicas=resp.replicas,
        owners=tuple(_owner(o) for o in resp.owners),
        imbalance=resp.imbalance,
        position=resp.position,
        preference_list=tuple(_owner(o) for o in resp.preference_list),
        fallbacks=tuple(_owner(o) for o in resp.fallbacks),
    )


_MEMBERSHIP_COUNTERS = (
    "probes_sent",
    "acks_received",
    "ping_reqs_sent",
    "nacks_received",
    "suspicions_raised",
    "suspicions_refuted",
    "deaths_declared",
    "messages_sent",
    "bytes_sent",
    "messages_received",
    "id_collisions",
)


def status_from(resp: admin_pb2.StatusResponse) -> NodeStatus:
    counters = {name: getattr(resp.counters, name) for name in _MEMBERSHIP_COUNTERS}
    counters.update((v.name, v.value) for v in resp.values)
    return NodeStatus(
        node_id=resp.node_id,
        address=resp.address,
        version=resp.version,
        uptime_seconds=resp.uptime_seconds,
        data_dir=resp.data_dir,
        sync_writes=resp.sync_writes,
        max_key_bytes=resp.max_key_bytes,
        max_value_bytes=resp.max_value_bytes,
        cluster=resp.cluster,
        incarnation=resp.incarnation,
        members_alive=resp.members_alive,
        members_total=resp.members_total,
        local_health=resp.local_health,
        probe_interval_ms=resp.probe_interval_ms,
        counters=counters,
    )
