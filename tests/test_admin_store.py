"""The admin API's store queries, one behaviour suite for every backend (STYLE 9): the end-user
list and its filters, usage summaries, keys' last use, and the audit search's filters."""

from __future__ import annotations

from typing import Any

from goodstanding.audit import bound_record
from goodstanding.enforcement.standing import Action, Standing, Strike
from goodstanding.stores.base import EndUserQuery, Identity

NOW = 1_000_000.0
DAY = 86400.0


def call(ts: float, end_user: str | None, *, key: str = "k1", tenant: str = "t1",
         decision: str = "allowed", model: str = "gpt-4o-mini", reasons: Any = (),
         tokens: tuple[int, int] = (10, 5), **extra: Any) -> dict[str, Any]:
    return bound_record({"ts": ts, "request_id": f"req_{ts}", "key_id": key, "tenant": tenant,
                         "end_user": end_user, "endpoint": "chat.completions", "model": model,
                         "decision": decision, "reasons": list(reasons),
                         "tokens_in": tokens[0], "tokens_out": tokens[1], "status": 200,
                         **extra})


async def seed(store: Any) -> None:
    await store.remember_identities([Identity("a" * 64, "t1", "ann", NOW - 50),
                                     Identity("b" * 64, "t1", "bob", NOW - 40),
                                     Identity("c" * 64, "t2", "cid", NOW - 30)])
    for ts, who in ((NOW - 100 * DAY, "bob"), (NOW - 10, "bob"), (NOW - 5, "bob")):
        await store.change_standing("t1", who, lambda s, n: None,
                                    Strike("t1", who, ts, "content_policy_violation",
                                           ("violence",)), 30 * DAY)
    await store.set_standing(Standing("t2", "cid", "banned", None, "abuse", NOW - 1),
                             Action("t2", "cid", NOW - 1, "ban", "ops", "abuse"))
    await store.set_standing(Standing("t1", "dan", "suspended", NOW - 1, "old", NOW - 9),
                             Action("t1", "dan", NOW - 9, "suspend", "ops", until=NOW - 1))
    await store.write_audit([
        call(NOW - 20, "ann"), call(NOW - 10, "bob", decision="refused",
                                    reasons=["moderation:violence"], tokens=(7, 0)),
        call(NOW - 3, "ann", model="gpt-4o", key="k2"),
        call(NOW - 2 * DAY, "ann"),
        call(NOW - 1, "ann", decision="admin", actor="ops", key="k1"),
        call(NOW - 1, None, key=None, decision="alert_sent", method="ALERT", model=None),
    ])


def query(**kwargs: Any) -> EndUserQuery:
    return EndUserQuery(now=NOW, window_start=NOW - 30 * DAY, **kwargs)


async def names(store: Any, **kwargs: Any) -> list[tuple[str, str]]:
    return [(r.tenant, r.end_user) for r in await store.list_end_users(query(**kwargs))]


async def test_end_users_are_everyone_seen_or_with_a_standing(store):
    await seed(store)
    rows = {r.end_user: r for r in await store.list_end_users(query())}
    assert list(rows) == ["ann", "bob", "dan", "cid"]  # by tenant, then end user
    assert (rows["bob"].strikes, rows["bob"].strikes_total) == (2, 3)  # one aged out
    assert rows["ann"].last_seen == NOW - 3  # the admin action is not a call
    assert rows["ann"].first_seen == NOW - 50 and rows["dan"].first_seen is None
    assert rows["dan"].status == "active"  # the suspension is over
    assert rows["cid"].status == "banned" and rows["cid"].reason == "abuse"


async def test_end_users_are_filtered_and_paged(store):
    await seed(store)
    assert await names(store, status="banned") == [("t2", "cid")]
    assert await names(store, status="active") == [("t1", "ann"), ("t1", "bob"), ("t1", "dan")]
    assert await names(store, status="suspended") == []
    assert await names(store, min_strikes=2) == [("t1", "bob")]
    assert await names(store, tenant="t2") == [("t2", "cid")]
    assert await names(store, end_user="bob", tenant="t1") == [("t1", "bob")]
    assert await names(store, seen_since=NOW - 5) == [("t1", "ann")]
    assert await names(store, seen_until=NOW - 5) == [("t1", "bob")]
    assert await names(store, limit=2) == [("t1", "ann"), ("t1", "bob")]
    assert await names(store, after=("t1", "bob")) == [("t1", "dan"), ("t2", "cid")]


async def test_an_unban_forgives_the_strikes_before_it(store):
    await seed(store)
    await store.set_standing(Standing("t1", "bob", "active", None, None, NOW - 7, NOW - 7),
                             Action("t1", "bob", NOW - 7, "unban", "ops"))
    [bob] = await store.list_end_users(query(end_user="bob"))
    assert (bob.strikes, bob.strikes_total) == (1, 3)


async def test_usage_is_grouped_without_admin_actions(store):
    await seed(store)
    [total] = await store.usage(since=NOW - DAY, until=None, group_by=())
    # neither the admin action nor the alert is a call
    assert (total["requests"], total["tokens_in"], total["tokens_out"]) == (3, 27, 10)
    assert (total["refusals"], total["flagged"]) == (1, 0)
    by_key = {r["key"]: r["requests"] for r in await store.usage(
        since=None, until=None, group_by=["key"])}
    assert by_key == {"k1": 3, "k2": 1}
    by_model_day = {(r["model"], r["day"]): r["requests"] for r in await store.usage(
        since=None, until=NOW, group_by=["model", "day"])}
    today, two_days_ago = int((NOW - 3) // DAY), int((NOW - 2 * DAY) // DAY)
    assert by_model_day == {("gpt-4o-mini", today): 2, ("gpt-4o", today): 1,
                            ("gpt-4o-mini", two_days_ago): 1}
    by_user = await store.usage(since=None, until=None, group_by=["end_user", "tenant"],
                                limit=1)
    assert [(r["end_user"], r["tenant"], r["requests"]) for r in by_user] == [("ann", "t1", 3)]
    assert await store.usage(since=None, until=None, group_by=["key"], tenant="t9") == []


async def test_last_used_is_the_last_call_not_an_admin_action(store):
    await seed(store)
    assert await store.last_used(["k1", "k2", "k3"]) == {"k1": NOW - 10, "k2": NOW - 3}


async def test_audit_search_filters_and_cursor(store):
    await seed(store)
    everything = await store.query_audit(limit=100)
    assert [r["ts"] for r in everything] == [NOW - 20, NOW - 10, NOW - 3, NOW - 2 * DAY,
                                             NOW - 1, NOW - 1][::-1]
    [refused] = await store.query_audit(category="violence")
    assert refused["end_user"] == "bob"
    assert await store.query_audit(category="violenc") == []
    assert await store.query_audit(category="%") == []
    assert [r["ts"] for r in await store.query_audit(request_id=f"req_{NOW - 3}")] == [NOW - 3]
    [admin] = await store.query_audit(decision="admin")
    assert admin["actor"] == "ops"
    assert len(await store.query_audit(tenant="t1", endpoint="chat.completions")) == 6
    page = await store.query_audit(limit=2)
    rest = await store.query_audit(before_id=page[-1]["id"], limit=10)
    assert [r["id"] for r in page + rest] == [r["id"] for r in everything]
