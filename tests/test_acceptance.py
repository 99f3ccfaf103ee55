"""Acceptance of the content policy (issue 17): recorded per end user and version, enforced
with `policy.require_acceptance`, through the admin-API function, the CLI and the key holder's
`X-End-User-Policy-Version` header; a new version needs acceptance again after its grace."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time

import httpx
import openai
import pytest

from goodstanding.cli import main
from goodstanding.credentials import keys
from goodstanding.policy import acceptance
from goodstanding.policy.acceptance import record_acceptance
from goodstanding.stores import open_store
from goodstanding.stores.base import Acceptance

MODEL = "gpt-4o-mini"
HELLO = [{"role": "user", "content": "hello there"}]
REQUIRED = {"GOODSTANDING_POLICY__REQUIRE_ACCEPTANCE": "true"}


def chat(client: openai.OpenAI, user: str, version: str | None = None):
    headers = {"X-End-User-Policy-Version": version} if version is not None else None
    return client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier=user,
                                          extra_headers=headers)


def refused(client: openai.OpenAI, user: str, version: str | None = None):
    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat(client, user, version)
    return caught.value


def accept(gw, user: str, version: int, tenant: str = "test-app") -> Acceptance:
    """What the admin API's POST /admin/api/users/{id}/acceptance does, on the gateway's DB."""

    async def go() -> Acceptance:
        store = open_store(gw.db_url)
        try:
            return await record_acceptance(store, tenant, user, version, "admin:test")
        finally:
            await store.close()

    return asyncio.run(go())


@pytest.fixture
def no_negative_cache(monkeypatch):
    # an acceptance recorded elsewhere is seen within NEGATIVE_SECONDS; tests need it at once
    monkeypatch.setattr(acceptance, "NEGATIVE_SECONDS", 0.0)


# the store, on every backend


async def test_the_highest_version_accepted_is_returned(store):
    assert await store.get_acceptance("t", "alice") is None
    await store.record_acceptance(Acceptance("t", "alice", 1, 100.0, "header"))
    await store.record_acceptance(Acceptance("t", "alice", 3, 300.0, "cli:ops"))
    await store.record_acceptance(Acceptance("t", "alice", 2, 200.0, "header"))
    assert await store.get_acceptance("t", "alice") == Acceptance("t", "alice", 3, 300.0,
                                                                  "cli:ops")


async def test_accepting_a_version_again_keeps_the_first_time(store):
    await store.record_acceptance(Acceptance("t", "alice", 2, 100.0, "header"))
    await store.record_acceptance(Acceptance("t", "alice", 2, 999.0, "cli:ops"))
    assert await store.get_acceptance("t", "alice") == Acceptance("t", "alice", 2, 100.0,
                                                                  "header")


async def test_acceptances_belong_to_one_tenant(store):
    await store.record_acceptance(Acceptance("t1", "alice", 1, 100.0, "header"))
    assert await store.get_acceptance("t2", "alice") is None
    assert await store.get_acceptance("t1", "bob") is None


async def test_record_acceptance_canonicalises_and_validates(store):
    found = await record_acceptance(store, "t", "  ALICE\u200b ", 2, "admin:ops", now=5.0)
    assert found == Acceptance("t", "alice", 2, 5.0, "admin:ops")
    assert await store.get_acceptance("t", "alice") == found
    for bad in (0, -1, True, "2"):
        with pytest.raises(ValueError):
            await record_acceptance(store, "t", "alice", bad, "admin:ops")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await record_acceptance(store, "t", "\u200b ", 1, "admin:ops")


# through a real gateway


def test_refused_until_accepted_through_the_admin_function(start_gateway, no_negative_cache):
    gw = start_gateway(**REQUIRED, GOODSTANDING_POLICY__URL="https://acme.example/policy")
    client = gw.client()
    error = refused(client, "alice")
    assert error.code == "policy_not_accepted" and error.status_code == 403
    assert "version 1" in error.message and "https://acme.example/policy" in error.message
    assert error.response.headers["x-should-retry"] == "false"
    accept(gw, "Alice", 1)  # any spelling names the one end user
    assert chat(client, "alice").choices[0].finish_reason == "stop"
    refused(client, "bob")  # only alice accepted


def test_an_acceptance_recorded_elsewhere_is_seen_within_seconds(start_gateway):
    gw = start_gateway(**REQUIRED)
    client = gw.client()
    refused(client, "carol")
    accept(gw, "carol", 1)
    time.sleep(acceptance.NEGATIVE_SECONDS + 0.2)
    chat(client, "carol")


def test_the_key_holders_header_records_acceptance(start_gateway, sim):
    gw = start_gateway(**REQUIRED, GOODSTANDING_POLICY__VERSION="3")
    client = gw.client()
    refused(client, "dave")
    assert chat(client, "dave", "3").choices[0].finish_reason == "stop"
    assert chat(client, "dave").choices[0].finish_reason == "stop"  # recorded, not per call
    assert all("x-end-user-policy-version" not in r["headers"] for r in sim.requests)
    found = gw.store_call("get_acceptance", "test-app", "dave")
    assert (found.version, found.by) == (3, f"key:{gw.key_id}")  # who said so
    error = refused(client, "erin", "2")  # an old version is recorded, but is not enough
    assert error.code == "policy_not_accepted"
    assert gw.store_call("get_acceptance", "test-app", "erin").version == 2


@pytest.mark.parametrize("value", ["0", "4", "three", "-1", "2.0", "1" * 20])
def test_a_bad_policy_version_header_is_a_clear_400(start_gateway, value):
    gw = start_gateway(**REQUIRED, GOODSTANDING_POLICY__VERSION="3")
    with pytest.raises(openai.BadRequestError) as caught:
        chat(gw.client(), "frank", value)
    assert caught.value.code == "invalid_request"
    assert caught.value.param == "X-End-User-Policy-Version"


def test_a_non_ascii_digit_is_not_a_version(start_gateway):
    gw = start_gateway(**REQUIRED, GOODSTANDING_POLICY__VERSION="3")
    answer = httpx.post(f"{gw.url}/v1/chat/completions", timeout=10, json={
        "model": MODEL, "messages": HELLO, "safety_identifier": "frank"}, headers=[
        (b"authorization", f"Bearer {gw.token}".encode()),
        (b"x-end-user-policy-version", "³".encode())])
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "X-End-User-Policy-Version"


def test_a_key_not_allowed_to_record_acceptance_is_ignored(start_gateway):
    gw = start_gateway(**REQUIRED)

    async def make() -> str:
        store = open_store(gw.db_url)
        try:
            _, token = await keys.create_key(store, "browser-app",
                                             policy={"policy_acceptance": False})
            return token
        finally:
            await store.close()

    client = gw.client(api_key=asyncio.run(make()))
    assert refused(client, "gina", "1").code == "policy_not_accepted"
    assert gw.store_call("get_acceptance", "browser-app", "gina") is None


def test_a_new_version_is_refused_again_after_the_grace(start_gateway, no_negative_cache):
    first = start_gateway(**REQUIRED)
    chat(first.client(), "hank", "1")
    now = dt.datetime.now(dt.UTC).isoformat()
    second = start_gateway(**REQUIRED, GOODSTANDING_POLICY__VERSION="2",
                           GOODSTANDING_POLICY__EFFECTIVE_AT=now,
                           GOODSTANDING_POLICY__GRACE="3s")
    client = second.client()
    chat(client, "hank")  # accepted version 1: served during the grace
    assert refused(client, "ivy").code == "policy_not_accepted"  # never accepted: no grace
    time.sleep(3.2)
    error = refused(client, "hank")
    assert error.code == "policy_not_accepted" and "version 2" in error.message
    chat(client, "hank", "2")
    chat(client, "hank")
    record = second.store_call("query_audit", end_user="hank", limit=10)
    assert any("policy_acceptance_pending" in r["reasons"] for r in record)


def test_only_generation_calls_with_an_end_user_are_checked(start_gateway):
    gw = start_gateway(**REQUIRED, GOODSTANDING_IDENTITY__REQUIRE_END_USER="false")
    client = gw.client()
    client.embeddings.create(model="text-embedding-3-small", input="hi", user="jack")
    client.models.list()
    client.chat.completions.create(model=MODEL, messages=HELLO)  # no end user to ask


def test_off_by_default_and_then_not_in_the_pipeline(gw):
    names = [c.name for c in gw.gateway.pipeline.checks]
    assert "acceptance" not in names
    chat(gw.client(), "kim")


def test_users_accept_and_show(gw, monkeypatch, capsys):
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    monkeypatch.setenv("GOODSTANDING_POLICY__VERSION", "4")
    assert main(["users", "show", "liz"]) == 1  # nothing known about liz yet
    capsys.readouterr()
    assert main(["users", "accept", "Liz", "--version", "3", "--by", "ops"]) == 0
    assert "accepted version 3" in capsys.readouterr().out
    assert main(["users", "show", "liz", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["policy"]
    assert shown["accepted_version"] == 3 and shown["current_version"] == 4
    assert shown["accepted_by"] == "cli:ops"
    assert main(["users", "show", "liz"]) == 0
    assert "content policy: version 3 accepted" in capsys.readouterr().out
    assert main(["users", "accept", "liz", "--json"]) == 0  # default: the current version
    assert json.loads(capsys.readouterr().out)["version"] == 4
    assert main(["users", "accept", "liz", "--version", "0"]) == 2


async def test_the_share_of_traffic_from_end_users_who_accepted(store):
    from goodstanding.policy.acceptance import acceptance_share

    await store.record_acceptance(Acceptance("t", "alice", 2, 1.0, "header"))
    await store.record_acceptance(Acceptance("t", "bob", 1, 1.0, "header"))
    await store.record_acceptance(Acceptance("u", "carol", 3, 1.0, "header"))
    assert await store.accepted_end_users(2) == {("t", "alice"), ("u", "carol")}
    calls = [("t", "alice"), ("t", "alice"), ("t", "bob"), ("u", "carol"), ("t", None)]
    assert await acceptance_share(store, 2, calls) == {
        "policy_version": 2, "calls": 5, "accepted_calls": 3, "accepted_share": 0.6}
    assert (await acceptance_share(store, 2, []))["accepted_share"] is None
