"""OpenAI's enforcement webhooks: signatures, replays, mapping, and the ban or suspension."""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import httpx2
import openai
import orjson
import pytest

from goodstanding.endusers.identity import safety_identifier
from goodstanding.enforcement.webhooks import InvalidWebhookSignature, sign, verify

MODEL = "gpt-4o-mini"
HELLO = [{"role": "user", "content": "hello there"}]
SECRET = "whsec_" + base64.b64encode(b"a webhook secret of 32 bytes!!!!").decode()


def delivery(event: dict[str, Any], secret: str = SECRET, webhook_id: str | None = None,
             ts: int | None = None) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(event)
    webhook_id = webhook_id or "wh_" + secrets.token_hex(8)
    ts = int(time.time()) if ts is None else ts
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(ts),
               "webhook-signature": sign(secret, webhook_id, ts, body),
               "content-type": "application/json"}
    return body, headers


def blocked(sid: str) -> dict[str, Any]:
    return {"id": "evt_" + secrets.token_hex(6), "object": "event", "created_at": int(time.time()),
            "type": "safety_identifier.blocked",
            "data": {"safety_identifier": sid, "safety_category": "cyber"}}


# signatures -----------------------------------------------------------------------------------

@pytest.mark.parametrize("secret", [SECRET, "a-raw-secret"])
def test_our_signatures_are_the_ones_the_official_sdk_verifies(secret):
    body, headers = delivery(blocked("x"), secret)
    openai.OpenAI(api_key="unused").webhooks.verify_signature(body, headers, secret=secret)
    assert verify(secret, headers, body, time.time()) == headers["webhook-id"]


@pytest.mark.parametrize("tamper", ["secret", "body", "old", "future", "missing", "scheme"])
def test_bad_deliveries_are_rejected(tamper):
    body, headers = delivery(blocked("x"))
    now = time.time()
    if tamper == "secret":
        body, headers = delivery(blocked("x"), "whsec_" + base64.b64encode(b"other").decode())
    elif tamper == "body":
        body = body.replace(b"cyber", b"bio")
    elif tamper == "old":
        now += 301
    elif tamper == "future":
        now -= 301
    elif tamper == "missing":
        del headers["webhook-signature"]
    else:
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    with pytest.raises(InvalidWebhookSignature):
        verify(SECRET, headers, body, now)


def test_any_of_several_signatures_may_match():
    body, headers = delivery(blocked("x"))
    headers["webhook-signature"] = "v1,bm90IGl0 " + headers["webhook-signature"]
    assert verify(SECRET, headers, body, time.time())


# through a real gateway ---------------------------------------------------------------------

@pytest.fixture
def hooked(start_gateway):
    gw = start_gateway(OPENAI_WEBHOOK_SECRET=SECRET)
    gw.gateway.enforcer.cache.ttl = 0  # read the standing fresh on every request
    return gw


def known_user(gw, end_user: str) -> str:
    """Make the gateway see the end user once, and wait until its mapping is stored."""
    gw.client().chat.completions.create(model=MODEL, messages=HELLO, safety_identifier=end_user)
    sid = safety_identifier(gw.settings.identity.secret.encode(), "test-app", end_user)
    for _ in range(100):
        if gw.store_call("lookup_identity", sid):
            return sid
        time.sleep(0.02)
    raise AssertionError("the identity mapping was never written")


def post(gw, body: bytes, headers: dict[str, str]) -> httpx2.Response:
    return httpx2.post(f"{gw.url}/webhooks/openai", content=body, headers=headers)


def test_signed_blocked_event_bans_the_mapped_end_user(hooked, sim):
    sid = known_user(hooked, "mallory")
    response = post(hooked, *delivery(blocked(sid)))
    assert response.status_code == 200 and response.json()["outcome"] == "acted"
    with pytest.raises(openai.PermissionDeniedError) as caught:
        hooked.client().chat.completions.create(model=MODEL, messages=HELLO,
                                                safety_identifier="mallory")
    assert caught.value.code == "end_user_banned"
    [strike] = hooked.store_call("strikes_of", "test-app", "mallory")
    assert strike.source == "webhook" and strike.categories == ("cyber",)
    actions = hooked.store_call("actions_of", "test-app", "mallory")
    assert [(a.action, a.by) for a in actions] == [("ban", "openai-webhook")]


def test_forged_event_changes_nothing_and_is_recorded(hooked, sim):
    sid = known_user(hooked, "alice")
    forged = delivery(blocked(sid), "whsec_" + base64.b64encode(b"guessed").decode())
    response = post(hooked, *forged)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_webhook_signature"
    assert hooked.store_call("get_standing", "test-app", "alice") is None
    assert hooked.client().chat.completions.create(model=MODEL, messages=HELLO,
                                                   safety_identifier="alice")
    records = hooked.store_call("query_audit", decision="refused")
    assert any("webhook_bad_signature" in r["reasons"] for r in records)


