"""The connection pool behind every live connector, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from reconciler.connectors.http import POOL_SHARD, ShardedTransport, build_client, pooled_transport
from reconciler.simulators.serve import serve


def test_small_concurrency_is_one_plain_pool() -> None:
    assert isinstance(pooled_transport(POOL_SHARD), httpx.AsyncHTTPTransport)


@pytest.mark.loopback
def test_high_concurrency_spreads_requests_over_small_pools_and_releases_them() -> None:
    """64 requests at once all complete, over several pools of at most POOL_SHARD connections
    (httpcore's pool costs grow with the square of its size), and every pool ends up idle."""
    lock = threading.Lock()
    in_flight = [0, 0]  # now, most
    side_by_side = threading.Event()  # more requests in flight than one pool holds

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
            if in_flight[0] > POOL_SHARD:
                side_by_side.set()
        # Each answer waits until the pools are seen side by side (at most 5 s: on a busy machine
        # the client may take a while to send them all); a single pool would never get there.
        side_by_side.wait(5)
        with lock:
            in_flight[0] -= 1
        return httpx.Response(200, json={"path": request.url.path})

    async def run(url: str) -> tuple[list[bool], ShardedTransport]:
        transport = pooled_transport(64)
        assert isinstance(transport, ShardedTransport)
        async with build_client(url, transport=transport, writable=False) as client:
            responses = await asyncio.gather(*(client.get(f"/item/{i}") for i in range(64)))
            return [r.json()["path"] == f"/item/{i}" for i, r in enumerate(responses)], transport

    with serve(handler) as url:
        ok, transport = asyncio.run(run(url))
    assert all(ok)
    assert len(transport._pools) == 64 // POOL_SHARD
    assert transport._busy == [0] * len(transport._pools)
    assert in_flight[1] > POOL_SHARD  # the pools really ran side by side
