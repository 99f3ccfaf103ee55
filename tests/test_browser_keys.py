"""Browser keys: keys limited to origins and models, `GET /v1/models`, and CORS.

Key limits are tested through the official SDK (a browser's `Origin` set as a header); CORS
with raw HTTP, since preflights are what a browser sends before the SDK's request. The real
browser is in tests/clients/test_browser.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import openai
import pytest

from goodstanding.cli import main
from goodstanding.credentials import keys
from goodstanding.simulate.catalog import MODELS
from tests.conftest import _make_key

APP = "https://app.example.com"
OTHER = "https://evil.example.net"


def scoped_client(gw: Any, origin: str | None = None, **limits: Any) -> openai.OpenAI:
    _, token = asyncio.run(_make_key(gw.db_url, "browser-app", **limits))
    headers = {"Origin": origin} if origin else {}
    return gw.client(api_key=token, default_headers=headers)


def ask(client: openai.OpenAI, model: str = "gpt-4o-mini") -> Any:
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], safety_identifier="u1")


# --- a key limited to origins and models, through the SDK ------------------------------------


def test_a_key_limited_to_origins_serves_them(gw, sim) -> None:
    for origin in (APP, APP + "/", "HTTPS://APP.example.com"):
        assert ask(scoped_client(gw, origin, origins=(APP, "http://localhost:3000"))).choices


@pytest.mark.parametrize("origin", [OTHER, None, "https://app.example.com.evil.net"])
def test_a_key_limited_to_origins_refuses_others(gw, sim, origin) -> None:
    client = scoped_client(gw, origin, origins=(APP,))
    with pytest.raises(openai.PermissionDeniedError) as refused:
        ask(client)
    assert refused.value.status_code == 403 and refused.value.code == "origin_not_allowed"
    assert refused.value.response.headers["x-should-retry"] == "false"
    assert sim.calls["/v1/chat/completions"] == 0


def test_a_key_limited_to_models_refuses_others(gw, sim) -> None:
    client = scoped_client(gw, models=("gpt-4o-mini",))
    assert ask(client).choices
    with pytest.raises(openai.PermissionDeniedError) as refused:
        ask(client, "gpt-5")
    assert refused.value.code == "model_not_allowed" and "gpt-5" in refused.value.message
    with pytest.raises(openai.PermissionDeniedError):
        client.responses.create(model="gpt-5", input="hi", safety_identifier="u1")
    with pytest.raises(openai.PermissionDeniedError):
        client.models.retrieve("gpt-5")
    assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    assert sim.calls["/v1/chat/completions"] == 1 and sim.calls["/v1/responses"] == 0


def test_refusals_are_audited_with_their_code(gw, sim) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        ask(scoped_client(gw, OTHER, origins=(APP,)))
    records = gw.store_call("query_audit")
    assert records[-1]["reasons"] == ["origin_not_allowed"] and records[-1]["status"] == 403


# --- GET /v1/models ---------------------------------------------------------------------------


def test_models_lists_the_upstreams_models_for_an_unlimited_key(gw, sim) -> None:
    assert [m.id for m in gw.client().models.list()] == list(MODELS)


def test_models_lists_only_what_the_key_may_use(gw, sim) -> None:
    client = scoped_client(gw, models=("gpt-5", "gpt-4o-mini"))
    assert sorted(m.id for m in client.models.list()) == ["gpt-4o-mini", "gpt-5"]


def test_models_follow_the_configuration_too(start_gateway, sim) -> None:
    gw = start_gateway(GOODSTANDING_UPSTREAM__MODELS='["gpt-4.1", "gpt-5", "my-alias"]')
    listed = {m.id: m for m in gw.client().models.list()}
    assert set(listed) == {"gpt-4.1", "gpt-5", "my-alias"}  # the alias: configured, not listed
    assert listed["gpt-5"].owned_by == "system" and listed["my-alias"].owned_by == "goodstanding"
    client = scoped_client(gw, models=("gpt-5", "gpt-4o-mini"))  # gpt-4o-mini: not configured
    assert [m.id for m in client.models.list()] == ["gpt-5"]


# --- CORS ------------------------------------------------------------------------------------


def preflight(gw: Any, origin: str, path: str = "/v1/chat/completions") -> httpx2.Response:
    return httpx2.request("OPTIONS", gw.url + path, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-stainless-os"})  # fmt: skip


@pytest.fixture
def cors_gw(start_gateway: Any) -> Any:
    return start_gateway(GOODSTANDING_SERVER__CORS_ORIGINS=f"{APP},http://localhost:5173")


def test_a_preflight_from_an_allowed_origin_is_answered(cors_gw) -> None:
    answer = preflight(cors_gw, APP)
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == APP
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert answer.headers["access-control-allow-headers"] == "authorization,content-type,x-stainless-os"
    assert answer.headers["vary"] == "Origin" and "x-request-id" in answer.headers


def test_a_preflight_from_another_origin_is_refused(cors_gw) -> None:
    answer = preflight(cors_gw, OTHER)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in answer.headers


def test_answers_to_an_allowed_origin_carry_cors_headers(cors_gw, sim) -> None:
    client = cors_gw.client(default_headers={"Origin": "http://localhost:5173"})
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], safety_identifier="u")
    assert raw.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "x-request-id" in raw.headers["access-control-expose-headers"]
    with pytest.raises(openai.BadRequestError) as refused:  # errors too: the page reads them
        client.chat.completions.create(model="gpt-4o-mini",
                                       messages=[{"role": "user", "content": "hi"}])
    assert refused.value.response.headers["access-control-allow-origin"] == "http://localhost:5173"


def test_answers_to_other_origins_carry_none(cors_gw, sim) -> None:
    client = cors_gw.client(default_headers={"Origin": OTHER})
    raw = client.models.with_raw_response.list()
    assert "access-control-allow-origin" not in raw.headers


def test_a_star_allows_every_origin(start_gateway) -> None:
    gw = start_gateway(GOODSTANDING_SERVER__CORS_ORIGINS="*")
    answer = preflight(gw, OTHER)
    assert answer.status_code == 204 and answer.headers["access-control-allow-origin"] == OTHER


def test_without_cors_origins_there_is_no_cors(gw) -> None:
    answer = preflight(gw, APP)
    assert answer.status_code == 404 and "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize("value", ["app.example.com", "ftp://x", "https://x/path"])
def test_bad_cors_origins_stop_start_up(value) -> None:
    from goodstanding.errors import ConfigError
    from goodstanding.settings import load_settings

    with pytest.raises(ConfigError, match="cors_origins"):
        load_settings(env={"OPENAI_API_KEY": "sk-x", "GOODSTANDING_SERVER__CORS_ORIGINS": value})


# --- keys: CLI and store ---------------------------------------------------------------------


def test_keys_create_with_origins_and_models(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", f"sqlite:///{tmp_path / 'k.db'}")
    assert main(["keys", "create", "web", "--origin", "https://App.example.com/", "--origin",
                 "http://localhost:3000", "--model", "gpt-4o-mini", "--json"]) == 0  # fmt: skip
    created = json.loads(capsys.readouterr().out)
    assert main(["keys", "rotate", created["id"], "--json"]) == 0
    capsys.readouterr()
    assert main(["keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 2
    for row in listed:  # the replacement keeps the limits
        assert row["origins"] == [APP, "http://localhost:3000"]
        assert row["models"] == ["gpt-4o-mini"]
    assert main(["keys", "create", "web2", "--origin", "example.com"]) == 2
    assert "not an origin" in capsys.readouterr().err


async def test_every_store_keeps_a_keys_limits(store) -> None:
    key, _ = await keys.create_key(store, "web", origins=(APP,), models=("gpt-5", "gpt-4.1"))
    stored = await store.get_key(key.id)
    assert stored.origins == (APP,) and stored.models == ("gpt-5", "gpt-4.1")
    plain, _ = await keys.create_key(store, "server")
    assert (await store.get_key(plain.id)).origins == ()

