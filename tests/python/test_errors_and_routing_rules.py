"""The error mapping (rumor/errors.py), argument checks and the routing
rules (rumor/_routing.py), without a network."""

import grpc
import pytest

from conftest import FORWARDED_SHORT, QUORUM_SHORT

import rumor
from rumor import _routing
from rumor._proto import request_options
from rumor._routing import KvCall, Router
from rumor.errors import error_from_status, never_sent
from rumor.ring import RingLayout, RingNode, ring_position

U = grpc.StatusCode.UNAVAILABLE
D = grpc.StatusCode.DEADLINE_EXCEEDED

REFUSED = (
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: "
    "Failed to connect to remote host: Connection refused"
)

NOTHING_WRITTEN = (
    "only 2 of the key's 3 replicas can be reached (down: 127.0.0.1:7003); "
    "a write needs W=3; nothing was written"
)
SHUTTING_DOWN = "node is shutting down; retry on another node"


def test_only_connection_failures_and_a_refusing_node_count_as_never_sent():
    assert never_sent(U, REFUSED)
    assert never_sent(U, "DNS resolution failed for nosuchhost:1")
    assert never_sent(U, SHUTTING_DOWN)
    assert not never_sent(U, "Socket closed")
    assert not never_sent(U, "Connection reset by peer")
    assert not never_sent(D, REFUSED)


def test_a_node_that_answered_sent_it_unless_it_said_it_is_shutting_down():
    assert never_sent(U, SHUTTING_DOWN, answered=True)
    assert not never_sent(U, QUORUM_SHORT, answered=True)
    assert not never_sent(U, REFUSED, answered=True)
    assert not never_sent(U, NOTHING_WRITTEN, answered=True)


def test_a_write_that_may_have_been_sent_has_an_unknown_outcome():
    for details in ("Socket closed", "Connection reset by peer"):
        e = error_from_status(U, details, "n:1", write=True)
        assert type(e) is rumor.UnknownOutcome
        assert e.code == U and e.address == "n:1"
        assert str(e) == f"n:1: {details}; the write may or may not have been applied"
    e = error_from_status(D, "Deadline Exceeded", "n:1", write=True)
    assert type(e) is rumor.UnknownOutcome
    assert str(e) == (
        "no answer from n:1 before the deadline (Deadline Exceeded); "
        "the write may or may not have been applied"
    )
    e = error_from_status(grpc.StatusCode.CANCELLED, "Cancelled", "n:1", write=True)
    assert type(e) is rumor.UnknownOutcome


def test_the_nodes_own_word_on_a_write_is_kept():
    # Answered or not (headers lost): the node said the outcome is unknown.
    for answered in (True, False):
        e = error_from_status(U, QUORUM_SHORT, "n:1", write=True, answered=answered)
        assert type(e) is rumor.UnknownOutcome, answered
        assert str(e) == f"n:1: {QUORUM_SHORT}"  # says it once
    e = error_from_status(D, QUORUM_SHORT, "n:1", write=True, answered=True)
    assert type(e) is rumor.UnknownOutcome
    assert str(e) == f"no answer from n:1 before the deadline ({QUORUM_SHORT})"
    # A replica's "nothing was written", quoted by the node that forwarded
    # the write: the forward itself may have been applied.
    e = error_from_status(U, FORWARDED_SHORT, "n:1", write=True, answered=True)
    assert type(e) is rumor.UnknownOutcome and str(e) == f"n:1: {FORWARDED_SHORT}"
    e = error_from_status(U, NOTHING_WRITTEN, "n:1", write=True, answered=True)
    assert type(e) is rumor.Unavailable and str(e) == f"n:1: {NOTHING_WRITTEN}"
    e = error_from_status(U, SHUTTING_DOWN, "n:1", write=True, answered=True)
    assert type(e) is rumor.Unavailable and str(e) == f"cannot reach n:1: {SHUTTING_DOWN}"


def test_a_read_the_node_answered_is_not_worded_as_unreachable():
    e = error_from_status(U, QUORUM_SHORT, "n:1", write=False, answered=True)
    assert type(e) is rumor.Unavailable and str(e) == f"n:1: {QUORUM_SHORT}"


