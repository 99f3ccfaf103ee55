"""The end-user store's behaviour, one suite over every backend (STYLE 9)."""

from __future__ import annotations

from goodstanding.enforcement.standing import Action, Change, Standing, Strike


def strike(ts: float, user: str = "alice", tenant: str = "app") -> Strike:
    return Strike(tenant, user, ts, "upstream_invalid_prompt", ("invalid_prompt", "x"),
                  "request", f"req_{ts}")


async def add_strike(store, s: Strike, window: float = 1e9) -> int:
    """Store a strike that changes nothing; how many strikes count within the window."""
    return (await store.change_standing(s.tenant, s.end_user, lambda _, __: None, s,
                                        window)).count


async def test_unknown_end_user_has_no_standing(store):
    assert await store.get_standing("app", "nobody") is None
    assert await store.strikes_of("app", "nobody") == []
    assert await store.actions_of("app", "nobody") == []


async def test_a_strike_counts_those_within_the_window(store):
    assert await add_strike(store, strike(10.0)) == 1
    assert await add_strike(store, strike(20.0)) == 2
    assert await add_strike(store, strike(30.0), window=15.0) == 2  # the one at 10 aged out
    assert await add_strike(store, strike(40.0, user="bob")) == 1


async def test_a_strike_counts_none_before_the_standing_was_forgiven(store):
    await add_strike(store, strike(10.0))
    await store.set_standing(Standing("app", "alice", "active", None, None, 20.0, 20.0),
                             Action("app", "alice", 20.0, "unban", "cli:ops"))
    assert await add_strike(store, strike(30.0)) == 1


async def test_change_standing_decides_from_the_stored_standing_and_count(store):
    seen = []

    def decide(current, count):
        seen.append((current, count))
        return Change(Standing("app", "alice", "banned", None, "why", 5.0),
                      Action("app", "alice", 5.0, "ban", "test", "why"))

    first = await store.change_standing("app", "alice", decide, strike(5.0), 100.0)
    assert first.before is None and first.count == 1 and first.after.status == "banned"
    second = await store.change_standing("app", "alice", lambda _, __: None)
    assert second.count == 0 and second.change is None and second.after == first.after
    assert seen == [(None, 1)]
    assert [a.action for a in await store.actions_of("app", "alice")] == ["ban"]


async def test_strikes_keep_reasons_and_categories_in_order(store):
    await add_strike(store, strike(2.0))
    await add_strike(store, strike(1.0))
    history = await store.strikes_of("app", "alice")
    assert [s.ts for s in history] == [1.0, 2.0]
    assert history[0] == strike(1.0)


async def test_set_standing_upserts_and_records_the_action(store):
    suspended = Standing("app", "alice", "suspended", 500.0, "3 strikes", 100.0)
    await store.set_standing(suspended, Action("app", "alice", 100.0, "suspend", "gateway",
                                               "3 strikes", 500.0))
    assert await store.get_standing("app", "alice") == suspended
    active = Standing("app", "alice", "active", None, None, 200.0, forgiven_at=200.0)
    await store.set_standing(active, Action("app", "alice", 200.0, "unban", "cli:ops"))
    assert await store.get_standing("app", "alice") == active
    actions = await store.actions_of("app", "alice")
    assert [(a.action, a.by) for a in actions] == [("suspend", "gateway"), ("unban", "cli:ops")]
    assert actions[0].until == 500.0


async def test_list_standings_filters_by_tenant_and_status(store):
    for ts, (tenant, user, status) in enumerate(
        [("app", "a", "banned"), ("app", "b", "active"), ("other", "c", "banned")]
    ):
        until = None
        await store.set_standing(Standing(tenant, user, status, until, None, float(ts)),
                                 Action(tenant, user, float(ts), "ban", "test"))
    assert [s.end_user for s in await store.list_standings()] == ["c", "b", "a"]
    assert [s.end_user for s in await store.list_standings(tenant="app")] == ["b", "a"]
    banned = await store.list_standings(status="banned")
    assert {s.end_user for s in banned} == {"a", "c"}
    assert [s.end_user for s in await store.list_standings(limit=1)] == ["c"]


async def test_clear_strikes_is_per_end_user(store):
    await add_strike(store, strike(1.0))
    await add_strike(store, strike(2.0))
    await add_strike(store, strike(3.0, user="bob"))
    assert await store.clear_strikes("app", "alice") == 2
    assert await store.strikes_of("app", "alice") == []
    assert len(await store.strikes_of("app", "bob")) == 1


async def test_webhook_ids_are_claimed_once_and_can_be_released(store):
    assert await store.claim_webhook("wh_1", 1.0)
    assert not await store.claim_webhook("wh_1", 2.0)
    await store.release_webhook("wh_1")
    assert await store.claim_webhook("wh_1", 3.0)
