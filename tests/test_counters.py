"""One behaviour suite for the limiter's counter backends (STYLE 9): in-process and Redis.

The Redis backend must be indistinguishable from the in-process one (same admissions, same
headers, same retry-after) and stay exact when several processes share it.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goodstanding.errors import StoreUnavailable
from goodstanding.limits.ratelimit import Limit
from goodstanding.stores.base import CounterStore
from goodstanding.stores.counters import FallbackCounters, open_counters
from goodstanding.stores.counters_memory import MemoryCounters
from tests.services import redis_url

RPM = Limit("eu:rpm:t\nalice", "end-user requests per minute", 5, 60.0)
TPM = Limit("eu:tpm:t\nalice", "end-user tokens per minute", 1000, 60.0, tokens=True)
RPD = Limit("eu:rpd:t\nalice", "end-user requests per day", 8, 86400.0)
IP = Limit("ip:rpm:127.0.0.1", "client IP requests per minute", 7, 60.0)

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]


def opener(kind: str) -> Callable[[], CounterStore]:
    """A factory of counter stores that share state (like processes sharing one Redis)."""
    if kind == "memory":
        one = MemoryCounters()
        return lambda: one
    from goodstanding.stores.counters_redis import RedisCounters

    url, prefix = redis_url(), f"gs:test:{secrets.token_hex(6)}:"
    return lambda: RedisCounters(url, prefix=prefix)


@pytest.fixture(params=BACKENDS)
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[CounterStore]:
    store = opener(request.param)()
    yield store
    await store.close()


async def test_admits_up_to_the_limit_then_refuses_with_retry_after(counters):
    for i in range(5):
        admission = await counters.acquire((RPM,), 0, 1000.0 + i)
        assert admission.admitted
        assert admission.usage[0].remaining == 4 - i
    denied = await counters.acquire((RPM,), 0, 1010.0)
    assert not denied.admitted and denied.denied == RPM
    # the first request (bucket 1000) leaves the window at (1000 + 61) s
    assert denied.retry_after == pytest.approx(51.0)
    assert denied.usage[0].remaining == 0


async def test_denied_request_counts_nowhere(counters):
    for _ in range(IP.limit):
        assert (await counters.acquire((IP,), 0, 50.0)).admitted
    assert not (await counters.acquire((IP, RPM), 0, 50.0)).admitted  # RPM has room
    assert not (await counters.acquire((RPM, IP), 0, 50.0)).admitted
    seen = await counters.acquire((RPM,), 0, 50.0)
    assert seen.admitted and seen.usage[0].remaining == 4  # RPM was never charged


async def test_a_request_larger_than_the_limit_can_never_fit(counters):
    denied = await counters.acquire((TPM,), 5000, 0.0)
    assert not denied.admitted and math.isinf(denied.retry_after)


async def test_tokens_are_reserved_and_settled(counters):
    admission = await counters.acquire((RPM, TPM), 600, 100.0)
    assert admission.reservation is not None and admission.reservation.tokens == 600
    assert admission.reservation.limits == (TPM,)
    assert not (await counters.acquire((TPM,), 600, 101.0)).admitted
    await counters.settle(admission.reservation, 100, 102.0)
    after = await counters.acquire((TPM,), 600, 103.0)
    assert after.admitted and after.usage[0].remaining == 300


async def test_settling_below_zero_stops_at_zero(counters):
    admission = await counters.acquire((TPM,), 100, 100.0)
    for _ in range(3):  # the bucket reaches 0, then settling further changes nothing
        await counters.settle(admission.reservation, 0, 100.5)
    after = await counters.acquire((TPM,), 1000, 101.0)
    assert after.admitted and after.usage[0].remaining == 0


async def test_settle_can_charge_more_than_reserved(counters):
    admission = await counters.acquire((TPM,), 100, 100.0)
    await counters.settle(admission.reservation, 900, 101.0)
    assert not (await counters.acquire((TPM,), 200, 102.0)).admitted


async def test_settling_after_the_window_changes_nothing(counters):
    admission = await counters.acquire((TPM,), 900, 100.0)
    await counters.settle(admission.reservation, 0, 100.0 + 120)
    fresh = await counters.acquire((TPM,), 1000, 100.0 + 121)
    assert fresh.admitted


async def test_windows_slide_and_reset_headers(counters):
    await counters.acquire((RPM,), 0, 0.0)
    admission = await counters.acquire((RPM,), 0, 30.0)
    assert admission.usage[0].reset == pytest.approx(61.0)  # until back to full
    assert (await counters.acquire((RPM,), 0, 200.0)).usage[0].remaining == 4


async def test_distinct_members_within_a_window(counters):
    assert await counters.distinct("churn:alice", "1.1.1.1", 0.0, 60.0) == 1
    assert await counters.distinct("churn:alice", "2.2.2.2", 10.0, 60.0) == 2
    assert await counters.distinct("churn:alice", "2.2.2.2", 20.0, 60.0) == 2
    assert await counters.distinct("churn:alice", "3.3.3.3", 65.0, 60.0) == 2  # 1.1.1.1 left


@pytest.mark.parametrize("kind", BACKENDS)
async def test_processes_sharing_the_store_admit_exactly_the_limit(kind):
    """Two clients (as two gateway processes would hold) racing for one end user's window."""
    open_one = opener(kind)
    first, second = open_one(), open_one()
    results = await asyncio.gather(*[
        (first if i % 2 else second).acquire((RPM, RPD), 0, 500.0) for i in range(25)])
    assert sum(a.admitted for a in results) == RPM.limit
    await first.close()
    await second.close()


