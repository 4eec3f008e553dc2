"""The blocking client against a live 3-node cluster (N=3, R=W=2)."""

import pytest
from conftest import MAX_SIBLINGS, counter_deltas, wait_until

import rumor
from rumor import RingView, ring_position


@pytest.fixture
def client(cluster):
    with rumor.Client(cluster.seed) as c:
        yield c


# Keys tried in search of one a given node is first replica of: with 64
# tokens per node, a few dozen do; this many mean something is wrong.
MAX_KEYS_TRIED = 1000


def keys_by_first_replica(client, cluster, prefix):
    """One key per node, whose preference list (as the nodes compute it)
    starts with that node: {address: key}."""
    keys = {}
    for i in range(MAX_KEYS_TRIED):
        key = f"{prefix}-{i}"
        keys.setdefault(client.ring(key).preference_list[0].address, key)
        if len(keys) == len(cluster.nodes):
            return keys
    pytest.fail(f"{MAX_KEYS_TRIED} keys have first replicas on {sorted(keys)} only")


def test_values_written_are_read_back_as_bytes(client):
    assert client.put("greeting", "hello") is None
    obj = client.get("greeting")
    assert obj.found and obj.values == (b"hello",) and obj.context
    binary = bytes(range(256))
    client.put(b"\xff\x00binary", binary)
    assert client.get(b"\xff\x00binary").values == (binary,)
    client.put("ключ", "значение")  # str is UTF-8
    assert client.get("ключ".encode()).values == ("значение".encode(),)
    client.put(bytearray(b"ba"), memoryview(b"mv"))
    assert client.get(b"ba").values == (b"mv",)


def test_a_key_never_written_is_not_found_not_an_error(client):
    assert client.get("never-written") == rumor.Object(found=False, values=(), context=b"")


def test_writes_without_a_context_become_siblings_and_a_context_replaces_them(client):
    client.put("cart", "apple")
    client.put("cart", "pear")
    obj = client.get("cart")
    assert sorted(obj.values) == [b"apple", b"pear"]
    merged = client.put("cart", "apple,pear", obj.context, return_body=True)
    assert merged.found and merged.values == (b"apple,pear",) and merged.context
    assert client.get("cart").values == (b"apple,pear",)
    # The old context does not cover apple,pear: this write sits next to it.
    client.put("cart", "banana", obj.context)
    assert sorted(client.get("cart").values) == [b"apple,pear", b"banana"]


def test_a_delete_removes_what_its_context_covers_and_leaves_a_context(client):
    client.put("doomed", "v1")
    seen = client.get("doomed")
    client.put("doomed", "v2")  # concurrent with the delete below: survives it
    client.delete("doomed", seen.context)
    assert client.get("doomed").values == (b"v2",)
    client.delete("doomed", client.get("doomed").context)
    gone = client.get("doomed")
    assert not gone.found and gone.values == () and gone.context
    # A put with the tombstones' context supersedes them: one value.
    back = client.put("doomed", "reborn", gone.context, return_body=True)
    assert back.values == (b"reborn",)


def test_members_ring_and_status_describe_the_cluster(client, cluster):
    addresses = {n.address for n in cluster.nodes}
    # A node may be suspected for a moment (a slow probe): wait it out.
    members = wait_until(
        lambda: (lambda ms: ms if all(m.status == "alive" for m in ms) else None)(client.members()),
        30,
        "every member to be seen alive",
    )
    assert {m.address for m in members} == addresses
    assert all(not m.joining and m.tokens == 64 for m in members)
    assert len({m.id for m in members}) == 3
    ring = client.ring()
    assert ring.replicas == 3 and {o.address for o in ring.owners} == addresses
    assert sum(o.share for o in ring.owners) == pytest.approx(1.0)
    assert ring.imbalance >= 1.0 and ring.preference_list == ()
    info = client.ring("greeting")
    assert info.position == ring_position(b"greeting")
    assert {o.address for o in info.preference_list} == addresses and info.fallbacks == ()
    status = wait_until(
        lambda: (lambda st: st if st.members_alive == 3 else None)(client.status()),
        30,
        "the seed to count 3 members alive",
    )
    assert status.address == cluster.seed
    assert status.node_id in {m.id for m in members}
    assert "requests_get" in status.counters and "probes_sent" in status.counters