def test_a_write_failing_with_any_code_but_a_definite_refusal_has_an_unknown_outcome():
    for code in (
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.NOT_FOUND,
    ):
        e = error_from_status(code, "boom", "n:1", write=True, answered=True)
        assert type(e) is rumor.UnknownOutcome, code
        assert e.code == code
        assert str(e) == "n:1: boom; the write may or may not have been applied"
        e = error_from_status(code, "boom", "n:1", write=False, answered=True)
        assert type(e) is rumor.RumorError, code
    refusals = {
        grpc.StatusCode.INVALID_ARGUMENT: rumor.InvalidArgument,
        grpc.StatusCode.OUT_OF_RANGE: rumor.InvalidArgument,
        grpc.StatusCode.FAILED_PRECONDITION: rumor.FailedPrecondition,
        # kvd: the disk or the storage queue is full, nothing was written.
        grpc.StatusCode.RESOURCE_EXHAUSTED: rumor.Unavailable,
        grpc.StatusCode.UNIMPLEMENTED: rumor.RumorError,
        grpc.StatusCode.PERMISSION_DENIED: rumor.PermissionDenied,
        grpc.StatusCode.UNAUTHENTICATED: rumor.PermissionDenied,
    }
    for code, cls in refusals.items():
        e = error_from_status(code, "refused", "n:1", write=True, answered=True)
        assert type(e) is cls, code


def test_reads_and_unsent_calls_are_not_unknown_outcomes():
    e = error_from_status(U, REFUSED, "n:1", write=True)
    assert type(e) is rumor.Unavailable
    assert str(e) == f"cannot reach n:1: {REFUSED}"
    e = error_from_status(U, "Socket closed", "n:1", write=False)
    assert type(e) is rumor.Unavailable
    e = error_from_status(D, "Deadline Exceeded", "n:1", write=False)
    assert type(e) is rumor.DeadlineExceeded
    assert str(e) == "no answer from n:1 before the deadline (Deadline Exceeded)"


def test_a_refused_tls_handshake_is_unsent_and_says_what_to_check():
    closed = "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:7: Socket closed"
    e = error_from_status(U, closed, "n:1", write=True)
    assert type(e) is rumor.Unavailable
    assert str(e).startswith(f"cannot reach n:1: {closed} (the node closed the connection")
    assert "--tls-client-ca" in str(e)
    failed = (
        "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:7: "
        "Ssl handshake failed: SSL_ERROR_SSL: error:0A000086:SSL routines::certificate verify failed"
    )
    e = error_from_status(grpc.StatusCode.UNKNOWN, failed, "n:1", write=True)
    assert type(e) is rumor.Unavailable  # not an unknown outcome: nothing was sent
    assert "is the Tls's ca the CA that issued" in str(e)
    # A node that answered UNKNOWN itself is another matter.
    e = error_from_status(grpc.StatusCode.UNKNOWN, failed, "n:1", write=True, answered=True)
    assert type(e) is rumor.UnknownOutcome


def test_codes_map_to_their_exceptions():
    e = error_from_status(grpc.StatusCode.INVALID_ARGUMENT, "key is empty", "n:1", write=True)
    assert type(e) is rumor.InvalidArgument and isinstance(e, ValueError)
    assert str(e) == "key is empty"
    e = error_from_status(grpc.StatusCode.OUT_OF_RANGE, "too big", "n:1", write=False)
    assert type(e) is rumor.InvalidArgument
    e = error_from_status(grpc.StatusCode.FAILED_PRECONDITION, "too many siblings", "n:1", write=True)
    assert type(e) is rumor.FailedPrecondition
    e = error_from_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "disk full; nothing was written", "n:1", write=True)
    assert type(e) is rumor.Unavailable and e.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    e = error_from_status(grpc.StatusCode.INTERNAL, "boom", "n:1", write=False)
    assert type(e) is rumor.RumorError and str(e) == "n:1: boom"
    for cls in (rumor.InvalidArgument, rumor.Unavailable, rumor.UnknownOutcome, rumor.DeadlineExceeded):
        assert issubclass(cls, rumor.RumorError)
    assert not issubclass(rumor.UnknownOutcome, (rumor.Unavailable, rumor.DeadlineExceeded))


