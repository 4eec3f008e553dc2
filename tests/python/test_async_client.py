"""The asyncio client against a live 3-node cluster (N=3, R=W=2)."""

import asyncio
import time

import pytest
from conftest import counter_deltas

import rumor

pytestmark = pytest.mark.asyncio


async def test_values_siblings_contexts_and_deletes(cluster):
    async with rumor.AsyncClient(cluster.seed) as client:
        assert await client.get("a-never-written") == rumor.Object(False, (), b"")
        assert await client.put("a-cart", "apple") is None
        await client.put("a-cart", b"pear")
        obj = await client.get("a-cart")
        assert obj.found and sorted(obj.values) == [b"apple", b"pear"]
        merged = await client.put("a-cart", "apple,pear", obj.context, return_body=True)
        assert merged.values == (b"apple,pear",)
        await client.delete("a-cart", merged.context)
        gone = await client.get("a-cart")
        assert not gone.found and gone.values == () and gone.context


async def test_members_ring_and_status(cluster):
    addresses = {n.address for n in cluster.nodes}
    async with rumor.AsyncClient(cluster.seed) as client:
        members = await client.members()
        assert {m.address for m in members} == addresses
        info = await client.ring("greeting")
        assert info.replicas == 3 and info.position == rumor.ring_position(b"greeting")
        assert (await client.status()).address == cluster.seed
        assert len((await client.ring_layout()).nodes) == 3


async def test_ring_routing_sends_each_call_to_the_keys_first_replica(cluster):
    async with rumor.AsyncClient(cluster.seed) as client:
        assert client.ring_version is None
        await client.refresh_ring()
        assert client.ring_version is not None
        keys = {}
        for i in range(1000):  # a few dozen keys are enough
            key = f"a-routed-{i}"
            keys.setdefault((await client.ring(key)).preference_list[0].address, key)
            if len(keys) == 3:
                break
        assert len(keys) == 3, f"1000 keys have first replicas on {sorted(keys)} only"
        for address, key in keys.items():
            before = cluster.counters()
            await client.put(key, "v")
            await client.delete(key, (await client.get(key)).context)
            after = cluster.counters()
            for name in ("requests_put", "requests_get", "requests_delete"):
                assert counter_deltas(before, after, name) == {address: 1}, (name, key)


async def test_the_ring_is_fetched_in_the_background_on_first_use(cluster):
    async with rumor.AsyncClient(cluster.seed) as client:
        await client.get("a-first-call")
        deadline = time.monotonic() + 10
        while client.ring_version is None:
            assert time.monotonic() < deadline, "the ring was not fetched"
            await asyncio.sleep(0.05)
            # A refresh that failed is tried again by a later call, not by itself.
            await client.get("a-first-call")


async def test_many_calls_in_flight_at_once(cluster):
    async with rumor.AsyncClient(cluster.seed) as client:
        await client.refresh_ring()
        keys = [f"a-many-{i}" for i in range(60)]
        await asyncio.gather(*(client.put(k, k.upper()) for k in keys))
        objects = await asyncio.gather(*(client.get(k) for k in keys))
        assert [o.values for o in objects] == [(k.upper().encode(),) for k in keys]


async def test_an_async_resolver_merges_and_writes_back(cluster):
    async def longest(values):
        await asyncio.sleep(0)
        return max(values, key=len).decode()  # str is fine

    async with rumor.AsyncClient(cluster.seed) as plain, rumor.AsyncClient(
        cluster.seed, resolver=longest
    ) as resolving:
        for v in ("x", "xyz", "xy"):
            await plain.put("a-resolved", v)
        assert (await resolving.get("a-resolved")).values == (b"xyz",)
        assert (await plain.get("a-resolved")).values == (b"xyz",)


async def test_errors(cluster):
    async with rumor.AsyncClient(cluster.seed) as client:
        with pytest.raises(rumor.InvalidArgument, match="key is empty"):
            await client.put(b"", "v")
        with pytest.raises(rumor.InvalidArgument, match="r=9 is out of range"):
            await client.get("k", r=9)
        with pytest.raises(TypeError, match="key must be bytes or str"):
            await client.get(3.5)
    with pytest.raises(rumor.RumorError, match="the client is closed"):
        await client.get("k")
    async with rumor.AsyncClient("127.0.0.1:1") as unreachable:
        with pytest.raises(rumor.Unavailable, match=r"^cannot reach 127\.0\.0\.1:1: "):
            await unreachable.put("k", "v")
        with pytest.raises(rumor.Unavailable, match="cannot fetch the ring layout"):
            await unreachable.refresh_ring()
