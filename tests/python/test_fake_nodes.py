"""Routing fallbacks and error handling over real gRPC, against in-process
fake nodes that answer as each test needs (conftest.FakeNode)."""

import grpc
import pytest
from conftest import FORWARDED_SHORT, QUORUM_SHORT, layout, wait_until

import rumor
from rumor._proto import kv_pb2
from rumor.ring import ring_position

KEY = b"routed-key"
P = ring_position(KEY)
# Loopback addresses nothing listens on: connections are refused.
UNREACHABLE = ["127.0.0.1:1", "127.0.0.2:1", "127.0.0.3:1"]



def found(value: bytes):
    def answer(request, context):
        return kv_pb2.GetResponse(found=True, values=[value], context=b"ctx")

    return answer


def fail(code, details):
    def answer(request, context):
        context.abort(code, details)

    return answer


def test_without_a_ring_every_call_goes_to_the_seed(fake_nodes):
    seed = fake_nodes()  # answers RingLayout with UNIMPLEMENTED
    seed.handlers["Get"] = found(b"from-seed")
    with rumor.Client(seed.address) as client:
        with pytest.raises(rumor.RumorError, match="cannot fetch the ring layout") as e:
            client.refresh_ring()
        assert e.value.code == grpc.StatusCode.UNIMPLEMENTED
        assert client.ring_version is None
        assert client.get(KEY).values == (b"from-seed",)
        client.put(KEY, b"v")
        client.delete(KEY, b"ctx")
    assert [r.key for r in seed.kv_calls("Get")] == [KEY]
    assert [r.value for r in seed.kv_calls("Put")] == [b"v"]
    assert [r.context for r in seed.kv_calls("Delete")] == [b"ctx"]


def test_calls_go_to_the_keys_first_replica_and_its_answer_is_returned(fake_nodes):
    seed, first, second = fake_nodes(), fake_nodes(), fake_nodes()
    seed.layout = layout(
        1, 2, [(first.address, "alive", [P]), (second.address, "alive", [P + 1]), (seed.address, "alive", [P + 2])]
    )
    first.handlers["Get"] = found(b"from-first")
    with rumor.Client(seed.address) as client:
        client.refresh_ring()
        assert client.ring_version == 1
        obj = client.get(KEY, r=2, timeout=3)
        client.put(KEY, "v", obj.context, w=1)
    assert obj == rumor.Object(found=True, values=(b"from-first",), context=b"ctx")
    [get] = first.kv_calls("Get")
    assert (get.options.r, get.options.timeout_ms) == (2, 3000)
    [put] = first.kv_calls("Put")
    assert (put.key, put.value, put.context, put.options.w, put.options.timeout_ms) == (KEY, b"v", b"ctx", 1, 0)
    assert seed.calls == [] and second.calls == []


def test_replicas_that_cannot_be_reached_are_skipped_for_the_next_then_the_seed(fake_nodes):
    seed, second = fake_nodes(), fake_nodes()
    seed.layout = layout(
        1,
        2,
        [
            (UNREACHABLE[0], "alive", [P]),
            (second.address, "alive", [P + 1]),
            (seed.address, "alive", [P + 2]),
        ],
    )
    with rumor.Client(seed.address) as client:
        client.refresh_ring()
        client.put(KEY, "a")  # never sent to the first: moves on, even a write
    assert len(second.kv_calls("Put")) == 1 and seed.calls == []

    seed.layout = layout(
        1, 3, [(a, "alive", [P + i]) for i, a in enumerate(UNREACHABLE)] + [(seed.address, "alive", [P + 3])]
    )
    with rumor.Client(seed.address) as client:
        client.refresh_ring()
        client.put(KEY, "b")  # no replica reachable: the seed
        client.get(KEY)  # the replicas are known to fail: straight to the seed
    assert [r.value for r in seed.kv_calls("Put")] == [b"b"]
    assert len(seed.kv_calls("Get")) == 1