@pytest.mark.redis
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.floats(0, 20, allow_nan=False), st.integers(0, 400),
                          st.integers(0, 400)), min_size=1, max_size=40))
def test_redis_decides_exactly_as_the_in_process_backend(steps):
    """Differential: every admission, header and retry-after equal, settlements included."""
    from goodstanding.stores.counters_redis import RedisCounters

    async def play() -> None:
        memory = MemoryCounters()
        redis = RedisCounters(redis_url(), prefix=f"gs:test:{secrets.token_hex(6)}:")
        now = 1_000_000.0
        try:
            for gap, cost, actual in steps:
                now += gap
                expected = await memory.acquire((RPM, TPM, IP), cost, now)
                got = await redis.acquire((RPM, TPM, IP), cost, now)
                assert got == expected
                if expected.reservation is not None:
                    # the call ends half a second later; the clock never runs backwards, so
                    # the next admission is never timestamped before this settlement
                    now += 0.5
                    await memory.settle(expected.reservation, actual, now)
                    await redis.settle(got.reservation, actual, now)
        finally:
            await redis.close()

    asyncio.run(play())


async def test_redis_unreachable_fails_closed_with_store_unavailable():
    counters = open_counters("redis://127.0.0.1:1/0")
    with pytest.raises(StoreUnavailable) as caught:
        await counters.acquire((RPM,), 0, 0.0)
    assert caught.value.status == 503 and caught.value.code == "store_unavailable"
    await counters.close()


async def test_redis_unreachable_can_degrade_to_per_process_counters():
    from goodstanding.stores.counters import DEGRADED

    counters = open_counters("redis://127.0.0.1:1/0", on_error="local")
    assert isinstance(counters, FallbackCounters)
    assert (await counters.acquire((RPM,), 0, 0.0)).admitted
    assert counters.degraded and DEGRADED.values[("redis",)] == 1
    await counters.close()


@pytest.mark.redis
async def test_queued_settlements_reach_other_processes_and_survive_close():
    """Settlements leave the request path (batched), but reach Redis within milliseconds,
    and ``close`` sends what is still queued."""
    from goodstanding.stores.counters_redis import SETTLE_DELAY

    open_one = opener("redis")
    first, second = open_one(), open_one()
    admission = await first.acquire((TPM,), 900, 100.0)
    await first.settle(admission.reservation, 100, 100.5)
    await asyncio.sleep(SETTLE_DELAY + 0.05)
    assert (await second.acquire((TPM,), 800, 101.0)).admitted  # 100 + 800 <= 1000
    admission = await first.acquire((TPM,), 100, 102.0)
    await first.settle(admission.reservation, 0, 102.5)
    await first.close()  # flushes the queued settlement
    assert (await second.acquire((TPM,), 100, 103.0)).admitted
    await second.close()


@pytest.mark.redis
async def test_the_hot_path_client_recovers_from_script_flush_and_lost_connections():
    import redis.asyncio as aioredis

    from goodstanding.stores.counters_redis import RedisCounters

    counters = RedisCounters(redis_url(), prefix=f"gs:test:{secrets.token_hex(6)}:")
    admin = aioredis.from_url(redis_url())
    try:
        assert (await counters.acquire((RPM,), 0, 0.0)).usage[0].remaining == 4
        await admin.script_flush()  # NOSCRIPT: retried as EVAL
        assert (await counters.acquire((RPM,), 0, 0.0)).usage[0].remaining == 3
        before = await counters.conn.call("CLIENT", "ID")
        await admin.client_kill_filter(_id=before)  # this connection only
        await asyncio.sleep(0.05)
        assert (await counters.acquire((RPM,), 0, 0.0)).usage[0].remaining == 2  # reconnected
        assert await counters.conn.call("CLIENT", "ID") != before
    finally:
        await counters.close()
        await admin.aclose()