@pytest.mark.parametrize("stamp", ["9" * 400, "\u00b2", "\u0661\u0662"])
def test_a_timestamp_that_is_no_unix_time_is_a_recorded_400(hooked, sim, stamp):
    """A 400-digit timestamp overflowed into a 500 with no record; '²' passed isdigit()."""
    body, headers = delivery(blocked("x"))
    headers["webhook-timestamp"] = stamp
    response = post(hooked, body, {k: v.encode() for k, v in headers.items()})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_webhook_signature"
    records = hooked.store_call("query_audit", decision="refused")
    assert any(r["request_id"] == response.headers["x-request-id"] for r in records)


def test_a_bug_in_a_delivery_is_a_recorded_500(hooked, sim, monkeypatch):
    async def broken(*_: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(hooked.gateway.store, "claim_webhook", broken)
    response = post(hooked, *delivery(blocked("x")))
    assert response.status_code == 500 and b"Traceback" not in response.content
    assert response.json()["error"]["code"] == "internal_error"
    [record] = [r for r in hooked.store_call("query_audit", decision="failed")
                if r["request_id"] == response.headers["x-request-id"]]
    assert record["status"] == 500 and "internal_error" in record["reasons"]


def test_unsigned_event_is_never_acted_on(hooked, sim):
    sid = known_user(hooked, "alice")
    response = post(hooked, orjson.dumps(blocked(sid)), {"content-type": "application/json"})
    assert response.status_code == 400
    assert hooked.store_call("get_standing", "test-app", "alice") is None


def test_replayed_event_is_ignored(hooked, sim):
    sid = known_user(hooked, "mallory")
    body, headers = delivery(blocked(sid))
    assert post(hooked, body, headers).json()["outcome"] == "acted"
    hooked.store_call("set_standing", *_unbanned("mallory"))
    replay = post(hooked, body, headers)
    assert replay.status_code == 200 and replay.json()["outcome"] == "duplicate"
    assert hooked.store_call("get_standing", "test-app", "mallory").status == "active"
    assert len(hooked.store_call("strikes_of", "test-app", "mallory")) == 1


def _unbanned(end_user: str):
    from goodstanding.enforcement.standing import Action, Standing

    now = time.time()
    return (Standing("test-app", end_user, "active", None, None, now, forgiven_at=now),
            Action("test-app", end_user, now, "unban", "test"))


def test_warning_case_is_fetched_and_suspends(hooked, sim):
    sid = known_user(hooked, "carol")
    case = httpx2.post(f"{sim.url}/_sim/cases",
                       json={"entity_identifier": sid, "reason": "cyber_abuse"}).json()
    event = {"id": "evt_1", "object": "event", "created_at": int(time.time()),
             "type": "safety.warning_issued", "data": {"id": case["id"]}}
    assert post(hooked, *delivery(event)).json()["outcome"] == "acted"
    assert sim.calls[f"/v1/safety/cases/{case['id']}"] == 1
    with pytest.raises(openai.PermissionDeniedError) as caught:
        hooked.client().chat.completions.create(model=MODEL, messages=HELLO,
                                                safety_identifier="carol")
    assert caught.value.code == "end_user_suspended"
    assert int(caught.value.response.headers["retry-after"]) > 86000
    standing = hooked.store_call("get_standing", "test-app", "carol")
    assert standing.reason == "OpenAI safety.warning_issued (cyber_abuse)"


def test_deactivation_bans(hooked, sim):
    sid = known_user(hooked, "dave")
    case = httpx2.post(f"{sim.url}/_sim/cases", json={
        "entity_identifier": sid, "notice": {"type": "deactivation"}}).json()
    event = {"id": "evt_2", "type": "safety.deactivation_issued", "data": {"id": case["id"]}}
    assert post(hooked, *delivery(event)).json()["outcome"] == "acted"
    assert hooked.store_call("get_standing", "test-app", "dave").status == "banned"


def test_unknown_case_is_retried_later(hooked, sim):
    event = {"id": "evt_3", "type": "safety.warning_issued", "data": {"id": "C-missing"}}
    body, headers = delivery(event)
    assert post(hooked, body, headers).status_code == 502
    # the claim was released: the sender's retry is processed, not treated as a replay
    assert post(hooked, body, headers).status_code == 502


def test_unknown_identifier_and_other_events_are_acknowledged(hooked, sim):
    assert post(hooked, *delivery(blocked("f" * 64))).json()["outcome"] == "unknown_identifier"
    other = {"id": "evt_4", "type": "response.completed", "data": {"id": "resp_1"}}
    assert post(hooked, *delivery(other)).json()["outcome"] == "ignored"


def test_endpoint_is_off_without_a_secret(gw, sim):
    body, headers = delivery(blocked("x"))
    assert post(gw, body, headers).status_code == 404