def test_a_call_that_cannot_be_sent_anywhere_says_where_it_tried():
    seed = UNREACHABLE[0]  # no ring, no node
    with rumor.Client(seed, timeout=5) as client:
        with pytest.raises(rumor.Unavailable) as e:
            client.get(KEY)
    assert str(e.value).startswith(f"cannot reach {seed}: ")


def test_a_get_is_retried_once_on_another_replica_after_unavailable(fake_nodes):
    seed, first, second = fake_nodes(), fake_nodes(), fake_nodes()
    seed.layout = layout(1, 3, [(first.address, "alive", [P]), (second.address, "alive", [P + 1]), (seed.address, "alive", [P + 2])])
    first.handlers["Get"] = fail(grpc.StatusCode.UNAVAILABLE, "only 1 of 3 replicas answered")
    second.handlers["Get"] = found(b"from-second")
    with rumor.Client(seed.address) as client:
        client.refresh_ring()
        assert client.get(KEY).values == (b"from-second",)
        # Both fail: one retry, then the second's error, naming the first's.
        second.handlers["Get"] = fail(grpc.StatusCode.UNAVAILABLE, "only 1 of 3 replicas answered")
        with pytest.raises(rumor.Unavailable) as e:
            client.get(KEY)
    assert str(e.value) == (
        f"{second.address}: only 1 of 3 replicas answered "
        f"(retried after {first.address}: only 1 of 3 replicas answered)"
    )
    assert len(first.kv_calls("Get")) == 2 and len(second.kv_calls("Get")) == 2
    assert seed.calls == []


def test_a_write_that_reached_a_node_is_never_retried(fake_nodes):
    seed, first, second = fake_nodes(), fake_nodes(), fake_nodes()
    seed.layout = layout(1, 3, [(first.address, "alive", [P]), (second.address, "alive", [P + 1]), (seed.address, "alive", [P + 2])])
    # The node answers (with its ring-version header): the "Connection
    # refused" in its message is a peer's, not this client's.
    first.handlers["Put"] = fail(grpc.StatusCode.UNAVAILABLE, QUORUM_SHORT)
    first.handlers["Delete"] = fail(grpc.StatusCode.UNAVAILABLE, FORWARDED_SHORT)
    with rumor.Client(seed.address) as client:
        client.refresh_ring()
        with pytest.raises(rumor.UnknownOutcome) as e:
            client.put(KEY, "v")
        assert e.value.code == grpc.StatusCode.UNAVAILABLE
        assert str(e.value) == f"{first.address}: {QUORUM_SHORT}"
        with pytest.raises(rumor.UnknownOutcome) as e:
            client.delete(KEY, b"ctx")
        assert str(e.value) == f"{first.address}: {FORWARDED_SHORT}"
        first.handlers["Delete"] = fail(
            grpc.StatusCode.UNAVAILABLE,
            "none of the key's 3 replicas can be reached from this node; nothing was written",
        )
        with pytest.raises(rumor.Unavailable, match="nothing was written"):
            client.delete(KEY, b"ctx")
        # Still the first replica's: it answered, so it is not failing.
        client.get(KEY)
    assert len(first.kv_calls("Put")) == 1 and len(first.kv_calls("Delete")) == 2
    assert len(first.kv_calls("Get")) == 1
    assert second.calls == [] and seed.calls == []


@pytest.mark.asyncio
async def test_async_write_that_reached_a_node_is_never_retried(fake_nodes):
    seed, first, second = fake_nodes(), fake_nodes(), fake_nodes()
    seed.layout = layout(1, 3, [(first.address, "alive", [P]), (second.address, "alive", [P + 1]), (seed.address, "alive", [P + 2])])
    first.handlers["Put"] = fail(grpc.StatusCode.UNAVAILABLE, QUORUM_SHORT)
    async with rumor.AsyncClient(seed.address) as client:
        await client.refresh_ring()
        with pytest.raises(rumor.UnknownOutcome) as e:
            await client.put(KEY, "v")
        assert str(e.value) == f"{first.address}: {QUORUM_SHORT}"
    assert len(first.kv_calls("Put")) == 1
    assert second.calls == [] and seed.calls == []


