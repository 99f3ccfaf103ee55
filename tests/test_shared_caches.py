"""The caches several gateway processes share through Redis, against their in-process twins."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from goodstanding.enforcement.standing import Standing
from goodstanding.moderation.cache import MemoryCache
from goodstanding.moderation.scored import CLEAN, Scored
from goodstanding.stores.base import VerdictCache
from tests.services import redis_url

FLAGGED = Scored(frozenset({"violence"}), (("violence", 0.91), ("harassment", 0.02)))


@pytest.fixture(params=[pytest.param("memory", id="memory"),
                        pytest.param("redis", id="redis", marks=pytest.mark.redis)])
async def verdicts(request: pytest.FixtureRequest) -> AsyncIterator[VerdictCache]:
    if request.param == "memory":
        yield MemoryCache(100)
        return
    from goodstanding.stores.verdicts_redis import RedisVerdictCache

    cache = RedisVerdictCache(redis_url(), prefix=f"gs:test:{secrets.token_hex(6)}:".encode())
    yield cache
    await cache.close()


async def test_verdicts_round_trip_in_one_batch(verdicts):
    keys = [secrets.token_bytes(16) for _ in range(3)]
    assert await verdicts.get_many(keys) == [None, None, None]
    await verdicts.put_many([(keys[0], CLEAN), (keys[2], FLAGGED)])
    assert await verdicts.get_many(keys) == [CLEAN, None, FLAGGED]


@pytest.mark.redis
async def test_a_verdict_stored_by_one_process_is_found_by_another():
    from goodstanding.stores.redis import connect
    from goodstanding.stores.verdicts_redis import RedisVerdictCache

    prefix = f"gs:test:{secrets.token_hex(6)}:".encode()
    # a generous bound: the default 0.5 s made a first connection on a loaded CI machine a
    # miss (by design: Redis failing is a miss), which is not what this test is about
    clients = [connect(redis_url(), timeout=10) for _ in range(2)]
    one, two = (RedisVerdictCache(redis_url(), prefix=prefix, client=c) for c in clients)
    key = secrets.token_bytes(16)
    await one.put_many([(key, FLAGGED)])
    assert await two.get_many([key]) == [FLAGGED]
    for client in clients:
        await client.aclose()


async def test_an_unreachable_redis_is_a_cache_miss_not_an_error():
    from goodstanding.stores.verdicts_redis import RedisVerdictCache

    cache = RedisVerdictCache("redis://127.0.0.1:1/0")
    await cache.put_many([(b"k" * 16, FLAGGED)])  # kept locally
    assert await cache.get_many([b"k" * 16, b"x" * 16]) == [FLAGGED, None]
    await cache.close()


@pytest.mark.redis
async def test_a_standing_change_reaches_every_process():
    from goodstanding.stores.standing_redis import RedisStandingCache

    channel = f"gs:test:{secrets.token_hex(6)}"
    a, b = (RedisStandingCache(redis_url(), channel=channel) for _ in range(2))
    assert await a.wait_listening() and await b.wait_listening()
    user = ("t", "eve")
    b.put(user, None, 0.0)
    assert b.get(user, 0.0) == (True, None)
    a.put(user, Standing("t", "eve", "banned"), 0.0)
    await a.changed(user)
    for _ in range(100):
        if not b.get(user, 0.0)[0]:
            break
        await asyncio.sleep(0.01)
    assert b.get(user, 0.0) == (False, None)  # dropped: the next read goes to the database
    await a.close()
    await b.close()


async def test_without_its_subscription_the_standing_cache_always_misses():
    from goodstanding.stores.standing_redis import RedisStandingCache

    cache = RedisStandingCache("redis://127.0.0.1:1/0")
    cache.put(("t", "eve"), None, 0.0)
    assert cache.get(("t", "eve"), 0.0) == (False, None)
    await cache.close()