def test_an_error_names_the_attempts_before_it():
    e = error_from_status(U, REFUSED, "c:1", write=False, retried=["a:1: x", "b:1: y"])
    assert str(e).endswith(" (retried after a:1: x; b:1: y)")


def test_bad_arguments_are_refused_before_anything_is_sent():
    # Port 1 refuses connections: any call that got through would say so.
    with pytest.raises(rumor.InvalidArgument, match="routing"):
        rumor.Client("127.0.0.1:1", routing="nearest")
    with pytest.raises(rumor.InvalidArgument, match="server"):
        rumor.Client("")
    with pytest.raises(rumor.InvalidArgument, match="timeout"):
        rumor.Client("127.0.0.1:1", timeout=0)
    with rumor.Client("127.0.0.1:1") as client:
        with pytest.raises(TypeError, match="key must be bytes or str, not int"):
            client.get(42)
        with pytest.raises(TypeError, match="value must be bytes or str, not NoneType"):
            client.put("k", None)
        with pytest.raises(TypeError, match="context must be the bytes returned by get"):
            client.put("k", "v", "not-a-context")
        with pytest.raises(rumor.InvalidArgument, match="w=-1 is out of range"):
            client.put("k", "v", w=-1)
        with pytest.raises(TypeError, match="r must be an int"):
            client.get("k", r="2")
        with pytest.raises(rumor.InvalidArgument, match="timeout must be more than 0"):
            client.get("k", timeout=-1)
        for endless in (float("inf"), float("nan"), 10**400):
            with pytest.raises(rumor.InvalidArgument, match="timeout must be a finite number"):
                client.put("k", "v", timeout=endless)
        with pytest.raises(TypeError, match="resolver"):
            rumor.Client("127.0.0.1:1", resolver="merge")
    with pytest.raises(rumor.InvalidArgument, match="timeout must be a finite number"):
        rumor.Client("127.0.0.1:1", timeout=float("inf"))
    with pytest.raises(rumor.RumorError, match="the client is closed"):
        client.get("k")


def test_a_timeout_under_a_millisecond_still_gives_the_node_a_budget():
    assert request_options(timeout=0.0004).timeout_ms == 1
    assert request_options(timeout=0.0025).timeout_ms == 2
    assert request_options(timeout=None).timeout_ms == 0  # the node's default


# -- routing rules, on a manual clock ----------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def ring_for(key: bytes, *statuses):
    """A layout where node i+1 (address n<i+1>:1) is the key's i-th replica."""
    p = ring_position(key)
    return RingLayout(
        version=3,
        replicas=3,
        nodes=tuple(
            RingNode(i + 1, f"n{i + 1}:1", status, (p + i,)) for i, status in enumerate(statuses)
        ),
    )


def test_calls_go_to_the_first_usable_replica_then_the_seed_then_any_node():
    clock = Clock()
    router = Router("seed:1", by_ring=True, clock=clock)
    assert router.route(b"k", []) == "seed:1"  # no ring yet
    assert router.begin_refresh_if_unknown() == ["seed:1"]
    assert router.begin_refresh_if_unknown() is None  # one at a time
    router.finish_refresh(ring_for(b"k", "alive", "dead", "alive", "alive"))
    assert router.ring_version == 3
    assert router.route(b"k", []) == "n1:1"
    assert router.route(b"k", ["n1:1"]) == "n3:1"  # n2 is dead
    assert router.route(b"k", ["n1:1", "n3:1"]) == "seed:1"  # n4 is not a replica
    assert router.route(b"k", ["n1:1", "n3:1", "seed:1"]) == "n4:1"
    assert router.route(b"k", ["n1:1", "n3:1", "seed:1", "n4:1"]) is None

    router.mark_failing("n1:1")
    assert router.route(b"k", []) == "n3:1"
    clock.now += _routing.FAILING_FOR + 0.01
    assert router.route(b"k", []) == "n1:1"  # tried again after a while
    router.mark_failing("n1:1")
    router.mark_reachable("n1:1")
    assert router.route(b"k", []) == "n1:1"


