"""Where the standing counts and the alerts' claims live: in-process, or Redis (STYLE 7).

A deliberately small interface (``Counts`` in ``stores/base.py``) — hashes of integer counts with a time to live, and claims —
so that every window and driver computation stays in ``ops/standing.py``, once:

- ``add(batch, ttls)``: add ``{key: {field: amount}}``, each key living ``ttls[key]`` seconds
  after its last update. Redis: one ``lua/tally.lua`` call per batch (batches are a second
  of this process's calls; see ``StandingMonitor``).
- ``read(keys)``: the hashes, pipelined (off the hot path: the admin API and alert rules).
- ``claim(key, seconds)``: True for the first caller within ``seconds`` (alert dedupe and
  rate limits, shared by every worker when Redis is configured).

With ``GOODSTANDING_REDIS_URL`` every worker writes to and reads from the same hashes, so
every worker answers ``/admin/api/standing`` the same. Without it, each process counts its own
calls (as for the limits).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from importlib.resources import files
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goodstanding.stores.base import Counts  # the interface, with every other store's

Batch = Mapping[str, Mapping[str, int]]


class MemoryCounts:
    """The embedded default: one process's counts, expired by the clock the caller passes."""

    def __init__(self) -> None:
        self._hashes: dict[str, tuple[dict[str, int], float]] = {}
        self._claims: dict[str, float] = {}

    async def add(self, batch: Batch, ttls: Mapping[str, float], now: float) -> None:
        for key, fields in batch.items():
            found = self._hashes.get(key)
            values = found[0] if found is not None and found[1] > now else {}
            for field, amount in fields.items():
                values[field] = values.get(field, 0) + amount
            self._hashes[key] = (values, now + ttls[key])
        if len(self._hashes) > 4096:
            self._hashes = {k: v for k, v in self._hashes.items() if v[1] > now}

    async def read(self, keys: list[str], now: float) -> list[dict[str, int]]:
        out = []
        for key in keys:
            found = self._hashes.get(key)
            out.append(dict(found[0]) if found is not None and found[1] > now else {})
        return out

    async def claim(self, key: str, seconds: float, now: float) -> bool:
        until = self._claims.get(key)
        if until is not None and until > now:
            return False
        self._claims[key] = now + seconds
        return True

    async def close(self) -> None:
        self._hashes.clear()


class RedisCounts:
    """The same in Redis, through the process's pipelined connection (``stores/resp.py``).

    Redis expires keys on its own clock; the ``now`` passed in only names the buckets.
    """

    def __init__(self, url: str, prefix: str = "gs:s:") -> None:
        from goodstanding.stores import redis as shared
        from goodstanding.stores.resp import RespConnection

        self.conn = RespConnection(url, shared.SOCKET_TIMEOUT)
        self.prefix = prefix
        self._tally = self.conn.script(
            files("goodstanding").joinpath("lua", "tally.lua").read_text())

    async def _ready(self) -> Any:
        if not self.conn.ready:
            await self.conn.connect()
        return self.conn

    async def add(self, batch: Batch, ttls: Mapping[str, float], now: float) -> None:
        keys: list[str] = []
        args: list[Any] = []
        for key, fields in batch.items():
            keys.append(self.prefix + key)
            args += (len(fields), max(1, int(ttls[key] * 1000)))
            for field, amount in fields.items():
                args += (field, amount)
        if keys:
            conn = await self._ready()
            await conn.evalsha(self._tally, keys, args)

    async def read(self, keys: list[str], now: float) -> list[dict[str, int]]:
        conn = await self._ready()
        replies = await asyncio.gather(*(conn.send("HGETALL", self.prefix + k) for k in keys))
        return [_hash(reply) for reply in replies]

    async def claim(self, key: str, seconds: float, now: float) -> bool:
        conn = await self._ready()
        reply = await conn.call("SET", self.prefix + "claim:" + key, "1", "NX", "PX",
                                max(1, int(seconds * 1000)))
        return reply is not None

    async def close(self) -> None:
        await self.conn.close()


def _hash(reply: Any) -> dict[str, int]:
    items = list(reply or [])
    return {_text(items[i]): int(items[i + 1]) for i in range(0, len(items) - 1, 2)}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_BACKENDS: dict[str, Callable[[str], Counts]] = {
    "redis": RedisCounts, "rediss": RedisCounts, "unix": RedisCounts,
}


def open_counts(url: str | None) -> Counts:
    if not url:
        return MemoryCounts()
    return _BACKENDS[url.split(":", 1)[0]](url)
