"""Leaked or shared virtual keys (``abuse/fanout.py``): record, alert or suspend the key.

Runs before the identity check, so ``call.client_ip`` is still the connecting address (after
trusted proxies), not the end-user IP a key holder may report. Publishable (browser) keys are
meant to be used from everywhere and are left out.

``signals.key_fanout.action``: ``record`` leaves ``key_fanout:networks:N`` /
``key_fanout:countries:N`` on the record (a flag: the call goes through), counts the metric and
the standing signal; ``suspend`` also revokes the key at once (``401 invalid_api_key`` from then
on, in every gateway); its owner issues a new one and finds where the old one was published.
``signals.key_fanout.new_country_action`` does the same for ``key_new_country:<CC>`` (a country
the key never used, ``abuse/homes.py``).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from goodstanding.abuse.fanout import FANOUT, KeyFanout
from goodstanding.call import Call, Verdict
from goodstanding.errors import InvalidApiKey

if TYPE_CHECKING:
    from goodstanding.abuse.shared import Merger
    from goodstanding.credentials.keys import KeyCache
    from goodstanding.settings import Settings
    from goodstanding.stores.base import CounterStore, Store

log = logging.getLogger("goodstanding.abuse")
_PASS = Verdict("key_fanout")


class KeyFanoutCheck:
    name = "key_fanout"

    def __init__(self, settings: Settings, counters: CounterStore, store: Store,
                 cache: KeyCache | None = None, merger: Merger | None = None) -> None:
        fanout = settings.signals.key_fanout
        self.fanout = KeyFanout(fanout, counters, merger=merger)
        self.action = fanout.action
        self.new_country_action = fanout.new_country_action
        self.store = store
        self.cache = cache
        self.database_url = settings.storage.database_url
        self.redis_url = settings.storage.redis_url

    async def check(self, call: Call) -> Verdict:
        key = call.key
        if key is None or key.origins:
            return _PASS
        reasons = await self.fanout.observe(key.id, call.client_ip)
        if not reasons:
            return _PASS
        what = ",".join("new_country" if r.startswith("key_new_country") else r.split(":")[1]
                        for r in reasons)
        if not any(self._suspends(r) for r in reasons):
            FANOUT.inc(what, "record")
            return Verdict(self.name, "flag", reasons)
        FANOUT.inc(what, "suspend")
        await self._suspend(key.id, reasons)
        error = InvalidApiKey(
            "This API key was suspended: it is being used from too many networks or countries "
            "at once, or from a country it never used, as a leaked key is. Its owner can issue "
            "a new one.", reasons=(*reasons, "key_suspended"))
        return Verdict(self.name, "refuse", error.reasons, error)

    def _suspends(self, reason: str) -> bool:
        if reason.startswith("key_new_country"):
            return self.new_country_action == "suspend"
        return self.action == "suspend"

    async def _suspend(self, key_id: str, reasons: tuple[str, ...]) -> None:
        from goodstanding.credentials.keys import announce

        await self.store.update_key(key_id, revoked_at=time.time())
        if self.cache is not None:
            self.cache.drop(key_id)
        log.warning("virtual key %s suspended: %s", key_id, ", ".join(reasons))
        try:
            await announce(key_id, self.database_url, self.redis_url)
        except OSError:
            log.warning("virtual key %s: the suspension could not be announced", key_id)
