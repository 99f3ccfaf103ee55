"""The gateway rotates an upstream key itself at its maximum age, and alerts before.

Two gateways (as two processes would: their own settings, keyrings and schedules) share one
database and one simulated OpenAI organization, both under continuous load. The key's maximum
age is a few seconds: each gateway alerts as the key nears it, exactly one of them rotates it
through the Admin API (the claim in the database), both switch to the new key, the old key is
deleted, and no request fails.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from goodstanding.gateway import Gateway
from goodstanding.runner import serve_in_thread
from goodstanding.server.app import create_app
from goodstanding.settings import load_settings
from tests.conftest import gateway_env
from tests.test_upstream_keys import UNLIMITED, Load, _after, _key, _mint, _wait_for, org

__all__ = ["org"]  # the simulated organization fixture

ADMIN = "rotation-admin-token-0123456789"


def _config(tmp_path: Any, key_file: Any, key_id: str) -> str:
    config = tmp_path / "gs.yaml"
    config.write_text(
        "upstream:\n"
        "  reload_interval: 0.2\n"
        "  rotation: {scheduled: true, max_age: 6s, warn_before: 4.5s, check_interval: 0.2s,"
        " drain: 0.5s}\n"
        f"  keys:\n    team-a: {{key: 'file:{key_file}', project: proj_a,"
        f" service_account: sa_a, key_id: {key_id}, admin_key: env:OPENAI_ADMIN_KEY}}\n"
        "keys: {max_age: 300s, warn_before: 299s}\n")
    return str(config)


def test_scheduled_rotation_rotates_once_across_gateways_with_no_failed_request(
        org, tmp_path, monkeypatch):
    first = _mint(org)
    key_file = tmp_path / "team-a.key"
    key_file.write_text(first["value"])
    meta = tmp_path / "team-a.key.meta.json"
    meta.write_text(json.dumps({"key_id": first["id"], "created_at": time.time() + 3600}))
    env = gateway_env(tmp_path, org.url, OPENAI_ADMIN_KEY=org.admin_key,
                      GOODSTANDING_ADMIN_TOKEN=ADMIN, GOODSTANDING_STORAGE__TIMEOUT="5",
                      GOODSTANDING_CONFIG=_config(tmp_path, key_file, first["id"]), **UNLIMITED)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = [load_settings(), load_settings()]  # two gateways: their own keyrings
    key_id, token = asyncio.run(_key(settings[0].storage.database_url, "app-a",
                                     upstream="team-a"))
    org.config.chunk_delay = 0.01  # streams stay in flight across the switch
    gateways = [Gateway.build(s) for s in settings]
    with serve_in_thread(create_app(gateways[0])) as url0, \
            serve_in_thread(create_app(gateways[1])) as url1, \
            Load(url0, token, threads=2) as load0, Load(url1, token, threads=2) as load1:
        _wait_for(lambda: load0.ok > 4 and load1.ok > 4)
        # the key is minted now, as the load runs (a loaded machine starts slowly): it nears
        # its maximum age in 1.5 s and reaches it in 6 s
        meta.write_text(json.dumps({"key_id": first["id"], "created_at": time.time()}))
        _wait_for(lambda: _nearing(url0), seconds=10)
        seen_nearing = _nearing(url0)
        _wait_for(lambda: org.deleted_keys, seconds=30)
        rotated_at = time.time()
        time.sleep(1.0)  # both gateways check again: neither rotates a second time
        # what happened up to now (the new key reaches its own maximum age 6 s after the first
        # rotation: a second rotation then is the schedule working, not a duplicate)
        minted = [k for k in org.api_keys.values() if k["id"] != first["id"]]
        rotated = sum(len(g.rotations.rotated) for g in gateways)
        deleted = list(org.deleted_keys)
        recent = _after(org, None)[-10:]
        in_use = [g.settings.keyring.key("team-a") for g in gateways]
        on_file = key_file.read_text().strip()
        alerts = _alerts(url0) + _alerts(url1)
        keys_view = _get(url0, f"/keys/{key_id}")
    assert load0.failures == [] and load1.failures == [], (load0.failures + load1.failures)[:3]
    assert load0.ok > 10 and load1.ok > 10
    assert deleted == [first["id"]] and len(minted) == 1
    assert rotated == 1
    new = minted[0]["value"]
    assert recent == [f"Bearer {new}"] * 10
    assert in_use == [new, new] and on_file == new
    # the alert before the age was reached, from each gateway, naming no key value
    due = [a for a in alerts if a["rule"] == "rotation-due" and "team-a" in a["summary"]]
    assert due and min(a["at"] for a in due) < rotated_at - 0.5
    assert seen_nearing and seen_nearing["rotation_due_in"] > 0
    # a virtual key nearing its own maximum age is flagged and alerted too
    assert keys_view["nearing_rotation"] is True and keys_view["rotation_due_at"] > time.time()
    assert any(a["rule"] == "rotation-due" and key_id in a["summary"] for a in alerts)
    assert not any(first["value"] in json.dumps(a) or new in json.dumps(a) for a in alerts)


def _get(url: str, path: str) -> Any:
    answer = httpx.get(f"{url}/admin/api{path}", headers={"authorization": f"Bearer {ADMIN}"},
                       timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _nearing(url: str) -> dict[str, Any] | None:
    row = next(r for r in _get(url, "/upstream") if r["name"] == "team-a")
    return row if row["nearing_rotation"] else None


def _alerts(url: str) -> list[dict[str, Any]]:
    return _get(url, "/alerts?limit=100")


async def test_a_failed_scheduled_rotation_alerts_and_releases_its_claim(tmp_path, monkeypatch):
    from goodstanding.credentials.rotation_schedule import RotationSchedule
    from goodstanding.ops.alerts import Alerts
    from goodstanding.ops.counts import open_counts
    from goodstanding.stores.memory import MemoryStore

    key_file = tmp_path / "team-a.key"
    key_file.write_text("sk-proj-old-" + "o" * 30)
    (tmp_path / "team-a.key.meta.json").write_text(
        json.dumps({"key_id": "key_old", "created_at": time.time() - 10}))
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    config = tmp_path / "gs.yaml"
    config.write_text(  # no admin key anywhere: the Admin API cannot be called
        "upstream:\n  rotation: {scheduled: true, max_age: 5s}\n"
        f"  keys:\n    team-a: {{key: 'file:{key_file}', project: p, service_account: s}}\n")
    settings = load_settings(config)
    store = MemoryStore()
    alerts = Alerts(settings.alerts, open_counts(None), store)
    schedule = RotationSchedule(settings, store, alerts)
    await schedule.check()
    await alerts.close()  # delivered (logged) and recorded
    recorded = [r for r in store.audit if r["decision"] == "alert_logged"]
    assert [r["reasons"][0] for r in recorded] == ["rule:rotation-failed"]
    assert "no Admin API key" in recorded[0]["reasons"][-1]
    assert schedule.rotated == [] and store.rotations["team-a"]["lease_until"] == 0.0
    assert await store.claim_rotation("team-a", "another", time.time(), 60)  # free again
