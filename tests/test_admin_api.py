"""The admin API through a real gateway server: tokens, keys, end users, events, usage, and
every admin action in the audit log under the name of the token that did it."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

import httpx
import openai
import pytest

MODEL = "gpt-4o-mini"
HELLO: Any = [{"role": "user", "content": "hello there"}]
VIOLENT: Any = [{"role": "user", "content": "[[flag:violence]] the secret marker text"}]
ROOT = "root-token-0123456789abcdef"
OPS = "ops-token-0123456789abcdef"


@pytest.fixture
def admin_gw(start_gateway):
    return start_gateway(GOODSTANDING_ADMIN_TOKEN=ROOT, GOODSTANDING_ADMIN_TOKENS="ops:env:OPS",
                         OPS=OPS)


def api(gw: Any, token: str = OPS) -> httpx.Client:
    return httpx.Client(base_url=f"{gw.url}/admin/api", timeout=10,
                        headers={"Authorization": f"Bearer {token}"})


def violent(client: openai.OpenAI, user: str) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=VIOLENT, safety_identifier=user)


def events(gw: Any, **params: Any) -> list[dict[str, Any]]:
    with api(gw) as admin:
        answer = admin.get("/events", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def wait_for(predicate: Any, seconds: float = 5.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


# tokens


def test_the_admin_api_does_not_exist_without_a_token(gw):
    answer = httpx.get(f"{gw.url}/admin/api/keys")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {OPS}", OPS,
                                           f"Bearer {OPS}x", "Bearer  x"])
def test_a_missing_or_wrong_token_gets_401_in_the_envelope(admin_gw, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    answer = httpx.post(f"{admin_gw.url}/admin/api/keys", headers=headers, json={"name": "x"})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_api_key"
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.headers["x-request-id"].startswith("req_")
    assert admin_gw.store_call("list_keys")[-1].name == "test-app"  # nothing was created


def test_the_openapi_document_is_behind_the_token_too(admin_gw):
    assert httpx.get(f"{admin_gw.url}/admin/api/openapi.json").status_code == 401
    with api(admin_gw) as admin:
        document = admin.get("/openapi.json").json()
    assert "/admin/api/keys" in document["paths"]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_named_tokens_load_from_env_and_file_references(tmp_path):
    from goodstanding.errors import ConfigError
    from goodstanding.server.admin.auth import AdminTokens
    from goodstanding.settings import load_settings

    (tmp_path / "ci").write_text("ci-token-from-file\n")
    settings = load_settings(env={"GOODSTANDING_ADMIN_TOKENS": f"ops:env:OPS,ci:file:{tmp_path}/ci",
                                  "OPS": "ops-secret", "GOODSTANDING_ADMIN_TOKEN": "root"})
    tokens = AdminTokens.of(settings)
    assert tokens.name_of(b"Bearer ops-secret") == "ops"
    assert tokens.name_of(b"bearer ci-token-from-file") == "ci"
    assert tokens.name_of(b"Bearer root") == "admin"
    assert tokens.name_of(b"Bearer ops-secre") is None
    assert tokens.name_of(None) is None
    with pytest.raises(ConfigError, match="admin_tokens"):
        load_settings(env={"GOODSTANDING_ADMIN_TOKENS": "ops:env:UNSET"})
    with pytest.raises(ConfigError, match="GOODSTANDING_ADMIN_TOKENS"):
        load_settings(env={"GOODSTANDING_ADMIN_TOKENS": "no-reference"})
    assert not AdminTokens.of(load_settings(env={}))


# every admin action is an audit event naming the token


def test_admin_actions_are_audit_events_naming_the_token(admin_gw):
    with api(admin_gw, OPS) as ops, api(admin_gw, ROOT) as root:
        made = ops.post("/keys", json={"name": "team-b"}).json()
        # two tenants now: an end user needs theirs named
        assert root.post("/users/Mallory/ban", json={"reason": "abuse"}).status_code == 400
        assert root.post("/users/Mallory/ban", params={"tenant": "test-app"},
                         json={"reason": "abuse"}).status_code == 200
        assert ops.post("/keys/zzzzzzzzzzzz/revoke").status_code == 404
    httpx.get(f"{admin_gw.url}/admin/api/keys", headers={"Authorization": "Bearer nope"})
    expected = {("admin.keys.create", "ops", 201), ("admin.users.ban", "admin", 200),
                ("admin.users.ban", "admin", 400), ("admin.keys.revoke", "ops", 404),
                ("admin.denied", None, 401)}

    def admin_events() -> list[dict[str, Any]]:
        return events(admin_gw, decision="admin", limit=10)

    # durable before each answer (the journal); in the database within the writer's interval
    rows = wait_for(lambda: (found := admin_events()) and len(found) == len(expected) and found)
    seen = {(r["endpoint"], r["actor"], r["status"]) for r in rows}
    assert seen == expected
    create = next(r for r in rows if r["endpoint"] == "admin.keys.create")
    assert create["key_id"] == made["id"] and create["tenant"] == "team-b"
    assert made["key"] not in json.dumps(rows)  # never the secret
    ban = next(r for r in rows if r["endpoint"] == "admin.users.ban")
    assert (ban["tenant"], ban["end_user"]) == ("test-app", "mallory")
    # the enforcement action names the token too
    with api(admin_gw) as admin:
        shown = admin.get("/users/mallory", params={"tenant": "test-app"}).json()
    assert [(a["action"], a["by"], a["reason"]) for a in shown["actions"]] == [
        ("ban", "admin", "abuse")]


# keys


def test_a_created_key_is_shown_once_and_works(admin_gw, sim):
    with api(admin_gw) as admin:
        made = admin.post("/keys", json={"name": "team-b", "rpm": 100, "trust_tier": "verified",
                                         "models": [MODEL]})
        assert made.status_code == 201, made.text
        token = made.json()["key"]
        listed = admin.get("/keys").json()
        shown = admin.get(f"/keys/{made.json()['id']}").json()
    assert token.startswith("gsk-") and token not in json.dumps(listed)
    assert "key" not in shown and shown["rpm"] == 100 and shown["trust_tier"] == "verified"
    client = openai.OpenAI(base_url=f"{admin_gw.url}/v1", api_key=token, max_retries=0)
    assert client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u1")


def test_the_key_list_says_when_each_key_was_last_used(admin_gw, sim):
    with api(admin_gw) as admin:
        before = {k["id"]: k for k in admin.get("/keys").json()}
        assert before[admin_gw.key_id]["last_used_at"] is None
        started = time.time()
        admin_gw.client().chat.completions.create(model=MODEL, messages=HELLO,
                                                  safety_identifier="u1")
        used = wait_for(lambda: {k["id"]: k for k in admin.get("/keys").json()}[
            admin_gw.key_id]["last_used_at"])
    assert used >= started - 1
    assert before[admin_gw.key_id]["rotation_age"] >= 0
    assert before[admin_gw.key_id]["grace_expires_at"] is None


def test_rotation_keeps_the_old_key_for_its_grace_and_revoke_stops_it_at_once(admin_gw, sim):
    old = admin_gw.client()
    with api(admin_gw) as admin:
        rotated = admin.post(f"/keys/{admin_gw.key_id}/rotate", json={"grace": "1h"})
        assert rotated.status_code == 201, rotated.text
        new = rotated.json()
        listed = {k["id"]: k for k in admin.get("/keys").json()}
        assert new["replaces"] == admin_gw.key_id and new["tenant"] == "test-app"
        grace = listed[admin_gw.key_id]["grace_expires_at"]
        assert listed[admin_gw.key_id]["status"] == "grace"
        assert 3590 <= grace - time.time() <= 3600
        assert old.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u")
        assert admin.post(f"/keys/{admin_gw.key_id}/revoke").json()["status"] == "revoked"
        with pytest.raises(openai.AuthenticationError):  # at once: this process's cache
            old.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u")
        fresh = admin_gw.client(api_key=new["key"])
        assert fresh.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u")
        assert admin.post(f"/keys/{admin_gw.key_id}/rotate").status_code == 404
        assert admin.post("/keys/nosuchkey123/revoke").status_code == 404


def test_a_per_key_policy_override_applies_to_the_keys_calls(admin_gw, sim):
    client = admin_gw.client()
    with api(admin_gw) as admin:
        changed = admin.put(f"/keys/{admin_gw.key_id}/policy",
                            json={"limits": {"end_user": {"rpm": 1}}})
        assert changed.status_code == 200, changed.text
        assert changed.json()["policy"] == {"limits": {"end_user": {"rpm": 1}}}
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="pat")
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="pat")
        bad = admin.put(f"/keys/{admin_gw.key_id}/policy",
                        json={"limits": {"end_user": {"rpmm": 1}}})
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "limits.end_user.rpmm"
        assert admin.get(f"/keys/{admin_gw.key_id}/policy").json() == {
            "limits": {"end_user": {"rpm": 1}}}


def test_key_limits_and_scopes_change_with_patch(admin_gw, sim):
    with api(admin_gw) as admin:
        changed = admin.patch(f"/keys/{admin_gw.key_id}", json={"models": ["gpt-4o"], "rpm": 5})
        assert changed.status_code == 200, changed.text
        assert changed.json()["models"] == ["gpt-4o"] and changed.json()["rpm"] == 5
        with pytest.raises(openai.PermissionDeniedError):
            admin_gw.client().chat.completions.create(model=MODEL, messages=HELLO,
                                                      safety_identifier="u")
        assert admin.patch(f"/keys/{admin_gw.key_id}",
                           json={"origins": ["not an origin"]}).status_code == 400


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "a b"}, {"name": "x", "rpm": 0},
                                  {"name": "x", "upstream": "no-such-team"},
                                  {"name": "x", "trust_tier": "gold"}, {"name": "x", "extra": 1},
                                  {"name": "x", "policy": {"moderation": {"input": "maybe"}}}])
def test_invalid_key_requests_get_400_naming_the_field(admin_gw, body):
    with api(admin_gw) as admin:
        answer = admin.post("/keys", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_request"


def test_an_unknown_or_repeated_parameter_gets_400_unless_it_is_a_list(admin_gw):
    with api(admin_gw) as admin:
        twice = admin.get("/events?decision=allowed&decision=refused")
        typo = admin.get("/events?decison=allowed")
        listed = admin.get("/usage?group_by=key&group_by=day")
    assert twice.status_code == 400 and twice.json()["error"]["param"] == "decision"
    assert typo.status_code == 400 and typo.json()["error"]["param"] == "decison"
    assert listed.status_code == 200 and listed.json()["group_by"] == ["key", "day"]


def test_a_body_that_is_not_json_gets_400(admin_gw):
    with api(admin_gw) as admin:
        answer = admin.post("/keys", content=b"{not json", headers={"content-type":
                                                                    "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_request"


# end users


def test_an_end_users_strikes_show_reasons_and_categories_never_text(admin_gw, sim):
    client = admin_gw.client()
    violent(client, "Mallory")
    violent(client, "mallory")
    with api(admin_gw) as admin:
        shown = admin.get("/users/ MALLORY ").json()
    assert shown["end_user"] == "mallory" and shown["strikes"] == 2
    assert [s["categories"] for s in shown["strike_history"]] == [["violence"]] * 2
    assert all(s["request_id"].startswith("req_") for s in shown["strike_history"])
    assert [(a["action"], a["by"]) for a in shown["actions"]] == [("warn", "gateway")] * 2
    assert "marker" not in json.dumps(shown)


def test_ban_unban_and_reset_act_on_the_proxy_at_once(admin_gw, sim):
    client = admin_gw.client()
    client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="eve")
    with api(admin_gw) as admin:
        banned = admin.post("/users/EVE/ban", json={"reason": "fraud"})
        assert banned.json()["status"] == "banned"
        with pytest.raises(openai.PermissionDeniedError) as caught:
            client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="eve")
        assert caught.value.code == "end_user_banned"
        assert admin.post("/users/eve/unban").json()["status"] == "active"
        assert client.chat.completions.create(model=MODEL, messages=HELLO,
                                              safety_identifier="eve")
        suspended = admin.post("/users/eve/suspend", json={"duration": "2h"}).json()
        assert suspended["status"] == "suspended"
        assert 7190 <= suspended["until"] - time.time() <= 7200
        violent(client, "zed")
        reset = admin.post("/users/zed/reset").json()
        assert reset == {"tenant": "test-app", "end_user": "zed", "status": "active",
                         "strikes_removed": 1}
        assert admin.get("/users/zed").json()["strike_history"] == []
        assert admin.post("/users/nobody/unban").status_code == 404
        assert admin.get("/users/nobody").status_code == 404


def test_an_end_user_id_with_a_slash_is_addressed_quoted(admin_gw, sim):
    """Ids like ``org/42`` or base64 ones: the URL carries them quoted (%2F)."""
    client = admin_gw.client()
    client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="org/42")
    with api(admin_gw) as admin:
        assert admin.post("/users/org%2F42/ban", json={"reason": "fraud"}).json()["status"] == \
            "banned"
        with pytest.raises(openai.PermissionDeniedError):
            client.chat.completions.create(model=MODEL, messages=HELLO,
                                           safety_identifier="org/42")
        shown = admin.get("/users/org%2F42").json()
        assert (shown["end_user"], shown["status"]) == ("org/42", "banned")
        assert admin.get("/users/org%2F42/signals").status_code == 200
        assert admin.post("/users/org%2F42/unban").json()["status"] == "active"
        assert admin.get("/users/org%2F4").status_code == 404  # no prefix match


def test_end_users_are_listed_with_filters_and_cursor_pages(admin_gw, sim):
    client = admin_gw.client()
    for user in ("ann", "bob", "cid", "dan"):
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier=user)
    violent(client, "bob")
    violent(client, "bob")
    violent(client, "cid")
    with api(admin_gw) as admin:
        admin.post("/users/dan/ban")

        def names(**params: Any) -> list[str]:
            answer = admin.get("/users", params=params)
            assert answer.status_code == 200, answer.text
            return [u["end_user"] for u in answer.json()["data"]]

        assert wait_for(lambda: names() == ["ann", "bob", "cid", "dan"])
        assert names(min_strikes=1) == ["bob", "cid"]
        assert names(min_strikes=2) == ["bob"]
        assert names(status="banned") == ["dan"]
        assert names(status="active") == ["ann", "bob", "cid"]
        assert names(tenant="other") == []
        assert names(seen_since=time.time() + 60) == []
        assert wait_for(lambda: names(seen_since=time.time() - 60) == ["ann", "bob", "cid",
                                                                       "dan"])
        first = admin.get("/users", params={"limit": 3}).json()
        assert first["has_more"] and [u["end_user"] for u in first["data"]] == ["ann", "bob",
                                                                                "cid"]
        rest = admin.get("/users", params={"limit": 3, "cursor": first["next_cursor"]}).json()
        assert [u["end_user"] for u in rest["data"]] == ["dan"] and not rest["has_more"]
        assert admin.get("/users", params={"cursor": "garbage!"}).status_code == 400
        listed = {u["end_user"]: u for u in admin.get("/users").json()["data"]}
    assert listed["bob"]["strikes"] == 2 and listed["bob"]["last_seen"] is not None
    assert listed["ann"]["first_seen"] is not None


def test_a_safety_identifier_maps_back_to_its_end_user(admin_gw, sim):
    admin_gw.client().chat.completions.create(model=MODEL, messages=HELLO,
                                              safety_identifier="José Alice")
    sent = next(r["body"]["safety_identifier"] for r in reversed(sim.requests)
                if r["path"] == "/v1/chat/completions")
    with api(admin_gw) as admin:
        found = wait_for(lambda: admin.get(f"/safety-identifiers/{sent}").status_code == 200)
        assert found
        answer = admin.get(f"/safety-identifiers/{sent}").json()
        assert admin.get("/safety-identifiers/unknown").status_code == 404
        # the first 16 digits, as logs and alerts name the end user
        short = admin.get(f"/safety-identifiers/{sent[:16]}").json()
        assert admin.get(f"/safety-identifiers/{'0' * 16}").status_code == 404
    assert (answer["tenant"], answer["end_user"]) == ("test-app", "josé alice")
    assert short == answer


# events and usage


def test_events_are_searched_by_filter_and_paged_with_a_cursor(admin_gw, sim):
    client = admin_gw.client()
    for _ in range(3):
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="ann")
    violent(client, "bob")
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=HELLO,
                                                           safety_identifier="cid")
    rid = raw.headers["x-request-id"]
    assert wait_for(lambda: len(events(admin_gw, key_id=admin_gw.key_id)) == 5)
    assert [e["end_user"] for e in events(admin_gw, end_user="ANN")] == ["ann"] * 3
    refused = events(admin_gw, decision="refused")
    assert [e["end_user"] for e in refused] == ["bob"]
    assert "moderation:violence" in refused[0]["reasons"]
    assert [e["end_user"] for e in events(admin_gw, category="violence")] == ["bob"]
    assert events(admin_gw, category="hate") == []
    assert [e["end_user"] for e in events(admin_gw, request_id=rid)] == ["cid"]
    assert len(events(admin_gw, endpoint="chat.completions")) == 5
    assert events(admin_gw, since=time.time() + 60) == []
    assert events(admin_gw, until=time.time() - 3600) == []
    with api(admin_gw) as admin:
        pages, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 2, "key_id": admin_gw.key_id}
            if cursor:
                params["cursor"] = cursor
            page = admin.get("/events", params=params).json()
            pages.append([e["id"] for e in page["data"]])
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
    ids = [i for page in pages for i in page]
    assert [len(p) for p in pages] == [2, 2, 1] and ids == sorted(ids, reverse=True)
    assert "marker" not in json.dumps(events(admin_gw))


def test_events_export_as_csv_and_json(admin_gw, sim):
    client = admin_gw.client()
    for user in ("ann", "bob"):
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier=user)
    assert wait_for(lambda: len(events(admin_gw, key_id=admin_gw.key_id)) == 2)
    with api(admin_gw) as admin:
        as_csv = admin.get("/events/export", params={"key_id": admin_gw.key_id})
        as_json = admin.get("/events/export", params={"key_id": admin_gw.key_id,
                                                      "format": "json"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["end_user"] for r in rows] == ["bob", "ann"]
    assert json.loads(rows[0]["reasons"]) == [] or isinstance(json.loads(rows[0]["reasons"]),
                                                               list)
    assert [r["end_user"] for r in as_json.json()] == ["bob", "ann"]
    exports = wait_for(lambda: len(found := events(admin_gw, endpoint="admin.events.export"))
                       == 2 and found)
    assert [(e["actor"], e["reasons"][-1]) for e in exports] == [("ops", "format:json"),
                                                                 ("ops", "format:csv")]


def test_usage_is_summarised_by_key_model_end_user_and_day(admin_gw, sim):
    client = admin_gw.client()
    for user in ("ann", "ann", "bob"):
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier=user)
    violent(client, "bob")
    assert wait_for(lambda: len(events(admin_gw, key_id=admin_gw.key_id)) == 4)
    with api(admin_gw) as admin:
        admin.post("/users/ann/ban")  # admin actions (and the alert of a ban) are not usage
        assert wait_for(lambda: events(admin_gw, endpoint="admin.users.ban"))
        by_user = admin.get("/usage", params={"group_by": ["end_user"]}).json()
        by_key = admin.get("/usage", params={"group_by": ["key", "model", "day"]}).json()
    users = {r["end_user"]: r for r in by_user["rows"]}
    assert by_user["group_by"] == ["end_user", "tenant"]
    assert users["ann"]["requests"] == 2 and users["ann"]["refusals"] == 0
    assert users["bob"]["requests"] == 2 and users["bob"]["refusals"] == 1
    assert users["ann"]["tokens_in"] > 0 and users["ann"]["tokens_out"] > 0
    [row] = by_key["rows"]
    assert (row["key"], row["model"]) == (admin_gw.key_id, MODEL)
    assert row["day"] == time.strftime("%Y-%m-%d", time.gmtime())
    assert row["requests"] == 4 and row["refusals"] == 1
    assert row["tokens_in"] == sum(u["tokens_in"] for u in users.values())


# the standing score and alerts (goodstanding.ops), mounted here


def test_the_standing_score_and_alerts_are_served_behind_the_token(admin_gw, sim):
    client = admin_gw.client()
    violent(client, "bob")
    with api(admin_gw) as admin:
        admin.post("/users/bob/ban")  # a ban is an alert
        standing = admin.get("/standing")
        alerts = wait_for(lambda: (found := admin.get("/alerts").json()) and found)
        limited = admin.get("/alerts", params={"limit": 0})
    assert standing.status_code == 200, standing.text
    body = standing.json()
    assert 0 <= body["score"] <= 100 and body["estimate"] is True
    assert set(body["windows"]) == {"1h", "24h", "7d"}
    assert alerts and alerts[0]["rule"] is not None
    assert limited.status_code == 400
    assert httpx.get(f"{admin_gw.url}/admin/api/standing").status_code == 401


def test_an_end_users_acceptance_of_the_content_policy_is_recorded_with_the_token(admin_gw):
    with api(admin_gw) as admin:
        done = admin.post("/users/ JOSÉ /acceptance", json={"version": 3})
        default = admin.post("/users/ann/acceptance")
        bad = admin.post("/users/ann/acceptance", json={"version": 0})
    assert done.status_code == 200, done.text
    assert {k: done.json()[k] for k in ("tenant", "end_user", "version", "by")} == {
        "tenant": "test-app", "end_user": "josé", "version": 3, "by": "admin:ops"}
    assert default.json()["version"] == admin_gw.settings.policy.version
    assert bad.status_code == 400
    stored = admin_gw.store_call("get_acceptance", "test-app", "josé")
    assert (stored.version, stored.by) == (3, "admin:ops")
    # the end user's detail shows the accepted version
    with api(admin_gw) as admin:
        admin.post("/users/josé/suspend", json={"reason": "review", "duration": "1h"})
        detail = admin.get("/users/josé")
    assert detail.status_code == 200, detail.text
    assert detail.json()["policy_accepted"]["version"] == 3
    # both records: durable at once (journal), in the database with the next batch
    recorded = wait_for(lambda: len(found := events(admin_gw, endpoint="admin.users.acceptance"))
                        >= 2 and found)
    assert {(e["actor"], e["end_user"], e["status"]) for e in recorded} == {
        ("ops", "josé", 200), ("ops", "ann", 200)}


def test_config_show_names_the_admin_tokens_but_never_prints_them(monkeypatch, capsys):
    from goodstanding.cli import main

    monkeypatch.setenv("GOODSTANDING_ADMIN_TOKENS", "ops:env:OPS_TOKEN_VALUE")
    monkeypatch.setenv("OPS_TOKEN_VALUE", "ops-token-never-printed-42")
    monkeypatch.setenv("GOODSTANDING_ADMIN_TOKEN", "root-token-never-printed-43")
    assert main(["config", "show", "--json"]) == 0
    out = capsys.readouterr().out
    assert "never-printed" not in out
    shown = {row["key"]: row["value"] for row in json.loads(out)}
    assert shown["admin_tokens"] == {"ops": "***"}
