"""Counters in Redis: the same sliding window as ``counters_memory``, shared by every process.

Each update is one Lua script (``lua/acquire.lua``, ``settle.lua``, ``distinct.lua``) run
with EVALSHA: one round trip per admission across all of a request's scopes, atomic in Redis,
so N gateway processes admit exactly what one would. Bucket numbers are computed here and
passed in, so the window arithmetic is ``ratelimit``'s, not a second copy in Lua.

A counter's keys expire one window after its last use: memory follows the active scopes
(about 61 small hash fields per active counter; see the README's sizing notes).

All keys of one admission go to one script, so a Redis Cluster would need them in one slot;
goodstanding targets a single Redis (with a replica for failover).
"""

from __future__ import annotations

import math
from typing import Any

from goodstanding.ratelimit import (
    BUCKETS,
    Admission,
    Limit,
    Reservation,
    Usage,
    bucket_of,
    expires_at,
    oldest_counted,
)
from goodstanding.stores import redis as shared


class RedisCounters:
    def __init__(self, url: str, prefix: str = "gs:c:", client: Any = None) -> None:
        self._own = client is None  # a client passed in is closed by its owner
        self.client = client if client is not None else shared.connect(url)
        self.prefix = prefix
        self._acquire = shared.script(self.client, "acquire")
        self._settle = shared.script(self.client, "settle")
        self._distinct = shared.script(self.client, "distinct")
        self._errors = shared.errors()

    async def acquire(self, limits: tuple[Limit, ...], tokens: int, now: float) -> Admission:
        keys = [self.prefix + limit.key for limit in limits]
        args: list[int] = []
        for limit in limits:
            cost = tokens if limit.tokens else 1
            ttl = math.ceil((BUCKETS + 2) * limit.width * 1000)
            args += (limit.limit, bucket_of(now, limit), cost, ttl)
        try:
            out = await self._acquire(keys=keys, args=args)
        except self._errors as exc:
            raise shared.unavailable(exc) from exc
        return _admission(limits, tokens, now, [int(x) for x in out])

    async def settle(self, reservation: Reservation, actual: int, now: float) -> None:
        delta = actual - reservation.tokens
        if not delta or not reservation.limits:
            return
        keys = [self.prefix + limit.key for limit in reservation.limits]
        args = [delta]
        for limit in reservation.limits:
            args += (bucket_of(reservation.at, limit), oldest_counted(now, limit))
        try:
            await self._settle(keys=keys, args=args)
        except self._errors as exc:
            raise shared.unavailable(exc) from exc

    async def distinct(self, key: str, member: str, now: float, window: float) -> int:
        try:
            found = await self._distinct(keys=[self.prefix + "d:" + key],
                                         args=[repr(now), repr(window), member])
        except self._errors as exc:
            raise shared.unavailable(exc) from exc
        return int(found)

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        if self._own:
            await self.client.aclose()


def _admission(limits: tuple[Limit, ...], tokens: int, now: float, out: list[int]) -> Admission:
    admitted, denied_at, wait_bucket = out[0] == 1, out[1], out[2]
    seen = [(limits[i], out[3 + 2 * i], out[4 + 2 * i]) for i in range((len(out) - 3) // 2)]
    usage = _tightest(seen, now)
    if admitted:
        token_limits = tuple(limit for limit in limits if limit.tokens)
        reservation = Reservation(now, token_limits, tokens) if token_limits else None
        return Admission(True, usage, reservation=reservation)
    denied = limits[denied_at - 1]
    wait = math.inf if wait_bucket < 0 else max(0.0, expires_at(wait_bucket, denied) - now)
    return Admission(False, usage, denied, wait)


def _tightest(seen: list[tuple[Limit, int, int]], now: float) -> tuple[Usage, ...]:
    """As ``counters_memory._tightest``: the request and token limit with the least room."""
    best: dict[bool, tuple[int, Limit, int, int]] = {}
    for limit, total, newest in seen:
        left = limit.limit - total
        found = best.get(limit.tokens)
        if found is None or left < found[0]:
            best[limit.tokens] = (left, limit, total, newest)
    usage = []
    for left, limit, total, newest in best.values():
        reset = expires_at(newest, limit) - now if newest >= 0 and total > 0 else 0.0
        usage.append(Usage(limit, max(0, left), max(0.0, reset)))
    return tuple(usage)
