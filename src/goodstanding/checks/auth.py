"""Who is calling: the virtual key (SPEC §3). Missing, unknown, revoked or expired → 401.

A client that sends what looks like a real OpenAI key (``sk-…``, ``sk-proj-…``) was given the
upstream key: it has leaked into a client. That call is refused with 401
``upstream_key_in_client``, counted, logged with a fingerprint (never the key) and recorded
with the reason ``upstream_key_in_client`` so that alerts can pick it up.
"""

from __future__ import annotations

import logging
import re
import time

from goodstanding import metrics
from goodstanding.call import Call, Verdict
from goodstanding.credentials import keys
from goodstanding.credentials.keyring import fingerprint
from goodstanding.errors import InvalidApiKey, UpstreamKeyInClient
from goodstanding.stores.base import KeyStore

log = logging.getLogger("goodstanding.auth")
_PASS = Verdict("auth")
# OpenAI's key shapes: legacy sk-<48>, sk-proj-/sk-svcacct-/sk-admin-<long>
OPENAI_KEY = re.compile(r"^sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]{20,}$")
LEAKED = metrics.counter("goodstanding_upstream_keys_in_clients_total",
                         "Requests refused because they carried an OpenAI (upstream) key.")


def _refuse(message: str) -> Verdict:
    return Verdict("auth", "refuse", ("invalid_api_key",), InvalidApiKey(message))


def _leaked(call: Call, token: str) -> Verdict:
    LEAKED.inc()
    log.warning("request %s from %s carried an OpenAI key (%s): it has leaked into a client; "
                "rotate it", call.request_id, call.client_ip, fingerprint(token))
    reasons = ("upstream_key_in_client",)
    error = UpstreamKeyInClient(
        "This gateway does not accept OpenAI API keys: a client must never hold one. Use a "
        "goodstanding virtual key (gsk-…), and rotate the OpenAI key that was sent.",
        reasons=reasons)
    return Verdict("auth", "refuse", reasons, error)


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
        token = token.strip()
        parts = keys.split_token(token)
        if parts is None:
            if token.startswith("sk-") and OPENAI_KEY.match(token):
                return _leaked(call, token)
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
            generation = self.cache.generation  # a revoke announced during the read: no caching
            key = await self.store.get_key(key_id)
            self.cache.put(key_id, key, now, generation)
        return key
