"""Where each call goes: the routing and retry rules both clients share,
without I/O (the clients make the calls and report what happened).

The rules are the C++ client's (client/client.h):

- With routing "ring", the client learns the ring from the seed (the
  `server` it was given) in the background on first use, and again when a
  KV response's "rumor-ring-version" header differs from the version it
  routes by (at most one refresh at a time, at most every 100 ms, a failed
  one retried after 1 s; asking the node that reported the new version
  first, then the seed, then the ring's other nodes). Each get, put and
  delete goes to the first node of the key's preference list that is not
  known dead and whose connection is not failing; to the seed when none
  is, or while no ring is known. With routing "any" everything goes to
  the seed.
- A call is retried on the next candidate (the next usable node of the
  preference list not tried yet, then the seed, then any other node of the
  ring) only when that cannot apply anything twice: a call that could not
  be sent at all moves on as often as there are candidates; a get is also
  retried once after any other UNAVAILABLE; a put or delete that may have
  been sent never is. Retries share the first attempt's deadline.

A node whose connection failed is skipped for a second (the channels'
reconnect backoff), where the C++ client asks its channel's state.

Thread-safe.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Dict, List, Optional, Sequence

import grpc

from rumor.errors import DeadlineExceeded, RumorError, Unavailable, error_from_status, never_sent
from rumor.ring import RingLayout, RingNode, RingView, ring_position

# Background refreshes start at most this often...
MIN_REFRESH_INTERVAL = 0.1
# ...and not sooner than this after one failed (or found no token).
REFRESH_RETRY_AFTER = 1.0
# A node whose connection failed is not routed to for this long.
FAILING_FOR = 1.0

Clock = Callable[[], float]


class Router:
    """The client's ring and the state of its nodes' connections."""

    def __init__(self, seed: str, by_ring: bool, clock: Clock = time.monotonic) -> None:
        self.seed = seed
        self.by_ring = by_ring
        self._clock = clock
        self._lock = threading.Lock()
        self._ring: Optional[RingView] = None
        self._failing_until: Dict[str, float] = {}
        self._refreshing = False
        self._refreshes_finished = 0
        self._last_refresh_start = 0.0
        self._retry_refresh_after = 0.0
        self._closed = False

    @property
    def ring_version(self) -> Optional[int]:
        """The version of the ring calls are routed by; None before one is known."""
        with self._lock:
            return None if self._ring is None else self._ring.version

    def close(self) -> None:
        """No refresh starts after this."""
        with self._lock:
            self._closed = True

    # -- where calls go -------------------------------------------------

    def route(self, key: bytes, tried: Sequence[str]) -> Optional[str]:
        """The address of a call for `key`: of its first attempt when `tried`
        is empty, else of its next one (None: no candidate is left)."""
        if not self.by_ring:
            return None if tried else self.seed
        position = ring_position(key)
        with self._lock:
            view = self._ring if self._ring is not None and not self._ring.empty else None
            now = self._clock()
            if view is not None and view.replicas > 0:
                node = self._first_usable(view.preference_list(position), tried, now)
                if node is not None:
                    return node.address
            if self.seed not in tried:
                return self.seed
            if view is not None:
                node = self._first_usable(view.walk(position), tried, now)
                if node is not None:
                    return node.address
        return None

    def _first_usable(self, nodes, tried: Sequence[str], now: float) -> Optional[RingNode]:
        for node in nodes:
            if node.address and node.address not in tried and self._usable(node, now):
                return node
        return None

    def _usable(self, node: RingNode, now: float) -> bool:
        if node.status == "dead":
            return False
        return self._failing_until.get(node.address, 0.0) <= now

    def mark_failing(self, address: str) -> None:
        """`address` could not be connected to (or lost its connection)."""
        with self._lock:
            self._failing_until[address] = self._clock() + FAILING_FOR

    def mark_reachable(self, address: str) -> None:
        """`address` answered a call."""
        with self._lock:
            self._failing_until.pop(address, None)

    # -- ring refreshes --------------------------------------------------

    def begin_refresh_if_unknown(self) -> Optional[List[str]]:
        """Claims the refresh slot when no usable ring is known and the rate
        limits allow; returns the addresses to ask in turn, or None."""
        if not self.by_ring:
            return None
        with self._lock:
            if self._ring is not None and not self._ring.empty:
                return None
            return self._begin_locked("", force=False)

    def begin_refresh_for_version(self, version: int, reporter: str) -> Optional[List[str]]:
        """Claims the refresh slot when a node at `reporter` answered with a
        ring version other than the one routed by (see begin_refresh_if_unknown)."""
        if not self.by_ring:
            return None
        with self._lock:
            if self._ring is not None and not self._ring.empty and self._ring.version == version:
                return None
            return self._begin_locked(reporter, force=False)

    def begin_refresh(self) -> Optional[List[str]]:
        """Claims the refresh slot now, rate limits aside; None while a
        refresh is in flight or after close()."""
        with self._lock:
            return self._begin_locked("", force=True)

    def _begin_locked(self, first: str, force: bool) -> Optional[List[str]]:
        if self._closed or self._refreshing:
            return None
        now = self._clock()
        if not force:
            if now < self._retry_refresh_after:
                return None
            if self._refreshes_finished > 0 and now - self._last_refresh_start < MIN_REFRESH_INTERVAL:
                return None
        self._refreshing = True
        self._last_refresh_start = now
        sources: List[str] = []
        candidates = [first, self.seed]
        if self._ring is not None:
            candidates += [n.address for n in self._ring.layout.nodes]
        for address in candidates:
            if address and address not in sources:
                sources.append(address)
        return sources

    def finish_refresh(self, layout: Optional[RingLayout]) -> None:
        """Ends the refresh that claimed the slot: installs `layout` when it
        succeeded (None: it failed)."""
        with self._lock:
            now = self._clock()
            if layout is not None:
                view = RingView(layout)
                # A ring without tokens routes nothing: ask again later.
                self._retry_refresh_after = now + REFRESH_RETRY_AFTER if view.empty else 0.0
                self._ring = view
            else:
                self._retry_refresh_after = now + REFRESH_RETRY_AFTER
            self._refreshing = False
            self._refreshes_finished += 1


def refresh_error(code: Optional[grpc.StatusCode], errors: Sequence[str]) -> RumorError:
    """The error of a refresh no node answered: `code` of the last attempt."""
    message = "cannot fetch the ring layout: " + ("; ".join(errors) or "no node to ask")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(message, code=code)
    if code in (None, grpc.StatusCode.UNAVAILABLE):
        return Unavailable(message, code=code or grpc.StatusCode.UNAVAILABLE)
    return RumorError(message, code=code)


class KvCall:
    """The attempts of one get, put or delete: where each goes, and whether
    a failed one is retried. `address` is where the current attempt goes."""

    def __init__(
        self,
        router: Router,
        key: bytes,
        write: bool,
        deadline: float,
        clock: Clock = time.monotonic,
    ) -> None:
        self._router = router
        self._key = key
        self._write = write
        self._deadline = deadline
        self._clock = clock
        self._tried: List[str] = []
        self._errors: List[str] = []
        self._retried_after_sent = False
        self._answered = False
        address = router.route(key, [])
        if address is None:  # pragma: no cover - route() gives the seed at least
            raise RumorError("no node to send the call to", code=grpc.StatusCode.INTERNAL)
        self.address: str = address

    def remaining(self) -> float:
        """Seconds left of the call's deadline (0 when it has passed)."""
        return max(0.0, self._deadline - self._clock())

    def succeeded(self) -> None:
        self._router.mark_reachable(self.address)

    def failed(self, code: grpc.StatusCode, details: str, answered: bool) -> bool:
        """Records that the attempt at `address` failed; `answered`: the
        node sent the error itself (its response carried the ring-version
        header, in the initial or the trailing metadata). True when the
        call goes on: `address` is then the next attempt's.

        A node that could not be connected to, or whose connection failed
        without its answer, is skipped by the next calls for a while."""
        self._answered = answered
        sent = not never_sent(code, details, answered)
        if not sent or (code == grpc.StatusCode.UNAVAILABLE and not answered):
            self._router.mark_failing(self.address)
        retryable = not sent or (
            not self._write
            and code == grpc.StatusCode.UNAVAILABLE
            and not self._retried_after_sent
        )
        if not retryable or self._clock() >= self._deadline:
            return False
        self._tried.append(self.address)
        following = self._router.route(self._key, self._tried)
        if following is None:
            return False
        self._errors.append(f"{self.address}: {details}")
        self._retried_after_sent = self._retried_after_sent or sent
        self.address = following
        return True

    def error(self, code: grpc.StatusCode, details: str) -> RumorError:
        """The exception the call raises after its last attempt failed so
        (as failed() was told)."""
        return error_from_status(
            code,
            details,
            self.address,
            write=self._write,
            answered=self._answered,
            retried=self._errors,
        )