def test_routing_any_sends_everything_to_the_seed_once():
    router = Router("seed:1", by_ring=False)
    assert router.route(b"k", []) == "seed:1"
    assert router.route(b"k", ["seed:1"]) is None
    assert router.begin_refresh_if_unknown() is None
    assert router.begin_refresh_for_version(5, "n1:1") is None


def test_refreshes_follow_new_versions_within_rate_limits():
    clock = Clock()
    router = Router("seed:1", by_ring=True, clock=clock)
    assert router.begin_refresh() == ["seed:1"]
    router.finish_refresh(None)  # failed: not again for a second
    assert router.begin_refresh_if_unknown() is None
    clock.now += _routing.REFRESH_RETRY_AFTER
    assert router.begin_refresh_if_unknown() == ["seed:1"]
    router.finish_refresh(ring_for(b"k", "alive", "alive"))
    assert router.begin_refresh_if_unknown() is None  # known now
    assert router.begin_refresh_for_version(3, "n2:1") is None  # same version
    assert router.begin_refresh_for_version(4, "n2:1") is None  # too soon after the last
    clock.now += _routing.MIN_REFRESH_INTERVAL
    # The reporter first, then the seed, then the ring's nodes.
    assert router.begin_refresh_for_version(4, "n2:1") == ["n2:1", "seed:1", "n1:1"]
    router.finish_refresh(None)
    router.close()
    assert router.begin_refresh() is None


def test_a_write_is_retried_only_when_it_was_never_sent():
    clock = Clock()
    router = Router("seed:1", by_ring=True, clock=clock)
    router.begin_refresh()
    router.finish_refresh(ring_for(b"k", "alive", "alive", "alive"))

    put = KvCall(router, b"k", write=True, deadline=clock.now + 5, clock=clock)
    assert put.address == "n1:1"
    assert put.failed(U, REFUSED, answered=False)
    assert put.address == "n2:1"
    assert not put.failed(U, "Socket closed", answered=False)
    e = put.error(U, "Socket closed")
    assert type(e) is rumor.UnknownOutcome
    assert str(e) == (
        "n2:1: Socket closed; the write may or may not have been applied "
        f"(retried after n1:1: {REFUSED})"
    )

    get = KvCall(router, b"k", write=False, deadline=clock.now + 5, clock=clock)
    assert get.address == "n3:1"  # n1 and n2 failed their connections just now
    assert get.failed(U, "only 1 of 3 replicas answered", answered=True)  # once
    assert get.address == "seed:1"
    assert not get.failed(U, "only 1 of 3 replicas answered", answered=True)

    late = KvCall(router, b"k", write=False, deadline=clock.now + 5, clock=clock)
    clock.now += 6
    assert not late.failed(U, REFUSED, answered=False)  # past the deadline


def test_a_write_the_node_answered_is_not_retried_unless_it_was_shutting_down():
    clock = Clock()
    router = Router("seed:1", by_ring=True, clock=clock)
    router.begin_refresh()
    router.finish_refresh(ring_for(b"k", "alive", "alive", "alive"))

    # The node answered, quoting a peer's refused connection: not retried,
    # and not worded as unreachable.
    put = KvCall(router, b"k", write=True, deadline=clock.now + 5, clock=clock)
    assert put.address == "n1:1"
    assert not put.failed(U, QUORUM_SHORT, answered=True)
    e = put.error(U, QUORUM_SHORT)
    assert type(e) is rumor.UnknownOutcome and str(e) == f"n1:1: {QUORUM_SHORT}"
    assert router.route(b"k", []) == "n1:1"  # it answered: not failing

    # Its refusal while it shuts down was never applied: moves on.
    put = KvCall(router, b"k", write=True, deadline=clock.now + 5, clock=clock)
    assert put.failed(U, SHUTTING_DOWN, answered=True)
    assert put.address == "n2:1"
