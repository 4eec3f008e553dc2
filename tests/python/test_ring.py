"""Ring positions and preference lists (rumor/ring.py), without a cluster.

That they agree with the nodes' own computation is checked against a live
cluster in test_client.py."""

import pytest

from rumor.ring import RingLayout, RingNode, RingView, ring_position, xxh64

# Computed with libxxhash's XXH64 (seed 0), across the 4-, 8- and 32-byte
# boundaries of the algorithm.
VECTORS = [
    (b"", 0xEF46DB3751D8E999),
    (b"a", 0xD24EC4F1A98C6E5B),
    (b"abc", 0x44BC2CF5AD770999),
    (b"abcd", 0xDE0327B0D25D92CC),
    (b"abcdefgh", 0x3AD351775B4634B7),
    (b"greeting", 0xE7C5CA42CD4BED7F),
    (b"0123456789abcdef0123456789abcdef", 0x642A94958E71E6C5),
    (b"The quick brown fox jumps over the lazy dog", 0x0B242D361FDA71BC),
    (bytes(range(100)), 0x6AC1E58032166597),
]


@pytest.mark.parametrize("data,expected", VECTORS)
def test_xxh64_matches_libxxhash(data, expected):
    assert xxh64(data) == expected
    assert ring_position(data) == expected


def view(replicas, *nodes, version=7):
    return RingView(RingLayout(version=version, replicas=replicas, nodes=tuple(nodes)))


def ids(nodes):
    return [n.id for n in nodes]


def test_preference_list_walks_clockwise_from_the_first_token_at_or_after_the_position():
    v = view(
        2,
        RingNode(1, "a:1", "alive", (100, 400)),
        RingNode(2, "b:1", "alive", (200,)),
        RingNode(3, "c:1", "alive", (300,)),
    )
    assert v.version == 7 and v.replicas == 2 and v.num_nodes == 3 and not v.empty
    assert ids(v.preference_list(0)) == [1, 2]
    assert ids(v.preference_list(100)) == [1, 2]  # a token at the position owns it
    assert ids(v.preference_list(101)) == [2, 3]
    assert ids(v.preference_list(301)) == [1, 2]  # token 400, then wrap to 100 (node 1 again), 200
    assert ids(v.preference_list(401)) == [1, 2]  # past the last token: wraps to the first
    assert ids(v.preference_list(250, 3)) == [3, 1, 2]
    assert ids(v.preference_list(250, 10)) == [3, 1, 2]  # no more than the ring has
    assert ids(v.walk(250)) == [3, 1, 2]
    assert v.preference_list(250, 0) == []


def test_ties_between_nodes_at_one_token_go_to_the_lower_id():
    v = view(1, RingNode(9, "z:1", "alive", (500,)), RingNode(4, "y:1", "alive", (500,)))
    assert ids(v.preference_list(500)) == [4]
    assert ids(v.preference_list(0, 2)) == [4, 9]


def test_a_node_listed_twice_is_one_node_with_the_union_of_its_tokens():
    v = view(
        2,
        RingNode(1, "", "alive", ()),  # no token: not on the ring
        RingNode(1, "a:1", "alive", (100,)),
        RingNode(2, "b:1", "alive", (200,)),
        RingNode(1, "a:2", "dead", (300, 100)),
    )
    assert v.num_nodes == 2
    assert v.find(1).address == "a:1"  # its first listing with tokens
    assert ids(v.preference_list(250)) == [1, 2]  # token 300 is node 1's too
    assert v.find(3) is None


def test_an_empty_ring_routes_nothing():
    v = view(3, RingNode(1, "a:1", "alive", ()))
    assert v.empty and v.num_nodes == 0
    assert v.preference_list(5) == []
    assert list(v.walk(5)) == []


def test_preference_list_of_hashes_the_key():
    # Node i holds token i << 60 (i = 1..15): a key's list starts at the
    # node of the first token at or after its XXH64, by the vectors above.
    nodes = [RingNode(i, f"n{i}:1", "alive", (i << 60,)) for i in range(1, 16)]
    v = view(3, *nodes)
    assert ids(v.preference_list_of(b"abc")) == [5, 6, 7]  # 0x44BC...
    assert ids(v.preference_list_of(b"a")) == [14, 15, 1]  # 0xD24E...: wraps
    assert ids(v.preference_list_of(b"")) == [15, 1, 2]  # 0xEF46...
    assert ids(v.preference_list_of("greeting".encode())) == [15, 1, 2]  # 0xE7C5...
