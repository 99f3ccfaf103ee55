"""Incidents derived from the audit log (goodstanding.incidents): how trouble records group,
when an incident resolves by itself, how an operator's note resolves one; the store's narrowed
read and the notes on every backend; and end to end, a moderation outage played through a real
gateway with the official SDK, listed by the CLI and the admin API and resolved by both."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from goodstanding.cli import main
from goodstanding.incidents import UnknownIncident, list_incidents, resolve
from goodstanding.incidents.classify import classify
from goodstanding.incidents.derive import QUIET, derive
from goodstanding.stores.base import IncidentNote

T0 = 1_800_000_000.0
ADMIN = "incidents-admin-token-0123456789"
MODEL = "gpt-4o-mini"
HELLO: Any = [{"role": "user", "content": "hello there"}]


def rec(id_: int, ts: float, decision: str = "failed", reasons: tuple[str, ...] = (),
        status: int | None = 503, **extra: Any) -> dict[str, Any]:
    return {"id": id_, "ts": ts, "request_id": f"req_{id_}", "decision": decision,
            "reasons": list(reasons), "status": status, "endpoint": "chat.completions",
            "end_user": extra.pop("end_user", None), **extra}


def alert(id_: int, ts: float, rule: str, when: str) -> dict[str, Any]:
    return rec(id_, ts, "alert_logged", (f"rule:{rule}", f"when:{when}", "severity:critical",
                                         f"summary:{rule} fired"), None, endpoint="alerts")


MOD_DOWN = ("moderation_unavailable",)


# --- classify ----------------------------------------------------------------------------


@pytest.mark.parametrize(("record", "expected"), [
    (rec(1, T0, "failed", MOD_DOWN), ("moderation_unavailable", "")),
    (rec(1, T0, "allowed", ("output_moderation_unavailable",), 200),
     ("moderation_unavailable", "")),
    (rec(1, T0, "failed", ("store_unavailable:redis",)), ("store_unavailable", "redis")),
    (rec(1, T0, "failed", ("upstream_unavailable",), 502), ("upstream_unavailable", "")),
    (rec(1, T0, "upstream_error", ("upstream:500",), 500), ("upstream_unavailable", "")),
    (rec(1, T0, "upstream_error", ("upstream:rate_limit_exceeded",), 429), None),
    (rec(1, T0, "upstream_error", ("upstream:insufficient_quota",), 429),
     ("insufficient_quota", "")),
    (rec(1, T0, "webhook", ("webhook_acted", "end_user_ban"), 200),
     ("enforcement_webhook", "req_1")),
    (alert(1, T0, "standing-at-risk", "score_above"), ("alert", "standing-at-risk")),
    (rec(1, T0, "refused", ("moderation:violence",), 400), None),
    (rec(1, T0, "allowed", (), 200), None),
    (rec(1, T0, "admin", ("users.ban",), 200), None),
])
def test_which_records_are_trouble(record, expected):
    assert classify(record) == expected


# --- derive ------------------------------------------------------------------------------


def test_an_outage_is_one_incident_while_failures_follow_within_the_quiet_period():
    records = [rec(1, T0, "failed", MOD_DOWN), rec(2, T0 + 60, "allowed", MOD_DOWN, 200),
               rec(3, T0 + 120, "failed", MOD_DOWN),
               rec(9, T0 + 120 + QUIET + 1, "failed", MOD_DOWN)]  # a new outage
    first, second = derive(reversed(records), [], now=T0 + 120 + QUIET + 2)
    assert (first.id, first.requests, first.refused, first.passed) == ("inc-1", 3, 2, 1)
    assert (first.opened_at, first.last_seen) == (T0, T0 + 120)
    assert first.status == "resolved" and first.resolved_by == "auto"
    assert first.resolved_at == T0 + 120
    assert second.id == "inc-9" and second.status == "open"


def test_an_outage_resolves_by_itself_once_the_quiet_period_passes():
    records = [rec(1, T0, "failed", MOD_DOWN), rec(2, T0 + 10, "failed", MOD_DOWN)]
    [still] = derive(records, [], now=T0 + 10 + QUIET - 1)
    assert (still.status, still.resolved_at) == ("open", None)
    [cleared] = derive(records, [], now=T0 + 10 + QUIET + 1)
    assert (cleared.status, cleared.resolved_by, cleared.resolved_at) == (
        "resolved", "auto", T0 + 10)


def test_an_operators_note_resolves_and_later_trouble_opens_a_new_incident():
    note = IncidentNote("inc-1", T0 + 30, "ops-alice", "moved moderation to the backup key")
    records = [rec(1, T0, "failed", MOD_DOWN), rec(2, T0 + 20, "failed", MOD_DOWN),
               rec(3, T0 + 40, "failed", MOD_DOWN)]
    first, second = derive(records, [note], now=T0 + 50)
    assert (first.status, first.resolved_by, first.resolved_at) == (
        "resolved", "ops-alice", T0 + 30)
    assert first.requests == 2 and first.notes[0].note == "moved moderation to the backup key"
    assert (second.id, second.status, second.requests) == ("inc-3", "open", 1)


def test_an_enforcement_notice_waits_for_an_operator():
    records = [rec(5, T0, "webhook", ("webhook_acted", "end_user_ban"), 200, end_user="eve"),
               rec(6, T0 + 1, "webhook", ("webhook_acted", "end_user_suspend"), 200,
                   end_user="mallory")]
    first, second = derive(records, [], now=T0 + 10 * 86400)
    assert first.status == second.status == "open"  # never by itself
    assert first.end_users == ["eve"] and second.end_users == ["mallory"]
    [answered, _] = derive(records, [IncidentNote("inc-5", T0 + 3600, "ops", "appeal sent")],
                           now=T0 + 7200)
    assert (answered.status, answered.resolved_by) == ("resolved", "ops")


def test_alerts_join_the_incident_they_were_raised_for_or_stand_alone():
    records = [rec(1, T0, "failed", MOD_DOWN), alert(2, T0 + 1, "moderation-unavailable",
                                                     "moderation_unavailable"),
               alert(3, T0 + 50, "standing-at-risk", "score_above"),
               alert(4, T0 + 60, "standing-at-risk", "score_above")]
    outage, risk = derive(records, [], now=T0 + 100, alert_every={"standing-at-risk": 3600})
    assert outage.kind == "moderation_unavailable" and outage.requests == 1
    assert [a["rule"] for a in outage.alerts] == ["moderation-unavailable"]
    assert (risk.kind, risk.subject, risk.requests, risk.status) == (
        "alert", "standing-at-risk", 2, "open")


# --- the store, every backend ------------------------------------------------------------


async def test_the_store_reads_trouble_and_keeps_notes(store):
    await store.write_audit([
        {k: v for k, v in r.items() if k != "id"} for r in (
            rec(0, T0, "allowed", (), 200), rec(0, T0 + 1, "failed", MOD_DOWN),
            rec(0, T0 + 2, "refused", ("moderation:violence",), 400),
            rec(0, T0 + 3, "upstream_error", ("upstream:insufficient_quota",), 429),
            rec(0, T0 + 4, "allowed", ("output_moderation_unavailable",), 200))])
    everything = await store.query_audit(limit=100)
    trouble = await store.query_trouble(since=T0, until=T0 + 10)
    assert {r["ts"] for r in trouble} == {T0 + 1, T0 + 3, T0 + 4}
    assert [r["id"] for r in trouble] == sorted((r["id"] for r in trouble), reverse=True)
    assert len(await store.query_trouble(since=T0, limit=1)) == 1
    assert len(everything) == 5
    found = await list_incidents(store, T0 - 1, now=T0 + 5)
    assert sorted(i.kind for i in found) == ["insufficient_quota", "moderation_unavailable"]
    outage = next(i for i in found if i.kind == "moderation_unavailable")
    assert (outage.requests, outage.refused, outage.passed) == (2, 1, 1)
    note = await resolve(store, outage.id, "ops-bob", "  rotated the\nmoderation key ",
                         now=T0 + 6)
    assert note.note == "rotated the moderation key"
    [stored] = await store.incident_notes(T0)
    assert stored == note
    after = {i.id: i for i in await list_incidents(store, T0 - 1, now=T0 + 7)}
    assert after[outage.id].resolved_by == "ops-bob"
    plain = next(r for r in everything if r["decision"] == "refused")
    for bad in ("inc-999999", f"inc-{plain['id']}", "nonsense"):
        with pytest.raises(UnknownIncident):
            await resolve(store, bad, "ops", "x")
    with pytest.raises(ValueError, match="empty"):
        await resolve(store, outage.id, "ops", "   ")


async def test_session_revocations_are_shared_and_pruned(store):
    assert await store.session_revocations(["session:a", "name:admin"]) == {}
    await store.revoke_sessions("session:a", T0, T0 + 100)
    await store.revoke_sessions("name:admin", T0 + 5, T0 + 200)
    await store.revoke_sessions("name:admin", T0 + 3, T0 + 150)  # never moves back
    assert await store.session_revocations(["session:a", "name:admin", "session:b"]) == {
        "session:a": T0, "name:admin": T0 + 5}
    await store.revoke_sessions("session:c", T0 + 150, T0 + 300)  # prunes the expired
    assert await store.session_revocations(["session:a", "name:admin"]) == {
        "name:admin": T0 + 5}


# --- end to end --------------------------------------------------------------------------


def outage_scenario(gw: Any, sim: Any, down: int, up: int) -> None:
    client = gw.client()
    sim.config.moderation = "down"
    for _ in range(down):  # failing open: answered, unmoderated, recorded
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="alice")
    sim.config.moderation = "ok"
    for _ in range(up):
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="bob")


def settle(gw: Any, expected: int) -> None:
    deadline = time.monotonic() + 10
    while len(gw.store_call("query_audit", limit=1000)) < expected:
        assert time.monotonic() < deadline, "the audit records did not arrive"
        time.sleep(0.05)


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'incidents.db'}"
        return
    from tests.services import postgres_database

    with postgres_database() as url:
        yield url


def test_a_moderation_outage_is_an_incident_in_the_report_cli_and_admin_api(
        start_gateway, sim, db_url, monkeypatch, capsys, tmp_path):
    gw = start_gateway(GOODSTANDING_ADMIN_TOKEN=ADMIN, GOODSTANDING_DATABASE_URL=db_url,
                       GOODSTANDING_MODERATION__ON_ERROR="fail_open",
                       GOODSTANDING_MODERATION__OUTPUT="off",
                       GOODSTANDING_ALERTS__RULES="[]")
    outage_scenario(gw, sim, down=3, up=2)
    settle(gw, 5)
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    out = tmp_path / "report.json"
    assert main(["report", "--since", "1d", "--format", "json", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    [incident] = report["incidents"]
    assert incident["kind"] == "moderation_unavailable"
    assert (incident["requests"], incident["passed"], incident["refused"]) == (3, 3, 0)
    assert incident["status"] == "open"  # less than the quiet period ago
    [exception] = report["coverage"]["exceptions"]  # the same records, counted alike
    assert exception["requests"] == incident["requests"]
    assert report["coverage"]["input_moderated"] == 2
    listed = cli_json(capsys, "incidents", "list", "--since", "1d", "--json")
    assert [i["id"] for i in listed] == [incident["id"]]
    # the admin API lists it and an operator resolves it there
    api = httpx.Client(base_url=f"{gw.url}/admin/api",
                       headers={"authorization": f"Bearer {ADMIN}"}, timeout=20)
    with api:
        data = api.get("/incidents").json()["data"]
        assert [i["id"] for i in data] == [incident["id"]]
        bad = api.post(f"/incidents/{incident['id']}/resolve", json={"note": ""})
        assert bad.status_code == 400
        assert api.post("/incidents/inc-424242/resolve",
                        json={"note": "x"}).status_code == 404
        done = api.post(f"/incidents/{incident['id']}/resolve",
                        json={"note": "switched moderation to the second key"})
        assert done.status_code == 200 and done.json()["by"] == "admin"
        resolved = api.get("/incidents", params={"status": "resolved"}).json()["data"]
        assert resolved[0]["resolved_by"] == "admin"
        assert api.get("/incidents", params={"status": "open"}).json()["data"] == []
    # the CLI records a second note; the report shows both and the admin action
    assert main(["incidents", "resolve", incident["id"], "--note", "raised the timeout",
                 "--by", "ops-carol"]) == 0
    assert "resolution recorded by ops-carol" in capsys.readouterr().out
    # the admin API's records reach the database with the gateway's next audit flush
    deadline = time.monotonic() + 10
    while len(gw.store_call("query_audit", endpoint="admin.incidents.resolve", limit=9)) < 2:
        assert time.monotonic() < deadline, "the admin actions' records did not arrive"
        time.sleep(0.05)
    assert main(["report", "--since", "1d", "--format", "json", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    [incident] = report["incidents"]
    assert incident["resolved_by"] == "admin"
    assert [n["note"] for n in incident["notes"]] == [
        "switched moderation to the second key", "raised the timeout"]
    assert report["admin_actions"]["incidents.resolve"] == 2  # the unknown id's try too
    assert report["traffic"]["requests"] == 5
    # and it clears by itself once the quiet period has passed with no failure
    later = gw.store_call("query_trouble", since=time.time() - 86400)
    assert len(later) == 3


def test_an_incident_clears_by_itself_after_the_quiet_period(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_MODERATION__ON_ERROR="fail_open",
                       GOODSTANDING_MODERATION__OUTPUT="off")
    outage_scenario(gw, sim, down=2, up=1)
    settle(gw, 3)

    async def listed(now: float) -> Any:
        from goodstanding.stores import open_store

        store = open_store(gw.db_url)
        try:
            return await list_incidents(store, time.time() - 3600, now=now)
        finally:
            await store.close()

    import asyncio

    [now] = asyncio.run(listed(time.time()))
    [later] = asyncio.run(listed(time.time() + QUIET + 5))
    assert now.status == "open" and later.status == "resolved"
    assert later.resolved_by == "auto" and later.resolved_at == later.last_seen


def test_cli_errors_are_one_line(gw, monkeypatch, capsys):
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    assert main(["incidents", "resolve", "inc-77", "--note", "x"]) == 1
    assert capsys.readouterr().err.strip() == "goodstanding: no incident inc-77"
    assert main(["incidents", "list", "--since", "soon"]) == 2
    assert main(["incidents", "list"]) == 0
    assert "no incident" in capsys.readouterr().err


def test_a_fail_closed_outage_carries_the_alert_it_raised(gw, sim):
    sim.config.moderation = "down"
    with pytest.raises(openai.InternalServerError):
        gw.client().chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="al")
    settle(gw, 2)  # the refused call and the alert the default rules raised (logged)
    kinds = sorted(classify(r)[0] for r in gw.store_call("query_trouble"))
    assert kinds == ["alert", "moderation_unavailable"]

    async def listed() -> Any:
        from goodstanding.stores import open_store

        store = open_store(gw.db_url)
        try:
            return await list_incidents(store, time.time() - 3600)
        finally:
            await store.close()

    import asyncio

    [incident] = asyncio.run(listed())
    assert (incident.kind, incident.requests, incident.refused) == (
        "moderation_unavailable", 1, 1)
    assert [a["rule"] for a in incident.alerts] == ["moderation-unavailable"]
