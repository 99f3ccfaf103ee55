"""One behaviour suite for every store backend (STYLE 9): memory, SQLite, PostgreSQL."""

from __future__ import annotations

import time

import pytest

from goodstanding.credentials import keys
from goodstanding.endusers.identity import AmbiguousIdentifier, find_identity
from goodstanding.stores.base import Identity


async def test_keys_round_trip(store):
    key, _ = await keys.create_key(store, "team-a", rpm=7, upstream="team-a")
    fetched = await store.get_key(key.id)
    assert fetched == key
    assert [k.id for k in await store.list_keys()] == [key.id]
    assert await store.get_key("missing") is None


async def test_update_key(store):
    key, _ = await keys.create_key(store, "team-a")
    assert await store.update_key(key.id, revoked_at=123.0)
    assert (await store.get_key(key.id)).revoked_at == 123.0
    assert not await store.update_key("missing", revoked_at=1.0)


async def test_identities_are_written_once_and_looked_up(store):
    first = Identity("a" * 64, "team-a", "alice", 1.0)
    await store.remember_identities([first])
    await store.remember_identities([Identity("a" * 64, "team-a", "mallory", 2.0)])
    assert await store.lookup_identity("a" * 64) == first
    assert await store.lookup_identity("b" * 64) is None


async def test_identities_are_found_by_their_first_digits(store):
    """How an operator goes from the 16 digits a log line or an alert names to the end user."""
    ids = ["ab12" + "0" * 60, "ab12" + "f" * 60, "ab13" + "0" * 60]
    await store.remember_identities([Identity(s, "t", f"u{i}", 1.0) for i, s in enumerate(ids)])
    assert [i.end_user for i in await store.find_identities("ab12", 10)] == ["u0", "u1"]
    assert [i.end_user for i in await store.find_identities("ab12", 1)] == ["u0"]
    assert await store.find_identities("ab12" + "0" * 20, 2) == [
        Identity(ids[0], "t", "u0", 1.0)]
    assert await store.find_identities("ab14", 2) == []
    assert await store.find_identities("%", 2) == []  # a pattern character is only itself


async def test_a_short_identifier_names_one_end_user_or_says_it_is_ambiguous(store):
    twins = ["c" * 16 + "0" * 48, "c" * 16 + "1" * 48]
    await store.remember_identities([Identity(s, "t", f"u{i}", 1.0) for i, s in enumerate(twins)])
    with pytest.raises(AmbiguousIdentifier):
        await find_identity(store, "c" * 16)
    assert (await find_identity(store, "c" * 16 + "1")).end_user == "u1"
    assert (await find_identity(store, f" {twins[0]} ")).end_user == "u0"
    assert await find_identity(store, "c" * 15) is None  # fewer digits than a log line's


def record(n: int, **fields) -> dict:
    base = {
        "ts": 1000.0 + n, "request_id": f"req_{n}", "key_id": "k1", "tenant": "t",
        "end_user": "alice", "client_ip": "127.0.0.1", "country": None, "method": "POST",
        "endpoint": "chat.completions", "model": "m", "stream": False, "status": 200,
        "tokens_in": 3, "tokens_out": 4, "decision": "allowed", "reasons": [],
        "scores": {}, "latency_ms": 1.5,
    }
    return {**base, **fields}


async def test_audit_batches_and_filters(store):
    await store.write_audit([record(n) for n in range(5)])
    await store.write_audit([record(9, end_user="bob", decision="refused",
                                    reasons=["end_user_required"])])
    newest = await store.query_audit(limit=3)
    assert [r["request_id"] for r in newest] == ["req_9", "req_4", "req_3"]
    refused = await store.query_audit(decision="refused")
    assert refused[0]["reasons"] == ["end_user_required"] and refused[0]["end_user"] == "bob"
    assert len(await store.query_audit(end_user="alice", since=1002.0, until=1004.0)) == 2


async def test_audit_values_round_trip(store):
    """Every column comes back as it went in: JSON columns, booleans, NULLs, unicode."""
    scores = {"moderation": {"violence": 0.25, "hate": 0.0}, "detectors": {"jailbreak": 0.9}}
    sent = record(1, stream=True, scores=scores, reasons=["moderation:violence", "ünïcode"],
                  country="FR", tokens_out=None, model="gpt-4o-mini")
    await store.write_audit([sent])
    [got] = await store.query_audit(limit=1)
    assert {k: got[k] for k in sent} == sent


async def test_ping(store):
    started = time.perf_counter()
    await store.ping()
    assert time.perf_counter() - started < 5


async def test_withheld_ids_are_found_until_they_expire_and_then_pruned(store):
    assert await store.withheld_among(["resp_a", "conv_a"], 1000.0) == set()
    await store.remember_withheld({"resp_a": 1100.0, "conv_a": 1200.0}, 1000.0)
    await store.remember_withheld({"conv_a": 1300.0}, 1010.0)  # withheld again: kept longer
    assert await store.withheld_among(["resp_a", "conv_a", "resp_b"], 1050.0) == {
        "resp_a", "conv_a"}
    assert await store.withheld_among(["resp_a", "conv_a"], 1250.0) == {"conv_a"}
    await store.remember_withheld({"resp_b": 1500.0}, 1400.0)  # prunes the expired
    assert await store.withheld_among(["resp_a", "conv_a", "resp_b"], 0.0) == {"resp_b"}
