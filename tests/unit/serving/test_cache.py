"""The API's single-flight cache: concurrent misses coalesce, stale entries revalidate, errors are not cached."""

from __future__ import annotations

import asyncio

import pytest

from serving.db import SingleFlightCache


def test_single_flight_cache_coalesces_and_revalidates() -> None:
    async def scenario() -> None:
        calls = 0

        async def produce() -> int:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.05)
            return calls

        cache = SingleFlightCache(ttl_s=0.2, stale_s=5.0)
        assert await asyncio.gather(*(cache.get("k", produce) for _ in range(10))) == [1] * 10
        assert calls == 1
        await asyncio.sleep(0.25)  # stale: served at once, refreshed in the background
        assert await cache.get("k", produce) == 1
        await asyncio.sleep(0.1)
        assert calls == 2 and await cache.get("k", produce) == 2

        failing = SingleFlightCache(ttl_s=1.0)

        async def boom() -> int:
            raise RuntimeError("down")

        with pytest.raises(RuntimeError):
            await failing.get("k", boom)
        assert await failing.get("k", produce) == 3  # errors are not cached

    asyncio.run(scenario())
