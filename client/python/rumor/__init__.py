"""The Python client of rumor, a Dynamo-style replicated key-value store.

    import rumor

    with rumor.Client("127.0.0.1:7379") as client:
        obj = client.get("cart")                   # obj.values, obj.context
        client.put("cart", merge(obj.values), obj.context)

rumor.Client blocks; rumor.AsyncClient is the same API for asyncio. Keys
and values are bytes (str is accepted and encoded as UTF-8); contexts are
opaque bytes from get. Failures raise rumor.RumorError subclasses
(rumor/errors.py); a put or delete whose outcome is unknown raises
rumor.UnknownOutcome. A key that is not found is Object.found == False.

Needs the generated modules of proto/ (package rumor_pb, which the build
writes to build/python): PYTHONPATH=client/python:build/python.
"""

from rumor.aio import AsyncClient
from rumor.client import Client
from rumor.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    RumorError,
    Unavailable,
    UnknownOutcome,
)
from rumor.model import Member, NodeStatus, Object, RingInfo, RingOwner
from rumor.ring import RingLayout, RingNode, RingView, ring_position
from rumor.tls import Tls

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "Client",
    "DeadlineExceeded",
    "FailedPrecondition",
    "InvalidArgument",
    "Member",
    "PermissionDenied",
    "Tls",
    "NodeStatus",
    "Object",
    "RingInfo",
    "RingLayout",
    "RingNode",
    "RingOwner",
    "RingView",
    "RumorError",
    "Unavailable",
    "UnknownOutcome",
    "ring_position",
]
