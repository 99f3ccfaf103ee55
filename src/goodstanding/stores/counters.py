"""Counter backends for limits, chosen by URL (STYLE 7): in-process, or Redis.

``GOODSTANDING_REDIS_URL`` unset means in-process counters (one gateway process). With it,
``stores/counters_redis.py`` shares every window between all gateway processes, one Lua
script per update; the ``redis`` client is imported only then.

When Redis cannot answer, ``storage.on_redis_error`` decides: ``fail_closed`` (the default)
refuses with 503 ``store_unavailable``; ``local`` counts per process until Redis is back,
with an error logged and ``goodstanding_store_degraded{store="redis"}`` at 1 (each process
then admits up to the full limit: N processes, N times the limit).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from goodstanding import metrics
from goodstanding.errors import StoreUnavailable
from goodstanding.limits.ratelimit import Admission, Limit, Reservation
from goodstanding.stores.base import CounterStore

log = logging.getLogger("goodstanding.limits")

DEGRADED = metrics.gauge("goodstanding_store_degraded",
                         "1 while a shared store is down and limits count per process.",
                         ("store",))


def _memory(url: str | None, client: Any = None, timeout: float = 0.5) -> CounterStore:
    from goodstanding.stores.counters_memory import MemoryCounters

    return MemoryCounters()


def _redis(url: str | None, client: Any = None, timeout: float = 0.5) -> CounterStore:
    from goodstanding.stores.counters_redis import RedisCounters

    assert url is not None
    return RedisCounters(url, client=client, timeout=timeout)


_BACKENDS: dict[str, Callable[[str | None, Any, float], CounterStore]] = {
    "memory": _memory, "redis": _redis, "rediss": _redis, "unix": _redis,
}


def open_counters(url: str | None, on_error: str = "fail_closed", client: Any = None,
                  timeout: float = 0.5) -> CounterStore:
    """The counters for ``url`` (None: in-process); ``client`` shares one Redis connection;
    a Redis that does not answer within ``timeout`` seconds is unreachable."""
    scheme = url.split(":", 1)[0] if url else "memory"
    factory = _BACKENDS.get(scheme)
    if factory is None:
        from goodstanding.errors import ConfigError

        raise ConfigError(f"storage.redis_url: unsupported scheme {scheme!r} (use redis://)")
    counters = factory(url, client, timeout)
    if scheme != "memory" and on_error == "local":
        return FallbackCounters(counters, _memory(None))
    return counters


class FallbackCounters:
    """Shared counters, or per-process ones while the shared store is unreachable."""

    def __init__(self, shared: CounterStore, local: CounterStore) -> None:
        self.shared, self.local = shared, local
        self.degraded = False

    def _fell_back(self, error: StoreUnavailable) -> None:
        if not self.degraded:
            log.error("Redis unreachable: limits now count per process until it is back")
            DEGRADED.set(1, "redis")
        self.degraded = True

    def _recovered(self) -> None:
        if self.degraded:
            log.warning("Redis reachable again: limits are shared again")
            DEGRADED.set(0, "redis")
        self.degraded = False

    async def acquire(self, limits: tuple[Limit, ...], tokens: int, now: float) -> Admission:
        try:
            admission = await self.shared.acquire(limits, tokens, now)
        except StoreUnavailable as error:
            self._fell_back(error)
            return await self.local.acquire(limits, tokens, now)
        self._recovered()
        return admission

    async def settle(self, reservation: Reservation, actual: int, now: float) -> None:
        try:
            await self.shared.settle(reservation, actual, now)
        except StoreUnavailable as error:
            self._fell_back(error)
            await self.local.settle(reservation, actual, now)

    async def distinct(self, key: str, member: str, now: float, window: float) -> int:
        try:
            return await self.shared.distinct(key, member, now, window)
        except StoreUnavailable as error:
            self._fell_back(error)
            return await self.local.distinct(key, member, now, window)

    async def close(self) -> None:
        await self.shared.close()
        await self.local.close()
