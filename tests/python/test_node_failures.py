"""A node stopped (SIGSTOP) or killed (SIGKILL) under the clients; each test
has a 3-node cluster of its own (N=3, R=W=2)."""

import grpc
import pytest
from conftest import counter_deltas, wait_until

import rumor


def key_first_on(client, address, prefix):
    """A key whose preference list (as the nodes compute it) starts at `address`."""
    for i in range(1000):  # a few dozen keys are enough
        key = f"{prefix}-{i}"
        if client.ring(key).preference_list[0].address == address:
            return key
    pytest.fail(f"none of 1000 keys has its first replica on {address}")


def test_a_write_to_a_node_that_stopped_answering_has_an_unknown_outcome(fresh_cluster):
    cluster = fresh_cluster
    stopped = cluster.nodes[2]
    others = [n for n in cluster.nodes if n is not stopped]
    with rumor.Client(cluster.seed) as client:
        client.refresh_ring()
        key = key_first_on(client, stopped.address, "stopped")
        client.put(key, "before")  # connects to the node
        before = cluster.counters(others)
        try:
            stopped.stop()
            with pytest.raises(rumor.UnknownOutcome) as e:
                client.put(key, "during", timeout=1)
            assert e.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
            assert e.value.address == stopped.address
            message = str(e.value)
            assert message.startswith(f"no answer from {stopped.address} before the deadline ("), message
            assert message.endswith("; the write may or may not have been applied"), message
            with pytest.raises(rumor.DeadlineExceeded):
                client.get(key, timeout=1)
            after = cluster.counters(others)
        finally:
            stopped.resume()
        # Not retried elsewhere: it may have been applied.
        assert counter_deltas(before, after, "requests_put") == {}
        obj = wait_until(lambda: client.get(key, timeout=2), 30, "the node to answer again")
        assert set(obj.values) <= {b"before", b"during"} and obj.values


@pytest.mark.asyncio
async def test_async_write_to_a_node_that_stopped_answering_has_an_unknown_outcome(fresh_cluster):
    cluster = fresh_cluster
    stopped = cluster.nodes[1]
    with rumor.Client(cluster.seed) as admin:
        key = key_first_on(admin, stopped.address, "a-stopped")
    async with rumor.AsyncClient(cluster.seed) as client:
        await client.refresh_ring()
        await client.put(key, "before")
        try:
            stopped.stop()
            with pytest.raises(rumor.UnknownOutcome) as e:
                await client.delete(key, None, timeout=1)
            assert e.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "the write may or may not have been applied" in str(e.value)
        finally:
            stopped.resume()


def test_with_a_replica_killed_quorum_calls_go_on_and_routing_falls_back(fresh_cluster):
    cluster = fresh_cluster
    killed = cluster.nodes[2]
    with rumor.Client(cluster.seed) as client:
        client.refresh_ring()
        key = key_first_on(client, killed.address, "killed")
        preference = [o.address for o in client.ring(key).preference_list]
        client.put(key, "before")
        killed.kill()

        # Its first replica is gone: the get moves on to the next, and so
        # does the put after it (the node's connection is known to fail).
        obj = client.get(key)
        assert obj.values == (b"before",)
        before = cluster.counters()
        client.put(key, "after", obj.context)
        after = cluster.counters()
        assert counter_deltas(before, after, "requests_put") == {preference[1]: 1}
        assert client.get(key).values == (b"after",)

        # Once the cluster knows it is dead: W=3 cannot be met, and says
        # that nothing was written.
        wait_until(
            lambda: any(
                m.address == killed.address and m.status == "dead" for m in client.members()
            ),
            60,
            f"{killed.address} to be declared dead",
        )
        with pytest.raises(rumor.Unavailable, match="nothing was written"):
            client.put(key, "all three", w=3)

    # A new client learns the node is dead from the ring and skips it.
    with rumor.Client(cluster.seed) as fresh:
        wait_until(
            lambda: any(
                n.address == killed.address and n.status == "dead"
                for n in fresh.ring_layout().nodes
            ),
            30,
            "the ring to show the node dead",
        )
        fresh.refresh_ring()
        before = cluster.counters()
        fresh.put(key, "later", fresh.get(key).context)
        after = cluster.counters()
        assert counter_deltas(before, after, "requests_put") == {preference[1]: 1}
        assert counter_deltas(before, after, "requests_get") == {preference[1]: 1}
        assert fresh.get(key).values == (b"later",)
