"""rumor.Client: the blocking client.

    with rumor.Client("127.0.0.1:7379") as client:
        obj = client.get("greeting")               # values + context
        client.put("greeting", "hi", obj.context)  # replaces what obj held

Every key holds a set of sibling values: writes that did not see each other
(their contexts did not cover each other) are all kept. get returns every
sibling and a causal context; pass that context to the next put or delete
to replace exactly the values read. A put without a context adds a sibling.

Routing and retries follow the C++ client's rules (rumor/_routing.py): with
routing="ring" (the default) get, put and delete go straight to a replica
of the key once the ring is known (it is fetched in the background on
first use; refresh_ring() fetches it now), and to the seed (`server`) when
no replica can be reached; routing="any" sends everything to the seed.
Admin calls (members, ring, status, ring_layout) always go to the seed.

Timeouts: a put or delete that fails after it was sent (no answer before
the deadline, a lost connection) raises UnknownOutcome: it may or may not
have been applied.

Thread-safe: one Client may be shared by many threads.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Dict, List, Optional, Sequence

import grpc

from rumor import _proto
from rumor._proto import BytesLike, admin_pb2, admin_pb2_grpc, kv_pb2, kv_pb2_grpc
from rumor._routing import KvCall, Router, refresh_error
from rumor.errors import DeadlineExceeded, InvalidArgument, RumorError, error_from_status
from rumor.model import Member, NodeStatus, Object, RingInfo
from rumor.ring import RingLayout
from rumor.tls import Tls

__all__ = ["Client", "Resolver"]

# Merges two or more sibling values into one.
Resolver = Callable[[List[bytes]], BytesLike]


def _check_options(server: str, timeout: float, routing: str, resolver) -> float:
    if not isinstance(server, str) or not server:
        raise InvalidArgument("server must be a non-empty host:port")
    if routing not in ("ring", "any"):
        raise InvalidArgument(f'routing must be "ring" or "any", not {routing!r}')
    if resolver is not None and not callable(resolver):
        raise TypeError("resolver must be a callable taking a list of values, or None")
    return _proto.check_timeout(timeout)


class _Node:
    """One node address: its channel and stubs."""

    def __init__(self, address: str, tls: Optional[Tls]) -> None:
        self.address = address
        if tls is None:
            self.channel = grpc.insecure_channel(address, options=_proto.CHANNEL_OPTIONS)
        else:
            self.channel = grpc.secure_channel(
                address, tls.credentials(), options=_proto.CHANNEL_OPTIONS + tls.channel_options()
            )
        self.kv = kv_pb2_grpc.KVStub(self.channel)
        self.admin = admin_pb2_grpc.AdminStub(self.channel)


def _reported_version(error: grpc.RpcError) -> Optional[int]:
    """The ring version in a failed call's headers (None: the node did not
    answer it itself)."""
    try:
        return _proto.ring_version_of(error.initial_metadata(), error.trailing_metadata())
    except Exception:  # not a call error (e.g. a future's)
        return None


class _Refresh(threading.Thread):
    """One ring refresh, asking `sources` in turn until one answers."""

    def __init__(self, client: "Client", sources: Sequence[str], timeout: float) -> None:
        super().__init__(name="rumor-ring-refresh", daemon=True)
        self._client = client
        self._sources = list(sources)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._future: Optional[grpc.Future] = None
        self._cancelled = False
        self.error: Optional[RumorError] = None

    @property
    def budget(self) -> float:
        """The longest the refresh can take, in seconds: every source's
        deadline in turn, and a margin."""
        return self._timeout * len(self._sources) + 1.0

    def run(self) -> None:
        router = self._client._router
        errors: List[str] = []
        code: Optional[grpc.StatusCode] = None
        try:
            for address in self._sources:
                with self._lock:
                    if self._cancelled:
                        errors.append("the client is closed")
                        code = grpc.StatusCode.CANCELLED
                        break
                    node = self._client._node(address)
                    self._future = node.admin.RingLayout.future(
                        admin_pb2.RingLayoutRequest(), timeout=self._timeout
                    )
                try:
                    resp = self._future.result()
                except grpc.FutureCancelledError:
                    errors.append("the client is closed")
                    code = grpc.StatusCode.CANCELLED
                    break
                except grpc.RpcError as e:
                    code = e.code()
                    errors.append(f"{address}: {e.details()}")
                    if code == grpc.StatusCode.CANCELLED:
                        break
                    continue
                router.finish_refresh(_proto.layout_from(resp))
                return
        except RumorError as e:  # the client was closed
            errors.append(e.message)
            code = grpc.StatusCode.CANCELLED
        except BaseException as e:  # pragma: no cover - keeps the slot from leaking
            errors.append(repr(e))
        router.finish_refresh(None)
        self.error = refresh_error(code, errors)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._future is not None:
                self._future.cancel()


class _ClientBase:
    """What the blocking and the asyncio client share: their description,
    the checked options, the router, the closed check and the default
    timeout. Each sets _closed."""

    _closed: bool

    def __init__(self, server: str, timeout: float, routing: str, resolver, tls: Optional[Tls]) -> None:
        self._timeout = _check_options(server, timeout, routing, resolver)
        if tls is not None and not isinstance(tls, Tls):
            raise TypeError("tls must be a rumor.Tls or None")
        self._tls = tls
        self._server = server
        self._resolver = resolver
        self._router = Router(server, by_ring=routing == "ring")

    def __repr__(self) -> str:
        routing = "ring" if self._router.by_ring else "any"
        return f"rumor.{type(self).__name__}({self._server!r}, routing={routing!r})"

    def _check_open(self) -> None:
        if self._closed:
            raise RumorError("the client is closed", code=grpc.StatusCode.CANCELLED)

    def _timeout_of(self, timeout: Optional[float]) -> float:
        return self._timeout if timeout is None else _proto.check_timeout(timeout)


class Client(_ClientBase):
    """A blocking client of a rumor cluster.

    `server` is the host:port of any node (the seed). `timeout` is the
    deadline of a call that gives none, in seconds. `routing` is "ring"
    (each get, put and delete straight to a replica of its key) or "any"
    (everything to `server`, which forwards). With a `resolver`, get
    merges two or more siblings with it (a callable taking the list of
    values and returning one, bytes or str) and writes the result back with
    the read context, so the key converges to one value. With `tls` (a
    rumor.Tls), every node is reached over TLS.

    Nothing connects until the first call: an unreachable server shows up
    as Unavailable then.
    """

    def __init__(
        self,
        server: str = "127.0.0.1:7379",
        *,
        timeout: float = 5.0,
        routing: str = "ring",
        resolver: Optional[Resolver] = None,
        tls: Optional[Tls] = None,
    ) -> None:
        super().__init__(server, timeout, routing, resolver, tls)
        self._lock = threading.Lock()  # guards the fields below
        self._nodes: Dict[str, _Node] = {}
        self._refresh: Optional[_Refresh] = None
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

    def get(self, key: BytesLike, *, r: Optional[int] = None, timeout: Optional[float] = None) -> Object:
        """Every sibling of `key` and their context.

        `r`: replicas that must answer (1..N; None: the node's default).
        A key never written, or deleted, is not an error: Object.found is
        False. With a resolver, two or more siblings are merged and written
        back (with the node's default W), and the object after that write
        is returned; the write-back can fail as a put does.
        """
        key = _proto.to_bytes("key", key)
        request = kv_pb2.GetRequest(key=key, options=_proto.request_options(r=r, timeout=timeout))
        resp = self._kv("Get", request, key, write=False, timeout=timeout)
        obj = _proto.object_from(resp.found, resp.values, resp.context)
        if self._resolver is None or len(obj.values) < 2:
            return obj
        merged = _proto.to_bytes("the resolver's result", self._resolver(list(obj.values)))
        written = self.put(key, merged, obj.context, timeout=timeout, return_body=True)
        if written is None:  # pragma: no cover - put(return_body=True) returns the object
            raise RumorError("the write-back returned no object", code=grpc.StatusCode.INTERNAL)
        return written

    def put(
        self,
        key: BytesLike,
        value: BytesLike,
        context: Optional[bytes] = None,
        *,
        w: Optional[int] = None,
        timeout: Optional[float] = None,
        return_body: bool = False,
    ) -> Optional[Object]:
        """Writes `value`, replacing the siblings `context` covers (None or
        b"": none, the value is added as a sibling).

        `w`: replicas that must acknowledge (1..N; None: the node's
        default). With `return_body`, returns the object after the write
        (every sibling, the new one included, and a context covering them
        all); otherwise None. Raises UnknownOutcome when the write may or
        may not have been applied.
        """
        key = _proto.to_bytes("key", key)
        request = kv_pb2.PutRequest(
            key=key,
            value=_proto.to_bytes("value", value),
            context=_proto.context_bytes(context),
            options=_proto.request_options(w=w, timeout=timeout),
            return_body=bool(return_body),
        )
        resp = self._kv("Put", request, key, write=True, timeout=timeout)
        if not return_body:
            return None
        return _proto.object_from(len(resp.values) > 0, resp.values, resp.context)

    def delete(
        self,
        key: BytesLike,
        context: Optional[bytes] = None,
        *,
        w: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> None:
        """Deletes the siblings `context` covers; siblings written
        concurrently (not covered) survive. Raises UnknownOutcome when the
        delete may or may not have been applied."""
        key = _proto.to_bytes("key", key)
        request = kv_pb2.DeleteRequest(
            key=key,
            context=_proto.context_bytes(context),
            options=_proto.request_options(w=w, timeout=timeout),
        )
        self._kv("Delete", request, key, write=True, timeout=timeout)

    # -- the cluster (asked of the seed) ---------------------------------

    def members(self, *, timeout: Optional[float] = None) -> List[Member]:
        """The cluster's members as the seed sees them."""
        resp = self._admin("Members", admin_pb2.MembersRequest(), timeout)
        return _proto.members_from(resp)

    def ring(self, key: Optional[BytesLike] = None, *, timeout: Optional[float] = None) -> RingInfo:
        """Ring ownership; with a key, also its position, preference list
        and fallbacks, as the seed computes them."""
        request = admin_pb2.RingRequest()
        if key is not None:
            request.key = _proto.to_bytes("key", key)
            request.has_key = True
        return _proto.ring_info_from(self._admin("Ring", request, timeout))

    def status(self, *, timeout: Optional[float] = None) -> NodeStatus:
        """The seed's self-description and counters."""
        return _proto.status_from(self._admin("Status", admin_pb2.StatusRequest(), timeout))

    def ring_layout(self, *, timeout: Optional[float] = None) -> RingLayout:
        """The ring as the seed sees it (every node's tokens), for display
        or rumor.RingView; routing does not use this answer."""
        return _proto.layout_from(self._admin("RingLayout", admin_pb2.RingLayoutRequest(), timeout))

    def refresh_ring(self, *, timeout: Optional[float] = None) -> None:
        """With routing="ring": fetches the ring now (from the seed, or if it
        cannot be reached from the ring's other nodes already known) and
        routes by it from then on. Joins a refresh already in flight.
        Raises when no node answered (Unavailable; RumorError with code
        UNIMPLEMENTED from a node without RingLayout: calls then keep going
        to the seed). With routing="any": returns at once."""
        if not self._router.by_ring:
            return
        seconds = self._timeout_of(timeout)
        with self._lock:
            self._check_open()
            refresh = self._refresh
            if refresh is None or not refresh.is_alive():
                # No refresh in flight (each finishes before its thread
                # ends), so the slot is free.
                sources = self._router.begin_refresh()
                if sources is None:  # pragma: no cover - the slot is free (see above)
                    raise RumorError(
                        "a ring refresh is in flight without its thread",
                        code=grpc.StatusCode.INTERNAL,
                    )
                refresh = self._refresh = _Refresh(self, sources, seconds)
                refresh.start()
        # Each of its attempts has a deadline: it ends within its budget.
        refresh.join(refresh.budget)
        if refresh.is_alive():  # pragma: no cover - a gRPC deadline not kept
            raise DeadlineExceeded(
                f"the ring refresh did not end within {refresh.budget:g}s",
                code=grpc.StatusCode.DEADLINE_EXCEEDED,
            )
        if refresh.error is not None:
            raise refresh.error

    # -- lifetime ----------------------------------------------------------

    def close(self) -> None:
        """Closes every channel; calls in flight fail. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._router.close()
            refresh, nodes = self._refresh, list(self._nodes.values())
            self._nodes.clear()
        if refresh is not None:
            refresh.cancel()
            refresh.join(timeout=self._timeout + 1)
        for node in nodes:
            node.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals ---------------------------------------------------------

    def _node(self, address: str) -> _Node:
        with self._lock:
            self._check_open()
            node = self._nodes.get(address)
            if node is None:
                node = self._nodes[address] = _Node(address, self._tls)
            return node

    def _start_refresh(self, claim: Callable[[], Optional[List[str]]]) -> None:
        """Runs a refresh in the background if `claim` claims the router's
        refresh slot (returning the addresses to ask). Claims and the
        refresh threads they start are made under the lock, so that
        refresh_ring finds the thread of any refresh in flight."""
        with self._lock:
            if self._closed:
                return
            sources = claim()
            if sources is not None:
                self._refresh = _Refresh(self, sources, self._timeout)
                self._refresh.start()

    def _note_version(self, version: Optional[int], address: str) -> None:
        if version is not None and version != self._router.ring_version:
            self._start_refresh(lambda: self._router.begin_refresh_for_version(version, address))

    def _kv(self, method: str, request, key: bytes, *, write: bool, timeout: Optional[float]):
        seconds = self._timeout_of(timeout)
        self._check_open()
        self._start_refresh(self._router.begin_refresh_if_unknown)
        call = KvCall(self._router, key, write, time.monotonic() + seconds)
        while True:
            stub = getattr(self._node(call.address).kv, method)
            try:
                resp, rpc = stub.with_call(request, timeout=call.remaining())
            except grpc.RpcError as e:
                version = _reported_version(e)
                self._note_version(version, call.address)
                code, details = e.code(), e.details() or ""
                if call.failed(code, details, answered=version is not None):
                    continue
                raise call.error(code, details) from None
            call.succeeded()
            self._note_version(_proto.ring_version_of(rpc.initial_metadata()), call.address)
            return resp

    def _admin(self, method: str, request, timeout: Optional[float]):
        seconds = self._timeout_of(timeout)
        stub = getattr(self._node(self._server).admin, method)
        try:
            return stub(request, timeout=seconds)
        except grpc.RpcError as e:
            raise error_from_status(e.code(), e.details() or "", self._server, write=False) from None
