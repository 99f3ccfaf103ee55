"""The moderation verdict cache shared by every gateway process (``moderation.cache``).

Implements ``VerdictCache``: a batch of content hashes is one MGET, a batch of new results
one pipelined SET-with-expiry, so each request costs at most one round trip each way. A
local LRU in front answers repeats without Redis (a conversation re-sends its history).

Keys are 16-byte content digests, values OpenAI's flags and the scores worth keeping
(``moderation.scored``), never text. A clean result (most) is one byte. Redis failing is a
miss, never an error: moderation then simply asks the endpoint again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson

from goodstanding.moderation.cache import MemoryCache
from goodstanding.moderation.scored import CLEAN, Scored
from goodstanding.stores import redis as shared

log = logging.getLogger("goodstanding.moderation")

TTL_SECONDS = 7 * 86400
_CLEAN = b"0"


class RedisVerdictCache:
    def __init__(self, url: str, local_size: int = 10_000, prefix: bytes = b"gs:m:",
                 ttl: int = TTL_SECONDS, client: Any = None) -> None:
        self._own = client is None  # a client passed in is closed by its owner
        self.client = client if client is not None else shared.connect(url)
        self.local = MemoryCache(local_size)
        self.prefix, self.ttl = prefix, ttl
        self._errors = shared.errors()

    async def get_many(self, keys: Sequence[bytes]) -> list[Scored | None]:
        found = await self.local.get_many(keys)
        missing = [i for i, value in enumerate(found) if value is None]
        if not missing:
            return found
        try:
            values = await self.client.mget([self.prefix + keys[i] for i in missing])
        except self._errors:
            log.warning("shared verdict cache unreachable; moderating afresh")
            return found
        fresh = []
        for i, raw in zip(missing, values, strict=True):
            if raw is not None:
                found[i] = _decode(raw)
                fresh.append((keys[i], found[i]))
        await self.local.put_many(fresh)
        return found

    async def put_many(self, items: Sequence[tuple[bytes, Scored]]) -> None:
        if not items:
            return
        await self.local.put_many(items)
        pipe = self.client.pipeline(transaction=False)
        for key, value in items:
            pipe.set(self.prefix + key, _encode(value), ex=self.ttl)
        try:
            await pipe.execute()
        except self._errors:
            log.warning("shared verdict cache unreachable; result kept in this process only")

    async def close(self) -> None:
        if self._own:
            await self.client.aclose()


def _encode(value: Scored) -> bytes:
    if value.clean:
        return _CLEAN
    return orjson.dumps([sorted(value.flags), value.scores])


def _decode(raw: bytes) -> Scored:
    if raw == _CLEAN:
        return CLEAN
    flags, scores = orjson.loads(raw)
    return Scored(frozenset(flags), tuple((name, float(score)) for name, score in scores))
