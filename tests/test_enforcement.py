"""Strikes, suspensions and bans without a server: the finisher, the check, the enforcer."""

from __future__ import annotations

import time

import pytest

from goodstanding.call import Call, Offence, VirtualKey
from goodstanding.checks.standing import StandingCheck
from goodstanding.checks.strikes import WARNING_HEADER, StrikeFinisher
from goodstanding.enforcement.enforcer import Enforcer, StrikePolicy
from goodstanding.enforcement.standing import Strike
from goodstanding.errors import EndUserBanned, EndUserSuspended
from goodstanding.settings import StrikeSettings
from goodstanding.stores.memory import MemoryStore

DAY = 86400.0
POLICY = StrikePolicy.of(StrikeSettings())  # warn 1, suspend 3 for 24h, ban 5, window 30d


def key(**policy) -> VirtualKey:
    return VirtualKey("k1", "app", "app", "hash", 0.0, policy=policy)


def call(end_user: str = "alice", offences=(), upstream_error=None, key_=None) -> Call:
    c = Call("req_1", "POST", "/v1/chat/completions", "chat.completions", {}, "127.0.0.1")
    c.key = key_ or key()
    c.end_user = end_user
    c.offences.extend(offences)
    if upstream_error:
        c.upstream.error_code = upstream_error
    return c


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def enforcer(store) -> Enforcer:
    return Enforcer(store)


def strike_at(ts: float, user: str = "alice") -> Strike:
    return Strike("app", user, ts, "content_policy", ("violence",))


async def test_first_offence_warns_with_a_header_and_a_record(enforcer, store):
    finisher = StrikeFinisher(enforcer, StrikeSettings())
    c = call(offences=[Offence("content_policy", ("violence",))])
    await finisher.finish(c, None)
    assert "strike 1" in c.response_headers[WARNING_HEADER]
    assert "end_user_warned" in c.reasons
    assert [a.action for a in await store.actions_of("app", "alice")] == ["warn"]
    assert (await store.get_standing("app", "alice")).status == "active"


async def test_a_call_without_offences_costs_no_store_access(enforcer, store):
    c = call()
    await StrikeFinisher(enforcer, StrikeSettings()).finish(c, None)
    assert WARNING_HEADER not in c.response_headers and store.standings == {}


async def test_upstream_policy_error_is_a_strike(enforcer, store):
    await StrikeFinisher(enforcer, StrikeSettings()).finish(call(upstream_error="cyber_policy"), None)
    [recorded] = await store.strikes_of("app", "alice")
    assert recorded.reason == "upstream_cyber_policy" and recorded.categories == ("cyber_policy",)


async def test_other_upstream_errors_are_not_strikes(enforcer, store):
    await StrikeFinisher(enforcer, StrikeSettings()).finish(
        call(upstream_error="rate_limit_exceeded"), None)
    assert await store.strikes_of("app", "alice") == []


async def test_one_call_is_one_strike_however_many_offences(enforcer, store):
    c = call(offences=[Offence("content_policy", ("hate",)), Offence("jailbreak", ("jailbreak",))])
    await StrikeFinisher(enforcer, StrikeSettings()).finish(c, None)
    [recorded] = await store.strikes_of("app", "alice")
    assert recorded.reason == "content_policy,jailbreak"
    assert recorded.categories == ("hate", "jailbreak")


async def test_zero_tolerance_offence_bans_at_once(enforcer, store):
    c = call(offences=[Offence("content_policy", ("sexual/minors",), zero_tolerance=True)])
    await StrikeFinisher(enforcer, StrikeSettings()).finish(c, None)
    standing = await store.get_standing("app", "alice")
    assert standing.status == "banned" and "zero tolerance" in standing.reason
    assert "banned" in c.response_headers[WARNING_HEADER]
    verdict = await StandingCheck(enforcer).check(call())
    assert isinstance(verdict.error, EndUserBanned)


async def test_third_strike_suspends_and_fifth_bans(enforcer, store):
    now = time.time()
    outcomes = [await enforcer.strike(strike_at(now + i), POLICY) for i in range(5)]
    assert [o.action for o in outcomes] == ["warn", "warn", "suspend", "suspend", "ban"]
    assert outcomes[2].standing.until == pytest.approx(now + 2 + DAY)