def test_ring_positions_and_preference_lists_agree_with_the_nodes(client):
    layout = client.ring_layout()
    assert layout.replicas == 3 and len(layout.nodes) == 3
    view = RingView(layout)
    for i in range(120):
        key = (f"k{i}-" * (i % 9 + 1)).encode()  # 3 to 45 bytes
        info = client.ring(key)
        assert ring_position(key) == info.position, key
        assert [n.address for n in view.preference_list_of(key)] == [
            o.address for o in info.preference_list
        ], key


def test_ring_routing_sends_each_call_to_the_keys_first_replica(client, cluster):
    client.refresh_ring()
    assert client.ring_version is not None
    for address, key in keys_by_first_replica(client, cluster, "routed").items():
        before = cluster.counters()
        client.put(key, "v")
        client.delete(key, client.get(key).context)
        after = cluster.counters()
        for name in ("requests_put", "requests_get", "requests_delete"):
            assert counter_deltas(before, after, name) == {address: 1}, (name, key)


def test_the_ring_is_fetched_in_the_background_on_first_use(cluster):
    with rumor.Client(cluster.nodes[1].address) as c:
        assert c.ring_version is None
        c.get("first-call")  # goes to the seed meanwhile
        # A refresh that failed is tried again by a later call, not by itself.
        wait_until(lambda: (c.get("first-call"), c.ring_version is not None)[1], 10, "the ring")
        assert c.ring_version == c.ring_layout().version


def test_routing_any_sends_everything_to_the_server(client, cluster):
    keys = keys_by_first_replica(client, cluster, "any")
    server = cluster.nodes[1].address
    with rumor.Client(server, routing="any") as c:
        before = cluster.counters()
        for key in keys.values():
            c.put(key, "v")
            c.get(key)
        after = cluster.counters()
        assert c.ring_version is None
    assert counter_deltas(before, after, "requests_put") == {server: 3}
    assert counter_deltas(before, after, "requests_get") == {server: 3}


def test_a_resolver_merges_siblings_and_writes_the_merge_back(client, cluster):
    calls = []

    def union(values):
        calls.append(sorted(values))
        return b",".join(sorted(set(b",".join(values).split(b","))))

    for v in ("a", "b", "c"):
        client.put("set", v)
    with rumor.Client(cluster.seed, resolver=union) as resolving:
        obj = resolving.get("set")
        assert obj.values == (b"a,b,c",) and obj.found
        assert calls == [[b"a", b"b", b"c"]]
        assert client.get("set").values == (b"a,b,c",)  # written back
        assert resolving.get("set").values == (b"a,b,c",)
        assert len(calls) == 1  # one value: nothing to resolve


def test_requests_the_nodes_refuse_raise_invalid_argument_with_their_reason(client):
    with pytest.raises(rumor.InvalidArgument, match="key is 3000 bytes; the limit is 2048 bytes") as e:
        client.put(b"k" * 3000, "v")
    assert e.value.code.name == "INVALID_ARGUMENT" and isinstance(e.value, ValueError)
    with pytest.raises(rumor.InvalidArgument, match="key is empty"):
        client.get(b"")
    with pytest.raises(rumor.InvalidArgument, match="w=4 is out of range"):
        client.put("k", "v", w=4)
    with pytest.raises(rumor.InvalidArgument, match="not a valid causal context"):
        client.put("k", "v", b"not a context")


def test_a_write_over_the_sibling_limit_is_a_failed_precondition(client):
    for i in range(MAX_SIBLINGS):
        client.put("crowded", f"v{i}")
    with pytest.raises(rumor.FailedPrecondition, match=f"the limit is {MAX_SIBLINGS}"):
        client.put("crowded", "one too many")
    obj = client.get("crowded")
    assert len(obj.values) == MAX_SIBLINGS
    client.put("crowded", "merged", obj.context)  # read, merge, write back
    assert client.get("crowded").values == (b"merged",)


def test_a_server_that_cannot_be_reached_is_unavailable():
    with rumor.Client("127.0.0.1:1", timeout=5) as c:
        with pytest.raises(rumor.Unavailable, match=r"^cannot reach 127\.0\.0\.1:1: "):
            c.get("k")
        with pytest.raises(rumor.Unavailable, match=r"^cannot reach 127\.0\.0\.1:1: "):
            c.put("k", "v")  # never sent: not an unknown outcome
        with pytest.raises(rumor.Unavailable):
            c.members()
        with pytest.raises(rumor.Unavailable, match="cannot fetch the ring layout"):
            c.refresh_ring()
