"""Counters in Redis: the same sliding window as ``counters_memory``, shared by every process.

Each update is one Lua script (``lua/acquire.lua``, ``settle.lua``, ``distinct.lua``) run
with EVALSHA: one round trip per admission across all of a request's scopes, atomic in Redis,
so N gateway processes admit exactly what one would. Bucket numbers are computed here and
passed in, so the window arithmetic is ``ratelimit``'s, not a second copy in Lua.

The calls go through ``stores/resp.py`` (one pipelined connection per process), not
``redis.asyncio``: the hot path costs a few tens of µs of CPU instead of ~250.

Settlements are off the request path: ``settle`` queues the change and returns; queued
settlements go to Redis as one ``settle.lua`` call, in the same write as this process's next
admission (so an admission here always sees every earlier settlement here: Redis answers a
connection's commands in order), or after ``SETTLE_DELAY`` seconds, or once ``SETTLE_BATCH``
are waiting, and on ``close``. This never lets concurrency overshoot a limit: reservations
are taken atomically at admission, and a settlement only gives back (or charges) the
difference, a few milliseconds later for the other processes. A settlement that cannot reach
Redis is dropped with a warning: the reservation then stays counted (stricter, never looser).

A counter's keys expire one window after its last use: memory follows the active scopes
(about 61 small hash fields per active counter; see the README's sizing notes).

All keys of one admission go to one script, so a Redis Cluster would need them in one slot;
goodstanding targets a single Redis (with a replica for failover).
"""

from __future__ import annotations

import asyncio
import logging
import math
from importlib.resources import files
from typing import Any

from goodstanding.limits.ratelimit import (
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
from goodstanding.stores.resp import RespConnection

log = logging.getLogger("goodstanding.limits")

SETTLE_DELAY = 0.002  # seconds a settlement may wait for others to share its round trip
SETTLE_BATCH = 64  # settlements sent at once, at most


def _source(name: str) -> str:
    return files("goodstanding").joinpath("lua", f"{name}.lua").read_text()


class RedisCounters:
    def __init__(self, url: str, prefix: str = "gs:c:", client: Any = None,
                 timeout: float = shared.SOCKET_TIMEOUT) -> None:
        # ``client`` (the process's redis-py client) is accepted for symmetry with the other
        # Redis stores and closed by its owner; the counters use their own connection
        self.conn = RespConnection(url, timeout)
        self.prefix = prefix
        self._acquire = self.conn.script(_source("acquire"))
        self._settle = self.conn.script(_source("settle"))
        self._distinct = self.conn.script(_source("distinct"))
        self._settle_keys: list[str] = []
        self._settle_args: list[int] = []
        self._settle_count = 0
        self._settle_timer: asyncio.TimerHandle | None = None
        self._settle_sending: set[asyncio.Task[None]] = set()

    async def _ready(self) -> RespConnection:
        conn = self.conn
        if not conn.ready:
            try:
                await conn.connect()
            except OSError as exc:
                raise shared.unavailable(exc) from exc
        return conn

    async def acquire(self, limits: tuple[Limit, ...], tokens: int, now: float) -> Admission:
        conn = await self._ready()
        if self._settle_count:
            self._flush_settles()  # ahead of this admission, in the same write
        prefix = self.prefix
        keys = [prefix + limit.key for limit in limits]
        args: list[int] = []
        for limit in limits:
            width = limit.width
            args += (limit.limit, int(now // width), tokens if limit.tokens else 1,
                     math.ceil((BUCKETS + 2) * width * 1000))
        try:
            out = await conn.evalsha(self._acquire, keys, args)
        except OSError as exc:
            raise shared.unavailable(exc) from exc
        return _admission(limits, tokens, now, out)

    async def settle(self, reservation: Reservation, actual: int, now: float) -> None:
        delta = actual - reservation.tokens
        if not delta or not reservation.limits:
            return
        prefix, keys, args = self.prefix, self._settle_keys, self._settle_args
        args += (len(reservation.limits), delta)
        for limit in reservation.limits:
            keys.append(prefix + limit.key)
            args += (bucket_of(reservation.at, limit), oldest_counted(now, limit))
        self._settle_count += 1
        if self._settle_count >= SETTLE_BATCH:
            self._flush_settles()
        elif self._settle_timer is None:
            self._settle_timer = asyncio.get_running_loop().call_later(
                SETTLE_DELAY, self._flush_settles)

    def _flush_settles(self) -> None:
        if self._settle_timer is not None:
            self._settle_timer.cancel()
            self._settle_timer = None
        if not self._settle_count:
            return
        keys, args, count = self._settle_keys, self._settle_args, self._settle_count
        self._settle_keys, self._settle_args, self._settle_count = [], [], 0
        if self.conn.ready:
            self.conn.evalsha(self._settle, keys, args).add_done_callback(
                lambda done: _settled(done, count))
        else:  # the connection was lost since: reopen it off the request path
            task = asyncio.get_running_loop().create_task(self._send_settles(keys, args, count))
            self._settle_sending.add(task)
            task.add_done_callback(self._settle_sending.discard)

    async def _send_settles(self, keys: list[str], args: list[int], count: int) -> None:
        try:
            await self.conn.connect()
            await self.conn.evalsha(self._settle, keys, args)
        except OSError as exc:
            _lost(exc, count)

    async def distinct(self, key: str, member: str, now: float, window: float) -> int:
        conn = await self._ready()
        try:
            found = await conn.evalsha(self._distinct, [self.prefix + "d:" + key],
                                       [repr(now), repr(window), member])
        except OSError as exc:
            raise shared.unavailable(exc) from exc
        return int(found)

    async def ping(self) -> None:
        await self.conn.call("PING")

    async def close(self) -> None:
        """Send the settlements still queued, wait for their answers, close the connection."""
        if self._settle_count and self.conn._loop is not None:
            self._flush_settles()
        if self._settle_sending:
            await asyncio.gather(*self._settle_sending, return_exceptions=True)
        await self.conn.close()


def _settled(done: asyncio.Future[Any], count: int) -> None:
    exc = done.exception()
    if exc is not None:
        if isinstance(exc, OSError):
            _lost(exc, count)
        else:
            log.error("settling %d token reservations failed: %s", count, exc)


def _lost(exc: BaseException, count: int) -> None:
    log.warning("Redis unreachable: %d token reservations stay counted in full (%s)",
                count, type(exc).__name__)


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