def test_a_write_without_an_answer_in_time_has_an_unknown_outcome(fake_nodes):
    node = fake_nodes()
    with rumor.Client(node.address, routing="any") as client:
        client.delete(KEY)  # connects: the calls below are sent at once
        node.handlers["Put"] = node.hang
        node.handlers["Get"] = node.hang
        with pytest.raises(rumor.UnknownOutcome) as e:
            client.put(KEY, "v", timeout=2)
        assert e.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "the write may or may not have been applied" in str(e.value)
        with pytest.raises(rumor.DeadlineExceeded) as e:
            client.get(KEY, timeout=2)
        assert str(e.value).startswith(f"no answer from {node.address} before the deadline")
    wait_until(lambda: len(node.kv_calls("Put")) == 1, 10, "the put to reach the node")
    wait_until(lambda: len(node.kv_calls("Get")) == 1, 10, "the get to reach the node")


def test_a_new_ring_version_in_a_response_makes_the_client_fetch_the_ring(fake_nodes):
    seed, first, second = fake_nodes(), fake_nodes(), fake_nodes()
    seed.layout = layout(1, 1, [(first.address, "alive", [P]), (second.address, "alive", [P + 1])])
    with rumor.Client(seed.address) as client:
        client.refresh_ring()
        client.get(KEY)
        assert len(first.kv_calls("Get")) == 1
        # Ownership moves to the second node; the first says so in its headers.
        seed.layout = layout(2, 1, [(first.address, "alive", [P + 1]), (second.address, "alive", [P])])
        first.ring_version = second.ring_version = 2
        wait_until(lambda: (client.get(KEY), client.ring_version == 2)[1], 10, "ring version 2")
        gets_before = len(second.kv_calls("Get"))
        client.get(KEY)
        assert len(second.kv_calls("Get")) == gets_before + 1


@pytest.mark.asyncio
async def test_async_client_follows_the_same_routing_and_errors(fake_nodes):
    seed, first, second = fake_nodes(), fake_nodes(), fake_nodes()
    seed.layout = layout(
        1, 3, [(UNREACHABLE[0], "alive", [P]), (first.address, "alive", [P + 1]), (second.address, "alive", [P + 2])]
    )
    first.handlers["Get"] = fail(grpc.StatusCode.UNAVAILABLE, "only 1 of 3 replicas answered")
    second.handlers["Get"] = found(b"from-second")
    first.handlers["Put"] = first.hang
    async with rumor.AsyncClient(seed.address) as client:
        await client.refresh_ring()
        assert client.ring_version == 1
        obj = await client.get(KEY)  # unreachable, then UNAVAILABLE once, then an answer
        assert obj.values == (b"from-second",)
        # The unreachable replica is skipped now; the first's channel is connected.
        with pytest.raises(rumor.UnknownOutcome) as e:
            await client.put(KEY, "v", timeout=2)
        assert e.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_until(lambda: len(first.kv_calls("Put")) == 1, 10, "the put to reach the first replica")
    assert len(first.kv_calls("Get")) == 1
    assert second.kv_calls("Put") == [] and seed.calls == []


@pytest.mark.asyncio
async def test_async_client_without_a_ring_uses_the_seed(fake_nodes):
    seed = fake_nodes()
    seed.handlers["Get"] = found(b"x")
    async with rumor.AsyncClient(seed.address) as client:
        with pytest.raises(rumor.RumorError, match="cannot fetch the ring layout") as e:
            await client.refresh_ring()
        assert e.value.code == grpc.StatusCode.UNIMPLEMENTED
        assert (await client.get(KEY)).values == (b"x",)
    assert len(seed.kv_calls("Get")) == 1
