"""Per upstream key in every store backend (STYLE 9): the audit log's counts by upstream key
and window, and the scheduled rotation's claim."""

from __future__ import annotations

import asyncio
from typing import Any

from goodstanding.call import VirtualKey
from goodstanding.credentials.upstream_standing import counts_by_upstream
from tests.test_admin_store import NOW, call

HOUR = 3600.0


async def seed(store: Any) -> None:
    for key_id, upstream in (("ka", "team-a"), ("kb", "team-b"), ("kold", "team-a")):
        await store.add_key(VirtualKey(id=key_id, name=key_id, tenant="t1", secret_hash="h",
                                       created_at=NOW - 10 * 86400, upstream=upstream))
    await store.write_audit([
        call(NOW - 10, "ann", key="ka", upstream="team-a"),
        call(NOW - 9, "bob", key="ka", upstream="team-a", decision="refused",
             reasons=["moderation:violence", "strike"]),
        call(NOW - 8, "bob", key="ka", upstream="team-a", decision="upstream_error",
             reasons=["upstream:invalid_prompt", "strike"], status=400),
        call(NOW - 7, "bob", key="ka", upstream="team-a", decision="upstream_error",
             reasons=["upstream:invalid_prompt", "strike"], status=400),
        call(NOW - 6, "cid", key="ka", upstream="team-a", decision="upstream_error",
             reasons=["upstream:rate_limit_exceeded"], status=429),
        call(NOW - 5, "cid", key="ka", upstream="team-a", decision="upstream_error",
             reasons=["upstream:insufficient_quota"], status=429),
        call(NOW - 2 * HOUR, "ann", key="ka", upstream="team-a"),  # in 24 h, not in 1 h
        call(NOW - 3 * 86400, "ann", key="ka", upstream="team-a"),  # in 7 d only
        call(NOW - 30 * 86400, "ann", key="ka", upstream="team-a"),  # outside every window
        call(NOW - 4, "dan", key="kb", upstream="team-b"),
        call(NOW - 3, "dan", key="kold"),  # before migration 0011: the key's binding stands in
        call(NOW - 2, "eve", key="kgone"),  # an unknown key, no upstream: the default key
        call(NOW - 1, None, key="ka", decision="admin", actor="ops"),  # not a call
        call(NOW - 1, None, key=None, decision="alert_sent", method="ALERT", model=None),
    ])


async def test_counts_per_upstream_key_and_window(store):
    await seed(store)
    counts = await counts_by_upstream(store, ("sexual/minors",), now=NOW)
    assert set(counts) == {"team-a", "team-b", "default"}
    a, b = counts["team-a"], counts["team-b"]
    assert [a[w].requests for w in ("1h", "24h", "7d")] == [7, 8, 9]
    hour = a["1h"]
    assert (hour.refusals, hour.strikes, hour.upstream_policy, hour.upstream_429,
            hour.insufficient_quota) == (1, 3, 2, 2, 1)
    assert hour.tokens_in == 70 and hour.signals == {
        "input_flag:violence": 1, "upstream_policy": 2, "upstream_429": 2}
    assert b["24h"].requests == 1 and b["24h"].signals == {} and b["24h"].score == 0
    assert hour.score > 0 and hour.level in ("watch", "at_risk", "critical")
    assert counts["default"]["1h"].requests == 1


async def test_zero_tolerance_categories_count_from_the_records(store):
    await store.write_audit([call(NOW - 1, "x", key="k", upstream="team-z", decision="refused",
                                  reasons=["moderation:sexual/minors"])])
    counts = await counts_by_upstream(store, ("sexual/minors",), now=NOW)
    day = counts["team-z"]["24h"]
    assert day.signals["zero_tolerance"] == 1 and day.score >= 90  # the signal's floor


async def test_enforcement_webhooks_naming_a_project_count_as_signals_not_calls(store):
    await seed(store)
    webhook = {"key": None, "tenant": None, "decision": "webhook", "model": None}
    await store.write_audit([
        call(NOW - 3, "bob", **webhook, upstream="team-b", reasons=["webhook_acted",
                                                                    "end_user_ban"]),
        call(NOW - 2, None, **webhook, upstream="team-b", reasons=["webhook_duplicate"]),
        call(NOW - 1, "eve", **webhook, reasons=["webhook_acted"]),  # named no known project
    ])
    counts = await counts_by_upstream(store, (), now=NOW)
    b = counts["team-b"]["1h"]
    assert b.requests == 1 and b.tokens_in == 10  # dan's call only
    assert b.enforcement_notices == 1 and b.signals == {"enforcement_webhook": 1}
    assert b.score >= 85  # the signal's floor
    assert counts["default"]["1h"].enforcement_notices == 0


async def test_one_holder_claims_a_rotation_at_a_time(store):
    assert await store.claim_rotation("team-a", "p1", NOW, 60)
    assert not await store.claim_rotation("team-a", "p2", NOW + 1, 60)
    assert await store.claim_rotation("team-b", "p2", NOW + 1, 60)  # another key: free
    assert await store.claim_rotation("team-a", "p1", NOW + 2, 60)  # its holder again
    await store.release_rotation("team-a", "p1", NOW + 3)
    assert await store.claim_rotation("team-a", "p2", NOW + 4, 60)
    assert not await store.claim_rotation("team-a", "p1", NOW + 5, 60)
    assert await store.claim_rotation("team-a", "p1", NOW + 65, 60)  # p2's lease ran out


async def test_concurrent_claims_have_one_winner(store):
    results = await asyncio.gather(*(store.claim_rotation("team-c", f"p{i}", NOW, 60)
                                     for i in range(8)))
    assert results.count(True) == 1
