"""Strikes and bans are exact under concurrency, on every backend (issue 10).

N strikes fired at once against one end user must leave exactly what N strikes one after the
other leave — the same standing, the same actions in the same order — and a ban must never be
lowered by a warning or suspension decided at the same moment; only an operator lowers it.
On SQL backends the strikes go through two stores (two engines, two pools) on one database,
as two gateway processes would.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from goodstanding.enforcement.enforcer import Enforcer, StrikePolicy
from goodstanding.enforcement.standing import LocalStandingCache, Standing, Strike
from goodstanding.settings import StrikeSettings
from goodstanding.stores import open_store
from goodstanding.stores.memory import MemoryStore

POLICY = StrikePolicy.of(StrikeSettings())  # warn at 1, suspend at 3, ban at 5
WARNINGS_ONLY = StrikePolicy(warn_at=1, suspend_at=1000, suspend_for=3600.0, ban_at=1000,
                             window=86400.0)
LADDER = ["warn", "warn", "suspend", "suspend", "ban"]  # what strikes 1..5 do, one at a time
ROUNDS, BURST = 20, 20
MODEL = "gpt-4o-mini"
HELLO: Any = [{"role": "user", "content": "hello there"}]
# a burst of 20 from one end user must meet the strikes, not the rate limits
UNLIMITED = {"GOODSTANDING_LIMITS__IP__RPM": "100000", "GOODSTANDING_LIMITS__END_USER__RPM": "1000",
             "GOODSTANDING_LIMITS__END_USER__TPM": "10000000"}


@pytest.fixture
async def enforcers(store: Any, store_url: str) -> AsyncIterator[tuple[Enforcer, Enforcer]]:
    if store_url == "memory://":  # one process by nature
        yield Enforcer(store), Enforcer(store)
        return
    other = open_store(store_url)
    try:
        yield Enforcer(store), Enforcer(other)
    finally:
        await other.close()


def strike(user: str, ts: float, reason: str = "content_policy") -> Strike:
    return Strike("app", user, ts, reason, ("violence",))


async def burst(enforcers: tuple[Enforcer, Enforcer], user: str, n: int, policy: StrikePolicy,
                zero_at: int | None = None) -> list[str | None]:
    now = time.time()  # one moment, as for calls answered together (actions then list in
    # the order they were decided)
    outcomes = await asyncio.gather(*(
        enforcers[i % 2].strike(strike(user, now), policy, zero_tolerance=i == zero_at)
        for i in range(n)))
    return [o.action for o in outcomes]


async def sequential(enforcer: Enforcer, user: str, n: int) -> list[str | None]:
    now = time.time()
    return [(await enforcer.strike(strike(user, now + i / 1000), POLICY)).action
            for i in range(n)]


async def history(store: Any, user: str, tenant: str = "app") -> tuple[str, list[str], int]:
    standing = await store.get_standing(tenant, user)
    actions = [a.action for a in await store.actions_of(tenant, user)]
    return standing.status, actions, len(await store.strikes_of(tenant, user))


@pytest.mark.parametrize(("n", "rounds"), [(3, 5), (4, 5), (5, 5), (BURST, ROUNDS)])
async def test_concurrent_strikes_leave_exactly_what_sequential_strikes_leave(
        store, enforcers, n, rounds):
    await sequential(enforcers[0], "one-by-one", n)
    expected = await history(store, "one-by-one")
    assert expected == ({3: "suspended", 4: "suspended"}.get(n, "banned"), LADDER[:n], n)
    for r in range(rounds):
        user = f"burst-{n}-{r}"
        actions = await burst(enforcers, user, n, POLICY)
        assert await history(store, user) == expected, f"round {r}"
        # each strike learnt the one outcome the store decided for it
        assert sorted(filter(None, actions)) == sorted(LADDER[:n]), f"round {r}"


async def test_a_concurrent_zero_tolerance_strike_bans_and_nothing_follows_the_ban(
        store, enforcers):
    rng = random.Random(10)
    for r in range(ROUNDS // 2):
        user = f"zero-{r}"
        await burst(enforcers, user, BURST, POLICY, zero_at=rng.randrange(BURST))
        status, actions, strikes = await history(store, user)
        assert status == "banned" and strikes == BURST, f"round {r}"
        # whatever came first in the end user's order, then the ban, then nothing more
        assert actions[-1] == "ban" and actions[:-1] == LADDER[:len(actions) - 1], f"round {r}"
        if len(actions) < len(LADDER):  # it came before the fifth strike: it banned
            assert "zero tolerance" in (await store.get_standing("app", user)).reason


async def test_warnings_at_the_same_moment_as_a_ban_never_lower_it(store, enforcers):
    for r in range(ROUNDS // 2):
        user = f"warned-{r}"
        now = time.time()
        warnings = [enforcers[i % 2].strike(strike(user, now), WARNINGS_ONLY)
                    for i in range(BURST)]
        ban = enforcers[r % 2].ban("app", user, "operator", "cli:ops")
        suspension = enforcers[1].suspend("app", user, 60.0, "webhook", "openai-webhook")
        middle = BURST // 2
        results = await asyncio.gather(*warnings[:middle], ban, suspension, *warnings[middle:])
        banned, suspended = results[middle], results[middle + 1]
        before = results[:middle] + results[middle + 2:]
        standing = await store.get_standing("app", user)
        assert standing == banned, f"round {r}: {standing}"  # the operator's ban, untouched
        # the suspension came before the ban, or it found the ban and left it
        assert suspended.status == "suspended" or suspended == banned, f"round {r}"
        warned = sum(o.action == "warn" for o in before)
        assert warned == sum(a.action == "warn" for a in await store.actions_of("app", user))


async def test_only_an_operator_lowers_a_ban(store, enforcers):
    await burst(enforcers, "eve", BURST, POLICY)
    await enforcers[0].suspend("app", "eve", 60.0, "webhook", "openai-webhook")
    assert (await store.get_standing("app", "eve")).status == "banned"
    await enforcers[1].unban("app", "eve", "cli:ops", "appeal")
    assert (await store.get_standing("app", "eve")).status == "active"
    # the strikes before the unban are forgiven: the next burst starts the ladder again
    await burst(enforcers, "eve", 3, POLICY)
    assert (await store.get_standing("app", "eve")).status == "suspended"


# --- the standing cache: a late read never undoes a change -----------------------------------


def test_a_read_that_began_before_an_invalidation_is_not_cached():
    cache = LocalStandingCache()
    user = ("app", "eve")
    generation = cache.generation
    cache.invalidate(user)  # the ban committed while the read was in flight
    cache.put(user, None, 0.0, generation)
    assert cache.get(user, 0.0) == (False, None)
    cache.put(user, Standing("app", "eve", "banned"), 0.0, cache.generation)
    assert cache.get(user, 0.0)[0]


class SlowReads(MemoryStore):
    """The memory store, whose answers to standing reads arrive only when released."""

    def __init__(self) -> None:
        super().__init__()
        self.released = asyncio.Event()

    async def get_standing(self, tenant: str, end_user: str) -> Standing | None:
        answer = await super().get_standing(tenant, end_user)
        await self.released.wait()
        return answer


async def test_a_ban_during_a_slow_standing_read_is_enforced_at_once():
    store = SlowReads()
    enforcer = Enforcer(store)
    late = asyncio.create_task(enforcer.standing("app", "eve"))  # reads "no standing"
    await asyncio.sleep(0)
    await enforcer.ban("app", "eve", "operator", "cli:ops")  # committed during that read
    store.released.set()
    assert await late is None  # that request was already admitted …
    assert (await enforcer.standing("app", "eve")).status == "banned"  # … the next is not


@pytest.mark.redis
async def test_an_invalidation_from_another_process_during_a_read_is_not_undone():
    from goodstanding.stores.standing_redis import RedisStandingCache
    from tests.services import redis_url

    channel = f"gs:test:{secrets.token_hex(6)}"
    a, b = (RedisStandingCache(redis_url(), channel=channel) for _ in range(2))
    try:
        assert await a.wait_listening() and await b.wait_listening()
        user = ("app", "eve")
        generation = b.generation  # b starts reading the database …
        await a.changed(user)  # … a bans and announces it …
        for _ in range(100):
            if b.generation != generation:
                break
            await asyncio.sleep(0.01)
        b.put(user, None, 0.0, generation)  # … b's answer, from before the ban, comes back
        assert b.get(user, 0.0) == (False, None)
    finally:
        await a.close()
        await b.close()


# --- through real gateways: 20 abusive calls at once, then a benign one ----------------------


def abusive_burst(send: Any, n: int = BURST) -> list[Any]:
    """n calls at once, each held in moderation (the simulator's "slow" mode) so that every
    one of them is past the standing check before the first strike is recorded."""
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(send, range(n)))


@pytest.fixture
def pg_url() -> Iterator[str]:
    from tests.services import postgres_database

    with postgres_database() as url:
        yield url


@pytest.mark.postgres
def test_twenty_concurrent_abusive_calls_ban_and_the_next_call_is_refused(pg_url, start_gateway,
                                                                           sim):
    gw = start_gateway(GOODSTANDING_DATABASE_URL=pg_url, **UNLIMITED)
    client = gw.client()
    for r in range(3):
        user = f"mallory-{r}"
        sim.config.moderation, sim.config.slow_moderation_s = "slow", 0.3

        def abusive(i: int, user: str = user) -> str | None:
            with pytest.raises(openai.BadRequestError) as caught:
                client.chat.completions.create(model=MODEL, safety_identifier=user, messages=[
                    {"role": "user", "content": f"[[flag:violence]] {user} {i}"}])
            return caught.value.code

        assert abusive_burst(abusive) == ["content_policy_violation"] * BURST
        sim.config.moderation = "ok"
        sent = sim.calls["/v1/chat/completions"]
        with pytest.raises(openai.PermissionDeniedError) as caught:
            client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier=user)
        assert caught.value.code == "end_user_banned", f"round {r}"
        assert sim.calls["/v1/chat/completions"] == sent == 0
        strikes = gw.store_call("strikes_of", "test-app", user)
        actions = gw.store_call("actions_of", "test-app", user)
        assert len(strikes) == BURST and [a.action for a in actions] == LADDER, f"round {r}"


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(120)
def test_concurrent_strikes_through_two_processes_end_banned(pg_url, sim):
    from tests.scale_helpers import chat, env_for, gateway_process, make_key, migrate
    from tests.services import redis_url

    env = env_for(pg_url, redis_url(), sim.url, secrets.token_hex(16), **UNLIMITED)
    assert migrate(env).returncode == 0
    token, user = make_key(pg_url), "mallory-" + secrets.token_hex(4)
    with gateway_process(env) as a, gateway_process(env) as b:
        assert chat(a, token, user).status == 200 and chat(b, token, user).status == 200
        sim.config.moderation, sim.config.slow_moderation_s = "slow", 0.3
        answers = abusive_burst(lambda i: chat((a, b)[i % 2], token, user,
                                               f"[[flag:violence]] {user} {i}"))
        assert {answer.code for answer in answers} == {"content_policy_violation"}
        sim.config.moderation = "ok"
        for url in (a, b):  # both processes refuse the end user at once, not after their TTL
            assert chat(url, token, user).code == "end_user_banned"
    assert asyncio.run(_history(pg_url, user)) == ("banned", LADDER, BURST)


async def _history(url: str, user: str) -> tuple[str, list[str], int]:
    opened = open_store(url)
    try:
        [standing] = [s for s in await opened.list_standings() if s.end_user == user]
        return (standing.status, *(await history(opened, user, standing.tenant))[1:])
    finally:
        await opened.close()
