"""Who is calling: the virtual key (SPEC §3). Missing, unknown, revoked or expired → 401."""

from __future__ import annotations

import time

from goodstanding import keys
from goodstanding.call import Call, Verdict
from goodstanding.errors import InvalidApiKey
from goodstanding.stores.base import KeyStore

_PASS = Verdict("auth")


def _refuse(message: str) -> Verdict:
    return Verdict("auth", "refuse", ("invalid_api_key",), InvalidApiKey(message))


class AuthCheck:
    name = "auth"

    def __init__(self, store: KeyStore, cache: keys.KeyCache) -> None:
        self.store = store
        self.cache = cache

    async def check(self, call: Call) -> Verdict:
        if call.key is not None:  # library mode: the in-process application is the caller
            return _PASS
        header = call.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _refuse("Missing API key: send a goodstanding key as 'Authorization: Bearer gsk-…'.")
        parts = keys.split_token(token.strip())
        if parts is None:
            return _refuse("Incorrect API key provided. Use a goodstanding virtual key (gsk-…).")
        key = await self._lookup(parts[0])
        now = time.time()
        if key is None or not keys.matches(key, parts[1]) or not key.usable(now):
            return _refuse("Incorrect, revoked or expired API key provided.")
        call.key = key
        return _PASS

    async def _lookup(self, key_id: str) -> keys.VirtualKey | None:
        now = time.monotonic()
        hit, key = self.cache.get(key_id, now)
        if not hit:
            key = await self.store.get_key(key_id)
            self.cache.put(key_id, key, now)
        return key
