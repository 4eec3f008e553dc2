"""rumor.AsyncClient: the asyncio client (grpc.aio).

    async with rumor.AsyncClient("127.0.0.1:7379") as client:
        obj = await client.get("greeting")
        await client.put("greeting", "hi", obj.context)

The same calls, routing, retries and errors as rumor.Client (see
rumor/client.py); every method is a coroutine. Use one AsyncClient from
one event loop: its channels belong to the loop that first used them.
A resolver may be a plain function or a coroutine function.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Union

import grpc
import grpc.aio

from rumor import _proto
from rumor._proto import BytesLike, admin_pb2, admin_pb2_grpc, kv_pb2, kv_pb2_grpc
from rumor._routing import KvCall, refresh_error
from rumor.client import _ClientBase
from rumor.errors import RumorError, error_from_status
from rumor.model import Member, NodeStatus, Object, RingInfo
from rumor.ring import RingLayout
from rumor.tls import Tls

__all__ = ["AsyncClient", "AsyncResolver"]

AsyncResolver = Callable[[List[bytes]], Union[BytesLike, Awaitable[BytesLike]]]


class _Node:
    """One node address: its channel and stubs."""

    def __init__(self, address: str, tls: Optional[Tls]) -> None:
        self.address = address
        if tls is None:
            self.channel = grpc.aio.insecure_channel(address, options=_proto.CHANNEL_OPTIONS)
        else:
            self.channel = grpc.aio.secure_channel(
                address, tls.credentials(), options=_proto.CHANNEL_OPTIONS + tls.channel_options()
            )
        self.kv = kv_pb2_grpc.KVStub(self.channel)
        self.admin = admin_pb2_grpc.AdminStub(self.channel)


def _reported_version(error: grpc.aio.AioRpcError) -> Optional[int]:
    """The ring version in a failed call's headers (None: the node did not
    answer it itself)."""
    return _proto.ring_version_of(error.initial_metadata(), error.trailing_metadata())


class AsyncClient(_ClientBase):
    """An asyncio client of a rumor cluster; arguments as rumor.Client's.

    Nothing connects until the first call.
    """

    def __init__(
        self,
        server: str = "127.0.0.1:7379",
        *,
        timeout: float = 5.0,
        routing: str = "ring",
        resolver: Optional[AsyncResolver] = None,
        tls: Optional[Tls] = None,
    ) -> None:
        super().__init__(server, timeout, routing, resolver, tls)
        self._nodes: Dict[str, _Node] = {}
        self._refresh: Optional["asyncio.Task[Optional[RumorError]]"] = None
        self._closed = False

    @property
    def server(self) -> str:
        """The seed address."""
        return self._server

    @property
    def ring_version(self) -> Optional[int]:
        """The version of the ring calls are routed by; None before one is
        known (and always with routing="any")."""
        return self._router.ring_version

    # -- keys ------------------------------------------------------------

    async def get(
        self, key: BytesLike, *, r: Optional[int] = None, timeout: Optional[float] = None
    ) -> Object:
        """Every sibling of `key` and their context (see Client.get)."""
        key = _proto.to_bytes("key", key)
        request = kv_pb2.GetRequest(key=key, options=_proto.request_options(r=r, timeout=timeout))
        resp = await self._kv("Get", request, key, write=False, timeout=timeout)
        obj = _proto.object_from(resp.found, resp.values, resp.context)
        if self._resolver is None or len(obj.values) < 2:
            return obj
        merged: Any = self._resolver(list(obj.values))
        if inspect.isawaitable(merged):
            merged = await merged
        merged = _proto.to_bytes("the resolver's result", merged)
        written = await self.put(key, merged, obj.context, timeout=timeout, return_body=True)
        if written is None:  # pragma: no cover - put(return_body=True) returns the object
            raise RumorError("the write-back returned no object", code=grpc.StatusCode.INTERNAL)
        return written

    async def put(
        self,
        key: BytesLike,
        value: BytesLike,
        context: Optional[bytes] = None,
        *,
        w: Optional[int] = None,
        timeout: Optional[float] = None,
        return_body: bool = False,
    ) -> Optional[Object]:
        """Writes `value`, replacing the siblings `context` covers (see
        Client.put)."""
        key = _proto.to_bytes("key", key)
        request = kv_pb2.PutRequest(
            key=key,
            value=_proto.to_bytes("value", value),
            context=_proto.context_bytes(context),
            options=_proto.request_options(w=w, timeout=timeout),
            return_body=bool(return_body),
        )
        resp = await self._kv("Put", request, key, write=True, timeout=timeout)
        if not return_body:
            return None
        return _proto.object_from(len(resp.values) > 0, resp.values, resp.context)

    async def delete(
        self,
        key: BytesLike,
        context: Optional[bytes] = None,
        *,
        w: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> None:
        """Deletes the siblings `context` covers (see Client.delete)."""
        key = _proto.to_bytes("key", key)
        request = kv_pb2.DeleteRequest(
            key=key,
            context=_proto.context_bytes(context),
            options=_proto.request_options(w=w, timeout=timeout),
        )
        await self._kv("Delete", request, key, write=True, timeout=timeout)

    # -- the cluster (asked of the seed) ---------------------------------

    async def members(self, *, timeout: Optional[float] = None) -> List[Member]:
        """The cluster's members as the seed sees them."""
        resp = await self._admin("Members", admin_pb2.MembersRequest(), timeout)
        return _proto.members_from(resp)

    async def ring(
        self, key: Optional[BytesLike] = None, *, timeout: Optional[float] = None
    ) -> RingInfo:
        """Ring ownership; with a key, also its preference list (see Client.ring)."""
        request = admin_pb2.RingRequest()
        if key is not None:
            request.key = _proto.to_bytes("key", key)
            request.has_key = True
        return _proto.ring_info_from(await self._admin("Ring", request, timeout))

    async def status(self, *, timeout: Optional[float] = None) -> NodeStatus:
        """The seed's self-description and counters."""
        return _proto.status_from(await self._admin("Status", admin_pb2.StatusRequest(), timeout))

    async def ring_layout(self, *, timeout: Optional[float] = None) -> RingLayout:
        """The ring as the seed sees it (see Client.ring_layout)."""
        resp = await self._admin("RingLayout", admin_pb2.RingLayoutRequest(), timeout)
        return _proto.layout_from(resp)

    async def refresh_ring(self, *, timeout: Optional[float] = None) -> None:
        """Fetches the ring now and routes by it (see Client.refresh_ring)."""
        if not self._router.by_ring:
            return
        seconds = self._timeout_of(timeout)
        self._check_open()
        refresh = self._refresh
        if refresh is None or refresh.done():
            # No refresh in flight (each finishes before its task ends).
            sources = self._router.begin_refresh()
            if sources is None:  # pragma: no cover - the slot is free (see above)
                raise RumorError(
                    "a ring refresh is in flight without its task", code=grpc.StatusCode.INTERNAL
                )
            refresh = self._refresh = asyncio.ensure_future(self._run_refresh(sources, seconds))
        error = await asyncio.shield(refresh)
        if error is not None:
            raise error

    # -- lifetime ----------------------------------------------------------

    async def close(self) -> None:
        """Closes every channel; calls in flight fail. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._router.close()
        refresh, nodes = self._refresh, list(self._nodes.values())
        self._nodes.clear()
        if refresh is not None and not refresh.done():
            refresh.cancel()
            try:
                await refresh
            except asyncio.CancelledError:
                pass
        for node in nodes:
            await node.channel.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # -- internals ---------------------------------------------------------

    def _node(self, address: str) -> _Node:
        self._check_open()
        node = self._nodes.get(address)
        if node is None:
            node = self._nodes[address] = _Node(address, self._tls)
        return node

    def _start_refresh(self, sources: Optional[List[str]]) -> None:
        """Runs a refresh whose slot was claimed (`sources` not None) in the
        background."""
        if sources is None:
            return
        if self._closed:
            self._router.finish_refresh(None)
            return
        self._refresh = asyncio.ensure_future(self._run_refresh(sources, self._timeout))

    async def _run_refresh(self, sources: Sequence[str], timeout: float) -> Optional[RumorError]:
        """Asks `sources` in turn for the ring; installs the first answer.
        Returns the error when none answered. Frees the router's refresh
        slot however it ends (cancelled included)."""
        errors: List[str] = []
        code: Optional[grpc.StatusCode] = None
        finished = False
        try:
            for address in sources:
                try:
                    resp = await self._node(address).admin.RingLayout(
                        admin_pb2.RingLayoutRequest(), timeout=timeout
                    )
                except grpc.aio.AioRpcError as e:
                    code = e.code()
                    errors.append(f"{address}: {e.details()}")
                    if code == grpc.StatusCode.CANCELLED:
                        break
                    continue
                self._router.finish_refresh(_proto.layout_from(resp))
                finished = True
                return None
        except RumorError as e:  # the client was closed
            errors.append(e.message)
            code = grpc.StatusCode.CANCELLED
        except Exception as e:  # pragma: no cover - reported, not raised in the task
            errors.append(repr(e))
        finally:
            if not finished:
                self._router.finish_refresh(None)
        return refresh_error(code, errors)

    def _note_version(self, version: Optional[int], address: str) -> None:
        if version is not None and version != self._router.ring_version:
            self._start_refresh(self._router.begin_refresh_for_version(version, address))

    async def _kv(self, method: str, request, key: bytes, *, write: bool, timeout: Optional[float]):
        seconds = self._timeout_of(timeout)
        self._check_open()
        self._start_refresh(self._router.begin_refresh_if_unknown())
        call = KvCall(self._router, key, write, time.monotonic() + seconds)
        while True:
            rpc = getattr(self._node(call.address).kv, method)(request, timeout=call.remaining())
            try:
                resp = await rpc
            except grpc.aio.AioRpcError as e:
                version = _reported_version(e)
                self._note_version(version, call.address)
                code, details = e.code(), e.details() or ""
                if call.failed(code, details, answered=version is not None):
                    continue
                raise call.error(code, details) from None
            call.succeeded()
            self._note_version(_proto.ring_version_of(await rpc.initial_metadata()), call.address)
            return resp

    async def _admin(self, method: str, request, timeout: Optional[float]):
        seconds = self._timeout_of(timeout)
        stub = getattr(self._node(self._server).admin, method)
        try:
            return await stub(request, timeout=seconds)
        except grpc.aio.AioRpcError as e:
            raise error_from_status(e.code(), e.details() or "", self._server, write=False) from None
