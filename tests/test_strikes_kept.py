"""Strikes kept while the store was away, when the gateway closes (``close_strikes``).

The kept strikes are written by a retry task; a gateway that closes must not leave that task
behind, and must try once more before giving up, saying how many it lost. The store here is
the real in-memory one; only its availability is switched (as a frozen database would be).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from goodstanding.call import Call, Offence, VirtualKey
from goodstanding.checks.strikes import StrikeFinisher, close_strikes
from goodstanding.enforcement.enforcer import Enforcer
from goodstanding.errors import StoreUnavailable
from goodstanding.settings import Settings
from goodstanding.stores import open_store


class Switched(Enforcer):
    """The real enforcer over the real store, refusing while ``away`` (a frozen store); when
    ``late``, the write commits but its answer comes after the bound (a timeout all the same)."""

    away = True
    late = False

    async def strike(self, *args: Any, **kwargs: Any) -> Any:
        if self.late:
            await super().strike(*args, **kwargs)
        if self.away or self.late:
            raise StoreUnavailable("the store did not answer in time")
        return await super().strike(*args, **kwargs)


class Pipeline:
    def __init__(self, finisher: StrikeFinisher) -> None:
        self.finishers = (finisher,)


def flagged(key: VirtualKey, n: int) -> Call:
    call = Call(request_id=f"req-{n}", method="POST", path="/v1/chat/completions",
                endpoint="chat.completions", headers={}, client_ip="127.0.0.1", body={},
                key=key, end_user="alice")
    call.offences.append(Offence("moderation_flagged", ("violence",)))
    return call


async def kept_strikes(count: int) -> tuple[Switched, StrikeFinisher, Any]:
    store = open_store("memory://")
    await store.migrate()
    enforcer = Switched(store, None)
    finisher = StrikeFinisher(enforcer, Settings().strikes)
    key = VirtualKey(id="k1", name="app", tenant="app", secret_hash="x", created_at=0.0)
    for n in range(count):
        try:
            await finisher.finish(flagged(key, n), None)
        except StoreUnavailable:
            pass
    assert len(finisher.pending) == count and finisher._retrying is not None
    return enforcer, finisher, store


def test_close_writes_the_kept_strikes_when_the_store_is_back():
    async def scenario() -> None:
        enforcer, finisher, store = await kept_strikes(2)
        task = finisher._retrying
        enforcer.away = False  # back, but before the retry's next round (1 s)
        await close_strikes(Pipeline(finisher))
        assert task is not None and task.done() and not finisher.pending
        strikes = await store.strikes_of("app", "alice")
        assert sorted(s.request_id for s in strikes) == ["req-0", "req-1"]
        await store.close()

    asyncio.run(scenario())


def test_close_says_how_many_strikes_are_lost_when_the_store_stays_away(caplog):
    async def scenario() -> None:
        _, finisher, store = await kept_strikes(3)
        task = finisher._retrying
        with caplog.at_level(logging.ERROR, "goodstanding.strikes"):
            await close_strikes(Pipeline(finisher))
        assert task is not None and task.done() and not finisher.pending
        assert "3 kept strikes lost at close" in caplog.text and "req-0" in caplog.text
        assert await store.strikes_of("app", "alice") == []
        await store.close()

    asyncio.run(scenario())


def test_a_kept_strike_the_database_committed_late_is_not_counted_twice():
    """The attempt timed out but committed: the retry finds its request among the end user's
    strikes and does not write it again (before: two strikes for one request)."""
    async def scenario() -> None:
        store = open_store("memory://")
        await store.migrate()
        enforcer = Switched(store, None)
        enforcer.late = True
        finisher = StrikeFinisher(enforcer, Settings().strikes)
        key = VirtualKey(id="k1", name="app", tenant="app", secret_hash="x", created_at=0.0)
        try:
            await finisher.finish(flagged(key, 0), None)
        except StoreUnavailable:
            pass
        assert len(finisher.pending) == 1
        enforcer.late = enforcer.away = False
        await close_strikes(Pipeline(finisher))
        assert [s.request_id for s in await store.strikes_of("app", "alice")] == ["req-0"]
        await store.close()

    asyncio.run(scenario())