async def test_strikes_age_out_of_the_window(enforcer, store):
    t0 = 1_000_000.0
    for user in ("alice", "bob"):
        await enforcer.strike(strike_at(t0, user), POLICY)
        await enforcer.strike(strike_at(t0 + DAY, user), POLICY)
    # 29 days on, all three count; 31 days on, the first has aged out
    inside = await enforcer.strike(strike_at(t0 + 29 * DAY, "alice"), POLICY)
    assert inside.strikes == 3 and inside.action == "suspend"
    outside = await enforcer.strike(strike_at(t0 + 31 * DAY, "bob"), POLICY)
    assert outside.strikes == 2 and outside.action == "warn"


async def test_a_strike_never_shortens_a_suspension_or_softens_a_ban(enforcer, store):
    now = time.time()
    long = await enforcer.suspend("app", "alice", 10 * DAY, "OpenAI warning", "webhook")
    for i in range(3):
        outcome = await enforcer.strike(strike_at(now + i), POLICY)
    assert outcome.standing.until == long.until
    await enforcer.ban("app", "bob", "operator", "cli:ops")
    assert (await enforcer.strike(strike_at(now, "bob"), POLICY)).action is None
    assert (await store.get_standing("app", "bob")).status == "banned"


async def test_per_key_thresholds_override_the_global_ones(enforcer, store):
    finisher = StrikeFinisher(enforcer, StrikeSettings())
    strict = key(strikes={"suspend_at": 1, "suspend_for": "1h"})
    c = call(offences=[Offence("content_policy")], key_=strict)
    await finisher.finish(c, None)
    standing = await store.get_standing("app", "alice")
    assert standing.status == "suspended"
    assert standing.until - standing.updated_at == pytest.approx(3600)
    assert "suspended for 1h" in c.response_headers[WARNING_HEADER]
    assert finisher.policy_for(strict).ban_at == 5  # what the key does not name stays global


async def test_suspended_end_user_is_refused_with_retry_after(enforcer):
    await enforcer.suspend("app", "alice", 3600, "test", "test")
    verdict = await StandingCheck(enforcer).check(call())
    assert isinstance(verdict.error, EndUserSuspended)
    assert 3590 <= int(verdict.error.response_headers()["retry-after"]) <= 3600
    assert verdict.error.response_headers()["x-should-retry"] == "false"


async def test_an_expired_suspension_lets_the_end_user_back(enforcer, store):
    t0 = time.time() - 2 * DAY
    for i in range(3):
        await enforcer.strike(strike_at(t0 + i), POLICY)
    assert (await store.get_standing("app", "alice")).status == "suspended"
    assert (await StandingCheck(enforcer).check(call())).outcome == "pass"


async def test_the_check_reads_from_the_cache_and_changes_invalidate_it(enforcer, store):
    check = StandingCheck(enforcer)
    assert (await check.check(call())).outcome == "pass"
    store.standings.clear()  # a second read must not reach the store …
    calls = []
    original = store.get_standing

    async def counting(*args):
        calls.append(args)
        return await original(*args)

    store.get_standing = counting
    assert (await check.check(call())).outcome == "pass"
    assert calls == []
    await enforcer.ban("app", "alice", "operator", "cli:ops")  # … until a change invalidates it
    assert (await check.check(call())).refused


async def test_unban_forgives_earlier_strikes_and_is_recorded_with_who(enforcer, store):
    now = time.time() - 60
    for i in range(5):
        await enforcer.strike(strike_at(now + i), POLICY)
    await enforcer.unban("app", "alice", "cli:ops", "appeal granted")
    assert (await StandingCheck(enforcer).check(call())).outcome == "pass"
    again = await enforcer.strike(strike_at(time.time() + 10), POLICY)
    assert again.strikes == 1 and again.action == "warn"
    last_unban = [a for a in await store.actions_of("app", "alice") if a.action == "unban"][-1]
    assert last_unban.by == "cli:ops" and last_unban.reason == "appeal granted"
    assert len(await store.strikes_of("app", "alice")) == 6  # the history stays


async def test_reset_clears_the_history(enforcer, store):
    await enforcer.strike(strike_at(time.time()), POLICY)
    assert await enforcer.reset("app", "alice", "cli:ops") == 1
    assert await store.strikes_of("app", "alice") == []
    assert (await store.get_standing("app", "alice")).status == "active"
