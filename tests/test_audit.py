"""Every call leaves an audit record; refusals are durable before they are answered."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import openai
import pytest

from goodstanding.audit import AuditLog
from goodstanding.call import Call
from goodstanding.cli import main
from goodstanding.stores import open_store
from goodstanding.stores.memory import MemoryStore

SECRET_PROMPT = "my very private question about pelicans 7c1f"


def test_allowed_call_is_recorded_without_text(gw, sim):
    client = gw.client()
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": SECRET_PROMPT}],
        safety_identifier="alice")
    deadline = time.time() + 3
    while not (rows := gw.store_call("query_audit")) and time.time() < deadline:
        time.sleep(0.05)
    row = rows[0]
    assert row["end_user"] == "alice" and row["decision"] == "allowed"
    assert row["key_id"] == gw.key_id and row["endpoint"] == "chat.completions"
    assert row["tokens_in"] > 0 and row["tokens_out"] > 0 and row["latency_ms"] > 0
    assert row["request_id"].startswith("req_") and row["client_ip"] == "127.0.0.1"
    db = Path(gw.db_url.removeprefix("sqlite:///"))
    for path in db.parent.rglob("*"):  # the database, its WAL, the audit journal
        assert not path.is_file() or b"pelicans" not in path.read_bytes()


def test_refusal_is_durable_when_answered(gw, sim):
    with pytest.raises(openai.BadRequestError) as caught:
        gw.client().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    rows = gw.store_call("query_audit", decision="refused")  # no waiting: already committed
    assert [r["request_id"] for r in rows] == [caught.value.request_id]
    assert rows[0]["reasons"] == ["end_user_required"] and rows[0]["status"] == 400


def test_stream_usage_is_recorded(gw, sim):
    list(gw.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
        safety_identifier="s"))
    time.sleep(0.3)
    row = gw.store_call("query_audit")[0]
    assert row["stream"] and row["tokens_out"] > 0


def test_users_lookup_maps_safety_identifier_back(gw, sim, capsys, monkeypatch):
    gw.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], safety_identifier="dave")
    sid = [r for r in sim.requests if r["path"] == "/v1/chat/completions"][-1]["body"]["safety_identifier"]
    time.sleep(0.3)
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    assert main(["users", "lookup", sid, "--json"]) == 0
    assert '"end_user": "dave"' in capsys.readouterr().out
    assert main(["users", "lookup", "0" * 64]) == 1
    # the 16 digits logs and alerts name the end user by are enough
    capsys.readouterr()
    assert main(["users", "lookup", sid[:16], "--json"]) == 0
    assert '"end_user": "dave"' in capsys.readouterr().out
    assert main(["users", "lookup", "0" * 16]) == 1


async def test_close_flushes_everything_queued():
    store = MemoryStore()
    audit = AuditLog(store, batch_size=1000, interval=60)
    audit.start()
    for n in range(50):
        await audit.record(Call(f"req_{n}", "POST", "/v1/x", "x", {}, "127.0.0.1"))
    assert store.audit == []  # batched, not yet written
    await audit.close()
    assert len(store.audit) == 50


async def test_failed_write_keeps_records_for_retry():
    class Flaky(MemoryStore):
        failures = 1

        async def write_audit(self, records):
            if self.failures:
                self.failures -= 1
                raise OSError("disk full")
            await super().write_audit(records)

    store = Flaky()
    audit = AuditLog(store, batch_size=1000, interval=0.01)
    audit.start()
    await audit.record(Call("req_1", "POST", "/v1/x", "x", {}, "127.0.0.1"))
    await asyncio.sleep(0.3)
    await audit.close()
    assert [r["request_id"] for r in store.audit] == ["req_1"]


def test_upstream_errors_are_recorded_with_their_code(gw, sim):
    with pytest.raises(openai.BadRequestError):
        gw.client().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "[[fault:cyber_policy]]"}],
            safety_identifier="eve")
    time.sleep(0.3)
    row = gw.store_call("query_audit")[0]
    assert row["decision"] == "upstream_error" and row["reasons"][0] == "upstream:cyber_policy"
    assert row["status"] == 400


def test_clean_shutdown_loses_no_record(tmp_path, sim):
    import asyncio

    from goodstanding.gateway import Gateway
    from goodstanding.runner import serve_in_thread
    from goodstanding.server.app import create_app
    from goodstanding.settings import load_settings
    from tests.conftest import _make_key, gateway_env

    # a long flush interval: nothing is written before shutdown unless shutdown flushes
    env = gateway_env(tmp_path, sim.url, GOODSTANDING_STORAGE__AUDIT_FLUSH_INTERVAL="3600")
    settings = load_settings(env=env)
    _, token = asyncio.run(_make_key(settings.storage.database_url))
    with serve_in_thread(create_app(Gateway.build(settings))) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0)
        for n in range(30):
            client.embeddings.create(model="text-embedding-3-small", input=f"text {n}")
    store = open_store(settings.storage.database_url)

    async def count() -> int:
        try:
            return len(await store.query_audit(limit=1000))
        finally:
            await store.close()

    assert asyncio.run(count()) == 30
